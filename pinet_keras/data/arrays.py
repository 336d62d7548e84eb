"""`load_arrays`: a data set as NumPy arrays, from raw files, TFDS or scikit-learn."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from pinet_keras.data.digits import load_digits_arrays
from pinet_keras.data.idx import load_idx_dataset
from pinet_keras.data.image_folder import ARCHIVE_EXTENSIONS
from pinet_keras.data.image_folder import SPLITS
from pinet_keras.data.image_folder import find_archives
from pinet_keras.data.image_folder import is_archive
from pinet_keras.data.image_folder import load_image_folder_dataset
from pinet_keras.data.info import dataset_info
from pinet_keras.data.tfds_source import load_tfds_arrays
from pinet_keras.data.tfds_source import tfds_data_dir

# Where Debian's package `dataset-fashion-mnist` installs the four IDX files.
FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# SHA-256 of the 10,000 test labels (one byte each) of the original MNIST and
# Fashion-MNIST files: their IDX files have the same names and format, so a
# folder of the one passed for the other is found by its labels.
_TEST_LABELS_SHA256 = {
    "mnist": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    "fashion_mnist": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
}

_LOCAL_FILES_HINT = {
    "mnist": f"pass data_dir=/path/to/folder with the four IDX files ({', '.join(IDX_FILES)}; "
    "plain or .gz)",
    "cifar10": "pass data_dir=/path/to/folder with train/<class>/*.jpg and test/<class>/*.jpg "
    "class folders (airplane automobile bird cat deer dog frog horse ship truck), "
    f"or with a tar archive ({', '.join(ARCHIVE_EXTENSIONS)}) holding them, or the archive's path",
}
_LOCAL_FILES_HINT["fashion_mnist"] = _LOCAL_FILES_HINT["mnist"]


def load_arrays(name: str, data_dir=None, image_size=None) -> tuple:
    """Loads data set `name` as `((x_train, y_train), (x_test, y_test))`.

    Images are uint8 NHWC (`dataset_info(name).input_shape`), labels int64.
    Sources, first match wins:

    1. `"digits"`: scikit-learn's bundled copy (`data_dir` is ignored), the
       last 360 images being the test split.
    2. `data_dir` holds raw files, directly or in a subfolder named `name`:
       the four IDX files (plain or .gz) for mnist / fashion_mnist;
       `train/<class>/*` and `test/<class>/*` image folders, or one tar
       archive holding them, for cifar10 (`data_dir` may also be the
       archive itself).
    3. TFDS data prepared in `data_dir` (`None`: `$TFDS_DATA_DIR`, else
       `~/tensorflow_datasets`). Nothing is downloaded.
    4. fashion_mnist only: the IDX files in `FASHION_MNIST_SYSTEM_DIR`.

    Otherwise a `FileNotFoundError` says how to point at local files.
    ``"folder"`` reads your own images in ``data_dir``, resized to
    ``image_size`` (`pinet_keras.data.folder`).

    Example:

    >>> (x_train, y_train), (x_test, y_test) = load_arrays(  # doctest: +SKIP
    ...     "mnist", data_dir="../shared/data/mnist")
    >>> x_train.shape, y_train.dtype  # doctest: +SKIP
    ((60000, 28, 28, 1), dtype('int64'))
    """
    if name == "folder":
        from pinet_keras.data.folder import load_folder

        return load_folder(data_dir, image_size)[:2]
    info = dataset_info(name)
    if name == "digits":
        return _checked(info, load_digits_arrays(), "scikit-learn")
    if data_dir is not None:
        data_dir = os.path.expanduser(os.fspath(data_dir))
        if not os.path.exists(data_dir):
            raise FileNotFoundError(f"Data folder not found: {data_dir}")
        raw = _find_raw(name, data_dir)
        if raw is not None:
            return _load_raw(info, raw)
        if not os.path.isdir(data_dir):
            raise ValueError(
                f"data_dir {data_dir} is a file, not a folder; {_LOCAL_FILES_HINT[name]}."
            )
    try:
        arrays = load_tfds_arrays(name, data_dir)
    except ImportError as error:
        tfds_error = error
        problem = f"tensorflow-datasets is not installed ({error})"
    # TFDS reports unprepared data with an AssertionError (whose advice,
    # download=True, cannot work offline) and other problems with errors that
    # vary by version; any of them means "use local files".
    except Exception as error:  # noqa: BLE001
        tfds_error = error
        if isinstance(error, AssertionError):
            problem = f"TFDS could not find prepared data in {tfds_data_dir(data_dir)}"
        else:
            problem = (
                f"TFDS could not load {name} from {tfds_data_dir(data_dir)} "
                f"({type(error).__name__}: {error})"
            )
    else:
        return _checked(info, arrays, f"TFDS ({tfds_data_dir(data_dir)})")
    if name == "fashion_mnist" and _has_idx_files(FASHION_MNIST_SYSTEM_DIR):
        return _load_raw(info, FASHION_MNIST_SYSTEM_DIR)
    where = ""
    if data_dir is not None:
        where = f"no raw {name} files in {data_dir} (nor in {os.path.join(data_dir, name)}), and "
    if name == "fashion_mnist":
        problem += f", and {FASHION_MNIST_SYSTEM_DIR} holds no IDX files"
    raise FileNotFoundError(
        f"Cannot load {name}: {where}{problem} (load_arrays never downloads). "
        f"To use local files, {_LOCAL_FILES_HINT[name]}."
    ) from tfds_error


def _has_idx_files(folder):
    names = list(IDX_FILES) + [f[: -len(".gz")] for f in IDX_FILES]
    return os.path.isdir(folder) and any(os.path.isfile(os.path.join(folder, n)) for n in names)


def _has_image_folders(folder):
    if any(os.path.isdir(os.path.join(folder, split)) for split in SPLITS):
        return True
    return bool(find_archives(folder))


def _find_raw(name, data_dir):
    """The file or folder with raw files of `name` in `data_dir`, or `None`."""
    if name == "cifar10" and os.path.isfile(data_dir) and is_archive(data_dir):
        return data_dir
    has_raw = _has_image_folders if name == "cifar10" else _has_idx_files
    for folder in (data_dir, os.path.join(data_dir, name)):
        if os.path.isdir(folder) and has_raw(folder):
            return folder
    return None


def _load_raw(info, path):
    if info.name == "cifar10":
        arrays = load_image_folder_dataset(path, info.class_names, info.input_shape)
    else:
        arrays = tuple((x[..., np.newaxis], y) for x, y in load_idx_dataset(path))
        _check_not_another_data_set(info.name, arrays[1][1], path)
    return _checked(info, arrays, path)


def _check_not_another_data_set(name, test_labels, path):
    """Refuses the original files of the other IDX data set (same names, same format)."""
    digest = hashlib.sha256(np.asarray(test_labels, dtype=np.uint8).tobytes()).hexdigest()
    for other, known in _TEST_LABELS_SHA256.items():
        if other != name and digest == known:
            raise ValueError(
                f"{path} holds the {other} files (its test labels are {other}'s), not "
                f"{name}'s; pass data_dir=the folder of {name}'s IDX files, or load {other}."
            )


def _checked(info, arrays, source):
    """Checks shapes, dtypes and label range; returns uint8 images, int64 labels."""
    checked = []
    for split, (images, labels) in zip(SPLITS, arrays):
        if images.shape[1:] != tuple(info.input_shape):
            raise ValueError(
                f"{source}: {info.name} {split} images have shape {images.shape[1:]}, "
                f"expected {tuple(info.input_shape)}."
            )
        if images.dtype != np.uint8:
            raise ValueError(f"{source}: {split} images are {images.dtype}, expected uint8 pixels.")
        if len(images) != len(labels):
            raise ValueError(
                f"{source}: {split} has {len(images)} images but {len(labels)} labels."
            )
        labels = np.asarray(labels).astype(np.int64)
        if len(labels) and (labels.min() < 0 or labels.max() >= info.num_classes):
            raise ValueError(
                f"{source}: {split} labels span {labels.min()}..{labels.max()}, "
                f"expected 0..{info.num_classes - 1}."
            )
        checked.append((images, labels))
    return tuple(checked)
