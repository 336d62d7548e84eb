"""On-the-fly data augmentation (random translation and flip), in `tf.data` or NumPy."""

import collections

import numpy as np

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


def augment_batch(images, rng, name):
    """Randomly translates (pads, then crops) and maybe flips each image of an NHWC batch.

    The NumPy twin of `augment_image`, vectorized over the batch, for the
    NumPy pipeline of `make_datasets`: each image is padded with
    `AUGMENTATIONS[name].padding` zeros on each side and cropped back to its
    size at a random offset (a translation by up to that many pixels), then,
    where the policy flips, mirrored left-right with probability 1/2. Same
    distribution as `augment_image`, not the same random draws.

    Args:
        images: array of shape `(batch, height, width, channels)`, any dtype.
        rng: a `np.random.Generator`, or a seed for `np.random.default_rng`.
        name: one of `DATASETS`.

    Returns:
        An array of the shape and dtype of `images`.

    Example:

    >>> images = np.full((4, 8, 8, 1), 255, np.uint8)
    >>> augmented = augment_batch(images, 0, "digits")
    >>> augmented.shape, augmented.dtype
    ((4, 8, 8, 1), dtype('uint8'))
    """
    policy = AUGMENTATIONS[check_name(name)]
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            "images must be a batch of shape (batch, height, width, channels), "
            f"got shape {images.shape}."
        )
    rng = np.random.default_rng(rng)
    n, height, width = images.shape[:3]
    p = policy.padding
    padded = np.pad(images, [(0, 0), (p, p), (p, p), (0, 0)])
    rows = rng.integers(0, 2 * p + 1, size=n)[:, None] + np.arange(height)
    cols = rng.integers(0, 2 * p + 1, size=n)[:, None] + np.arange(width)
    if policy.flip:
        flip = rng.random(n) < 0.5
        cols = np.where(flip[:, None], cols[:, ::-1], cols)
    # One gather: out[b, i, j] = padded[b, rows[b, i], cols[b, j]].
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
