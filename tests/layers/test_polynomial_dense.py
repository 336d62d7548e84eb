import keras
import numpy as np
import pytest

from conftest import float64_images
from conftest import gradients
from conftest import homogeneity_rtol
from conftest import random_images
from pinet_keras import PolynomialDense


def test_output_shape_and_product():
    x = random_images((5, 7))
    layer = PolynomialDense(3)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (5, 3) == tuple(layer.compute_output_shape(x.shape))
    a = keras.ops.convert_to_numpy(layer.branch_a(x))
    b = keras.ops.convert_to_numpy(layer.branch_b(x))
    np.testing.assert_allclose(y, a * b, rtol=1e-6)


def test_higher_rank_input():
    assert PolynomialDense(3)(random_images((2, 4, 7))).shape == (2, 4, 3)


def test_bias_free_is_homogeneous_of_degree_two():
    x = float64_images((4, 6))
    layer = PolynomialDense(5, use_bias=False, dtype="float64")
    y = layer(x)
    fx = keras.ops.convert_to_numpy(y)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(-2.5 * x)), 6.25 * fx, rtol=homogeneity_rtol(y), atol=1e-12
    )


def test_branches_differ_and_gradients_reach_both():
    layer = PolynomialDense(4, use_skip=True)
    grads = gradients(layer, random_images((3, 5)))
    assert not np.allclose(
        keras.ops.convert_to_numpy(layer.branch_a.kernel),
        keras.ops.convert_to_numpy(layer.branch_b.kernel),
    )
    for path, g in grads.items():
        assert np.abs(g).max() > 0, path


def test_config_round_trip():
    layer = PolynomialDense(4, normalization="batch", use_skip=True, use_bias=False)
    config = layer.get_config()
    assert PolynomialDense.from_config(config).get_config() == config


@pytest.mark.parametrize("units", [0, -1, 2.5, None])
def test_bad_units(units):
    with pytest.raises(ValueError, match="units"):
        PolynomialDense(units)


def test_scalar_input_is_rejected():
    with pytest.raises(ValueError, match="min_ndim=2"):
        PolynomialDense(3)(np.ones((4,), "float32"))
