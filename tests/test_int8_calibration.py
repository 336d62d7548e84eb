"""The int8 path: folding polynomial layers, and percentile calibration."""

import keras
import numpy as np
import pytest

from pinet_keras import PiResNet
from pinet_keras import PolyNet
from pinet_keras import PolynomialDense
from pinet_keras import export
from pinet_keras.export.calibration import narrow_ranges
from pinet_keras.export.fold import FoldedPolynomial
from pinet_keras.export.fold import fold_polynomial_layers
from tests.conftest import tensorflow_only

pytestmark = tensorflow_only


def _trained_statistics(model, seed=0):
    """Batch normalizations as after training: moving statistics and affine parameters far from 0/1."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 2.0, channels))
            layer.beta.assign(rng.normal(size=channels))
            layer.moving_mean.assign(rng.normal(size=channels))
            layer.moving_variance.assign(rng.uniform(0.1, 3.0, channels))
    for weight in model.weights:
        if weight.path.endswith("product_scale"):
            weight.assign(rng.uniform(0.1, 1.5, weight.shape))
    return model


def _relative_error(model, folded, x):
    reference = model.predict(x, verbose=0)
    return np.abs(folded.predict(x, verbose=0) - reference).max() / np.abs(reference).max()


@pytest.mark.parametrize("rebalance", [False, True])
def test_fold_polynet_is_exact(rebalance):
    keras.utils.set_random_seed(0)
    model = _trained_statistics(
        PolyNet(width=4, normalization="batch", use_skip=True, product_scale=0.5, dropout=0.2)
    )
    x = np.random.default_rng(1).uniform(size=(8, 28, 28, 1)).astype("float32")
    folded = fold_polynomial_layers(model, x if rebalance else None)
    assert [type(layer).__name__ for layer in folded.layers[:5]] == ["FoldedPolynomial"] * 5
    assert _relative_error(model, folded, x) < 1e-5
    # The original is untouched, the other layers are shared.
    assert type(model.layers[0]).__name__ == "PolynomialConv2D"
    assert folded.get_layer("logits") is model.get_layer("logits")


def test_rebalancing_equalizes_the_factors():
    keras.utils.set_random_seed(0)
    model = _trained_statistics(PolyNet(width=4, num_blocks=2, normalization="batch", use_skip=True))
    x = np.random.default_rng(1).uniform(size=(8, 28, 28, 1)).astype("float32")
    folded = fold_polynomial_layers(model, x)
    layer = folded.get_layer("block1")
    a = np.abs(np.asarray(layer.branch_a(x))).reshape(-1, 4).max(0)
    b = np.abs(np.asarray(layer.branch_b(x))).reshape(-1, 4).max(0)
    np.testing.assert_allclose(a, b, rtol=1e-4)


def test_fold_pi_resnet_absorbs_the_batch_norm_after_each_product():
    keras.utils.set_random_seed(0)
    model = _trained_statistics(PiResNet(stage_widths=(4, 8), blocks_per_stage=(1, 1)))
    x = np.random.default_rng(1).normal(size=(4, 32, 32, 3)).astype("float32")
    folded = fold_polynomial_layers(model, x)
    assert _relative_error(model, folded, x) < 1e-5
    kinds = {layer.name: type(layer).__name__ for layer in folded.layers}
    assert kinds["stem"] == "FoldedPolynomial" and kinds["stem_bn"] == "_Absorbed"
    assert kinds["stage1_block1_bn2"] == "_Absorbed"
    # A batch normalization after a plain convolution is the converter's to fold.
    assert kinds["stage2_block1_shortcut_bn"] == "BatchNormalization"


def test_fold_dense_and_models_without_polynomial_layers():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    outputs = PolynomialDense(5, use_skip=True, normalization="batch", name="poly")(inputs)
    model = _trained_statistics(keras.Model(inputs, keras.layers.Dense(3)(outputs)))
    x = np.random.default_rng(1).normal(size=(16, 6)).astype("float32")
    folded = fold_polynomial_layers(model, x)
    assert isinstance(folded.get_layer("poly"), FoldedPolynomial)
    assert _relative_error(model, folded, x) < 1e-5

    plain = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    np.testing.assert_allclose(
        fold_polynomial_layers(plain).predict(x, verbose=0), plain.predict(x, verbose=0)
    )


def _calibrated(model, images):
    import tensorflow as tf

    from pinet_keras.export.saved_model import write_saved_model

    import tempfile

    folder = tempfile.mkdtemp()
    write_saved_model(model, folder + "/saved_model")
    converter = tf.lite.TFLiteConverter.from_saved_model(folder + "/saved_model")
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = lambda: ([image[None]] for image in images)
    converter._experimental_calibrate_only = True
    return converter.convert()


def _ranges(content):
    from tensorflow.lite.tools import flatbuffer_utils

    subgraph = flatbuffer_utils.convert_bytearray_to_object(content).subgraphs[0]
    return {
        index: (float(t.quantization.min[0]), float(t.quantization.max[0]))
        for index, t in enumerate(subgraph.tensors)
        if t.quantization is not None and t.quantization.min is not None
        and len(t.quantization.min) == 1
    }, set(int(i) for i in subgraph.inputs)


def test_narrow_ranges_uses_percentiles_and_keeps_the_input_range():
    keras.utils.set_random_seed(0)
    model = PolyNet(input_shape=(12, 12, 1), width=4, num_blocks=2)
    images = np.random.default_rng(0).uniform(size=(32, 12, 12, 1)).astype("float32")
    calibrated = _calibrated(model, images)
    before, inputs = _ranges(calibrated)
    after, _ = _ranges(narrow_ranges(calibrated, images, 90.0))
    assert set(before) == set(after) and inputs
    narrower = 0
    for index, (low, high) in before.items():
        new_low, new_high = after[index]
        if index in inputs:
            assert (new_low, new_high) == (low, high)
            continue
        assert min(low, 0) - 1e-6 <= new_low <= 0 <= new_high <= max(high, 0) + 1e-6
        narrower += (new_high - new_low) < 0.95 * (high - low)
    assert narrower >= len(before) // 2  # a 90th percentile is well inside the extremes


def test_percentile_and_minmax_int8_both_run_and_differ(tmp_path):
    keras.utils.set_random_seed(0)
    model = _trained_statistics(
        PolyNet(input_shape=(12, 12, 1), width=4, num_blocks=2, normalization="batch", use_skip=True)
    )
    images = np.random.default_rng(0).uniform(size=(32, 12, 12, 1)).astype("float32")
    reference = model.predict(images, verbose=0)
    contents = {}
    for calibration in export.CALIBRATIONS:
        contents[calibration] = export.convert_to_tflite(
            model, "int8", images, calibration=calibration, percentile=99.0
        )
        logits = export.run_tflite(contents[calibration], images)
        assert np.abs(logits - reference).max() <= 0.2 * np.abs(reference).max()
    assert contents["percentile"] != contents["minmax"]
    # percentile=100 is the converter's own min/max calibration.
    assert export.convert_to_tflite(
        model, "int8", images, calibration="percentile", percentile=100, fold=True
    ) == export.convert_to_tflite(model, "int8", images, calibration="minmax", fold=True)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"calibration": "entropy"}, "calibration"),
        ({"percentile": 40}, "percentile"),
        ({"percentile": 101}, "percentile"),
        ({"percentile": True}, "percentile"),
    ],
)
def test_bad_calibration_arguments(kwargs, message, tmp_path):
    model = PolyNet(input_shape=(12, 12, 1), width=2, num_blocks=1)
    images = np.zeros((2, 12, 12, 1), "float32")
    with pytest.raises(ValueError, match=message):
        export.export_tflite(model, str(tmp_path / "m.tflite"), "int8", images, **kwargs)
    assert not (tmp_path / "m.tflite").exists()
