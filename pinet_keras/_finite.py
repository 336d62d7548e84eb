"""Refusing non-finite pixels (private): a NaN or an infinity is not a pixel.

A model never sees them from the package: every runner, predictor and
evaluation helper calls `check_finite_pixels` on the images it is given, so
that an image holding a NaN gets one clear error instead of a class (an
int8 file would quantize the NaN to some pixel value and answer with
confidence). ``pinet_lite.images.check_finite_pixels`` is the same check
for the runtime without TensorFlow.
"""

import numpy as np


def non_finite_counts(images):
    """``(images, values)``: how many images hold a NaN or an infinity, and how many values."""
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.inexact):
        return 0, 0
    bad = ~np.isfinite(images)
    values = int(bad.sum())
    if not values:
        return 0, 0
    if images.ndim <= 3:  # one image
        return 1, values
    return int(bad.reshape(len(images), -1).any(axis=1).sum()), values


def check_finite_pixels(images, where=None):
    """Returns ``images`` unchanged; raises ``ValueError`` if a pixel is NaN or infinite.

    The message names how many images and pixel values are not finite, and
    ``where`` (a file, a function) they were given to.

    >>> import numpy as np
    >>> images = np.zeros((4, 2, 2, 1), "float32")
    >>> images[1, 0, 0, 0] = images[3, 1, 1, 0] = np.nan
    >>> check_finite_pixels(images)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 2 of 4 images hold non-finite pixels (2 NaN or infinite values); ...
    """
    count, values = non_finite_counts(images)
    if count:
        shape = np.shape(images)
        total = shape[0] if len(shape) > 3 else 1
        prefix = f"{where}: " if where else ""
        raise ValueError(
            f"{prefix}{count} of {total} image{'s' if total != 1 else ''} "
            f"hold{'s' if total == 1 else ''} non-finite pixels ({values} NaN or infinite "
            f"value{'s' if values != 1 else ''}); pixels must be finite numbers in 0..255 "
            "(a NaN is not a pixel and has no class)"
        )
    return images
