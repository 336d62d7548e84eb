"""Raw uint8 pixels in: the float pipeline's logits, int8 files that take uint8, 0.1.0 models."""

import os

import keras
import numpy as np
import pytest

import conftest
from conftest import tensorflow_only
from pinet_keras import export

pytestmark = tensorflow_only

FIXTURES = os.path.join(conftest.FIXTURES, "v0_1_0")


def _inner(model):
    """The model's layers after its preprocessing, as a model on pixels / 255."""
    layers = model.layers
    assert type(layers[0]).__name__ == "PixelRange"
    assert isinstance(layers[1], keras.layers.Rescaling)
    return keras.Sequential([keras.Input(model.input_shape[1:])] + layers[2:])


# -- Raw uint8 pixels in: the logits of the float pipeline ------------------------


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


# -- int8: uint8 input, scale 1, zero point 0 --------------------------------------


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


# -- The models of pinet_keras 0.1.0 ----------------------------------------------


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
