"""Static facts about the supported data sets (no I/O)."""

from __future__ import annotations

import collections

# "folder": your own images, a folder of class sub-folders (`pinet_keras.data.folder`).
DATASETS = ("mnist", "fashion_mnist", "cifar10", "digits", "folder")

DatasetInfo = collections.namedtuple(
    "DatasetInfo", ["name", "input_shape", "num_classes", "class_names", "mean", "std"]
)
DatasetInfo.__doc__ = """Static facts about a data set, as returned by `dataset_info`.

Attributes:
    name: one of `DATASETS`.
    input_shape: `(height, width, channels)` of one image.
    num_classes: number of labels, `0 .. num_classes - 1`.
    class_names: list of `num_classes` strings, the name of each label.
    mean: per-channel mean of the training pixels scaled to `[0, 1]`.
    std: per-channel standard deviation of the same pixels.
"""

_DIGIT_NAMES = [str(i) for i in range(10)]

# Means and standard deviations of the training split, pixels / 255. MNIST and
# CIFAR-10 use the values published with the originals (the CIFAR std is the
# true per-channel one, not the often quoted 0.2023/0.1994/0.2010); Fashion-MNIST
# and digits were computed here from the same files `load_arrays` reads.
_INFO = {
    "mnist": ((28, 28, 1), _DIGIT_NAMES, (0.1307,), (0.3081,)),
    "fashion_mnist": (
        (28, 28, 1),
        [
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ],
        (0.2860,),
        (0.3530,),
    ),
    "cifar10": (
        (32, 32, 3),
        [
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ],
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
    ),
    "digits": ((8, 8, 1), _DIGIT_NAMES, (0.3054,), (0.3753,)),
}


def check_name(name):
    """Returns `name` if it is one of `DATASETS`, else raises `ValueError`."""
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; expected one of {', '.join(DATASETS)}.")
    return name


def dataset_info(name: str, data_dir=None, image_size=None) -> DatasetInfo:
    """Returns the `DatasetInfo` of `name`, without reading any file.

    ``"folder"`` is the exception: its classes, shape and statistics are
    those of the images in ``data_dir`` (resized to ``image_size``), read
    by `pinet_keras.data.folder.load_folder`.

    Example:

    >>> info = dataset_info("cifar10")
    >>> info.input_shape, info.num_classes, info.class_names[:2]
    ((32, 32, 3), 10, ['airplane', 'automobile'])
    """
    if check_name(name) == "folder":
        from pinet_keras.data.folder import load_folder

        return load_folder(data_dir, image_size)[2]
    input_shape, class_names, mean, std = _INFO[name]
    return DatasetInfo(
        name=name,
        input_shape=input_shape,
        num_classes=len(class_names),
        class_names=list(class_names),
        mean=mean,
        std=std,
    )
