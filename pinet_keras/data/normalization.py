"""Pixel normalization, for NumPy arrays and TensorFlow tensors alike."""

import sys

import numpy as np

from pinet_keras.data.info import dataset_info

NORMALIZATIONS = ("unit", "standardize")


def check_normalization(normalization):
    """Returns `normalization` if it is one of `NORMALIZATIONS`, else raises `ValueError`."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"Unknown normalization {normalization!r}; expected one of {', '.join(NORMALIZATIONS)}."
        )
    return normalization


def normalize(images, name, normalization="unit"):
    """Maps pixels in 0..255 (any dtype, channels last) to float32.

    `"unit"` (the default, the original experiment's recipe) divides by 255,
    giving `[0, 1]`. `"standardize"` then subtracts `dataset_info(name).mean`
    and divides by `dataset_info(name).std`, per channel: fixed constants of
    the training split, not statistics of `images`.

    A TensorFlow tensor (also inside `tf.data` and `tf.function`) gives a
    tensor; anything else gives a NumPy array.

    Example:

    >>> x = normalize(np.array([[0, 255]], np.uint8)[..., None], "mnist", "standardize")
    >>> np.round(x[..., 0], 4)
    array([[-0.4242,  2.8215]], dtype=float32)
    """
    check_normalization(normalization)
    info = dataset_info(name)
    tf = sys.modules.get("tensorflow")
    is_tensor = tf is not None and tf.is_tensor(images)
    if not is_tensor:
        images = np.asarray(images)
    channels = _last_dimension(images.shape)
    if channels is not None and channels != len(info.mean):
        raise ValueError(
            f"{name} images have {len(info.mean)} channel(s) (channels last); "
            f"got shape {tuple(images.shape)}."
        )
    if is_tensor:
        x = tf.cast(images, tf.float32) / 255.0
        if normalization == "standardize":
            x = (x - tf.constant(info.mean, tf.float32)) / tf.constant(info.std, tf.float32)
        return x
    x = images.astype(np.float32) / np.float32(255.0)
    if normalization == "standardize":
        x = (x - np.asarray(info.mean, np.float32)) / np.asarray(info.std, np.float32)
    return x


def _last_dimension(shape):
    """The last dimension of a NumPy or TensorFlow shape; `None` where unknown."""
    try:
        return shape[-1] if len(shape) else None
    except (TypeError, ValueError):  # a TensorShape of unknown rank
        return None
