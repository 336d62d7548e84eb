"""Augmentation policies per data set; the layers are `pinet_keras.models.pixel_preprocessing`'s."""

import collections

AugmentationPolicy = collections.namedtuple("AugmentationPolicy", ["padding", "flip"])
AugmentationPolicy.__doc__ = """
A translation by up to `padding` pixels; a horizontal flip if `flip`.

The translation fills with black pixels (0), like a random crop of the
image padded with `padding` black pixels on each side.
"""

# mnist and digits are not flipped: a mirrored digit is not a digit (2, 3, 7).
# fashion_mnist is: a mirrored shoe or shirt is still one.
AUGMENTATIONS = {
    "mnist": AugmentationPolicy(padding=2, flip=False),
    "fashion_mnist": AugmentationPolicy(padding=2, flip=True),
    "cifar10": AugmentationPolicy(padding=4, flip=True),
    "digits": AugmentationPolicy(padding=1, flip=False),
}


def augmentation_policy(name, input_shape=None, padding=None):
    """The `AugmentationPolicy` of data set ``name`` (a folder's from its ``input_shape``).

    ``padding``, if given, replaces the policy's translation (0: none).
    """
    if name == "folder":
        from pinet_keras.data.folder import folder_augmentation

        policy = folder_augmentation(input_shape)
    else:
        policy = AUGMENTATIONS[name]
    return policy if padding is None else policy._replace(padding=padding)
