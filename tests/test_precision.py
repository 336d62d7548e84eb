"""Mixed precision: every sublayer computes in half precision, variables stay float32."""

import keras
import numpy as np
import pytest

from pinet_keras import PolyNet
from pinet_keras import PolynomialConv2D
from pinet_keras import PolynomialDense
from tests.conftest import random_images


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
