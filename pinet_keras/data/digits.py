"""scikit-learn's bundled 8x8 digits as uint8 NHWC arrays (no network, no files)."""

import numpy as np

from pinet_keras import _optional

DIGITS_NUM_TEST = 360  # the last 20% of the 1797 images


def load_digits_arrays():
    """Loads `sklearn.datasets.load_digits()` split into train and test.

    The 1797 images (values 0..16) are scaled to uint8 0..255 and shaped
    `(n, 8, 8, 1)`; labels are int64. The split is fixed, not random: the
    first 1437 images are the training split, the last 360 the test split.

    Example:

    >>> (x_train, y_train), (x_test, y_test) = load_digits_arrays()
    >>> x_train.shape, x_test.shape
    ((1437, 8, 8, 1), (360, 8, 8, 1))
    """
    datasets = _optional.require("sklearn.datasets", "The digits data set")
    digits = datasets.load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., np.newaxis]
    labels = digits.target.astype(np.int64)
    split = len(images) - DIGITS_NUM_TEST
    return (images[:split], labels[:split]), (images[split:], labels[split:])
