"""Mixed precision: every sublayer computes in half precision, variables stay float32."""

import keras
import numpy as np
import pytest

from conftest import random_images
from pinet_keras import PolyNet
from pinet_keras import PolynomialConv2D
from pinet_keras import PolynomialDense


def _sublayers(layer):
    return [layer] + [s for s in layer._flatten_layers(include_self=False, recursive=True)]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("make", ["conv", "dense"])
def test_every_sublayer_follows_the_policy(policy, make):
    compute = policy.split("_")[1]
    kwargs = dict(dtype=policy, use_skip=True, normalization="batch", product_scale=0.1)
    if make == "conv":
        layer, x = PolynomialConv2D(4, 3, **kwargs), random_images((2, 8, 8, 3))
    else:
        layer, x = PolynomialDense(4, **kwargs), random_images((2, 5))
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == compute
    sublayers = _sublayers(layer)
    assert len(sublayers) == 4  # itself, two branches, the normalization
    for sublayer in sublayers:
        assert sublayer.dtype_policy.name == policy, sublayer.name
        assert sublayer.compute_dtype == compute, sublayer.name
    for weight in layer.weights:
        assert weight.dtype == "float32", weight.path


def test_global_policy_reaches_polynet():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = PolyNet(width=4)
        y = model(random_images((2, 28, 28, 1)))
        assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
        for layer in model.layers:
            for sublayer in _sublayers(layer):
                assert sublayer.compute_dtype == "bfloat16", sublayer.name
        assert all(w.dtype == "float32" for w in model.weights)
        assert np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(y, "float32"))).all()
    finally:
        keras.config.set_dtype_policy("float32")


def test_with_float_dtype_copies_the_model_in_another_dtype():
    from pinet_keras.export.precision import as_float32
    from pinet_keras.export.precision import with_float_dtype
    from pinet_keras.models import pixel_preprocessing

    keras.utils.set_random_seed(0)
    shape = (8, 8, 1)
    model = PolyNet(
        input_shape=shape,
        width=2,
        num_blocks=2,
        normalization="batch",
        preprocessing=pixel_preprocessing(shape),
    )
    x = np.random.default_rng(0).integers(0, 256, (4, *shape)).astype("float32")
    half = with_float_dtype(model, "float16")
    assert half is not model and as_float32(model) is model
    assert all(w.dtype == "float16" for w in half.weights)
    assert all(
        layer.compute_dtype == "float16"
        for layer in half._flatten_layers(include_self=False, recursive=True)
        if layer.weights
    )
    for a, b in zip(model.weights, half.weights):
        np.testing.assert_array_equal(np.asarray(a, "float16"), keras.ops.convert_to_numpy(b))
    expected = model.predict(x, verbose=0)
    y = keras.ops.convert_to_numpy(keras.ops.cast(half(x), "float32"))
    assert np.abs(y - expected).max() <= 0.05 * np.abs(expected).max() + 1e-3
    # And back: float32 again, the same logits as the original up to float16 weights.
    back = with_float_dtype(half, "float32")
    assert all(w.dtype == "float32" for w in back.weights)
    assert (
        np.abs(back.predict(x, verbose=0) - expected).max() <= 0.05 * np.abs(expected).max() + 1e-3
    )
