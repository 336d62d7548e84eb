"""Your own images: a folder of class sub-folders (``dataset="folder"``).

Two layouts are read:

- ``DIR/<class>/*.png``: one folder per class. A test split of
  `FOLDER_TEST_SPLIT` of each class's images is held out (seeded by
  `FOLDER_SPLIT_SEED`, the same for every training seed).
- ``DIR/train/<class>/*`` and ``DIR/test/<class>/*``: the splits as given.

The class names are the folder names, sorted (label = index). Images of
any size and format Pillow reads are decoded as a viewer shows them
(`image_folder.image_pixels`) and resized (bilinear) to ``image_size``;
without ``image_size`` every image must have the size of the first. The
data set is grey (one channel) when every image is, else RGB.

Example:

>>> (x_train, y_train), (x_test, y_test), info = load_folder(  # doctest: +SKIP
...     "my_images", image_size=(32, 32))
>>> info.class_names  # doctest: +SKIP
['cat', 'dog']
"""

from __future__ import annotations

import functools
import io
import os
import re

import numpy as np

from pinet_keras import _optional
from pinet_keras.data.augmentation import AugmentationPolicy
from pinet_keras.data.image_folder import IMAGE_EXTENSIONS
from pinet_keras.data.image_folder import SPLITS
from pinet_keras.data.image_folder import image_pixels
from pinet_keras.data.info import DatasetInfo

FOLDER = "folder"
FOLDER_TEST_SPLIT = 0.1
FOLDER_SPLIT_SEED = 0
# Largest side accepted: a polynomial network on larger images is not what
# this package trains, and a typo (3200 for 32) would fill the memory.
MAX_IMAGE_SIZE = 1024


def parse_image_size(value) -> tuple[int, int] | None:
    """``"32"``, ``"28x28"``, ``32`` or ``(28, 28)`` as ``(height, width)``; ``None`` stays.

    >>> parse_image_size("32"), parse_image_size("24x32"), parse_image_size(None)
    ((32, 32), (24, 32), None)
    """
    if value is None or value == "":
        return None
    if isinstance(value, (tuple, list)):
        parts = list(value)
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        parts = [value, value]
    else:
        match = re.fullmatch(r"\s*(\d+)\s*(?:[x,]\s*(\d+)\s*)?", str(value))
        if not match:
            raise ValueError(
                f"image_size {value!r} is not a size; pass one number (32) or HEIGHTxWIDTH (28x28)."
            )
        parts = [match.group(1), match.group(2) or match.group(1)]
    try:
        size = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        size = ()
    if len(size) != 2 or not all(1 <= s <= MAX_IMAGE_SIZE for s in size):
        raise ValueError(
            f"image_size {value!r} must be one or two whole numbers in 1..{MAX_IMAGE_SIZE}, "
            "like 32 or 28x28."
        )
    return size


def folder_augmentation(input_shape) -> AugmentationPolicy:
    """The augmentation of a folder data set: translations by an eighth of the side, no flips.

    No flips: a mirrored digit or letter is not one; pass your own policy
    to `pixel_preprocessing` where mirrored images keep their class.
    """
    return AugmentationPolicy(padding=max(1, round(min(input_shape[:2]) / 8)), flip=False)


def load_folder(data_dir, image_size=None):
    """Reads a folder of class sub-folders.

    Args:
        data_dir: the folder, in one of the layouts of the module's docstring.
        image_size: ``(height, width)`` (or what `parse_image_size` takes)
            to resize every image to; ``None``: the first image's size,
            which every image must have.

    Returns:
        ``((x_train, y_train), (x_test, y_test), info)``: uint8 NHWC
        images, int64 labels, and a `DatasetInfo` whose ``mean`` and
        ``std`` are the training split's per-channel statistics.

    Raises:
        FileNotFoundError: no such folder, or no class folders in it.
        ValueError: an image that cannot be read, a class without images,
            mixed sizes without ``image_size``, or too few images to split.
    """
    if data_dir is None:
        raise ValueError(
            "dataset='folder' needs data_dir: a folder of class sub-folders (DIR/<class>/*.png), "
            "or of train/ and test/ with class sub-folders."
        )
    path = os.path.abspath(os.path.expanduser(os.fspath(data_dir)))
    size = parse_image_size(image_size)
    if not os.path.isdir(path):
        what = "is a file, not a folder" if os.path.exists(path) else "does not exist"
        raise FileNotFoundError(
            f"data_dir {data_dir} {what}; pass a folder of class sub-folders (DIR/<class>/*.png)."
        )
    return _load_folder_cached(path, size, _tree_stamp(path))


def _tree_stamp(path):
    """Changes when a file of the folder tree is added, removed or rewritten."""
    stamp = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            try:
                info = os.stat(os.path.join(root, name))
            except OSError:
                continue
            stamp.append((root, name, info.st_size, info.st_mtime_ns))
    return hash(tuple(stamp))


@functools.lru_cache(maxsize=2)
def _load_folder_cached(path, size, stamp):
    del stamp  # the cache key only
    split_dirs = {split: os.path.join(path, split) for split in SPLITS}
    if os.path.isdir(split_dirs["train"]):
        class_names = _class_folders(split_dirs["train"])
        files = {"train": _class_files(split_dirs["train"], class_names)}
        if os.path.isdir(split_dirs["test"]):
            test_classes = _class_folders(split_dirs["test"])
            if test_classes != class_names:
                raise ValueError(
                    f"{split_dirs['test']} has the class folders {test_classes}, "
                    f"{split_dirs['train']} has {class_names}; give both the same classes."
                )
            files["test"] = _class_files(split_dirs["test"], class_names)
        else:
            files = _hold_out(files["train"], path)
    else:
        class_names = _class_folders(path)
        files = _hold_out(_class_files(path, class_names), path)
    decoded = {split: _decode_all(items, size) for split, items in files.items()}
    shapes = {image.shape[:2] for split in decoded.values() for image, _ in split}
    if len(shapes) > 1:
        first = decoded["train"][0]
        raise ValueError(
            f"The images of {path} have {len(shapes)} sizes ({first[0].shape[0]}x"
            f"{first[0].shape[1]} and others); pass image_size (--image_size=32 or 28x28) to "
            "resize them all."
        )
    grey = all(
        (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
        for split in decoded.values()
        for image, _ in split
    )
    arrays = []
    for split in SPLITS:
        images = np.stack([image[..., :1] if grey else image for image, _ in decoded[split]])
        labels = np.asarray([label for _, label in decoded[split]], dtype=np.int64)
        arrays.append((images, labels))
    pixels = arrays[0][0].reshape(-1, arrays[0][0].shape[-1]) / 255.0
    info = DatasetInfo(
        name=FOLDER,
        input_shape=tuple(arrays[0][0].shape[1:]),
        num_classes=len(class_names),
        class_names=list(class_names),
        mean=tuple(float(v) for v in pixels.mean(0)),
        std=tuple(float(v) for v in pixels.std(0)),
    )
    return arrays[0], arrays[1], info


def _class_folders(folder):
    names = sorted(
        name
        for name in os.listdir(folder)
        if not name.startswith(".") and os.path.isdir(os.path.join(folder, name))
    )
    if len(names) < 2:
        found = f"only {names[0]!r}" if names else "none"
        raise FileNotFoundError(
            f"{folder} needs a sub-folder per class (at least two; found {found}): "
            "DIR/<class>/*.png, or DIR/train/<class>/* and DIR/test/<class>/*."
        )
    return names


def _class_files(folder, class_names):
    """``[(file, label)]`` of every image in ``folder/<class>/``, sorted."""
    items = []
    for label, name in enumerate(class_names):
        class_dir = os.path.join(folder, name)
        files = sorted(
            f
            for f in os.listdir(class_dir)
            if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)
        )
        if not files:
            raise ValueError(
                f"Class folder {class_dir} holds no images ({', '.join(IMAGE_EXTENSIONS)}); "
                "add some or remove the folder."
            )
        items += [(os.path.join(class_dir, f), label) for f in files]
    return items


def _hold_out(items, path):
    """``{"train": ..., "test": ...}``: `FOLDER_TEST_SPLIT` of each class held out for test."""
    rng = np.random.default_rng(FOLDER_SPLIT_SEED)
    train, test = [], []
    labels = np.asarray([label for _, label in items])
    for label in np.unique(labels):
        indices = np.flatnonzero(labels == label)
        count = int(round(len(indices) * FOLDER_TEST_SPLIT))
        if len(indices) < 2:
            raise ValueError(
                f"{path}: class {label} has {len(indices)} image; each class needs at least two "
                "(one to train on, one to test), or give train/ and test/ folders."
            )
        count = min(max(count, 1), len(indices) - 1)
        chosen = set(rng.permutation(indices)[:count].tolist())
        for index in indices:
            (test if index in chosen else train).append(items[index])
    return {"train": train, "test": test}


def _decode_all(items, size):
    Image = _optional.require("PIL.Image", "Reading a folder of images")
    decoded = []
    for file_path, label in items:
        try:
            with open(file_path, "rb") as f, Image.open(io.BytesIO(f.read())) as image:
                array = image_pixels(image, 3, size)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            raise ValueError(
                f"Cannot read image {file_path} ({error}); remove or replace it."
            ) from error
        decoded.append((array, label))
    return decoded
