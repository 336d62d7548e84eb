import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import ROOT
from conftest import float64_images
from conftest import gradients
from conftest import random_images
from pinet_keras import BranchUniform
from pinet_keras import PolynomialConv2D


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2, 3])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4])
def test_output_shape_matches_conv2d(padding, strides, kernel_size):
    x = random_images((2, 13, 11, 3))
    layer = PolynomialConv2D(5, kernel_size, strides=strides, padding=padding)
    reference = keras.layers.Conv2D(5, kernel_size, strides=strides, padding=padding)
    expected = reference.compute_output_shape(x.shape)
    y = layer(x)
    assert tuple(y.shape) == tuple(expected)
    assert tuple(layer.compute_output_shape(x.shape)) == tuple(expected)
    # Hand-computed for one case so the reference itself is checked.
    if padding == "same":
        assert y.shape[1:3] == (-(-13 // strides), -(-11 // strides))
    else:
        assert y.shape[1:3] == (
            (13 - kernel_size) // strides + 1,
            (11 - kernel_size) // strides + 1,
        )


def test_call_is_product_of_branches():
    x = random_images((2, 8, 8, 3))
    layer = PolynomialConv2D(4, 3, padding="same")
    y = keras.ops.convert_to_numpy(layer(x))
    a = keras.ops.convert_to_numpy(layer.branch_a(x))
    b = keras.ops.convert_to_numpy(layer.branch_b(x))
    np.testing.assert_allclose(y, a * b, rtol=1e-6)


def test_skip_normalization_and_scale():
    x = random_images((4, 8, 8, 3))
    layer = PolynomialConv2D(
        4, 3, padding="same", use_skip=True, normalization="batch", product_scale=0.1
    )
    y = keras.ops.convert_to_numpy(layer(x, training=False))
    a = keras.ops.convert_to_numpy(layer.branch_a(x))
    b = keras.ops.convert_to_numpy(layer.branch_b(x))
    norm = keras.ops.convert_to_numpy(layer.product_norm(a * b, training=False))
    np.testing.assert_allclose(y, 0.1 * norm + a, rtol=1e-5, atol=1e-6)
    assert {w.path.split("/")[-1] for w in layer.trainable_weights} >= {
        "product_scale",
        "gamma",
        "beta",
    }


def test_freshly_built_branches_differ():
    layer = PolynomialConv2D(8, 3)
    layer.build((None, 10, 10, 2))
    ka = keras.ops.convert_to_numpy(layer.branch_a.kernel)
    kb = keras.ops.convert_to_numpy(layer.branch_b.kernel)
    assert not np.allclose(ka, kb)


@pytest.mark.parametrize(
    "initializer",
    [keras.initializers.GlorotUniform(seed=3), BranchUniform(seed=3), "he_normal"],
    ids=["glorot-seeded", "branch-uniform-seeded", "string"],
)
def test_one_initializer_gives_two_different_branches(initializer):
    def build():
        layer = PolynomialConv2D(8, 3, kernel_initializer=initializer, bias_initializer=initializer)
        layer.build((None, 10, 10, 2))
        return [keras.ops.convert_to_numpy(w) for w in layer.weights]

    ka, ba, kb, bb = build()
    assert not np.allclose(ka, kb)
    assert not np.allclose(ba, bb)
    if not isinstance(initializer, str):  # seeded: reproducible
        for first, second in zip(build(), (ka, ba, kb, bb)):
            np.testing.assert_array_equal(first, second)


def test_default_initialization():
    layer = PolynomialConv2D(64, 3)
    layer.build((None, 10, 10, 4))
    fan_in = 3 * 3 * 4
    bias_a = keras.ops.convert_to_numpy(layer.branch_a.bias)
    kernel_b = keras.ops.convert_to_numpy(layer.branch_b.kernel)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.branch_b.bias), 1.0)
    assert np.abs(bias_a).max() <= 1 / np.sqrt(fan_in)
    assert np.abs(bias_a).max() > 0.5 / np.sqrt(fan_in)
    assert np.abs(kernel_b).max() <= 1 / np.sqrt(fan_in)
    # LeCun uniform: variance 1/fan_in.
    kernel_a = keras.ops.convert_to_numpy(layer.branch_a.kernel)
    assert abs(kernel_a.var() * fan_in - 1.0) < 0.1


def test_gradients_reach_both_branches():
    layer = PolynomialConv2D(4, 3, padding="same", normalization="batch", use_skip=True)
    grads = gradients(layer, random_images((2, 6, 6, 3)))
    for branch in ("branch_a", "branch_b"):
        for name in ("kernel", "bias"):
            g = next(v for k, v in grads.items() if k.endswith(f"{branch}/{name}"))
            assert np.all(np.isfinite(g))
            assert np.abs(g).max() > 0, f"no gradient reaches {branch}/{name}"


def test_bias_free_block_is_homogeneous_of_degree_two():
    x = float64_images((2, 9, 9, 3))
    layer = PolynomialConv2D(4, 3, use_bias=False, dtype="float64")
    fx = keras.ops.convert_to_numpy(layer(x))
    for t in (-1.5, 0.5, 3.0):
        ftx = keras.ops.convert_to_numpy(layer(t * x))
        np.testing.assert_allclose(ftx, t**2 * fx, rtol=1e-10, atol=1e-14)


def test_block_with_bias_is_not_homogeneous():
    # The check above must be able to fail: with biases it does.
    x = float64_images((2, 9, 9, 3))
    layer = PolynomialConv2D(4, 3, dtype="float64")
    fx = keras.ops.convert_to_numpy(layer(x))
    ftx = keras.ops.convert_to_numpy(layer(2.0 * x))
    assert not np.allclose(ftx, 4.0 * fx, rtol=1e-3)


def test_config_round_trip():
    layer = PolynomialConv2D(
        6,
        (3, 2),
        strides=(2, 1),
        padding="same",
        use_skip=True,
        normalization="batch",
        product_scale=0.5,
        kernel_regularizer=keras.regularizers.L2(1e-4),
        kernel_initializer=["he_uniform", "glorot_normal"],
        name="poly",
    )
    config = layer.get_config()
    clone = PolynomialConv2D.from_config(config)
    assert clone.get_config() == config
    assert config["kernel_size"] == (3, 2) and config["strides"] == (2, 1)
    x = random_images((2, 8, 8, 3))
    assert clone(x).shape == layer(x).shape


@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_works_in_every_model_style(kind):
    x = random_images((3, 12, 12, 2))
    if kind == "sequential":
        model = keras.Sequential(
            [
                keras.Input((12, 12, 2)),
                PolynomialConv2D(4, 3),
                keras.layers.Flatten(),
                keras.layers.Dense(2),
            ]
        )
    elif kind == "functional":
        inputs = keras.Input((12, 12, 2))
        h = PolynomialConv2D(4, 3, padding="same")(inputs)
        h = keras.layers.Add()([h, PolynomialConv2D(4, 1)(inputs)])
        outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(h))
        model = keras.Model(inputs, outputs)
    else:

        class Net(keras.Model):
            def __init__(self):
                super().__init__()
                self.block = PolynomialConv2D(4, 3)
                self.pool = keras.layers.GlobalAveragePooling2D()
                self.head = keras.layers.Dense(2)

            def call(self, inputs):
                return self.head(self.pool(self.block(inputs)))

        model = Net()
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    history = model.fit(x, np.array([0, 1, 0]), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.predict(x, verbose=0).shape == (3, 2)


def test_saved_keras_file_round_trip_in_fresh_process(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((10, 10, 1)),
            PolynomialConv2D(4, 3, normalization="batch", use_skip=True, product_scale=0.2),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )
    x = random_images((4, 10, 10, 1))
    path = tmp_path / "model.keras"
    model.save(path)
    expected = model.predict(x, verbose=0)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", expected)
    # A fresh process that only imported pinet_keras must load the file with
    # safe_mode=True (registered classes, no lambdas).
    code = (
        "import sys, numpy as np, keras, pinet_keras\n"
        "d = sys.argv[1]\n"
        "m = keras.saving.load_model(d + '/model.keras', safe_mode=True)\n"
        "y = m.predict(np.load(d + '/x.npy'), verbose=0)\n"
        "np.testing.assert_array_equal(y, np.load(d + '/expected.npy'))\n"
        "print('IDENTICAL')\n"
    )
    root = ROOT
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env={**os.environ, "PYTHONPATH": root},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "IDENTICAL" in result.stdout


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(filters=0, kernel_size=3), "filters"),
        (dict(filters="8", kernel_size=3), "filters"),
        (dict(filters=8, kernel_size=0), "kernel_size"),
        (dict(filters=8, kernel_size=3, strides=0), "strides"),
        (dict(filters=8, kernel_size=3, padding="full"), "padding"),
        (dict(filters=8, kernel_size=3, normalization="layer"), "normalization"),
        (dict(filters=8, kernel_size=3, use_skip="yes"), "use_skip"),
        (dict(filters=8, kernel_size=3, product_scale="small"), "product_scale"),
        (dict(filters=8, kernel_size=3, kernel_initializer=["ones"] * 3), "kernel_initializer"),
        (dict(filters=8, kernel_size=3, bias_initializer="no_such_init"), "no_such_init"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PolynomialConv2D(**kwargs)


def test_input_of_wrong_rank_is_rejected():
    layer = PolynomialConv2D(4, 3)
    with pytest.raises(ValueError, match=r"expected ndim=4, found ndim=3"):
        layer(random_images((2, 10, 10)))


def test_input_too_small_for_kernel_is_rejected():
    layer = PolynomialConv2D(4, 5)
    with pytest.raises(ValueError, match="negative|0|invalid|smaller"):
        layer(random_images((1, 3, 3, 1)))
