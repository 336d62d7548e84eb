"""Deployable exports: raw pixels in, metadata carried, 0.1.0 models, bounds, the scripts."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import conftest
import pinet_keras
from conftest import EXPORT
from conftest import PREDICT
from conftest import ROOT
from conftest import SCRIPT_RUNNER
from conftest import tensorflow_only
from pinet_keras import PolyNet
from pinet_keras import export
from pinet_keras.data import load_arrays
from pinet_keras.data import pixel_statistics
from pinet_keras.export import robustness
from pinet_keras.export.fold import FoldedPolynomial
from pinet_keras.export.precision import with_float_dtype
from pinet_keras.models import pixel_preprocessing
from pinet_keras.models import polynomial_layers
from pinet_keras.models import set_output_ranges

pytestmark = tensorflow_only

FIXTURES = os.path.join(conftest.FIXTURES, "v0_1_0")
# A shipped file of another data set (MNIST, 28x28) for the scripts to refuse.
MNIST_INT8 = os.path.join(
    ROOT, "pinet_keras", "pretrained", "files", "polynet_mnist", "model_int8.tflite"
)
DIGITS = (8, 8, 1)
CLASS_NAMES = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def digits():
    return load_arrays("digits")


def _train(digits, input_normalization):
    (x_train, y_train), _ = digits
    mean = variance = None
    if input_normalization == "standardize":
        mean, variance = pixel_statistics(x_train)
    keras.utils.set_random_seed(0)
    model = PolyNet(
        input_shape=DIGITS,
        width=4,
        num_blocks=2,
        normalization="batch",
        preprocessing=pixel_preprocessing(
            DIGITS, input_normalization, mean=mean, variance=variance
        ),
        name=f"digits_{input_normalization}",
    )
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=64, epochs=2, verbose=0)
    return model


@pytest.fixture(scope="module")
def unit_model(digits):
    return _train(digits, "unit")


@pytest.fixture(scope="module")
def standardize_model(digits):
    return _train(digits, "standardize")


@pytest.fixture(scope="module")
def representative(digits):
    (x_train, _), _ = digits
    return x_train[:100].astype("float32")


def _metadata(model):
    return export.model_metadata(
        model, dataset="digits", class_names=CLASS_NAMES, source={"test": 1}
    )


@pytest.fixture(scope="module")
def unit_files(unit_model, representative, tmp_path_factory):
    """Every format of the trained unit model, with metadata, plus a float32 file without."""
    folder = tmp_path_factory.mktemp("unit")
    metadata = _metadata(unit_model)
    paths = {}
    for quantization in export.QUANTIZATIONS:
        paths[quantization] = export.export_tflite(
            unit_model,
            str(folder / f"model_{quantization}.tflite"),
            quantization,
            representative_data=representative,
            metadata=metadata,
        )
    paths["saved_model"] = export.export_saved_model(
        unit_model, str(folder / "saved_model"), metadata=metadata
    )
    paths["bare"] = export.export_tflite(unit_model, str(folder / "bare.tflite"))
    return paths


def _inner(model):
    """The model's layers after its preprocessing, as a model on pixels / 255."""
    layers = model.layers
    assert type(layers[0]).__name__ == "PixelRange"
    assert isinstance(layers[1], keras.layers.Rescaling)
    return keras.Sequential([keras.Input(model.input_shape[1:])] + layers[2:])


# -- 1. Raw uint8 pixels in: the logits of the float pipeline ------------------------


def test_raw_pixels_give_the_float_pipeline_logits(unit_model, unit_files, digits):
    _, (x_test, _) = digits
    pixels = x_test[:64]
    assert pixels.dtype == np.uint8
    expected = _inner(unit_model).predict(pixels.astype("float32") / 255.0, verbose=0)
    scale = np.abs(expected).max()
    keras_logits = unit_model.predict(pixels, verbose=0)
    np.testing.assert_allclose(keras_logits, expected, atol=1e-5 * scale)
    saved = export.predict_saved_model(unit_files["saved_model"], pixels.astype("float32"))
    np.testing.assert_allclose(saved, expected, atol=1e-5 * scale)
    runner = export.TFLiteRunner(unit_files["float32"])
    assert runner.input_dtype == np.float32
    np.testing.assert_allclose(runner.predict(pixels), expected, atol=1e-4 * scale)


# -- 2. int8: uint8 input, scale 1, zero point 0 --------------------------------------


def test_int8_takes_uint8_raw_pixels(unit_model, unit_files, digits):
    _, (x_test, y_test) = digits
    runner = export.TFLiteRunner(unit_files["int8"])
    assert runner.input_dtype == np.uint8 and runner.output_dtype == np.float32
    scale, zero_point = runner._input["quantization"]
    assert (scale, zero_point) == (1.0, 0)
    # Straight through the interpreter: the uint8 pixels themselves go in.
    interpreter = runner.interpreter
    outputs = []
    for image in x_test:
        runner._set_batch(1)
        interpreter.set_tensor(runner._input["index"], image[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(runner._output["index"])[0])
    logits = np.stack(outputs)
    np.testing.assert_allclose(logits, runner.predict(x_test), atol=1e-6)
    reference = unit_model.predict(x_test, verbose=0)
    result = export.compare_logits(logits, reference, y_test)
    assert result["top1_agreement"] >= 0.95, result
    assert result["accuracy"] >= export.compare_logits(reference, labels=y_test)["accuracy"] - 0.03
    assert result["accuracy"] >= 0.6, result  # a trained-ish model


def test_int8_output(unit_model, representative, digits):
    _, (x_test, _) = digits
    content = export.convert_to_tflite(unit_model, "int8", representative, int8_output=True)
    runner = export.TFLiteRunner(content)
    assert (runner.input_dtype, runner.output_dtype) == (np.uint8, np.int8)
    assert runner._input["quantization"] == (1.0, 0)
    float_output = export.run_tflite(
        export.convert_to_tflite(unit_model, "int8", representative), x_test[:32]
    )
    step = runner._output["quantization"][0]
    np.testing.assert_allclose(runner.predict(x_test[:32]), float_output, atol=step + 1e-6)
    with pytest.raises(ValueError, match="int8_output=True needs quantization='int8'"):
        export.convert_to_tflite(unit_model, "float32", int8_output=True)


# -- 3. Metadata -------------------------------------------------------------------


def _check_metadata(metadata, input_normalization="unit"):
    assert metadata["format"] == "pinet_keras.model_metadata/1"
    assert metadata["package_version"] == pinet_keras.__version__
    assert metadata["dataset"] == "digits" and metadata["class_names"] == CLASS_NAMES
    assert metadata["input"]["shape"] == [None, *DIGITS]
    assert metadata["input"]["pixel_range"] == [0.0, 255.0]
    assert metadata["input"]["input_normalization"] == input_normalization
    assert metadata["input"]["name"] == "images"
    assert metadata["output"]["kind"] == "logits" and metadata["output"]["shape"] == [None, 10]
    assert metadata["source"] == {"test": 1}


@pytest.mark.parametrize("quantization", export.QUANTIZATIONS)
def test_tflite_metadata_round_trip(unit_files, quantization):
    metadata = export.read_tflite_metadata(unit_files[quantization])
    _check_metadata(metadata)
    assert metadata["quantization"] == quantization and metadata["bounded"] is False
    assert metadata["input"]["dtype"] == ("uint8" if quantization == "int8" else "float32")
    with open(unit_files[quantization], "rb") as f:
        assert export.read_tflite_metadata(f.read()) == metadata
    # The interpreter ignores it: the file runs as before.
    assert export.TFLiteRunner(unit_files[quantization]).num_classes == 10


def test_saved_model_metadata_round_trip(unit_files):
    import tensorflow as tf

    path = unit_files["saved_model"]
    metadata = export.read_saved_model_metadata(path)
    _check_metadata(metadata)
    with open(os.path.join(path, "assets.extra", "labels.txt")) as f:
        assert f.read().splitlines() == CLASS_NAMES
    loaded = tf.saved_model.load(path)
    assert sorted(loaded.signatures) == ["metadata", "serving_default"]
    text = loaded.signatures["metadata"]()["pinet_keras"].numpy().decode("utf-8")
    assert json.loads(text) == metadata


def test_standardize_metadata(standardize_model, digits):
    (x_train, _), _ = digits
    metadata = export.read_tflite_metadata(
        export.convert_to_tflite(
            standardize_model, "float16", metadata=_metadata(standardize_model)
        )
    )
    _check_metadata(metadata, "standardize")
    mean, variance = pixel_statistics(x_train)
    np.testing.assert_allclose(metadata["input"]["mean"], mean, rtol=1e-5)
    np.testing.assert_allclose(metadata["input"]["variance"], variance, rtol=1e-5)


def test_files_without_metadata_and_not_tflite(unit_model, unit_files, tmp_path):
    assert export.read_tflite_metadata(unit_files["bare"]) == {}
    bare = export.export_saved_model(unit_model, str(tmp_path / "saved_model"))
    assert export.read_saved_model_metadata(bare) == {}
    text = tmp_path / "notes.tflite"
    text.write_text("these are not the weights you are looking for\n")
    with pytest.raises(ValueError, match="not a TFLite model"):
        export.read_tflite_metadata(str(text))
    with pytest.raises(ValueError, match="class names"):
        export.model_metadata(unit_model, class_names=["a", "b"])


# -- 4. The models of pinet_keras 0.1.0 ----------------------------------------------


@pytest.mark.parametrize("normalization", ["unit", "standardize"])
def test_v0_1_0_fixture_takes_raw_pixels(normalization):
    folder = os.path.join(FIXTURES, f"digits_{normalization}")
    expected = np.load(os.path.join(folder, "expected.npz"))
    old = export.load_keras_model(os.path.join(folder, "model.keras"))
    with pytest.raises(ValueError, match="add_pixel_preprocessing"):
        export.convert_to_tflite(old)
    kwargs = {}
    if normalization == "standardize":
        kwargs = dict(zip(("mean", "variance"), export.legacy_standardization("digits")))
    model = export.add_pixel_preprocessing(old, normalization, **kwargs)
    pixels = expected["pixels"]
    assert pixels.dtype == np.uint8
    np.testing.assert_allclose(model.predict(pixels, verbose=0), expected["logits"], atol=1e-4)
    np.testing.assert_allclose(
        export.run_tflite(export.convert_to_tflite(model), pixels), expected["logits"], atol=1e-4
    )


# -- 5. A NaN is never right ---------------------------------------------------------


def test_compare_logits_counts_nan_as_wrong():
    logits = np.array([[np.nan, 0.0, 0.0], [0.0, 5.0, 0.0], [np.inf, 0.0, 0.0], [2.0, 0.0, 0.0]])
    reference = np.array([[1.0, 0.0, 0.0], [0.0, 4.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    # argmax of a NaN row is 0, the label: still wrong.
    result = export.compare_logits(logits, reference, labels=[0, 1, 0, 0])
    assert result["non_finite"] == 2
    assert result["accuracy"] == 0.5 and result["top1_agreement"] == 0.5
    assert result["max_abs_diff"] == float("inf")
    assert result["max_abs_logit"] == 5.0
    both = export.compare_logits(logits, logits, labels=[0, 1, 0, 0])
    assert both["top1_agreement"] == 0.5 and both["max_abs_diff"] == 0.0
    assert np.isnan(export.compare_logits(np.full((2, 3), np.nan))["max_abs_logit"])
    empty = export.compare_logits(np.zeros((0, 3)), np.zeros((0, 3)), labels=np.zeros(0))
    assert empty["non_finite"] == 0 and empty["max_abs_diff"] == 0.0 and np.isnan(empty["accuracy"])


def test_evaluate_tflite_refuses_nan_pixels(unit_model, unit_files, digits):
    _, (x_test, y_test) = digits
    images = x_test[:8].astype("float32")
    labels = unit_model.predict(images, verbose=0).argmax(-1)
    images[[1, 5], 2, 3, 0] = np.nan  # NaN is not a pixel: refused, never given a class
    with pytest.raises(ValueError, match="2 of 8 images hold non-finite pixels"):
        export.evaluate_tflite(unit_files["float32"], images, labels, latency_runs=0)


# -- 6. bound: bounded logits for any input -------------------------------------------


def _bias_free(preprocessing=True, num_blocks=3):
    keras.utils.set_random_seed(4)
    return PolyNet(
        input_shape=DIGITS,
        width=4,
        num_blocks=num_blocks,
        use_bias=False,
        preprocessing=pixel_preprocessing(DIGITS) if preprocessing else None,
        name="bias_free",
    )


def _logit_bound(bounded):
    """The largest |logit| the clipped last polynomial layer lets through the (bias-free) head."""
    last = [layer for layer in bounded.layers if isinstance(layer, FoldedPolynomial)][-1]
    low, high = last.output_range
    kernel = np.asarray(bounded.get_layer("logits").kernel)
    return float(np.abs(kernel).sum(0).max() * max(abs(low), abs(high)))


def _extreme_inputs():
    rng = np.random.default_rng(0)
    return np.concatenate(
        [
            np.stack([np.full(DIGITS, v, "float32") for v in (0.0, 255.0, 1e6, -1e6)]),
            (rng.integers(0, 2, (12, *DIGITS)) * 255.0).astype("float32"),  # corners of the box
            (np.indices(DIGITS).sum(0) % 2 * 255.0)[None].astype("float32"),
        ]
    )


@pytest.mark.slow
def test_bound_gives_bounded_logits_everywhere(representative, tmp_path):
    model = _bias_free()
    x = _extreme_inputs()
    bounded = export.bound_model(model, representative, 100)
    limit = _logit_bound(bounded)
    # On the representative images, nothing changes.
    np.testing.assert_allclose(
        bounded.predict(representative, verbose=0),
        model.predict(representative, verbose=0),
        rtol=1e-4,
        atol=1e-4 * np.abs(model.predict(representative, verbose=0)).max(),
    )
    outputs = {"keras": bounded.predict(x, verbose=0)}
    outputs["keras_float16"] = np.asarray(
        with_float_dtype(bounded, "float16").predict(x, verbose=0), "float32"
    )
    for quantization in ("float32", "float16", "int8"):
        path = export.export_tflite(
            model,
            str(tmp_path / f"{quantization}.tflite"),
            quantization,
            representative_data=representative,
            bound=100,
            metadata=_metadata(model),
        )
        assert export.read_tflite_metadata(path)["bounded"] is True
        outputs[quantization] = export.run_tflite(path, x)
    saved = export.export_saved_model(
        model, str(tmp_path / "saved_model"), representative_data=representative, bound=100
    )
    outputs["saved_model"] = export.predict_saved_model(saved, x)
    for name, logits in outputs.items():
        assert np.isfinite(logits).all(), name
        assert np.abs(logits).max() <= 1.05 * limit + 1e-3, (name, np.abs(logits).max(), limit)
    with pytest.raises(ValueError, match="bound"):
        export.convert_to_tflite(model, "float32", representative, bound=30)
    with pytest.raises(ValueError, match="representative_data"):
        export.convert_to_tflite(model, "float32", bound=100)


def test_output_ranges_bound_the_model_itself(representative, tmp_path):
    # Ranges set on dim images (pixels up to 25), the model then probed on the
    # whole pixel box: the degree-16 polynomial grows by up to 10**16 there.
    model = _bias_free(num_blocks=4)
    dim = 0.1 * representative
    x = _extreme_inputs()
    free = model.predict(x, verbose=0)
    reference = model.predict(dim, verbose=0)
    assert set_output_ranges(model, dim) is model
    layers = polynomial_layers(model)
    assert len(layers) == 4 and all(layer.output_range for layer in layers)
    # On the images that set the ranges nothing changes; in training nothing is clipped.
    np.testing.assert_array_equal(model.predict(dim, verbose=0), reference)
    np.testing.assert_array_equal(np.asarray(model(x, training=True)), free)
    low, high = layers[-1].output_range
    kernel = np.asarray(model.get_layer("logits").kernel)
    limit = float(np.abs(kernel).sum(0).max() * max(abs(low), abs(high)))
    assert np.abs(free).max() > 1e3 * limit  # unbounded before
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [layer.output_range for layer in polynomial_layers(loaded)] == [
        layer.output_range for layer in layers
    ]
    outputs = {
        "keras": loaded.predict(x, verbose=0),
        "keras_float16": np.asarray(
            with_float_dtype(loaded, "float16").predict(x, verbose=0), "float32"
        ),
        # Folded for export without `bound`: the ranges carry over.
        "folded": export.fold_polynomial_layers(loaded).predict(x, verbose=0),
    }
    for name, logits in outputs.items():
        assert np.isfinite(logits).all(), name
        assert np.abs(logits).max() <= 1.01 * limit + 1e-3, (name, np.abs(logits).max(), limit)
    with pytest.raises(ValueError, match="NaN"):
        set_output_ranges(model, np.full((2, *DIGITS), np.nan, "float32"))
    with pytest.raises(ValueError, match="no polynomial layer"):
        set_output_ranges(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), [[0, 0]])


def test_float16_without_a_guard_overflows(representative):
    raw = _bias_free(preprocessing=False, num_blocks=4)
    half = with_float_dtype(raw, "float16")
    assert all(w.dtype == "float16" for w in half.weights)
    white = np.full((2, *DIGITS), 255.0, "float32")
    logits = np.asarray(half.predict(white, verbose=0), "float32")
    assert not np.isfinite(logits).all()  # what the bound is for
    # The same weights behind the guard, bounded: finite in float16.
    guarded = export.add_pixel_preprocessing(raw)
    bounded = with_float_dtype(export.bound_model(guarded, representative, 100), "float16")
    assert np.isfinite(np.asarray(bounded.predict(white, verbose=0), "float32")).all()


# -- 10. The robustness sweep ------------------------------------------------------------


def test_robustness_probes_search_and_sweep(unit_model, digits):
    _, (x_test, _) = digits
    sets = robustness.probe_sets(x_test[:20], seed=0, size=6)
    assert set(sets) == {"test", "gaussian", "uniform", "extremes", "patterns"}
    for name, images in sets.items():
        assert images.shape[1:] == DIGITS and images.dtype == np.float32, name
        assert images.min() >= 0 and images.max() <= 255, name
    assert len(sets["gaussian"]) == 12 and len(sets["extremes"]) == 3 + 5 * 6
    # 3 sizes that fit twice in 8x8 x (checkerboard, horizontal, vertical
    # stripes), and their inverses; 4 sizes at 28x28.
    patterns = sets["patterns"]
    assert len(patterns) == 18 and set(np.unique(patterns)) == {0.0, 255.0}
    np.testing.assert_array_equal(patterns[:9], 255.0 - patterns[9:])
    assert len({image.tobytes() for image in patterns}) == 18
    assert robustness.patterns((28, 28, 3)).shape == (24, 28, 28, 3)
    assert (patterns[0, 0, :2, 0] == [0.0, 255.0]).all()  # a 1-pixel checkerboard
    other = robustness.to_input_shape(np.zeros((2, 16, 16, 3), "uint8"), DIGITS)
    assert other.shape == (2, *DIGITS)
    assert "other" in robustness.probe_sets(x_test[:4], other, size=2)

    starts = x_test[:3].astype("float32")
    start_values = np.abs(unit_model.predict(starts, verbose=0)).max(-1)
    found, values = robustness.gradient_search(unit_model, starts, steps=6, step_size=16.0)
    assert found.shape == starts.shape and found.min() >= 0 and found.max() <= 255
    assert (values >= start_values - 1e-3).all() and (values > 1.01 * start_values).any()
    np.testing.assert_allclose(
        np.abs(unit_model.predict(found, verbose=0)).max(-1), values, rtol=1e-3
    )

    def keras_logits(x):
        return unit_model.predict(x, verbose=0)

    def sometimes_nan(x):
        logits = keras_logits(x).copy()
        logits[::3] = np.nan
        return logits

    results = robustness.sweep({"keras": keras_logits, "broken": sometimes_nan}, sets)
    for probe, images in sets.items():
        assert results["keras"][probe]["non_finite"] == 0
        assert results["keras"][probe]["top1_agreement"] == 1.0
        assert results["broken"][probe]["non_finite"] == len(range(0, len(images), 3)), probe
    total = sum(len(images) for images in sets.values())
    assert results["broken"]["all"]["examples"] == total
    assert results["broken"]["all"]["non_finite"] == sum(
        len(range(0, len(images), 3)) for images in sets.values()
    )
    assert results["broken"]["all"]["top1_agreement"] < 0.7


# -- The scripts ---------------------------------------------------------------------------


def _start(args, data_path=None, **env):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT_RUNNER, data_path or ""] + args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process):
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _run_all(runs):
    """Runs scripts side by side: ``{name: (args, data_path, env)}`` -> ``{name: process}``."""
    started = {
        name: _start(args, data_path, **env) for name, (args, data_path, env) in runs.items()
    }
    return {name: _finish(process) for name, process in started.items()}


def _one_error_line(result):
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


def _checksum(folder):
    digest = hashlib.sha256()
    for root, dirs, names in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
        digest.update(os.path.relpath(root, folder).encode())
    return digest.hexdigest()


def _v0_1_0_run(tmp_path, normalization):
    folder = tmp_path / f"run_{normalization}"
    shutil.copytree(os.path.join(FIXTURES, f"digits_{normalization}"), folder)
    return folder


@pytest.mark.slow
def test_export_script_on_v0_1_0_models(tmp_path):
    runs = {}
    for normalization in ("unit", "standardize"):
        folder = _v0_1_0_run(tmp_path, normalization)
        args = [
            *EXPORT,
            f"--model={folder / 'model.keras'}",
            f"--output_dir={folder / 'export'}",
            "--max_test_examples=32",
            "--latency_runs=1",
            "--num_representative=50",
            "--formats=float32,int8",
            "--bound=0",  # unclipped: the float32 file must be the 0.1.0 model exactly
        ]
        runs[normalization] = (args, None, {})
    results = _run_all(runs)
    for normalization, result in results.items():
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "adding its preprocessing" in result.stdout
        folder = tmp_path / f"run_{normalization}"
        expected = np.load(folder / "expected.npz")
        old_accuracy = float(np.mean(expected["logits"].argmax(-1) == expected["labels"]))
        out = folder / "export"
        assert sorted(os.listdir(out)) == [
            "labels.txt",
            "model_float32.tflite",
            "model_int8.tflite",
            "report.json",
        ]
        assert sorted(os.listdir(folder)) == [
            "expected.npz",
            "export",
            "metrics.json",
            "model.keras",
        ]
        report = json.loads((out / "report.json").read_text())
        assert report["dataset"] == "digits" and report["test_examples"] == 32
        assert report["input"]["input_normalization"] == normalization
        assert report["keras"]["accuracy"] == old_accuracy
        assert report["keras"]["non_finite"] == 0
        assert report["formats"]["float32"]["max_abs_diff"] <= 1e-4
        assert report["formats"]["int8"]["input_dtype"] == "uint8"
        assert report["formats"]["int8"]["top1_agreement"] >= 0.8
        # The files take the raw pixels and give the 0.1.0 logits.
        logits = export.run_tflite(str(out / "model_float32.tflite"), expected["pixels"])
        np.testing.assert_allclose(logits, expected["logits"], atol=1e-4)
        metadata = export.read_tflite_metadata(str(out / "model_int8.tflite"))
        assert metadata["dataset"] == "digits" and metadata["class_names"] == CLASS_NAMES
        assert metadata["input"]["input_normalization"] == normalization


def _tiny_run(tmp_path, with_metrics=True):
    """A 12x12 raw-pixel model on a fake 3-class data set ("tiny")."""
    keras.utils.set_random_seed(2)
    shape = (12, 12, 1)
    model = PolyNet(
        input_shape=shape,
        num_classes=3,
        width=2,
        num_blocks=2,
        preprocessing=pixel_preprocessing(shape),
    )
    folder = tmp_path / ("run" if with_metrics else "bare_run")
    folder.mkdir()
    model.save(str(folder / "model.keras"))
    if with_metrics:
        (folder / "metrics.json").write_text(json.dumps({"dataset": "tiny"}))
    rng = np.random.default_rng(2)
    data_path = str(tmp_path / "tiny.npz")
    if not os.path.exists(data_path):
        np.savez(
            data_path,
            x_train=rng.integers(0, 256, (40, *shape), dtype=np.uint8),
            y_train=rng.integers(0, 3, 40),
            x_test=rng.integers(0, 256, (16, *shape), dtype=np.uint8),
            y_test=rng.integers(0, 3, 16),
        )
    return folder, data_path


@pytest.mark.slow
def test_export_script_errors_leave_everything_as_it_was(tmp_path):
    folder, data_path = _tiny_run(tmp_path)
    bare, _ = _tiny_run(tmp_path, with_metrics=False)
    model = str(folder / "model.keras")
    old = tmp_path / "old_export"
    old.mkdir()
    (old / "model_float32.tflite").write_bytes(b"the previous export")
    (old / "report.json").write_text("{}\n")
    (old / "saved_model").mkdir()
    (old / "saved_model" / "saved_model.pb").write_bytes(b"pb")
    before = _checksum(old)
    # What an export killed outright (SIGKILL, pid 999999 is not running) left beside it.
    leftover = tmp_path / ".new_export.pinet-tmp-999999-0123456789ab"
    (leftover / "saved_model").mkdir(parents=True)
    common = ["--latency_runs=1", "--num_representative=8"]
    new = str(tmp_path / "new_export")
    runs = {
        "no_dataset": (
            [*EXPORT, f"--model={bare / 'model.keras'}", f"--output_dir={new}"] + common,
            None,
            {},
        ),
        "exists": (
            [*EXPORT, f"--model={model}", f"--output_dir={old}"] + common,
            data_path,
            {},
        ),
        "int8_fails": (
            [
                *EXPORT,
                f"--model={model}",
                f"--output_dir={old}",
                "--overwrite",
                "--formats=float32,saved_model,int8",
            ]
            + common,
            data_path,
            {"PINET_TEST_FAIL_INT8": "1"},
        ),
        "no_representative": (
            [
                *EXPORT,
                f"--model={model}",
                f"--output_dir={new}",
                "--latency_runs=1",
                "--num_representative=0",
            ],
            data_path,
            {},
        ),
        "bound": (
            [*EXPORT, f"--model={model}", f"--output_dir={new}", "--bound=30"] + common,
            data_path,
            {},
        ),
        "finetune_rate": (
            [*EXPORT, f"--model={model}", f"--output_dir={new}"]
            + ["--int8_finetune_epochs=1", "--int8_finetune_learning_rate=0"]
            + common,
            data_path,
            {},
        ),
        "finetune_setting_alone": (
            [*EXPORT, f"--model={model}", f"--output_dir={new}"]
            + ["--int8_finetune_recalibrate_every=5"]
            + common,
            data_path,
            {},
        ),
        "finetune_without_int8": (
            [*EXPORT, f"--model={model}", f"--output_dir={new}"]
            + ["--int8_finetune_epochs=1", "--formats=float32"]
            + common,
            data_path,
            {},
        ),
        "formats": (
            [
                *EXPORT,
                f"--model={model}",
                f"--output_dir={new}",
                "--formats=float32,bogus",
            ]
            + common,
            data_path,
            {},
        ),
        # The export put over its own training run: --overwrite replaces an export only.
        "run_folder": (
            [*EXPORT, f"--model={model}", f"--output_dir={folder}", "--overwrite"] + common,
            data_path,
            {},
        ),
    }
    run_before = _checksum(folder)
    results = _run_all(runs)
    assert "--dataset" in _one_error_line(results["no_dataset"])
    assert not leftover.exists()  # the next run removed the killed one's leftovers
    assert "already exists" in _one_error_line(results["exists"])
    assert "injected failure of the int8 export" in _one_error_line(results["int8_fails"])
    assert "Exporting float32" in results["int8_fails"].stdout  # it got that far
    assert "--num_representative" in _one_error_line(results["no_representative"])
    assert "--bound" in _one_error_line(results["bound"])
    assert "bogus" in _one_error_line(results["formats"])
    assert "--int8_finetune_learning_rate" in _one_error_line(results["finetune_rate"])
    assert "pass that too" in _one_error_line(results["finetune_setting_alone"])
    assert "add int8 to --formats" in _one_error_line(results["finetune_without_int8"])
    run_error = _one_error_line(results["run_folder"])
    assert "does not write (metrics.json, model.keras)" in run_error, run_error
    assert _checksum(folder) == run_before
    assert _checksum(old) == before
    # No staging folder or half-written output left behind.
    assert sorted(os.listdir(tmp_path)) == ["bare_run", "old_export", "run", "tiny.npz"]
    assert sorted(os.listdir(folder)) == ["metrics.json", "model.keras"]


@pytest.mark.slow
def test_export_script_end_to_end_with_bound_and_overwrite(tmp_path):
    folder, data_path = _tiny_run(tmp_path)
    out = tmp_path / "export"
    out.mkdir()
    (out / "model_dynamic.tflite").write_text("from an older export, with other formats")
    args = [
        *EXPORT,
        f"--model={folder / 'model.keras'}",
        f"--output_dir={out}",
        "--overwrite",
        "--bound=100",
        "--int8_output",
        "--formats=saved_model,float16,int8",
        "--latency_runs=1",
        "--num_representative=16",
    ]
    result = _finish(_start(args, data_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "non-finite" in result.stdout  # the table
    assert sorted(os.listdir(out)) == [
        "labels.txt",
        "model_float16.tflite",
        "model_int8.tflite",
        "report.json",
        "saved_model",
    ]
    assert sorted(os.listdir(tmp_path)) == ["export", "run", "tiny.npz"]
    report = json.loads((out / "report.json").read_text())
    assert report["bound"] == 100 and report["int8_output"] is True
    assert report["input"]["input_normalization"] == "unit" and report["input"]["shape"] == [
        None,
        12,
        12,
        1,
    ]
    assert "normalization" not in report
    assert report["formats"]["int8"]["input_dtype"] == "uint8"
    assert report["formats"]["int8"]["output_dtype"] == "int8"
    metadata = export.read_tflite_metadata(str(out / "model_int8.tflite"))
    assert metadata["bounded"] is True and metadata["class_names"] == [
        "circle",
        "square",
        "triangle",
    ]
    assert metadata["output"]["dtype"] == "int8"
    assert export.read_saved_model_metadata(str(out / "saved_model"))["dataset"] == "tiny"


def _write_pngs(folder, images, prefix="digit"):
    from PIL import Image

    paths = []
    for i, image in enumerate(images):
        path = str(folder / f"{prefix}_{i}.png")
        Image.fromarray(image[:, :, 0]).save(path)
        paths.append(path)
    return paths


def _confident(model, images, count):
    """Indices of the images on which the model's top-1 is clearest."""
    logits = model.predict(images, verbose=0)
    top2 = np.sort(logits, -1)[:, -2:]
    margin = (top2[:, 1] - top2[:, 0]) / np.abs(logits).max()
    return np.argsort(-margin)[:count]


@pytest.mark.slow
def test_predict_tflite_script(
    unit_model, standardize_model, unit_files, representative, digits, tmp_path
):
    pytest.importorskip("PIL.Image")
    _, (x_test, _) = digits
    standardize_path = export.export_tflite(
        standardize_model,
        str(tmp_path / "standardize.tflite"),
        "int8",
        representative_data=representative,
        metadata=_metadata(standardize_model),
    )
    runs, expected, chosen = {}, {}, {}
    for name, model, path in (
        ("unit", unit_model, unit_files["int8"]),
        ("standardize", standardize_model, standardize_path),
    ):
        chosen[name] = x_test[_confident(model, x_test, 4)]
        folder = tmp_path / name
        folder.mkdir()
        pngs = _write_pngs(folder, chosen[name])
        expected[name] = (pngs, model.predict(chosen[name], verbose=0).argmax(-1))
        runs[name] = ([*PREDICT, f"--model={path}"] + pngs, None, {})
    # The same digits as 16-bit PNGs, as scanners and some editors save them.
    pngs16 = _write_pngs(tmp_path / "unit", chosen["unit"].astype(np.uint16) * 257, "digit16")
    runs["unit16"] = (
        [*PREDICT, f"--model={unit_files['int8']}"] + pngs16,
        None,
        {},
    )
    text_image = tmp_path / "photo.png"
    text_image.write_text("not an image\n")
    runs["no_metadata"] = (
        [*PREDICT, f"--model={unit_files['bare']}", expected["unit"][0][0]],
        None,
        {},
    )
    runs["text_image"] = (
        [*PREDICT, f"--model={unit_files['int8']}", str(text_image)],
        None,
        {},
    )
    runs["folder"] = (  # the export's folder instead of one of its files
        [*PREDICT, f"--model={os.path.dirname(unit_files['int8'])}"] + expected["unit"][0][:1],
        None,
        {},
    )
    results = _run_all(runs)
    for name in ("unit", "standardize"):
        result = results[name]
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        pngs, labels = expected[name]
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        assert len(lines) == len(pngs)
        for line, png, label in zip(lines, pngs, labels):
            fields = line.split()
            assert fields[0] == png and fields[1] == CLASS_NAMES[label], (name, line)
            assert 0 < float(fields[2]) <= 1 and len(fields) == 7  # top 3
    assert results["unit16"].returncode == 0, results["unit16"].stderr[-3000:]
    unit_lines = [line.split()[1:] for line in results["unit"].stdout.splitlines() if line.strip()]
    unit16_lines = [line.split()[1:] for line in results["unit16"].stdout.splitlines() if line]
    assert unit16_lines == unit_lines  # same classes, same probabilities
    assert "no pinet_keras metadata" in _one_error_line(results["no_metadata"])
    assert "not a readable image" in _one_error_line(results["text_image"])
    folder_error = _one_error_line(results["folder"])
    assert "is a folder" in folder_error and os.path.basename(unit_files["int8"]) in folder_error


@pytest.mark.slow
def test_check_predict_pngs_script(unit_model, unit_files, tmp_path):
    # The script behind README's "50 of 50 PNGs": real subprocesses, no flag
    # but the file for predict_tflite.py; digits need no data files.
    model_path = tmp_path / "model.keras"
    unit_model.save(model_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"dataset": "digits"}))
    script = ["tools/check_predict_pngs.py", f"--model={model_path}"]
    float32 = unit_files["float32"]
    results = _run_all(
        {
            "six": (script + [f"--tflite={float32}", "--num_images=6"], None, {}),
            "num_images": (script + [f"--tflite={float32}", "--num_images=0"], None, {}),
            "folder": (script + [f"--tflite={float32},{tmp_path}"], None, {}),  # a folder too
            "other_model": (script + [f"--tflite={MNIST_INT8}"], None, {}),  # not its export
        }
    )
    assert results["six"].returncode == 0, results["six"].stderr[-3000:]
    line = results["six"].stdout.strip().splitlines()[-1]
    assert line.startswith(f"{float32}: agrees with Keras on 6 of 6 PNGs"), line
    assert "--num_images" in _one_error_line(results["num_images"])
    assert f"--tflite: {tmp_path} is a folder" in _one_error_line(results["folder"])
    other = _one_error_line(results["other_model"])
    assert "exported from a mnist model (its metadata), but --model is a digits model" in other
