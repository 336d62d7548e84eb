"""The int8 path: folding polynomial layers, and percentile calibration."""

import keras
import numpy as np
import pytest

from conftest import tensorflow_only
from pinet_keras import PiResNet
from pinet_keras import PolyNet
from pinet_keras import PolynomialDense
from pinet_keras import export
from pinet_keras.export.calibration import set_ranges
from pinet_keras.export.fold import FoldedPolynomial
from pinet_keras.export.fold import fold_polynomial_layers
from pinet_keras.models import pixel_preprocessing

pytestmark = tensorflow_only


def _trained_statistics(model, seed=0):
    """Batch normalizations as after training: statistics and affine parameters far from 0/1."""
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
    model = _trained_statistics(
        PolyNet(width=4, num_blocks=2, normalization="batch", use_skip=True)
    )
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
    import tempfile

    import tensorflow as tf

    from pinet_keras._compat import calibrate_only
    from pinet_keras.export.saved_model import write_saved_model

    folder = tempfile.mkdtemp()
    write_saved_model(model, folder + "/saved_model")
    converter = tf.lite.TFLiteConverter.from_saved_model(folder + "/saved_model")
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = lambda: ([image[None]] for image in images)
    return calibrate_only(converter)


def _ranges(content):
    from pinet_keras._compat import flatbuffer_from_bytes

    subgraph = flatbuffer_from_bytes(content).subgraphs[0]
    return {
        index: (float(t.quantization.min[0]), float(t.quantization.max[0]))
        for index, t in enumerate(subgraph.tensors)
        if t.quantization is not None
        and t.quantization.min is not None
        and len(t.quantization.min) == 1
    }, set(int(i) for i in subgraph.inputs)


def _raw_pixel_polynet(**kwargs):
    shape = kwargs.setdefault("input_shape", (12, 12, 1))
    return PolyNet(preprocessing=pixel_preprocessing(shape), **kwargs)


def _pixels(n, shape=(12, 12, 1), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *shape)).astype("float32")


def test_set_ranges_uses_percentiles_and_sets_the_input_range():
    keras.utils.set_random_seed(0)
    model = _raw_pixel_polynet(width=4, num_blocks=2)
    images = 20.0 + 0.5 * _pixels(32)  # pixels in [20, 147.5]
    calibrated = _calibrated(model, images)
    before, inputs = _ranges(calibrated)
    assert inputs and all(
        before[i] == (20.0, 147.5) for i in inputs
    )  # the pixels seen, not the box
    # Only the input: the box of valid pixels.
    after, _ = _ranges(set_ranges(calibrated, images, None, (0.0, 255.0)))
    for index, low_high in before.items():
        assert after[index] == ((0.0, 255.0) if index in inputs else low_high)
    # Percentiles, the input kept.
    after, _ = _ranges(set_ranges(calibrated, images, 90.0))
    assert set(before) == set(after)
    narrower = 0
    for index, (low, high) in before.items():
        new_low, new_high = after[index]
        if index in inputs:
            assert (new_low, new_high) == (low, high)
            continue
        assert min(low, 0) - 1e-6 <= new_low <= 0 <= new_high <= max(high, 0) + 1e-6
        narrower += (new_high - new_low) < 0.95 * (high - low)
    assert narrower >= len(before) // 2  # a 90th percentile is well inside the extremes


@pytest.mark.slow
def test_percentile_and_minmax_int8_both_run_and_differ(tmp_path):
    keras.utils.set_random_seed(0)
    model = _trained_statistics(
        _raw_pixel_polynet(width=4, num_blocks=2, normalization="batch", use_skip=True)
    )
    images = _pixels(32)
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
    model = _raw_pixel_polynet(width=2, num_blocks=1)
    images = np.zeros((2, 12, 12, 1), "float32")
    with pytest.raises(ValueError, match=message):
        export.export_tflite(model, str(tmp_path / "m.tflite"), "int8", images, **kwargs)
    assert not (tmp_path / "m.tflite").exists()


def test_fold_with_bound_clips_to_the_representative_ranges(tmp_path):
    keras.utils.set_random_seed(0)
    model = _trained_statistics(_raw_pixel_polynet(width=4, num_blocks=3, normalization="batch"))
    images = _pixels(24)
    reference = model.predict(images, verbose=0)
    folded = fold_polynomial_layers(model, images, bound=100)
    layers = [layer for layer in folded.layers if isinstance(layer, FoldedPolynomial)]
    assert len(layers) == 3 and all(layer.output_range is not None for layer in layers)
    for layer in layers:
        low, high = layer.output_range
        assert low < high
    # Exact on the images the ranges come from; bounded beyond.
    assert _relative_error(model, folded, images) < 1e-5
    narrow = fold_polynomial_layers(model, images, bound=90)
    assert all(
        n.output_range[0] >= w.output_range[0] and n.output_range[1] <= w.output_range[1]
        for n, w in zip(
            [layer for layer in narrow.layers if isinstance(layer, FoldedPolynomial)], layers
        )
    )
    # Unbounded folding keeps no range; the original is untouched.
    assert all(
        layer.output_range is None
        for layer in fold_polynomial_layers(model, images).layers
        if isinstance(layer, FoldedPolynomial)
    )
    np.testing.assert_allclose(model.predict(images, verbose=0), reference)
    # The folded, bounded model saves and reloads (FoldedPolynomial is registered).
    path = str(tmp_path / "folded.keras")
    folded.save(path)
    reloaded = keras.saving.load_model(path)
    assert [
        layer.output_range for layer in reloaded.layers if isinstance(layer, FoldedPolynomial)
    ] == [layer.output_range for layer in layers]
    x = np.concatenate([images[:4], np.full((2, 12, 12, 1), 255.0, "float32")])
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), folded.predict(x, verbose=0), rtol=1e-5
    )


@pytest.mark.parametrize("bound", [50, 101, True, "100"])
def test_bad_bound(bound):
    model = _raw_pixel_polynet(width=2, num_blocks=1)
    with pytest.raises(ValueError, match="bound"):
        fold_polynomial_layers(model, _pixels(4), bound=bound)
    with pytest.raises(ValueError, match="bound"):
        export.convert_to_tflite(model, "float32", _pixels(4), bound=bound)


def test_bound_needs_representative_data():
    model = _raw_pixel_polynet(width=2, num_blocks=1)
    with pytest.raises(ValueError, match="representative_data"):
        fold_polynomial_layers(model, bound=100)
    with pytest.raises(ValueError, match="fold=True"):
        export.convert_to_tflite(model, "float32", _pixels(4), bound=100, fold=False)
    with pytest.raises(ValueError, match="`output_range`"):
        FoldedPolynomial({}, {}, "Dense", output_range=(1.0, -1.0))
