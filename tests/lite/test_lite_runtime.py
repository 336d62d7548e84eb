"""pinet_lite (lite/): the LiteRT-only runtime, against pinet_keras' own reader and decoder.

In-process: its metadata reader and image decoder give what
``pinet_keras.export.read_tflite_metadata`` and
``pinet_keras.data.image_folder.image_pixels`` give, and its logits are
``pinet_keras.export.run_tflite``'s. In a fresh virtual environment with only
``pip install ./lite`` (numpy, ai-edge-litert, Pillow; no TensorFlow, no
Keras): ``pinet-lite predict`` names the class of PNG files with each shipped
int8 file, as ``run_tflite`` does, and bad input gets one line and status 2.
"""

import os
import shutil
import subprocess
import venv

import numpy as np
import pytest
from litert_images import LITE_SRC
from litert_images import MODELS
from litert_images import import_pinet_lite
from litert_images import load_test_images
from litert_images import model_path
from PIL import Image

pinet_lite = import_pinet_lite()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_read_metadata_is_pinet_keras_reader(name):
    from pinet_keras.export import read_tflite_metadata

    expected = read_tflite_metadata(model_path(name))
    assert expected["class_names"]
    assert pinet_lite.read_metadata(model_path(name)) == expected
    with open(model_path(name), "rb") as f:
        entries = pinet_lite.metadata_entries(f.read())
    assert "pinet_keras" in entries and "min_runtime_version" in entries


def test_read_metadata_refuses_what_is_not_a_whole_tflite_file(tmp_path):
    with open(model_path("polynet_mnist"), "rb") as f:
        data = f.read()
    with pytest.raises(ValueError, match="not a TFLite model"):
        pinet_lite.read_metadata(b"\x89PNG\r\n\x1a\n" + data[8:100])
    with pytest.raises(ValueError, match="truncated"):
        pinet_lite.read_metadata(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a TFLite model"):
        pinet_lite.read_metadata(b"")


def _images():
    """Images in the modes PIL opens, with transparency and 16 bits."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 17, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (20, 17), dtype=np.uint8)
    grey = rng.integers(0, 256, (20, 17), dtype=np.uint8)
    images = {
        "L": Image.fromarray(grey, "L"),
        "RGB": Image.fromarray(rgb, "RGB"),
        "RGBA": Image.fromarray(np.dstack([rgb, alpha]), "RGBA"),
        "LA": Image.fromarray(np.dstack([grey, alpha]), "LA"),
        "I;16": Image.fromarray(rng.integers(0, 65536, (20, 17), dtype=np.uint16)),
        "I": Image.fromarray(rng.integers(0, 65536, (20, 17)).astype(np.int32), "I"),
        "1": Image.fromarray(grey > 128),
        "CMYK": Image.fromarray(rgb, "RGB").convert("CMYK"),
        "F": Image.fromarray(grey.astype(np.float32), "F"),
    }
    palette = Image.fromarray(rgb, "RGB").quantize(16)
    palette.info["transparency"] = 3
    images["P+transparency"] = palette
    images["P"] = Image.fromarray(rgb, "RGB").quantize(16)
    return images


@pytest.mark.parametrize("size", [None, (28, 28), (32, 32)])
@pytest.mark.parametrize("channels", [1, 3])
def test_image_pixels_is_pinet_keras_decoder(channels, size):
    from pinet_keras.data.image_folder import image_pixels

    for mode, image in _images().items():
        # A float image states no range here: it is given (refused without one).
        more = {"float_range": (0, 255)} if mode == "F" else {}
        expected = image_pixels(image, channels, size, **more)
        actual = pinet_lite.image_pixels(image, channels, size, **more)
        assert actual.dtype == np.uint8 and actual.shape == expected.shape, mode
        np.testing.assert_array_equal(actual, expected, err_msg=mode)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_classifier_logits_are_run_tflite(name):
    from pinet_keras.export import run_tflite

    pixels, labels = load_test_images(MODELS[name], 20)
    classifier = pinet_lite.Classifier(model_path(name))
    assert classifier.image_shape == pixels.shape[1:]
    assert classifier.input_dtype == np.uint8
    logits = classifier.logits(pixels)
    np.testing.assert_array_equal(logits, run_tflite(model_path(name), pixels))
    top = classifier.predict(list(pixels), top_k=3)
    assert [p[0].index for p in top] == list(np.argmax(logits, axis=-1))
    assert [p[0].name for p in top] == [classifier.class_names[i] for i in logits.argmax(-1)]
    assert np.mean(logits.argmax(-1) == labels) >= 0.7


def _write_pngs(folder, name, count):
    """``count`` PNG files of the data set's test images, and their pixels."""
    pixels, _ = load_test_images(MODELS[name], count)
    paths = []
    for i, image in enumerate(pixels):
        path = os.path.join(folder, f"{name}_{i}.png")
        array = image[..., 0] if image.shape[-1] == 1 else image
        Image.fromarray(array).save(path)
        paths.append(path)
    return paths, pixels


@pytest.fixture(scope="session")
def lite_venv(tmp_path_factory):
    """A fresh virtual environment with ``pip install ./lite`` only; its ``bin`` folder."""
    root = tmp_path_factory.mktemp("lite_venv")
    source = root / "lite"
    shutil.copytree(
        os.path.dirname(LITE_SRC),
        source,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    install = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if install.returncode != 0:
        last = (install.stderr.strip().splitlines() or ["(no output)"])[-1]
        pytest.skip(f"pip install ./lite failed in a fresh venv: {last}")
    return bin_dir


def _run(bin_dir, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=str(bin_dir.parent),
    )


@pytest.mark.slow
def test_fresh_venv_has_no_tensorflow_or_keras(lite_venv):
    for module in ("tensorflow", "keras", "tf_keras", "pinet_keras"):
        result = _run(lite_venv, lite_venv / "python", "-c", f"import {module}")
        assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr, module
    result = _run(
        lite_venv,
        lite_venv / "python",
        "-c",
        "import pinet_lite, sys; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras')))",
    )
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_fresh_venv_command_names_the_class_of_pngs(lite_venv, tmp_path, name):
    from pinet_keras.data.image_folder import image_pixels
    from pinet_keras.export import read_tflite_metadata
    from pinet_keras.export import run_tflite

    paths, _ = _write_pngs(tmp_path, name, 5)
    result = _run(lite_venv, lite_venv / "pinet-lite", "predict", model_path(name), *paths)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(paths)
    # The reference: pinet_keras' decoder and run_tflite on the same PNG files.
    class_names = read_tflite_metadata(model_path(name))["class_names"]
    channels = 1 if "mnist" in name else 3
    reference = []
    for path in paths:
        with Image.open(path) as image:
            reference.append(image_pixels(image, channels))
    expected = run_tflite(model_path(name), np.stack(reference)).argmax(-1)
    for path, line, index in zip(paths, lines, expected):
        assert line.startswith(path)
        first = line[len(path) :].strip()
        assert first.startswith(class_names[index] + " "), (line, class_names[index])
        assert len(first.split("  ")) == 3  # top 3
    module = _run(
        lite_venv,
        lite_venv / "python",
        "-m",
        "pinet_lite",
        "predict",
        model_path(name),
        paths[0],
        "--top-k",
        "1",
    )
    best = lines[0][len(paths[0]) :].strip().split("  ")[0]
    assert module.returncode == 0 and module.stdout.strip() == f"{paths[0]}  {best}"


@pytest.mark.slow
def test_fresh_venv_command_bad_input_is_one_line_status_2(lite_venv, tmp_path):
    model = model_path("polynet_mnist")
    with open(model, "rb") as f:
        data = f.read()
    truncated_model = tmp_path / "truncated.tflite"
    truncated_model.write_bytes(data[: len(data) // 3])
    png = tmp_path / "seven.png"
    noise = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    Image.fromarray(noise).save(png)
    truncated_png = tmp_path / "truncated.png"
    truncated_png.write_bytes(png.read_bytes()[:400])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    cases = {
        "missing model": ([tmp_path / "missing.tflite", png], "does not exist"),
        "not a tflite": ([png, png], "not a TFLite model"),
        "truncated model": ([truncated_model, png], "truncated"),
        "missing image": ([model, tmp_path / "missing.png"], "does not exist"),
        "not an image": ([model, text], "not a readable image"),
        "truncated image": ([model, truncated_png], "not a readable image"),
        "folder": ([model, tmp_path], "folder"),
    }
    for case, (args, words) in cases.items():
        result = _run(lite_venv, lite_venv / "pinet-lite", "predict", *args)
        errors = [line for line in result.stderr.splitlines() if "error" in line]
        assert result.returncode == 2, (case, result.stderr)
        assert "Traceback" not in result.stderr, case
        assert len(errors) == 1 and words in errors[0], (case, result.stderr)


def test_docstring_examples():
    import doctest

    for module in (pinet_lite.images, pinet_lite.classifier, pinet_lite):
        failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert failures == 0, module.__name__
