"""Export: SavedModel and TFLite (LiteRT) in float32, float16, dynamic and int8, against Keras."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from conftest import EXPORT
from conftest import PREDICT
from conftest import ROOT
from conftest import jax_env
from conftest import run_commands_in_parallel
from conftest import tensorflow_only
from pinet_keras import PolyNet
from pinet_keras import _io
from pinet_keras import export
from pinet_keras.data import split_validation
from pinet_keras.export import saved_model as saved_model_module
from pinet_keras.export.precision import as_float32
from pinet_keras.export.runtime import interpreter_class
from pinet_keras.export.runtime import latency_ms
from pinet_keras.export.runtime import tflite_ops
from pinet_keras.export.tflite import representative_images
from pinet_keras.layers import PixelRange
from pinet_keras.models import pixel_preprocessing

pytestmark = tensorflow_only

SHAPE = (16, 16, 1)


def _model():
    """Every block option on; ~93k parameters, so that weights dominate the file size."""
    keras.utils.set_random_seed(0)
    return PolyNet(
        input_shape=SHAPE,
        width=16,
        num_blocks=3,
        use_skip=True,
        normalization="batch",
        product_scale=0.5,
        preprocessing=pixel_preprocessing(SHAPE),
        name="tiny_polynet",
    )


@pytest.fixture(scope="module")
def model():
    return _model()


@pytest.fixture(scope="module")
def images():
    """Raw pixels, as every exported file takes them."""
    return np.random.default_rng(0).integers(0, 256, (16,) + SHAPE).astype("float32")


@pytest.fixture(scope="module")
def reference(model, images):
    return model.predict(images, verbose=0)


@pytest.fixture(scope="module")
def exported(model, images, tmp_path_factory):
    """Each TFLite quantization of the same model, plus int8 with int8 logits."""
    folder = tmp_path_factory.mktemp("tflite")
    paths = {}
    for quantization in export.QUANTIZATIONS:
        paths[quantization] = export.export_tflite(
            model,
            str(folder / f"model_{quantization}.tflite"),
            quantization,
            representative_data=images if quantization in ("int8", "int16x8") else None,
        )
    paths["int8_output"] = export.export_tflite(
        model,
        str(folder / "model_int8_output.tflite"),
        "int8",
        representative_data=images,
        int8_output=True,
        metadata=export.model_metadata(model, class_names=[f"label_{i}" for i in range(10)]),
    )
    return paths


# -- SavedModel ---------------------------------------------------------------


def test_saved_model_signature_and_reload(model, images, reference, tmp_path):
    import tensorflow as tf

    path = export.export_saved_model(model, str(tmp_path / "saved_model"))
    loaded = tf.saved_model.load(path)
    assert list(loaded.signatures) == ["serving_default"]
    serve = loaded.signatures["serving_default"]
    _, inputs = serve.structured_input_signature
    assert list(inputs) == ["images"]
    assert inputs["images"].shape.as_list() == [None, *SHAPE]
    assert inputs["images"].dtype == tf.float32
    assert list(serve.structured_outputs) == ["logits"]
    logits = serve(images=tf.constant(images))["logits"].numpy()
    assert np.abs(logits - reference).max() <= 1e-5
    # Any batch size, and the helper that the example script uses.
    assert serve(images=tf.constant(images[:1]))["logits"].shape == (1, 10)
    result = export.evaluate_saved_model(path, images, reference.argmax(-1), reference)
    assert result["reload_max_abs_diff"] <= 1e-5 and result["top1_agreement"] == 1.0
    assert result["size_bytes"] > 0


# -- TFLite -------------------------------------------------------------------


@pytest.mark.parametrize("quantization", export.QUANTIZATIONS + ("int8_output",))
def test_tflite_builtin_ops_only_and_runs(exported, quantization, images, reference):
    path = exported[quantization]
    used = tflite_ops(path)
    assert {"CONV_2D", "MUL", "FULLY_CONNECTED"} <= used
    assert not [op for op in used if op.startswith("Flex") or op == "CUSTOM"], used

    # Batch 1, as an app runs it, straight through the interpreter.
    interpreter_cls, name = interpreter_class()
    assert name == ("ai_edge_litert" if importlib.util.find_spec("ai_edge_litert") else "tf.lite")
    interpreter = interpreter_cls(model_path=path)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert list(inp["shape"]) == [1, *SHAPE]
    assert list(inp["shape_signature"]) == [-1, *SHAPE]  # resizable batch
    interpreter.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
    interpreter.invoke()
    assert interpreter.get_tensor(out["index"]).shape == (1, 10)

    # The runner: batch 1 and batch 8 give the same logits.
    one = export.run_tflite(path, images, batch_size=1)
    eight = export.run_tflite(path, images, batch_size=8)
    np.testing.assert_allclose(one, eight, atol=1e-5)
    diff = np.abs(one - reference).max()
    agreement = np.mean(one.argmax(-1) == reference.argmax(-1))
    scale = np.abs(reference).max()
    if quantization == "float32":
        assert diff <= 1e-4 and agreement == 1.0
    elif quantization == "float16":
        assert diff <= 1e-2 * scale and agreement == 1.0
    else:  # int8 weights (and activations): a few percent of the logit range
        assert diff <= 0.1 * scale and agreement >= 0.9


def test_int8_file_is_small(exported):
    sizes = {q: os.path.getsize(p) for q, p in exported.items()}
    assert sizes["int8"] <= 0.30 * sizes["float32"], sizes
    assert sizes["dynamic"] <= 0.30 * sizes["float32"], sizes
    assert sizes["float16"] <= 0.55 * sizes["float32"], sizes


def test_io_types(exported, images):
    for quantization in ("float32", "float16", "dynamic"):
        runner = export.TFLiteRunner(exported[quantization])
        assert (runner.input_dtype, runner.output_dtype) == (np.float32, np.float32), quantization
    # int8: uint8 raw pixels in (scale 1, zero point 0), float32 or int8 logits out.
    runner = export.TFLiteRunner(exported["int8"])
    assert (runner.input_dtype, runner.output_dtype) == (np.uint8, np.float32)
    assert runner._input["quantization"] == (1.0, 0)
    np.testing.assert_array_equal(runner.quantize(images), images.astype(np.uint8))
    runner = export.TFLiteRunner(exported["int8_output"])
    assert (runner.input_dtype, runner.output_dtype) == (np.uint8, np.int8)
    assert runner._input["quantization"] == (1.0, 0)
    step, _ = runner._output["quantization"]
    assert step > 0
    assert "DEQUANTIZE" not in tflite_ops(exported["int8_output"])
    # Same calibration: int8 logits only move the dequantization out of the model.
    np.testing.assert_allclose(
        runner.predict(images), export.run_tflite(exported["int8"], images), atol=step + 1e-5
    )


def test_tflite_helpers(exported, images):
    assert latency_ms(exported["int8"], images[0], runs=3, warmup=1) > 0
    result = export.evaluate_tflite(
        exported["float32"], images, labels=np.zeros(len(images), "int64"), latency_runs=2
    )
    assert set(result) >= {
        "size_bytes",
        "ops",
        "accuracy",
        "latency_ms",
        "interpreter",
        "input_dtype",
    }
    with open(exported["float32"], "rb") as f:
        assert tflite_ops(f.read()) == set(result["ops"])
    with pytest.raises(ValueError, match=r"\(N, 16, 16, 1\).*\(2, 8, 8, 1\)"):
        export.run_tflite(exported["float32"], np.zeros((2, 8, 8, 1), "float32"))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_model_exports_as_float32(policy, tmp_path):
    keras.utils.set_random_seed(1)
    mixed = PolyNet(
        input_shape=(12, 12, 1),
        width=2,
        num_blocks=3,
        normalization="batch",
        dtype=policy,
        preprocessing=pixel_preprocessing((12, 12, 1)),
    )
    x = np.random.default_rng(1).integers(0, 256, (4, 12, 12, 1)).astype("float32")
    mixed(x, training=True)  # moves the batch-norm statistics away from their initial values
    float32 = as_float32(mixed)
    assert float32 is not mixed
    assert all(
        layer.dtype_policy.name == "float32"
        for layer in float32._flatten_layers(include_self=False, recursive=True)
    )
    for a, b in zip(mixed.weights, float32.weights):
        assert a.path.endswith(b.path) and np.array_equal(np.asarray(a), np.asarray(b))

    path = export.export_tflite(mixed, str(tmp_path / "mixed.tflite"))
    assert not [op for op in tflite_ops(path) if op.startswith("Flex")]
    runner = export.TFLiteRunner(path)
    tensor_dtypes = {np.dtype(t["dtype"]) for t in runner.interpreter.get_tensor_details()}
    assert not tensor_dtypes & {np.dtype("float16")}
    logits = runner.predict(x)
    expected = float32.predict(x, verbose=0)
    assert np.abs(logits - expected).max() <= 1e-4
    half = keras.ops.convert_to_numpy(ops.cast(mixed(x), "float32"))
    assert np.abs(logits - half).max() <= 0.05 * np.abs(expected).max() + 1e-3

    saved = export.export_saved_model(mixed, str(tmp_path / "saved_model"))
    np.testing.assert_allclose(export.predict_saved_model(saved, x), expected, atol=1e-5)


# -- Files: overwrite protection, nothing half-written ------------------------


def test_never_overwrites_without_permission(model, exported, tmp_path):
    target = tmp_path / "model.tflite"
    target.write_bytes(b"previous")
    with pytest.raises(FileExistsError, match=str(target)):
        export.export_tflite(model, str(target))
    assert target.read_bytes() == b"previous"
    export.export_tflite(model, str(target), "float16", overwrite=True)
    with open(exported["float16"], "rb") as f:
        assert len(target.read_bytes()) == len(f.read())

    folder = tmp_path / "saved_model"
    folder.mkdir()
    (folder / "saved_model.pb").write_text("an older SavedModel")
    with pytest.raises(FileExistsError, match=str(folder)):
        export.export_saved_model(model, str(folder))
    assert os.listdir(folder) == ["saved_model.pb"]
    export.export_saved_model(model, str(folder), overwrite=True)
    assert "variables" in os.listdir(folder)  # the new one replaced it
    assert (folder / "saved_model.pb").read_bytes() != b"an older SavedModel"
    assert sorted(os.listdir(tmp_path)) == ["model.tflite", "saved_model"]  # no temporaries

    # overwrite replaces a SavedModel or a .tflite file, not what holds other things.
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"does not write \(notes.txt\)"):
        export.export_saved_model(model, str(folder), overwrite=True)
    with pytest.raises(FileExistsError, match="is a folder, not a file"):
        export.export_tflite(model, str(folder), overwrite=True)
    assert (folder / "notes.txt").read_text() == "mine"


def test_failures_leave_nothing_half_written(model, images, tmp_path, monkeypatch):
    # A wrong representative shape fails before anything is written...
    target = tmp_path / "model_int8.tflite"
    with pytest.raises(ValueError, match=r"\(batch, 16, 16, 1\).*\(4, 12, 12, 1\)"):
        export.export_tflite(model, str(target), "int8", np.zeros((4, 12, 12, 1), "float32"))
    assert os.listdir(tmp_path) == []
    # ...and with overwrite=True the previous file survives the failure.
    target.write_bytes(b"previous")
    with pytest.raises(ValueError):
        export.export_tflite(model, str(target), "int8", np.zeros((4, 12, 12, 1)), overwrite=True)
    assert target.read_bytes() == b"previous"
    target.unlink()

    # A failure in the middle of writing a SavedModel: nothing at the path, no temporary.
    def broken_writer(model, path, metadata=None):
        os.makedirs(os.path.join(path, "variables"))
        with open(os.path.join(path, "saved_model.pb"), "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(saved_model_module, "write_saved_model", broken_writer)
    with pytest.raises(OSError, match="disk full"):
        export.export_saved_model(model, str(tmp_path / "saved_model"))
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()

    # A failure while moving the finished file into place.
    def broken_move(temporary, path, *args):
        raise OSError("rename failed")

    monkeypatch.setattr(_io, "_move_into_place", broken_move)
    with pytest.raises(OSError, match="rename failed"):
        export.export_tflite(model, str(target))
    assert os.listdir(tmp_path) == []


# -- Bad inputs -----------------------------------------------------------------


def test_not_a_keras_model_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    fake = tmp_path / "fake.keras"
    fake.write_bytes(b"not a zip")
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(b"TFL3")
    for path in (text, fake, tflite):
        with pytest.raises(ValueError, match="not a Keras model file") as info:
            export.load_keras_model(str(path))
        assert str(path) in str(info.value)
    with pytest.raises(ValueError, match=str(fake)):
        export.export_tflite(str(fake), str(tmp_path / "out.tflite"))
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        export.load_keras_model(str(tmp_path / "missing.keras"))
    saved = tmp_path / "saved_model"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ValueError, match="SavedModel folder, not a Keras model file"):
        export.load_keras_model(str(saved))
    assert sorted(os.listdir(tmp_path)) == [
        "fake.keras",
        "model.tflite",
        "notes.txt",
        "saved_model",
    ]


def test_model_taking_normalized_images_is_refused(tmp_path):
    keras.utils.set_random_seed(0)
    normalized = PolyNet(input_shape=(12, 12, 1), width=2, num_blocks=2, name="old_style")
    for write in (
        lambda: export.export_tflite(normalized, str(tmp_path / "m.tflite")),
        lambda: export.export_saved_model(normalized, str(tmp_path / "saved_model")),
    ):
        with pytest.raises(
            ValueError, match="'old_style' takes normalized images.*add_pixel_preprocessing"
        ):
            write()
    assert os.listdir(tmp_path) == []
    raw = export.add_pixel_preprocessing(normalized)
    with pytest.raises(ValueError, match="already takes raw pixels"):
        export.add_pixel_preprocessing(raw)
    x = np.random.default_rng(0).integers(0, 256, (4, 12, 12, 1)).astype("float32")
    np.testing.assert_allclose(
        export.run_tflite(export.convert_to_tflite(raw), x),
        normalized.predict(x / 255.0, verbose=0),
        atol=1e-5,
    )


class CumulativeSum(keras.layers.Layer):
    """CUMSUM is a TFLite builtin, but has no int8 kernel."""

    def call(self, x):
        return ops.cumsum(x, axis=-1)


class InverseErf(keras.layers.Layer):
    """Erfinv has no TFLite builtin at all (it would need Flex)."""

    def call(self, x):
        return ops.erfinv(0.5 * ops.tanh(x))


def _model_with(layer):
    return keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            PixelRange(),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(2, 3),
            layer,
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ],
        name="odd_net",
    )


def test_layers_that_cannot_be_quantized_or_converted(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (8, 6, 6, 1)).astype("float32")
    model = _model_with(CumulativeSum(name="running_total"))
    export.export_tflite(model, str(tmp_path / "float32.tflite"))  # fine in float
    target = tmp_path / "int8.tflite"
    with pytest.raises(export.TFLiteConversionError, match="running_total.*CUMSUM") as info:
        export.export_tflite(model, str(target), "int8", representative_data=x)
    assert info.value.layers == ["running_total"] and info.value.ops == ["CUMSUM"]
    assert not target.exists()

    model = _model_with(InverseErf(name="inverse_erf"))
    with pytest.raises(export.TFLiteConversionError, match="inverse_erf.*Erfinv") as info:
        export.export_tflite(model, str(tmp_path / "erfinv.tflite"))
    assert info.value.ops == ["Erfinv"]
    assert sorted(os.listdir(tmp_path)) == ["float32.tflite"]


def test_representative_data_errors(model, images, tmp_path):
    target = str(tmp_path / "m.tflite")
    with pytest.raises(ValueError, match="needs `representative_data`"):
        export.export_tflite(model, target, "int8")
    with pytest.raises(
        ValueError, match=r"\(batch, 16, 16, 1\); received a batch of shape \(16, 16, 1\)"
    ):
        export.export_tflite(model, target, "int8", representative_data=images[0])
    with pytest.raises(ValueError, match=r"\(batch, 16, 16, 1\).*\(2, 16, 16, 3\)"):
        batches = [images[:2], np.zeros((2, 16, 16, 3), "float32")]
        export.export_tflite(model, target, "int8", representative_data=batches)
    with pytest.raises(ValueError, match="quantization"):
        export.export_tflite(model, target, "int4")
    with pytest.raises(ValueError, match="int8_output=True needs quantization='int8'"):
        export.export_tflite(model, target, "float32", int8_output=True)
    with pytest.raises(ValueError, match="bound"):
        export.export_tflite(model, target, "float32", representative_data=images, bound=50)
    assert os.listdir(tmp_path) == []
    # An iterable of (images, labels) batches is accepted.
    pairs = ((images[i : i + 4], np.zeros(4)) for i in range(0, 16, 4))
    assert representative_images(pairs, SHAPE).shape == (16,) + SHAPE


# -- A model trained under JAX --------------------------------------------------

JAX_TRAINING = """
import sys
import keras
import numpy as np
from pinet_keras import PolyNet
from pinet_keras import _io
from pinet_keras.models import pixel_preprocessing

keras.utils.set_random_seed(0)
model = PolyNet(
    input_shape=(12, 12, 1), width=2, num_blocks=3, normalization="batch",
    preprocessing=pixel_preprocessing((12, 12, 1)),
)
model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (32, 12, 12, 1)).astype("float32")
model.fit(x, rng.integers(0, 10, 32), batch_size=16, epochs=1, verbose=0)
model.save(sys.argv[1])
np.save(sys.argv[2], x[:8])
np.save(sys.argv[3], model.predict(x[:8], verbose=0))
print(keras.backend.backend())
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_trained_model_exports_under_tensorflow(tmp_path):
    model_path, x_path, logits_path = (str(tmp_path / n) for n in ("jax.keras", "x.npy", "y.npy"))
    env = jax_env()
    result = subprocess.run(
        [sys.executable, "-c", JAX_TRAINING, model_path, x_path, logits_path],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("jax")
    x, jax_logits = np.load(x_path), np.load(logits_path)

    tflite = export.export_tflite(model_path, str(tmp_path / "model.tflite"))
    np.testing.assert_allclose(export.run_tflite(tflite, x), jax_logits, atol=1e-4, rtol=1e-4)
    saved = export.export_saved_model(model_path, str(tmp_path / "saved_model"))
    np.testing.assert_allclose(
        export.predict_saved_model(saved, x), jax_logits, atol=1e-4, rtol=1e-4
    )


# -- The example scripts --------------------------------------------------------


@pytest.mark.slow
def test_export_script_end_to_end(tmp_path):
    keras.utils.set_random_seed(2)
    model = PolyNet(
        input_shape=(12, 12, 1),
        num_classes=3,
        width=4,
        num_blocks=3,
        preprocessing=pixel_preprocessing((12, 12, 1)),
    )
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    model.save(str(model_dir / "model.keras"))
    (model_dir / "metrics.json").write_text(json.dumps({"dataset": "tiny"}))
    rng = np.random.default_rng(2)
    x_train = rng.integers(0, 256, (64, 12, 12, 1), dtype=np.uint8)
    x_test = rng.integers(0, 256, (40, 12, 12, 1), dtype=np.uint8)
    # Labels are the model's own answers on the raw pixels: Keras accuracy is 1 by construction.
    y_test = model.predict(x_test, verbose=0).argmax(-1)
    data_path = str(tmp_path / "tiny.npz")
    np.savez(
        data_path, x_train=x_train, y_train=np.zeros(64, "int64"), x_test=x_test, y_test=y_test
    )

    out = tmp_path / "export"
    args = [
        *EXPORT,
        f"--model={model_dir / 'model.keras'}",
        f"--output_dir={out}",
        "--max_test_examples=32",
        "--latency_runs=3",
        "--num_representative=50",
    ]
    # Settings are chosen on the run's validation split, never on the test split.
    base_args = [a for a in args if not a.startswith(("--output_dir", "--max_test"))]
    validation_args = base_args + [
        f"--output_dir={tmp_path / 'validation'}",
        "--split=validation",
        "--formats=int8",
        "--int8_finetune_epochs=1",
        "--int8_finetune_recalibrate_every=2",
    ]
    result, validation = run_commands_in_parallel([(args, data_path), (validation_args, data_path)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "float32" in result.stdout and "top-1 agree" in result.stdout  # the table

    assert sorted(os.listdir(out)) == [
        "labels.txt",
        "model_dynamic.tflite",
        "model_float16.tflite",
        "model_float32.tflite",
        "model_int16x8.tflite",
        "model_int8.tflite",
        "report.json",
        "saved_model",
    ]
    assert (out / "labels.txt").read_text().splitlines() == ["circle", "square", "triangle"]
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"] == "tiny" and "normalization" not in report
    assert report["input"]["input_normalization"] == "unit"
    assert report["input"]["pixel_range"] == [0.0, 255.0]
    assert report["test_examples"] == 32 and report["keras"]["accuracy"] == 1.0
    assert report["keras"]["non_finite"] == 0 and report["bound"] == 100.0
    formats = report["formats"]
    assert list(formats) == ["saved_model", "float32", "float16", "dynamic", "int8", "int16x8"]
    # Bounded by default: each layer clipped to its range on 50 training
    # images, so the test images' logits move a little, never the top-1 here.
    assert formats["saved_model"]["reload_max_abs_diff"] <= 0.1
    assert formats["float32"]["max_abs_diff"] <= 0.1
    assert formats["float32"]["accuracy"] == 1.0 and formats["float32"]["top1_agreement"] == 1.0
    for name in ("float32", "float16", "dynamic", "int8"):
        entry = formats[name]
        assert entry["file"] == f"model_{name}.tflite"
        assert entry["size_bytes"] == os.path.getsize(out / entry["file"])
        assert entry["latency_ms"] > 0 and entry["interpreter"] in ("ai_edge_litert", "tf.lite")
        assert "CONV_2D" in entry["ops"] and not [op for op in entry["ops"] if "Flex" in op]
        assert set(entry) >= {"accuracy", "max_abs_diff", "top1_agreement", "non_finite"}
        assert entry["input_dtype"] == ("uint8" if name == "int8" else "float32")
        assert export.read_tflite_metadata(str(out / entry["file"]))["class_names"] == [
            "circle",
            "square",
            "triangle",
        ]
    assert export.read_saved_model_metadata(str(out / "saved_model"))["dataset"] == "tiny"

    logits = report["keras"]["max_abs_logit_percentiles"]
    assert list(logits) == ["50", "99", "99.9", "100"] and 0 < logits["50"] <= logits["100"]

    assert validation.returncode == 0, validation.stdout[-3000:] + validation.stderr[-3000:]
    report = json.loads((tmp_path / "validation" / "report.json").read_text())
    _, validation_indices = split_validation(64, 0.1, 0)
    assert report["split"] == "validation" and report["test_examples"] == len(validation_indices)
    assert report["int8_calibration"]["finetune_epochs"] == 1
    finetuned = export.read_tflite_metadata(str(tmp_path / "validation" / "model_int8.tflite"))
    assert finetuned["int8_finetune"] == {
        "epochs": 1,
        "images": 64 - len(validation_indices),
        "learning_rate": 1e-5,
        "recalibrate_every": 2,
    }

    # A bad flag, and a second run without --overwrite, refuse before touching anything.
    before = {name: os.path.getmtime(out / name) for name in os.listdir(out)}
    percentile, finetune, again = run_commands_in_parallel(
        [
            (
                base_args + [f"--output_dir={tmp_path / 'other'}", "--percentile=40"],
                data_path,
            ),
            (
                base_args
                + [f"--output_dir={tmp_path / 'other'}", "--int8_finetune_epochs=1", "--nofold"]
                + ["--bound=0"],
                data_path,
            ),
            (args + ["--formats=float32"], data_path),
        ]
    )
    assert percentile.returncode == 2 and "percentile" in percentile.stderr
    assert finetune.returncode == 2 and "drop --nofold" in finetune.stderr
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert before == {name: os.path.getmtime(out / name) for name in os.listdir(out)}
    assert sorted(os.listdir(tmp_path)) == ["export", "run", "tiny.npz", "validation"]


@pytest.mark.slow
def test_predict_tflite_script(exported, tmp_path):
    Image = pytest.importorskip("PIL.Image")

    model_dir = tmp_path / "app"
    model_dir.mkdir()
    model_path = model_dir / "model_int8_output.tflite"
    with open(exported["int8_output"], "rb") as f:
        model_path.write_bytes(f.read())
    labels = [f"label_{i}" for i in range(10)]  # in the file's metadata
    other_labels = model_dir / "labels.txt"
    other_labels.write_text("\n".join(f"other_{i}" for i in range(10)) + "\n")

    rng = np.random.default_rng(3)
    gray = tmp_path / "gray.png"
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8), "L").save(gray)
    color = tmp_path / "color.jpg"  # RGB and larger: converted to gray and resized
    Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8), "RGB").save(color)

    binary_labels = model_dir / "labels.bin"
    binary_labels.write_bytes(b"\xff\xfe\x00 not text")
    result, relabeled, bad_labels = run_commands_in_parallel(
        [
            (
                [
                    *PREDICT,
                    f"--model={model_path}",
                    "--top_k=2",
                    str(gray),
                    str(color),
                ],
                None,
            ),
            (
                [
                    *PREDICT,
                    f"--model={model_path}",
                    f"--labels={other_labels}",
                    str(gray),
                ],
                None,
            ),
            (
                [*PREDICT, f"--model={model_path}", f"--labels={binary_labels}"] + [str(gray)],
                None,
            ),
        ]
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith(str(gray)) and lines[1].startswith(str(color))

    # The top label printed for the PNG is the model's answer on its raw pixels.
    image = np.asarray(Image.open(gray), dtype=np.uint8)[None, :, :, None]
    logits = export.run_tflite(exported["int8_output"], image)[0]
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    top = int(probabilities.argmax())
    fields = lines[0][len(str(gray)) :].split()
    assert fields[0] == labels[top]
    assert float(fields[1]) == pytest.approx(probabilities[top], abs=1e-3)
    assert fields[2] in labels and 0 <= float(fields[3]) <= float(fields[1])

    assert relabeled.returncode == 0, relabeled.stderr[-3000:]
    assert relabeled.stdout.split()[1] == f"other_{top}"
    assert bad_labels.returncode == 2
    assert f"error: --labels: {binary_labels} is not UTF-8 text" in bad_labels.stderr
