"""Helpers of the tests of the LiteRT-only paths (pinet_lite, the web page).

Test images of the three data sets as uint8 pixels, read from the raw files
in ``../shared/data`` (never copied into the repository), and the shipped
int8 files.
"""

import gzip
import os
import sys
import tarfile

import numpy as np
import pytest

from conftest import ROOT

LITE_SRC = os.path.join(ROOT, "lite", "src")
SHARED_DATA = os.path.join(ROOT, "..", "shared", "data")
PRETRAINED = os.path.join(ROOT, "pinet_keras", "pretrained", "files")
# The shipped int8 files and their data sets.
MODELS = {
    "polynet_mnist": "mnist",
    "polynet_fashion_mnist": "fashion_mnist",
    "pi_resnet_cifar10": "cifar10",
}
CIFAR10_CLASSES = "airplane automobile bird cat deer dog frog horse ship truck".split()


def import_pinet_lite():
    """The ``pinet_lite`` package of this checkout (lite/src), imported in-process."""
    if LITE_SRC not in sys.path:
        sys.path.insert(0, LITE_SRC)
    import pinet_lite

    return pinet_lite


def model_path(name):
    return os.path.join(PRETRAINED, name, "model_int8.tflite")


def load_test_images(dataset, count):
    """``(pixels, labels)``: ``count`` test images, uint8 ``(N, H, W, C)``, in a fixed order.

    MNIST and Fashion-MNIST: the first ``count`` of the test split. CIFAR-10
    (JPEG class folders in a tar.gz): the first ``count / 10`` files of each
    class folder of ``test/``, class by class, decoded by Pillow.
    """
    folder = os.path.join(SHARED_DATA, dataset)
    if not os.path.isdir(folder):
        pytest.skip(f"no {dataset} data in {os.path.abspath(folder)} (../shared/data)")
    if dataset in ("mnist", "fashion_mnist"):
        with gzip.open(os.path.join(folder, "t10k-images-idx3-ubyte.gz")) as f:
            data = f.read(16 + 28 * 28 * count)
        with gzip.open(os.path.join(folder, "t10k-labels-idx1-ubyte.gz")) as f:
            labels = np.frombuffer(f.read(8 + count), np.uint8, offset=8)
        pixels = np.frombuffer(data, np.uint8, offset=16).reshape(count, 28, 28, 1)
        return pixels.copy(), labels.astype(int)
    from PIL import Image

    per_class = -(-count // len(CIFAR10_CLASSES))
    found = {name: [] for name in CIFAR10_CLASSES}
    with tarfile.open(os.path.join(folder, "cifar10-jpeg.tar.gz"), "r|gz") as archive:
        for member in archive:
            parts = member.name.strip("./").split("/")
            if len(parts) != 3 or parts[0] != "test" or parts[1] not in found:
                continue
            if len(found[parts[1]]) < per_class:
                with Image.open(archive.extractfile(member)) as image:
                    found[parts[1]].append((parts[2], np.asarray(image.convert("RGB"))))
            if all(len(images) == per_class for images in found.values()):
                break
    pixels, labels = [], []
    for label, name in enumerate(CIFAR10_CLASSES):
        for _, array in sorted(found[name], key=lambda item: item[0]):
            pixels.append(array)
            labels.append(label)
    return np.stack(pixels)[:count], np.array(labels[:count])
