"""bound: bounded logits for any input (output ranges, clipping, float16)."""

import keras
import numpy as np
import pytest

from conftest import DIGITS_SHAPE
from conftest import digits_metadata
from conftest import tensorflow_only
from pinet_keras import PolyNet
from pinet_keras import export
from pinet_keras.export.fold import FoldedPolynomial
from pinet_keras.export.precision import with_float_dtype
from pinet_keras.models import pixel_preprocessing
from pinet_keras.models import polynomial_layers
from pinet_keras.models import set_output_ranges

pytestmark = tensorflow_only


def _bias_free(preprocessing=True, num_blocks=3):
    keras.utils.set_random_seed(4)
    return PolyNet(
        input_shape=DIGITS_SHAPE,
        width=4,
        num_blocks=num_blocks,
        use_bias=False,
        preprocessing=pixel_preprocessing(DIGITS_SHAPE) if preprocessing else None,
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
            np.stack([np.full(DIGITS_SHAPE, v, "float32") for v in (0.0, 255.0, 1e6, -1e6)]),
            # The corners of the box.
            (rng.integers(0, 2, (12, *DIGITS_SHAPE)) * 255.0).astype("float32"),
            (np.indices(DIGITS_SHAPE).sum(0) % 2 * 255.0)[None].astype("float32"),
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
            metadata=digits_metadata(model),
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
        set_output_ranges(model, np.full((2, *DIGITS_SHAPE), np.nan, "float32"))
    with pytest.raises(ValueError, match="no polynomial layer"):
        set_output_ranges(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), [[0, 0]])


def test_float16_without_a_guard_overflows(representative):
    raw = _bias_free(preprocessing=False, num_blocks=4)
    half = with_float_dtype(raw, "float16")
    assert all(w.dtype == "float16" for w in half.weights)
    white = np.full((2, *DIGITS_SHAPE), 255.0, "float32")
    logits = np.asarray(half.predict(white, verbose=0), "float32")
    assert not np.isfinite(logits).all()  # what the bound is for
    # The same weights behind the guard, bounded: finite in float16.
    guarded = export.add_pixel_preprocessing(raw)
    bounded = with_float_dtype(export.bound_model(guarded, representative, 100), "float16")
    assert np.isfinite(np.asarray(bounded.predict(white, verbose=0), "float32")).all()
