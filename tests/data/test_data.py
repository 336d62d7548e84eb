"""Tests of pinet_keras.data: raw readers, TFDS (mocked), digits, pipelines."""

import gzip
import hashlib
import os
import sys
import tarfile

import numpy as np
import pytest

from conftest import SHARED_DATA
from conftest import tensorflow_only
from pinet_keras import data
from pinet_keras.data import DATASETS
from pinet_keras.data import arrays as arrays_module
from pinet_keras.data import dataset_info
from pinet_keras.data import load_arrays
from pinet_keras.data import make_datasets
from pinet_keras.data import pixel_statistics
from pinet_keras.data import split_validation
from pinet_keras.data.idx import read_idx

CIFAR_CLASSES = dataset_info("cifar10").class_names


# Helpers writing small raw data sets.


def idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.tobytes()


def write_idx(path, array, compress=None):
    raw = idx_bytes(array)
    compress = str(path).endswith(".gz") if compress is None else compress
    with open(path, "wb") as f:
        f.write(gzip.compress(raw) if compress else raw)


def mnist_like(num_train=50, num_test=12, seed=0):
    """Random 28x28 images whose pixel (0, 0) is the example's index."""
    rng = np.random.default_rng(seed)
    splits = []
    for n in (num_train, num_test):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = np.arange(n)
        splits.append((images, rng.integers(0, 10, size=n).astype(np.uint8)))
    return tuple(splits)


def write_idx_folder(folder, splits, gz=True):
    os.makedirs(folder, exist_ok=True)
    ext = ".gz" if gz else ""
    for prefix, (images, labels) in zip(("train", "t10k"), splits):
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte{ext}"), images)
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{ext}"), labels)
    return folder


def cifar_image(label, index, flat=False):
    """Random pixels (pixel (0, 0) = label, index), or one flat colour for JPEG."""
    if flat:
        return np.full((32, 32, 3), (25 * label, 50 * index, 128), np.uint8)
    image = np.random.default_rng(100 * label + index).integers(0, 256, (32, 32, 3), np.uint8)
    image[0, 0] = (label, index, 0)
    return image


def write_cifar_folder(root, per_class=(2, 1), fmt="PNG"):
    """Class folders train/<class>/ and test/<class>/ with small images.

    Returns the expected ((x_train, y_train), (x_test, y_test)).
    """
    from PIL import Image

    splits = []
    for split, count in zip(("train", "test"), per_class):
        images, labels = [], []
        for label, name in enumerate(CIFAR_CLASSES):
            os.makedirs(os.path.join(root, split, name), exist_ok=True)
            for index in range(count):
                image = cifar_image(label, index, flat=fmt == "JPEG")
                ext = "png" if fmt == "PNG" else "jpg"
                path = os.path.join(root, split, name, f"{index:04d}.{ext}")
                Image.fromarray(image).save(path, fmt)
                images.append(image)
                labels.append(label)
        splits.append((np.stack(images), np.asarray(labels, np.int64)))
    return tuple(splits)


def pack_tar(source_dir, tar_path, prefix="cifar10"):
    with tarfile.open(tar_path, "w:gz") as tar:
        for split in ("test", "train"):  # not the order of the result
            tar.add(os.path.join(source_dir, split), arcname=f"{prefix}/{split}")
    return tar_path


def assert_splits_equal(actual, expected):
    for (x, y), (x_expected, y_expected) in zip(actual, expected):
        np.testing.assert_array_equal(x, x_expected)
        np.testing.assert_array_equal(y, y_expected)


def collect(dataset):
    images, labels = [], []
    for x, y in dataset:
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(images), np.concatenate(labels)


# Static facts.


def test_dataset_info():
    assert DATASETS == ("mnist", "fashion_mnist", "cifar10", "digits", "folder")
    info = dataset_info("cifar10")
    assert info.input_shape == (32, 32, 3)
    assert info.num_classes == 10 and info.class_names[0] == "airplane"
    assert len(info.mean) == len(info.std) == 3
    assert dataset_info("mnist").mean == (0.1307,) and dataset_info("mnist").std == (0.3081,)
    for name in DATASETS[:-1]:  # a folder's classes are its sub-folders (tests/test_folder.py)
        info = dataset_info(name)
        assert len(info.class_names) == info.num_classes == 10
        assert len(info.mean) == info.input_shape[-1]


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="mnist, fashion_mnist, cifar10, digits"):
        dataset_info("svhn")
    with pytest.raises(ValueError, match="svhn"):
        load_arrays("svhn")


# IDX files.


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    expected = mnist_like()
    write_idx_folder(tmp_path, expected, gz=gz)
    (x_train, y_train), (x_test, y_test) = load_arrays("mnist", tmp_path)
    assert x_train.shape == (50, 28, 28, 1) and x_test.shape == (12, 28, 28, 1)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    np.testing.assert_array_equal(x_train[..., 0], expected[0][0])
    np.testing.assert_array_equal(y_test, expected[1][1])
    path = tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
    np.testing.assert_array_equal(read_idx(path), expected[1][0])


def test_idx_in_subfolder_named_like_the_data_set(tmp_path):
    expected = mnist_like()
    write_idx_folder(tmp_path / "fashion_mnist", expected)
    (x_train, _), _ = load_arrays("fashion_mnist", tmp_path)
    np.testing.assert_array_equal(x_train[..., 0], expected[0][0])


def test_the_other_idx_data_set_is_refused_by_its_test_labels(tmp_path, monkeypatch):
    # MNIST and Fashion-MNIST files share names and format; the original test
    # labels tell them apart (test_real_idx_data checks the real digests).
    expected = mnist_like()
    write_idx_folder(tmp_path, expected)
    digest = hashlib.sha256(expected[1][1].astype(np.uint8).tobytes()).hexdigest()
    monkeypatch.setitem(arrays_module._TEST_LABELS_SHA256, "fashion_mnist", digest)
    with pytest.raises(ValueError) as error:
        load_arrays("mnist", tmp_path)
    message = str(error.value)
    assert f"{tmp_path} holds the fashion_mnist files" in message and "not mnist's" in message
    (x_train, _), _ = load_arrays("fashion_mnist", tmp_path)  # what they are
    np.testing.assert_array_equal(x_train[..., 0], expected[0][0])


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        load_arrays("mnist", tmp_path / "no_such_folder")


def test_missing_idx_file(tmp_path):
    write_idx_folder(tmp_path, mnist_like())
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        load_arrays("mnist", tmp_path)


def test_truncated_gz(tmp_path):
    write_idx_folder(tmp_path, mnist_like())
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        load_arrays("mnist", tmp_path)


def test_truncated_plain_idx(tmp_path):
    write_idx_folder(tmp_path, mnist_like(), gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte is truncated"):
        load_arrays("mnist", tmp_path)


def test_wrong_magic(tmp_path):
    write_idx_folder(tmp_path, mnist_like())
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x1f\x8b\x08\x03" + gzip.decompress(path.read_bytes())[4:]))
    with pytest.raises(ValueError, match="images-idx3-ubyte.gz is not an IDX file: wrong magic"):
        load_arrays("mnist", tmp_path)


def test_count_mismatch(tmp_path):
    (x_train, y_train), test = mnist_like()
    write_idx_folder(tmp_path, ((x_train, y_train[:-1]), test))
    with pytest.raises(ValueError, match="50 images but 49 labels"):
        load_arrays("mnist", tmp_path)


def test_wrong_image_size(tmp_path):
    (x_train, y_train), (x_test, y_test) = mnist_like()
    write_idx_folder(tmp_path, ((x_train[:, :27], y_train), (x_test[:, :27], y_test)))
    with pytest.raises(ValueError, match=r"expected \(28, 28, 1\)"):
        load_arrays("mnist", tmp_path)


def test_label_out_of_range(tmp_path):
    (x_train, y_train), test = mnist_like()
    y_train[3] = 10
    write_idx_folder(tmp_path, ((x_train, y_train), test))
    with pytest.raises(ValueError, match=r"labels span 0\.\.10, expected 0\.\.9"):
        load_arrays("mnist", tmp_path)


# CIFAR class folders and archives.


def test_cifar_png_folders(tmp_path):
    expected = write_cifar_folder(tmp_path)
    arrays = load_arrays("cifar10", tmp_path)
    assert arrays[0][0].shape == (20, 32, 32, 3) and arrays[1][0].shape == (10, 32, 32, 3)
    assert arrays[0][1].dtype == np.int64
    assert_splits_equal(arrays, expected)


def test_cifar_jpeg_folders(tmp_path):
    expected = write_cifar_folder(tmp_path, fmt="JPEG")
    (x_train, y_train), (x_test, y_test) = load_arrays("cifar10", tmp_path)
    np.testing.assert_array_equal(y_train, expected[0][1])
    assert x_train.dtype == np.uint8 and x_test.shape == (10, 32, 32, 3)
    # JPEG is lossy, but flat colours come back within a few levels.
    assert np.abs(x_train.astype(int) - expected[0][0]).max() <= 3
    assert np.abs(x_test.astype(int) - expected[1][0]).max() <= 3


def test_image_pixels_scale_16_bits_and_show_transparency_over_white():
    from PIL import Image

    from pinet_keras.data.image_folder import image_pixels

    grey = np.arange(0, 256, 4, dtype=np.uint8).reshape(8, 8)
    opaque = np.full((8, 8), 255, np.uint8)
    clear = np.zeros((8, 8), np.uint8)
    cases = {  # PIL's own convert("L") clips 16 bits at 255 and drops the alpha
        "I;16": Image.fromarray(grey.astype(np.uint16) * 257),
        "I": Image.fromarray(grey.astype(np.int32) * 257, "I"),
        "LA opaque": Image.fromarray(np.stack([grey, opaque], -1), "LA"),
        "LA clear": Image.fromarray(np.stack([grey, clear], -1), "LA"),
        "RGBA clear": Image.fromarray(np.zeros((8, 8, 4), np.uint8), "RGBA"),
    }
    palette = Image.fromarray(grey, "L").convert("P")
    palette.info["transparency"] = palette.getpixel((0, 0))  # the black of pixel (0, 0)
    cases["P transparent black"] = palette
    expected = {
        "I;16": grey,
        "I": grey,
        "LA opaque": grey,
        "LA clear": opaque,
        "RGBA clear": opaque,
        "P transparent black": np.where(grey == 0, 255, grey),
    }
    for name, image in cases.items():
        for channels in (1, 3):
            pixels = image_pixels(image, channels)
            assert pixels.dtype == np.uint8 and pixels.shape == (8, 8, channels), name
            np.testing.assert_array_equal(
                pixels, np.repeat(expected[name][..., None], channels, -1)
            )
    np.testing.assert_array_equal(
        image_pixels(Image.fromarray(grey), 1, size=(4, 2)).shape, (4, 2, 1)
    )
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        image_pixels(cases["I;16"], 2)


def test_cifar_16_bit_and_transparent_pngs_load_as_a_viewer_shows_them(tmp_path):
    from PIL import Image

    expected = write_cifar_folder(tmp_path)
    image = expected[1][0][0]  # the first test image, an airplane
    path = tmp_path / "test" / "airplane" / "0000.png"
    alpha = np.full(image.shape[:2] + (1,), 255, np.uint8)
    alpha[0, 0] = 0  # one clear pixel: white
    Image.fromarray(np.concatenate([image, alpha], -1), "RGBA").save(path)
    expected[1][0][0, 0, 0] = 255
    assert_splits_equal(load_arrays("cifar10", tmp_path), expected)


@tensorflow_only
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_cifar_tensorflow_decoder_without_pil(tmp_path, monkeypatch, fmt):
    from PIL import Image

    write_cifar_folder(tmp_path, fmt=fmt)
    if fmt == "PNG":  # PNGs that PIL's viewer conversion changes: the same pixels without it
        rng = np.random.default_rng(0)
        folder = tmp_path / "test"
        rgba = rng.integers(0, 256, (32, 32, 4), np.uint8)
        Image.fromarray(rgba, "RGBA").save(folder / "airplane" / "0000.png")
        grey16 = rng.integers(0, 65536, (32, 32), np.uint16)
        Image.fromarray(grey16).save(folder / "automobile" / "0000.png")
        palette = Image.fromarray(rng.integers(0, 4, (32, 32), np.uint8), "P")
        palette.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
        palette.save(folder / "bird" / "0000.png", transparency=1)
        grey_alpha = rng.integers(0, 256, (32, 32, 2), np.uint8)
        Image.fromarray(grey_alpha, "LA").save(folder / "cat" / "0000.png")
    with_pil = load_arrays("cifar10", tmp_path)
    monkeypatch.setitem(sys.modules, "PIL", None)  # `from PIL import Image` now fails
    assert_splits_equal(load_arrays("cifar10", tmp_path), with_pil)
    (tmp_path / "train" / "dog" / "0000.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"Cannot decode image .*dog.0000\.png"):
        load_arrays("cifar10", tmp_path)


@pytest.mark.parametrize("channels", [1, 3])
def test_viewer_pixels_without_pil_equal_image_pixels(channels):
    from PIL import Image

    from pinet_keras.data.image_folder import _viewer_pixels
    from pinet_keras.data.image_folder import image_pixels

    rng = np.random.default_rng(channels)
    for mode, depth in [("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)]:
        pixels = rng.integers(0, 256, (16, 16, depth), np.uint8)
        image = Image.fromarray(pixels[..., 0] if depth == 1 else pixels, mode)
        wide = pixels.astype(np.uint16) * 257  # as TensorFlow decodes an 8-bit PNG in 16 bits
        np.testing.assert_array_equal(
            _viewer_pixels(wide, channels), image_pixels(image, channels), err_msg=mode
        )
    grey16 = rng.integers(0, 65536, (16, 16), np.uint16)
    np.testing.assert_array_equal(
        _viewer_pixels(grey16[..., None], channels), image_pixels(Image.fromarray(grey16), channels)
    )


def test_cifar_tar_gz_equals_folders(tmp_path):
    expected = write_cifar_folder(tmp_path / "raw")
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    tar_path = pack_tar(tmp_path / "raw", archive_dir / "cifar10-png.tar.gz")
    assert_splits_equal(load_arrays("cifar10", archive_dir), expected)
    assert_splits_equal(load_arrays("cifar10", tar_path), expected)


def test_cifar_missing_class_folder(tmp_path):
    write_cifar_folder(tmp_path)
    for name in os.listdir(tmp_path / "test" / "truck"):
        os.remove(tmp_path / "test" / "truck" / name)
    os.rmdir(tmp_path / "test" / "truck")
    with pytest.raises(FileNotFoundError, match=r"test lacks class folders \['truck'\]"):
        load_arrays("cifar10", tmp_path)


def test_cifar_missing_split_folder(tmp_path):
    write_cifar_folder(tmp_path / "raw")
    os.rename(tmp_path / "raw" / "train", tmp_path / "train")
    with pytest.raises(FileNotFoundError, match="Missing train/ folder"):
        load_arrays("cifar10", tmp_path / "raw")


def test_cifar_unknown_class_folder(tmp_path):
    write_cifar_folder(tmp_path)
    os.rename(tmp_path / "train" / "cat", tmp_path / "train" / "kitten")
    with pytest.raises(FileNotFoundError, match=r"lacks class folders \['cat'\]"):
        load_arrays("cifar10", tmp_path)
    os.makedirs(tmp_path / "train" / "cat")
    os.rename(tmp_path / "train" / "kitten" / "0000.png", tmp_path / "train" / "cat" / "0000.png")
    with pytest.raises(ValueError, match=r"class folders \['kitten'\]"):
        load_arrays("cifar10", tmp_path)


def test_cifar_unreadable_image(tmp_path):
    write_cifar_folder(tmp_path)
    (tmp_path / "train" / "bird" / "0001.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"Cannot decode image .*bird.0001\.png"):
        load_arrays("cifar10", tmp_path)


def test_cifar_wrong_image_size(tmp_path):
    from PIL import Image

    write_cifar_folder(tmp_path)
    Image.new("RGB", (31, 32)).save(tmp_path / "test" / "ship" / "0000.png")
    with pytest.raises(ValueError, match=r"ship.0000\.png has shape \(32, 31, 3\)"):
        load_arrays("cifar10", tmp_path)


def test_cifar_tar_without_test_split(tmp_path):
    write_cifar_folder(tmp_path / "raw")
    tar_path = tmp_path / "train-only.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(tmp_path / "raw" / "train", arcname="train")
    with pytest.raises(FileNotFoundError, match="train-only.tar.gz has no test/ folder"):
        load_arrays("cifar10", tar_path)


def test_cifar_tar_missing_class(tmp_path):
    write_cifar_folder(tmp_path / "raw")
    tar_path = tmp_path / "partial.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(tmp_path / "raw" / "train", arcname="train")
        for name in CIFAR_CLASSES[:-1]:
            tar.add(tmp_path / "raw" / "test" / name, arcname=f"test/{name}")
    with pytest.raises(FileNotFoundError, match=r"partial.tar:test/ lacks class folders \['truck"):
        load_arrays("cifar10", tar_path)


def test_cifar_truncated_tar_gz(tmp_path):
    write_cifar_folder(tmp_path / "raw")
    tar_path = pack_tar(tmp_path / "raw", tmp_path / "broken.tar.gz")
    tar_path.write_bytes(tar_path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="Cannot read archive .*broken.tar.gz"):
        load_arrays("cifar10", tar_path)


def test_cifar_tar_unreadable_member(tmp_path):
    write_cifar_folder(tmp_path / "raw")
    (tmp_path / "raw" / "test" / "frog" / "0000.png").write_bytes(b"\x89PNG garbage")
    tar_path = pack_tar(tmp_path / "raw", tmp_path / "c.tar.gz")
    with pytest.raises(ValueError, match=r"Cannot decode .*c.tar.gz:cifar10/test/frog/0000.png"):
        load_arrays("cifar10", tar_path)


# scikit-learn digits.


def test_digits_loads_without_files():
    (x_train, y_train), (x_test, y_test) = load_arrays("digits")
    assert x_train.shape == (1437, 8, 8, 1) and x_test.shape == (360, 8, 8, 1)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert x_train.max() == 255 and x_train.min() == 0
    assert set(np.unique(y_test)) == set(range(10))
    # The fixed split: load_digits() order, last 360 are the test split.
    from sklearn.datasets import load_digits

    np.testing.assert_array_equal(y_test, load_digits().target[-360:])


# Pixel statistics (for the models' Normalization layer) and the fixed constants.


def test_pixel_statistics_are_numpys_per_channel_mean_and_variance():
    images = np.random.default_rng(0).integers(0, 256, (50, 4, 5, 3)).astype(np.uint8)
    mean, variance = pixel_statistics(images, chunk=7)  # chunks of 7 images: 8 chunks, one partial
    assert mean.dtype == variance.dtype == np.float64 and mean.shape == variance.shape == (3,)
    np.testing.assert_allclose(mean, images.mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(variance, images.astype(np.float64).var(axis=(0, 1, 2)), rtol=1e-10)
    # A constant channel has variance 0, not a tiny negative rounding error.
    _, variance = pixel_statistics(np.full((10, 2, 2, 1), 200, np.uint8))
    assert variance.tolist() == [0.0]


def test_digits_constants_describe_the_training_split():
    # dataset_info's mean / std (pixels / 255) stay what 0.1.0 standardized with.
    (x_train, _), _ = load_arrays("digits")
    info = dataset_info("digits")
    x = x_train / 255.0
    np.testing.assert_allclose(x.mean(), info.mean[0], atol=1e-4)
    np.testing.assert_allclose(x.std(), info.std[0], atol=1e-4)


# Validation split and pipelines.


def test_split_validation():
    train, validation = split_validation(100, 0.1, seed=0)
    assert len(train) == 90 and len(validation) == 10
    assert not set(train) & set(validation)
    assert sorted(np.concatenate([train, validation])) == list(range(100))
    np.testing.assert_array_equal(split_validation(100, 0.1, seed=0)[1], validation)
    assert not np.array_equal(split_validation(100, 0.1, seed=1)[1], validation)
    train, validation = split_validation(100, 0, seed=0)
    assert len(train) == 100 and len(validation) == 0
    for bad in (1.0, -0.1, 0.001):
        with pytest.raises(ValueError, match="validation_split"):
            split_validation(100, bad)


@tensorflow_only
def test_make_datasets_validation_split(tmp_path):
    splits = mnist_like(num_train=50, num_test=12)
    write_idx_folder(tmp_path, splits)

    def indices(name_seed, shuffle=False):
        datasets = make_datasets(
            "mnist", tmp_path, batch_size=8, validation_split=0.2, seed=name_seed, shuffle=shuffle
        )
        parts = [collect(d) for d in (datasets.train, datasets.validation, datasets.test)]
        # Pixel (0, 0) holds the example's index: the pipelines yield raw pixels.
        return datasets.info, [x[:, 0, 0, 0].astype(int) for x, _ in parts], parts

    info, (train, validation, test), parts = indices(0)
    assert (info.num_train, info.num_validation, info.num_test) == (40, 10, 12)
    assert len(train) == 40 and len(validation) == 10
    assert not set(train) & set(validation)
    assert sorted(np.concatenate([train, validation])) == list(range(50))
    np.testing.assert_array_equal(parts[0][1], splits[0][1][train])
    # The test split is untouched: all of it, in order.
    np.testing.assert_array_equal(test, np.arange(12))
    np.testing.assert_array_equal(parts[2][1], splits[1][1])
    assert parts[2][0].dtype == np.uint8
    np.testing.assert_array_equal(parts[2][0][..., 0], splits[1][0])
    # Deterministic given the seed, different for another one.
    assert np.array_equal(indices(0)[1][1], validation)
    assert not np.array_equal(indices(1)[1][1], validation)
    # Shuffling reorders the training examples, not the validation ones.
    _, (shuffled_train, shuffled_validation, _), _ = indices(0, shuffle=True)
    assert sorted(shuffled_train) == sorted(train) and not np.array_equal(shuffled_train, train)
    np.testing.assert_array_equal(shuffled_validation, validation)


@tensorflow_only
def test_make_datasets_without_validation_and_reshuffle(tmp_path):
    write_idx_folder(tmp_path, mnist_like(num_train=30, num_test=5))
    datasets = make_datasets("mnist", tmp_path, batch_size=30, validation_split=0, seed=3)
    assert datasets.validation is None and datasets.info.num_validation == 0
    first, second = (next(iter(datasets.train))[0].numpy()[:, 0, 0, 0] for _ in range(2))
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)


@tensorflow_only
def test_batching_and_drop_remainder():
    datasets = make_datasets("digits", batch_size=100, validation_split=0.1)
    assert (datasets.info.num_train, datasets.info.num_validation) == (1293, 144)
    sizes = [len(y) for _, y in datasets.train]
    assert sizes == [100] * 12 + [93]
    assert [len(y) for _, y in datasets.validation] == [100, 44]
    dropped = make_datasets("digits", batch_size=100, drop_remainder=True)
    assert [len(y) for _, y in dropped.train] == [100] * 12
    assert dropped.train.element_spec[0].shape.as_list() == [100, 8, 8, 1]
    # Validation and test keep every example.
    assert sum(len(y) for _, y in dropped.test) == 360


@tensorflow_only
def test_make_datasets_yields_raw_pixels_and_their_statistics():
    datasets = make_datasets("digits", batch_size=64, shuffle=False)
    images, labels = next(iter(datasets.train))
    assert images.dtype.name == "uint8" and labels.dtype.name == "int64"
    assert images.shape == (64, 8, 8, 1)
    info = datasets.info
    assert info.input_shape == (8, 8, 1) and info.class_names == [str(i) for i in range(10)]
    assert "normalization" not in info._fields and "augment" not in info._fields
    # The raw training examples, unchanged, in the order of the training split.
    (x_train, y_train), (x_test, _) = load_arrays("digits")
    train_indices, _ = split_validation(len(x_train), 0.1, seed=0)
    x, y = collect(datasets.train)
    np.testing.assert_array_equal(x, x_train[train_indices])
    np.testing.assert_array_equal(y, y_train[train_indices])
    np.testing.assert_array_equal(collect(datasets.test)[0], x_test)
    # pixel_mean / pixel_variance: numpy's per-channel mean and variance of the training split only.
    assert (
        isinstance(info.pixel_mean, tuple) and len(info.pixel_mean) == len(info.pixel_variance) == 1
    )
    np.testing.assert_allclose(info.pixel_mean, x.mean(axis=(0, 1, 2)), rtol=1e-10)
    np.testing.assert_allclose(
        info.pixel_variance, x.astype(np.float64).var(axis=(0, 1, 2)), rtol=1e-10
    )
    full = make_datasets("digits", batch_size=64, validation_split=0)
    assert full.info.pixel_mean != info.pixel_mean
    np.testing.assert_allclose(full.info.pixel_mean, x_train.mean(axis=(0, 1, 2)), rtol=1e-10)
    # The pipeline neither normalizes nor augments any more.
    for removed in ("normalization", "augment"):
        with pytest.raises(TypeError, match=removed):
            make_datasets("digits", **{removed: "unit"})


@tensorflow_only
def test_make_datasets_cifar_pixels_are_the_files_pixels(tmp_path):
    write_cifar_folder(tmp_path, per_class=(3, 1))
    datasets = make_datasets("cifar10", tmp_path, batch_size=16, validation_split=0, shuffle=False)
    (x_train, y_train), (x_test, y_test) = load_arrays("cifar10", tmp_path)
    x, y = collect(datasets.train)
    assert x.shape == (30, 32, 32, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, x_train)
    np.testing.assert_array_equal(y, y_train)
    np.testing.assert_array_equal(collect(datasets.test)[0], x_test)
    np.testing.assert_allclose(datasets.info.pixel_mean, x_train.mean(axis=(0, 1, 2)), rtol=1e-10)
    np.testing.assert_allclose(
        datasets.info.pixel_variance, x_train.astype(np.float64).var(axis=(0, 1, 2)), rtol=1e-10
    )


# TFDS, mocked (nothing prepared, no network).


@tensorflow_only
@pytest.mark.parametrize("name, shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_tfds_mocked(name, shape):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=20):
        (x_train, y_train), (x_test, y_test) = load_arrays(name)
        datasets = make_datasets(name, batch_size=8, validation_split=0.25)
    assert x_train.shape == (20,) + shape and x_test.shape == (20,) + shape
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert y_test.min() >= 0 and y_test.max() < 10
    info = datasets.info
    assert (info.num_train, info.num_validation, info.num_test) == (15, 5, 20)
    images, labels = next(iter(datasets.train))
    assert images.shape == (8,) + shape and images.dtype.name == "uint8"
    assert labels.dtype.name == "int64"
    assert len(info.pixel_mean) == len(info.pixel_variance) == shape[-1]


@tensorflow_only
def test_tfds_unprepared_error_says_how_to_use_local_files(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(FileNotFoundError, match="could not find prepared data") as error:
        load_arrays("mnist", tmp_path)
    assert "pass data_dir=" in str(error.value) and "train-images-idx3-ubyte.gz" in str(error.value)
    with pytest.raises(FileNotFoundError, match="tar archive"):
        load_arrays("cifar10", tmp_path)


@tensorflow_only
def test_fashion_mnist_falls_back_to_the_debian_folder(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    expected = mnist_like()
    monkeypatch.setattr(
        arrays_module, "FASHION_MNIST_SYSTEM_DIR", write_idx_folder(tmp_path / "debian", expected)
    )
    (tmp_path / "empty").mkdir()
    (x_train, _), _ = load_arrays("fashion_mnist", tmp_path / "empty")
    np.testing.assert_array_equal(x_train[..., 0], expected[0][0])


# The real data sets, where the shared folder exists. TensorFlow only, so
# that the CIFAR decoding (seconds) runs once, not again under JAX.


def shared(name):
    folder = os.path.join(SHARED_DATA, name)
    if not os.path.isdir(folder):
        pytest.skip(f"no shared data in {folder}")
    return folder


@tensorflow_only
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_real_idx_data(name):
    (x_train, y_train), (x_test, y_test) = load_arrays(name, shared(name))
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)
    assert set(np.unique(y_train)) == set(range(10))
    # The published constants describe these files.
    info = dataset_info(name)
    x = x_train[:20000] / 255.0
    assert abs(x.mean() - info.mean[0]) < 0.01 and abs(x.std() - info.std[0]) < 0.01
    other = "fashion_mnist" if name == "mnist" else "mnist"
    with pytest.raises(ValueError, match=f"holds the {name} files .*not {other}'s"):
        load_arrays(other, shared(name))


@pytest.mark.slow
@tensorflow_only
def test_real_cifar10_tar():
    (x_train, y_train), (x_test, y_test) = load_arrays("cifar10", shared("cifar10"))
    assert x_train.shape == (50000, 32, 32, 3) and x_test.shape == (10000, 32, 32, 3)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y_train), [5000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    mean = (x_train[::10] / 255.0).mean(axis=(0, 1, 2))
    np.testing.assert_allclose(mean, dataset_info("cifar10").mean, atol=0.01)


def test_public_api():
    for name in ("DATASETS", "DatasetInfo", "Datasets", "load_arrays", "make_datasets"):
        assert hasattr(data, name)
    assert "pixel_statistics" in data.__all__ and "dataset_info" in data.__all__
    assert "AugmentationPolicy" in data.__all__ and "AUGMENTATIONS" in data.__all__
    for removed in ("normalize", "NORMALIZATIONS", "augment_image", "augment_batch"):
        assert removed not in data.__all__ and not hasattr(data, removed), removed


@tensorflow_only
def test_subset_and_unbatched_datasets():
    full = make_datasets("digits", batch_size=32)
    small = make_datasets("digits", batch_size=None, max_train_examples=100, seed=3)
    assert small.info.num_train == 100
    assert small.info.num_validation == full.info.num_validation
    image, label = next(iter(small.train))
    assert tuple(image.shape) == (8, 8, 1) and label.shape == ()
    assert sum(1 for _ in small.train) == 100
    again = make_datasets("digits", batch_size=None, max_train_examples=100, seed=3)
    labels = sorted(int(y) for _, y in small.train)
    assert labels == sorted(int(y) for _, y in again.train)
    with pytest.raises(ValueError, match="max_train_examples"):
        make_datasets("digits", max_train_examples=0)
