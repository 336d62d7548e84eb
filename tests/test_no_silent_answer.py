"""No silent answer: a wrong input gets one clear error, never a confident class.

Non-finite pixels in every runner and evaluation helper, float and damaged
images, the pretrained cache, a data set the run did not record, a second
export into one folder, and the smaller argument checks. In-process and
fast: no conversion runs (the shipped int8 files are used where a
``.tflite`` file is needed).
"""

import errno
import io
import json
import os
import zipfile

import keras
import numpy as np
import pytest
from PIL import Image
from PIL import TiffImagePlugin

import pinet_keras
from pinet_keras import export
from pinet_keras import pretrained
from pinet_keras.data.image_folder import image_pixels
from pinet_keras.models import pixel_preprocessing

INT8 = pretrained.tflite_path("polynet_mnist", "int8")  # shipped: (28, 28, 1), uint8 in
MNIST = (28, 28, 1)
DIGITS = (8, 8, 1)


def _half_nan(count=4, shape=MNIST):
    images = np.random.default_rng(0).uniform(0, 255, (count, *shape)).astype("float32")
    images[1, : shape[0] // 2] = np.nan  # half of the second image
    images[3, 0, 0, 0] = np.inf
    return images


# -- 1. Non-finite pixels are an error wherever a model runs on images ---------------


def test_check_finite_pixels_names_the_images_and_the_values():
    from pinet_keras._finite import check_finite_pixels

    images = _half_nan()
    with pytest.raises(ValueError, match=r"^here: 2 of 4 images hold non-finite pixels \(393 "):
        check_finite_pixels(images, "here")
    assert check_finite_pixels(images[[0, 2]]) is not None
    assert check_finite_pixels(np.zeros((2, 3), np.uint8)) is not None  # integers are finite


def test_int8_runner_refuses_nan_pixels_instead_of_naming_a_class():
    runner = export.TFLiteRunner(INT8)
    images = _half_nan()
    with pytest.raises(ValueError, match="2 of 4 images hold non-finite pixels"):
        runner.predict(images)
    with pytest.raises(ValueError, match="non-finite"):
        export.run_tflite(INT8, images[1:2])
    with pytest.raises(ValueError, match="1 of 1 image holds non-finite"):
        runner.latency_ms(images[1], runs=1, warmup=0)
    # Finite images still run.
    assert runner.predict(images[[0, 2]]).shape == (2, 10)


def test_evaluate_helpers_refuse_nan_pixels():
    images = _half_nan()
    labels = np.zeros(4, "int64")
    with pytest.raises(ValueError, match="evaluate_tflite.*2 of 4 images"):
        export.evaluate_tflite(INT8, images, labels, latency_runs=0)
    # Refused before the SavedModel is even opened.
    with pytest.raises(ValueError, match="evaluate_saved_model.*2 of 4 images"):
        export.evaluate_saved_model("no_such_saved_model", images, labels)
    with pytest.raises(ValueError, match="predict_saved_model: 2 of 4 images"):
        export.predict_saved_model("no_such_saved_model", images)


def test_predict_refuses_nan_pixels():
    from pinet_keras.inference import predict

    with pytest.raises(ValueError, match="images: 2 of 4 images hold non-finite"):
        predict(INT8, _half_nan())


def test_lite_classifier_refuses_nan_and_out_of_range_pixels():
    pinet_lite = pytest.importorskip("pinet_lite")
    classifier = pinet_lite.Classifier(INT8)
    with pytest.raises(ValueError, match="Classifier.logits: 2 of 4 images"):
        classifier.logits(_half_nan())
    with pytest.raises(ValueError, match="non-finite"):
        classifier.pixels(_half_nan()[1])
    with pytest.raises(ValueError, match="not 0..255"):
        classifier.pixels(np.full(MNIST, 0.5) - 1.0)
    with pytest.raises(ValueError, match="non-finite"):
        classifier.predict([_half_nan(shape=(40, 40, 1))[1]])
    assert classifier.pixels(np.full(MNIST, 254.6)).max() == 255  # rounded, not truncated


def test_nan_stays_nan_inside_a_model_and_the_package_metric_counts_it_wrong():
    guard = pinet_keras.PixelRange()
    out = np.asarray(guard(np.array([np.nan, -np.inf, np.inf, 300.0], "float32")))
    assert np.isnan(out[0]) and out[1:].tolist() == [0.0, 255.0, 255.0]
    keras.utils.set_random_seed(0)
    model = pinet_keras.PolyNet(
        input_shape=DIGITS, width=2, num_blocks=2, preprocessing=pixel_preprocessing(DIGITS)
    )
    images = np.full((4, *DIGITS), np.nan, "float32")
    logits = np.asarray(model(images))
    assert np.isnan(logits).all()  # never turned into a class by the guard
    labels = np.zeros(4, "int64")
    # Keras' own "accuracy" reads NaN logits as class 0: all right. The package's: all wrong.
    assert float(keras.metrics.SparseCategoricalAccuracy()(labels, logits)) == 1.0
    assert float(pinet_keras.Accuracy()(labels, logits)) == 0.0
    assert export.compare_logits(logits, labels=labels)["accuracy"] == 0.0


def test_compare_logits_needs_one_label_per_row():
    with pytest.raises(ValueError, match="2 labels for 4 rows of logits"):
        export.compare_logits(np.zeros((4, 3)), labels=[0, 1])


# -- 2. Images read as a viewer shows them, or refused --------------------------------


def _float_tiff(path, values, stated=None):
    image = Image.fromarray(np.asarray(values, "float32"))
    kwargs = {}
    if stated is not None:
        info = TiffImagePlugin.ImageFileDirectory_v2()
        info[340], info[341] = stated
        kwargs["tiffinfo"] = info
    image.save(path, **kwargs)
    return str(path)


def _image_readers():
    """``{name: read(path) -> uint8 pixels}``: every reader of image files in both packages."""
    from pinet_keras.data import folder as folder_module
    from pinet_keras.data.image_folder import _image_decoder
    from pinet_keras.inference import read_image

    readers = {
        "inference": lambda path: read_image(path, 4, 4, 1),
        "image_folder": lambda path: _image_decoder(None)(open(path, "rb").read(), path),
        "folder": lambda path: folder_module._decode_all([(path, 0)], None)[0][0],
    }
    try:
        from pinet_lite.images import read_image as lite_read

        readers["pinet_lite"] = lambda path: lite_read(path, 1)
    except ImportError:
        pass
    return readers


def test_float_images_scale_by_their_stated_range_in_both_packages(tmp_path):
    ramp = np.linspace(0.0, 1.0, 16).reshape(4, 4)
    stated = _float_tiff(tmp_path / "stated.tif", ramp, stated=(0.0, 1.0))
    expected = np.rint(ramp * 255).astype(np.uint8)
    with Image.open(stated) as image:
        np.testing.assert_array_equal(image_pixels(image, 1)[..., 0], expected)
        try:
            from pinet_lite.images import image_pixels as lite_pixels
        except ImportError:
            lite_pixels = None
        if lite_pixels is not None:  # the two copies agree
            np.testing.assert_array_equal(lite_pixels(image, 1), image_pixels(image, 1))
    for name, read in _image_readers().items():
        np.testing.assert_array_equal(read(stated)[..., 0], expected, err_msg=name)
    # Without a stated range, float_range says it.
    with Image.open(_float_tiff(tmp_path / "plain.tif", ramp)) as image:
        np.testing.assert_array_equal(image_pixels(image, 3, float_range=(0, 1))[..., 0], expected)


def test_float_images_without_a_range_or_with_nan_are_refused(tmp_path):
    ramp = np.linspace(0.0, 1.0, 16).reshape(4, 4)
    plain = _float_tiff(tmp_path / "plain.tif", ramp)  # black to a viewer that clips at 1
    nan = _float_tiff(tmp_path / "nan.tif", np.where(ramp > 0.5, np.nan, ramp), (0.0, 1.0))
    outside = _float_tiff(tmp_path / "outside.tif", ramp * 2, (0.0, 1.0))
    for name, read in _image_readers().items():
        with pytest.raises(ValueError, match="states no range.*8-bit or 16-bit") as error:
            read(plain)
        assert plain in str(error.value) and "\n" not in str(error.value), name
        with pytest.raises(ValueError, match="8 NaN or infinite pixels"):
            read(nan)
        with pytest.raises(ValueError, match="outside its range"):
            read(outside)


def test_decompression_bombs_and_truncated_images_are_one_line(tmp_path, monkeypatch):
    big = tmp_path / "bomb.png"
    Image.new("L", (64, 64)).save(big)
    data = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8)).save(data, "PNG")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    # PIL refuses images over twice MAX_IMAGE_PIXELS (DecompressionBombError).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for name, read in _image_readers().items():
        for path, reason in ((big, "decompression bomb"), (truncated, "truncat")):
            with pytest.raises(ValueError, match=reason) as error:
                read(str(path))
            assert str(path) in str(error.value) and "\n" not in str(error.value), name


def test_folder_loader_names_a_decompression_bomb(tmp_path, monkeypatch):
    from pinet_keras.data.folder import load_folder

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.new("L", (40, 40), 10 * i).save(tmp_path / name / f"{i}.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    with pytest.raises(ValueError, match=r"Cannot read image .*\.png .*decompression bomb"):
        load_folder(str(tmp_path))


def test_truncated_and_empty_tflite_files_are_named(tmp_path):
    from pinet_keras.inference import predict

    content = open(INT8, "rb").read()
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=f"{empty} is empty"):
        export.TFLiteRunner(str(empty))
    pixels = np.zeros((1, *MNIST), np.uint8)
    for size in (len(content) // 2, 16):
        truncated = tmp_path / f"truncated_{size}.tflite"
        truncated.write_bytes(content[:size])
        with pytest.raises(ValueError) as error:
            predict(str(truncated), pixels)
        assert str(truncated) in str(error.value)
        with pytest.raises(ValueError) as error:
            export.TFLiteRunner(str(truncated))
        assert str(truncated) in str(error.value)


# -- 3. The pretrained float32 cache is checked against its record ------------------


@pytest.fixture
def fake_convert(monkeypatch, tmp_path):
    """``pretrained.convert`` writing small bytes at once (a conversion takes a minute)."""
    calls = []

    def convert(name, path, format="float32", overwrite=True):
        calls.append(path)
        with open(path, "wb") as f:
            f.write(f"TFL3 {name} {format} {len(calls)}".encode())
        return path

    monkeypatch.setattr(pretrained, "convert", convert)
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    return calls


def test_cached_float32_file_is_rebuilt_when_it_does_not_match_its_record(fake_convert):
    name = "polynet_mnist"
    path = pretrained.tflite_path(name, "float32")
    record = json.loads(open(path + ".json").read())
    assert record["model"] == name and record["format"] == "float32"
    assert record["size"] == os.path.getsize(path) and len(record["sha256"]) == 64
    assert pretrained.tflite_path(name, "float32") == path and len(fake_convert) == 1

    damages = {
        "truncated": lambda: open(path, "r+b").truncate(4),
        "garbage": lambda: open(path, "wb").write(b"x" * record["size"]),
        "foreign": lambda: open(path, "wb").write(open(INT8, "rb").read()),
        "no record": lambda: os.remove(path + ".json"),
        "other model's record": lambda: open(path + ".json", "w").write(
            json.dumps({**record, "model": "pi_resnet_cifar10"})
        ),
        "missing file": lambda: os.remove(path),
    }
    for count, (what, damage) in enumerate(damages.items(), start=2):
        damage()
        with pytest.warns(UserWarning, match="converting it again"):
            assert pretrained.tflite_path(name, "float32") == path, what
        assert len(fake_convert) == count, what
        assert json.loads(open(path + ".json").read())["size"] == os.path.getsize(path)


def _cache_message(error):
    message = str(error.value)
    assert pretrained.CACHE_ENV in message and "writable folder" in message, message
    assert "\n" not in message
    return message


def test_cache_folder_problems_name_the_variable(fake_convert, tmp_path, monkeypatch):
    from pinet_keras.cli.boundary import describe

    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    monkeypatch.setenv(pretrained.CACHE_ENV, str(a_file))
    with pytest.raises(NotADirectoryError) as error:
        pretrained.tflite_path("polynet_mnist", "float32")
    assert "is a file, not a folder" in _cache_message(error)
    assert pretrained.CACHE_ENV in describe(error.value)

    # An unwritable home: the default cache folder cannot be created.
    monkeypatch.delenv(pretrained.CACHE_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(a_file / "home"))
    with pytest.raises(OSError) as error:
        pretrained.tflite_path("polynet_mnist", "float32")
    assert "is not set" in _cache_message(error)
    assert not fake_convert  # nothing was converted for nothing


def test_read_only_cache_is_one_line(fake_convert, tmp_path, monkeypatch):
    import builtins

    real_open = builtins.open
    cache = str(tmp_path / "cache")

    def read_only(path, mode="r", *args, **kwargs):  # a read-only cache, even for root
        if str(path).startswith(cache) and any(c in mode for c in "wax+"):
            raise PermissionError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, mode, *args, **kwargs)

    real_os_open = os.open

    def read_only_fd(path, flags, *args, **kwargs):
        if str(path).startswith(cache) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(errno.EROFS, "Read-only file system", str(path))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only)
    monkeypatch.setattr(os, "open", read_only_fd)
    with pytest.raises(PermissionError) as error:
        pretrained.tflite_path("polynet_mnist", "float32")
    assert "Read-only file system" in _cache_message(error)
    assert not fake_convert


def test_pretrained_load_bounded_must_be_a_bool():
    with pytest.raises(ValueError, match="`bounded` must be True or False.*'no'"):
        pretrained.load("polynet_mnist", bounded="no")


# -- 4. and 5. Export: a data set the run did not record; one export per folder --------


def _constant_model(folder, metrics=None):
    """A digits-shaped model answering class 0 for every image (accuracy near chance)."""
    keras.utils.set_random_seed(0)
    model = pinet_keras.PolyNet(
        input_shape=DIGITS, width=2, num_blocks=2, preprocessing=pixel_preprocessing(DIGITS)
    )
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.keras")
    model.save(path)
    if metrics is not None:
        with open(os.path.join(folder, "metrics.json"), "w") as f:
            json.dump(metrics, f)
    return path


class _Converted(Exception):
    """Raised by a stand-in converter: the export got past its checks."""


@pytest.fixture
def no_conversion(monkeypatch):
    from pinet_keras.export import job

    def refuse(*args, **kwargs):
        raise _Converted

    monkeypatch.setattr(job, "export_tflite", refuse)
    monkeypatch.setattr(job, "export_saved_model", refuse)


def test_export_refuses_a_near_chance_dataset_the_run_did_not_record(tmp_path, no_conversion):
    from pinet_keras.export import ExportConfig

    sklearn = pytest.importorskip("sklearn")
    del sklearn
    out = str(tmp_path / "export")
    bare = _constant_model(str(tmp_path / "bare"))
    config = ExportConfig(model=bare, output_dir=out, formats=("float32",), dataset="digits")
    with pytest.raises(ValueError) as error:
        export.export(config)
    message = str(error.value)
    assert "--dataset=digits" in message and "near chance" in message
    assert "recorded no data set (no metrics.json" in message
    assert "--allow_dataset_mismatch" in message and not os.path.exists(out)

    other = _constant_model(str(tmp_path / "other"), {"dataset": "mnist"})
    config = ExportConfig(model=other, output_dir=out, formats=("float32",), dataset="digits")
    with pytest.raises(ValueError, match="digits.*recorded mnist"):
        export.export(config)
    # Insisting gets past the check (to the conversion).
    with pytest.raises(_Converted):
        export.export(
            ExportConfig(
                model=other,
                output_dir=out,
                formats=("float32",),
                dataset="digits",
                allow_dataset_mismatch=True,
            )
        )
    # The data set the run recorded is never questioned.
    same = _constant_model(str(tmp_path / "same"), {"dataset": "digits"})
    with pytest.raises(_Converted):
        export.export(ExportConfig(model=same, output_dir=out, formats=("float32",)))


def test_second_export_into_a_folder_in_use_is_refused_at_once(tmp_path, monkeypatch):
    from pinet_keras._run import RunLocked
    from pinet_keras._run import release_lock
    from pinet_keras._run import take_lock
    from pinet_keras.export import ExportConfig
    from pinet_keras.export import job

    def no_work(*args, **kwargs):
        raise AssertionError("the export read its model before taking the lock")

    monkeypatch.setattr(job, "training_run", no_work)
    out = str(tmp_path / "export")
    lock_path = job.export_lock_path(out)
    held = take_lock(lock_path, out, "busy")
    try:
        config = ExportConfig(model=str(tmp_path / "model.keras"), output_dir=out)
        with pytest.raises(RunLocked, match=f"in use by another process \\(pid {os.getpid()}"):
            export.export(config)
    finally:
        release_lock(held, lock_path)
    assert sorted(os.listdir(tmp_path)) == []  # the lock file goes with its holder


def test_minmax_calibration_refuses_a_percentile():
    from pinet_keras.export import Int8Settings

    with pytest.raises(ValueError, match="--percentile=99.9 .*--calibration=minmax"):
        Int8Settings(calibration="minmax", percentile=99.9).validate()
    Int8Settings(calibration="minmax").validate()
    Int8Settings(calibration="percentile", percentile=99.9).validate()


# -- The smaller items ---------------------------------------------------------------------


def test_numpy_integers_are_integers():
    layer = pinet_keras.PolynomialConv2D(
        filters=np.int64(8), kernel_size=np.int64(3), degree=np.int32(2), padding=np.int64(1)
    )
    assert layer(np.zeros((1, 6, 6, 1), "float32")).shape == (1, 6, 6, 8)
    json.dumps(layer.get_config())  # plain ints in the configuration
    assert pinet_keras.PolynomialDense(np.int16(4)).units == 4
    with pytest.raises(ValueError, match="positive int"):
        pinet_keras.PolynomialConv2D(filters=np.float64(8.0), kernel_size=3)


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), np.float32("nan")])
def test_product_scale_must_be_finite(scale):
    with pytest.raises(ValueError, match="finite number"):
        pinet_keras.PolynomialDense(4, product_scale=scale)
    assert pinet_keras.PolynomialDense(4, product_scale=np.float32(0.5)).product_scale == 0.5


def test_keras_load_errors_name_the_import(tmp_path):
    keras.utils.set_random_seed(0)
    model = pinet_keras.PolyNet(input_shape=DIGITS, width=2, num_blocks=2)
    saved = tmp_path / "model.keras"
    model.save(str(saved))
    # The same file, naming a class no pinet_keras has.
    damaged = tmp_path / "newer.keras"
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                data = data.replace(b"PolynomialConv2D", b"PolynomialConv9D")
            target.writestr(item, data)
    with pytest.raises(ValueError, match="import pinet_keras") as error:
        export.load_keras_model(str(damaged))
    assert str(damaged) in str(error.value) and "\n" not in str(error.value)
    assert "PolynomialConv9D" in str(error.value)


def test_file_too_large_says_what_to_do():
    from pinet_keras.cli.boundary import describe

    message = describe(OSError(errno.EFBIG, "File too large", "runs/x/model.keras"))
    assert message.startswith("File too large, runs/x/model.keras, ")
    assert "ulimit -f" in message and "--output_dir" in message
