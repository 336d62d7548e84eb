"""Arrays from TensorFlow Datasets, without ever downloading."""

import os

import numpy as np

from pinet_keras import _optional


def tfds_data_dir(data_dir=None):
    """The folder TFDS reads: `data_dir`, else `$TFDS_DATA_DIR`, else `~/tensorflow_datasets`."""
    if data_dir is not None:
        return os.fspath(data_dir)
    default = os.path.join(os.path.expanduser("~"), "tensorflow_datasets")
    return os.environ.get("TFDS_DATA_DIR", default)


def load_tfds_arrays(name, data_dir=None):
    """Loads the prepared TFDS data set `name` as uint8 NHWC / int64 arrays.

    Calls `tfds.load(..., download=False)`: data that is not prepared in
    `data_dir` (see `tfds_data_dir`) raises TFDS' error, quickly. With
    `download=True` TFDS would retry its downloads for minutes on a machine
    without network before failing.

    Example:

    >>> (x_train, y_train), (x_test, y_test) = load_tfds_arrays("mnist")  # doctest: +SKIP
    """
    tfds = _optional.require("tensorflow_datasets", "Loading a TFDS data set")

    # Not `batch_size=-1`: TFDS then batches by `info.splits.total_num_examples`,
    # and where that is unknown (mocked data) by sys.maxsize, which aborts the
    # whole process in TF 2.21 (std::length_error).
    train, test = tfds.load(
        name, split=["train", "test"], data_dir=data_dir, as_supervised=True, download=False
    )
    return _to_numpy(train, tfds), _to_numpy(test, tfds)


def _to_numpy(dataset, tfds):
    images, labels = [], []
    for x, y in tfds.as_numpy(dataset.batch(8192)):
        images.append(x)
        labels.append(y)
    if not images:
        raise ValueError("TFDS returned an empty split.")
    return np.concatenate(images).astype(np.uint8), np.concatenate(labels).astype(np.int64)
