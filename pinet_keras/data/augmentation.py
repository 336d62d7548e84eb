"""On-the-fly data augmentation (random translation and flip) for `tf.data`."""

import collections

from pinet_keras.data.info import check_name

AugmentationPolicy = collections.namedtuple("AugmentationPolicy", ["padding", "flip"])

# Random crop of the image padded with `padding` black pixels on each side
# (a translation by up to `padding` pixels), and optionally a horizontal flip.
# mnist and digits are not flipped: a mirrored digit is not a digit (2, 3, 7).
# fashion_mnist is: a mirrored shoe or shirt is still one.
AUGMENTATIONS = {
    "mnist": AugmentationPolicy(padding=2, flip=False),
    "fashion_mnist": AugmentationPolicy(padding=2, flip=True),
    "cifar10": AugmentationPolicy(padding=4, flip=True),
    "digits": AugmentationPolicy(padding=1, flip=False),
}


def augment_image(image, seed, name):
    """Randomly translates (pads, then crops) and maybe flips one HWC image.

    Uses stateless random ops, so the result is a function of `seed` (a
    shape-`(2,)` integer tensor). Works on any dtype; padding is 0, i.e.
    black for raw pixels, which is why `make_datasets` augments before
    normalizing (as torchvision's `RandomCrop(padding=4)` before `Normalize`).

    Example:

    >>> import tensorflow as tf  # doctest: +SKIP
    >>> image = tf.zeros((32, 32, 3), tf.uint8)  # doctest: +SKIP
    >>> augment_image(image, tf.constant([1, 2]), "cifar10").shape  # doctest: +SKIP
    TensorShape([32, 32, 3])
    """
    import tensorflow as tf

    policy = AUGMENTATIONS[check_name(name)]
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    p = policy.padding
    padded = tf.pad(image, [[p, p], [p, p], [0, 0]])
    size = image.shape if image.shape.is_fully_defined() else tf.shape(image)
    image = tf.image.stateless_random_crop(padded, size, seed=crop_seed)
    if policy.flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    return image
