"""The NCP form against the authors' recursions, rewritten in NumPy (float64), and the 0.3.0 file.

The references below are written from the description of the authors' code,
not imported from it:

- the Π-nets repository (github.com/grigorisg9gr/polynomial_nets),
  ``mesh_pi_nets/models.py``, ``SpiralPoly`` with ``injection=True,
  model="full"``: for ``k = 0 .. N-2``, ``a = conva[k](z)``,
  ``s = convs[k](x)`` (``x = z`` at ``k = 0``, then the previous output),
  ``out = a * s + a``, plus the previous ``out`` from ``k = 1`` on when
  ``residual``; ``normalize="final"`` batch-normalizes ``a * s`` alone at the
  last step; the output is ``out + bias``. The maps see a vertex's spiral
  neighbourhood (a dummy vertex of zeros pads it): on an image grid, a
  convolution with zero "same" padding; on a vector, a dense map. Its batch
  norm is per position and channel; on a grid we use the per-channel one of
  the convolutional code (at inference both are per-channel affine maps).
- the 2022 tutorial (github.com/polynomial-nets/tutorial-2022-intro-polynomial-nets),
  ``pytorch/model_ncp.py``, ``SinglePoly`` (degree 2):
  ``out = bn2(conv2(bn1(conv1(z))))`` (``conv2`` 3×3, stride 1, padding 1),
  ``out1 = bnS(conv_S(z))`` with ``bnS`` an ``InstanceNorm2d`` (no affine) when
  ``norm_S=1``, and ``out1 + out * out1``.

Each is compared with the layer, its weights copied, at degrees 2, 3 and 4,
convolutional and dense, with and without the skip and the normalization.
"""

import os

import keras
import numpy as np
import pytest

from conftest import FIXTURES
from conftest import assert_float32_close
from conftest import float64_images
from pinet_keras import PolynomialConv1D
from pinet_keras import PolynomialConv2D
from pinet_keras import PolynomialDense
from pinet_keras.layers import PolynomialBase

FIXTURE_030 = os.path.join(FIXTURES, "v0_3_0")
EPS = 1e-5  # PyTorch's BatchNorm and InstanceNorm default; Keras' BatchNormalization's is 1e-3


# -- NumPy ----------------------------------------------------------------------
def conv_same(x, kernel):
    """Cross-correlation of ``x`` (batch, *spatial, cin) with ``kernel`` (*k, cin, cout),
    stride 1, zero "same" padding (odd kernels), as PyTorch's ``padding=k // 2``."""
    spatial = kernel.shape[:-2]
    pads = [(0, 0)] + [(k // 2, k // 2) for k in spatial] + [(0, 0)]
    padded = np.pad(x, pads)
    out = np.zeros(x.shape[:-1] + (kernel.shape[-1],))
    for offset in np.ndindex(*spatial):
        window = tuple(slice(o, o + n) for o, n in zip(offset, x.shape[1:-1]))
        out += padded[(slice(None),) + window] @ kernel[offset]
    return out


def batch_norm(x, gamma, beta, mean, variance, eps, training):
    """Per-channel batch normalization; in training, the batch's (biased) statistics."""
    if training:
        axes = tuple(range(x.ndim - 1))
        mean, variance = x.mean(axis=axes), x.var(axis=axes)
    return gamma * (x - mean) / np.sqrt(variance + eps) + beta


def instance_norm(x, eps=EPS):
    """PyTorch's ``InstanceNorm2d`` without affine: per example and channel, over space."""
    axes = tuple(range(1, x.ndim - 1))
    mean, variance = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps)


def spiral_poly(z, weights, order, residual, normalize, training=False):
    """``SpiralPoly`` (``injection=True, model="full"``) of degree ``order``, its
    neighbourhood a grid (``conv_same``) or the vertex alone (a matrix product)."""
    apply = conv_same if weights["conva"][0].ndim > 2 else np.matmul
    x = z
    out = None
    for k in range(order - 1):
        a = apply(z, weights["conva"][k])
        s = apply(x, weights["convs"][k])
        core = a * s
        if normalize == "final" and k == order - 2:
            core = batch_norm(core, *weights["norm"], EPS, training)
        new = core + a
        if residual and k >= 1:
            new = new + out
        out = x = new
    return out + weights["bias"]


def single_poly(z, weights, norm_s):
    """The tutorial's ``SinglePoly`` (``use_alpha=False``), bn1 and bn2 at inference."""
    out = batch_norm(conv_same(z, weights["conv1"]), *weights["bn1"], EPS, False)
    out = batch_norm(conv_same(out, weights["conv2"]), *weights["bn2"], EPS, False)
    out1 = conv_same(z, weights["conv_S"])
    if norm_s == 1:
        out1 = instance_norm(out1)
    return out1 + out * out1


# -- weights ----------------------------------------------------------------------
def _norm_weights(rng, channels):
    return (
        rng.uniform(0.5, 1.5, channels),  # gamma
        rng.normal(0.0, 0.2, channels),  # beta
        rng.normal(0.0, 0.2, channels),  # moving mean
        rng.uniform(0.5, 2.0, channels),  # moving variance
    )


def spiral_weights(rng, order, cin, cout, kernel):
    """Random weights of a ``SpiralPoly``; ``kernel`` the neighbourhood (``()``: dense)."""

    def matrix(n_in):
        return rng.normal(0.0, 1.0 / np.sqrt(n_in * max(np.prod(kernel), 1)), (*kernel, n_in, cout))

    return dict(
        conva=[matrix(cin) for _ in range(order - 1)],
        convs=[matrix(cin)] + [matrix(cout) for _ in range(order - 2)],
        norm=_norm_weights(rng, cout),
        bias=rng.normal(0.0, 0.3, cout),
    )


def _assign(layer, values):
    """Sets the layer's weights by their path below the layer (``branch_a/kernel``)."""
    weights = {w.path.split("/", 1)[1]: w for w in layer.weights}
    for name, value in values.items():
        weights[name].assign(np.asarray(value, "float64").reshape(weights[name].shape))
    missing = set(weights) - set(values)
    assert not missing, missing  # every weight of the layer is set


def spiral_to_layer(layer, weights, order, kernel):
    """``SpiralPoly``'s weights in the NCP recursion: x₁ = convs[0] z, Aₙ = conva[n-2],
    S₂ the identity, Sₙ = convs[n-2] (n ≥ 3), bₙ = 1, C = I, β = bias."""
    cout = weights["bias"].shape[0]
    identity = np.zeros((*kernel, cout, cout))
    identity[tuple(k // 2 for k in kernel)] = np.eye(cout)
    values = {"branch_a/kernel": weights["convs"][0], "branch_a/bias": np.zeros(cout)}
    for n in range(2, order + 1):
        branch = f"branch_{'abcd'[n - 1]}"
        values[f"{branch}/kernel"] = weights["conva"][n - 2]
        values[f"{branch}/bias"] = np.zeros(cout)
        values[f"mix_kernel_{n}"] = identity if n == 2 else weights["convs"][n - 2]
        values[f"mix_bias_{n}"] = np.ones(cout)
    values["projection_kernel"] = np.eye(cout)
    values["projection_bias"] = weights["bias"]
    if layer.product_norm is not None:
        for name, value in zip(
            ("gamma", "beta", "moving_mean", "moving_variance"), weights["norm"]
        ):
            values[f"product_norm/{name}"] = value
    _assign(layer, values)


# Relative to the largest value. Not 1e-12: Keras' BatchNormalization on JAX (XLA on
# the CPU) computes its float64 inverse square root to ~3e-7; the mismatches the
# tests look for are above 5e-2.
FLOAT64_RTOL = 1e-6


def assert_float64_close(actual, expected, rtol=FLOAT64_RTOL):
    actual = np.asarray(keras.ops.convert_to_numpy(actual))
    if actual.dtype != np.float64:  # the torch backend computes some float64 layers in float32
        rtol = 1e-4
    scale = np.abs(expected).max()
    assert scale > 0.1  # a comparison of values, not of zeros
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)


def _spiral_layer(conv, order, residual, normalize, cout, s_kernel_size):
    options = dict(
        degree=order,
        form="ncp",
        use_skip="residual" if residual else False,
        normalization="batch_as" if normalize == "final" else None,
        dtype="float64",
    )
    if not conv:
        return PolynomialDense(cout, **options)
    return PolynomialConv2D(cout, 3, padding="same", s_kernel_size=s_kernel_size, **options)


def _set_epsilon(layer):
    if layer.product_norm is not None:
        layer.product_norm.epsilon = EPS


CASES = [
    (conv, order, residual, normalize)
    for conv in (True, False)
    for order in (2, 3, 4)
    for residual in (False, True)
    for normalize in (None, "final")
]


@pytest.mark.parametrize("conv, order, residual, normalize", CASES)
def test_spiral_poly_reference(conv, order, residual, normalize):
    rng = np.random.default_rng(order * 10 + residual * 2 + (normalize is None))
    cin, cout = 2, 3
    kernel = (3, 3) if conv else ()
    shape = (3, 6, 6, cin) if conv else (5, cin)
    z = float64_images(shape, seed=order)
    weights = spiral_weights(rng, order, cin, cout, kernel)
    layer = _spiral_layer(conv, order, residual, normalize, cout, 3)
    layer.build(shape)
    _set_epsilon(layer)
    spiral_to_layer(layer, weights, order, kernel)
    for training in (False, True) if normalize else (False,):
        expected = spiral_poly(
            keras.ops.convert_to_numpy(z), weights, order, residual, normalize, training
        )
        assert_float64_close(layer(z, training=training), expected)


@pytest.mark.parametrize("order", [3, 4])
def test_one_by_one_s_is_not_the_spatial_reference(order):
    """Negative control: today's 1×1 Sₙ, given the centre taps of the authors' 3×3 Sₙ,
    is far from their degree-3 and degree-4 layer (no weights of it can match: its
    receptive field stays that of A, test_ncp_receptive_field.py)."""
    rng = np.random.default_rng(order)
    z = float64_images((3, 6, 6, 2), seed=order)
    weights = spiral_weights(rng, order, 2, 3, (3, 3))
    expected = spiral_poly(keras.ops.convert_to_numpy(z), weights, order, False, None)
    spatial = _spiral_layer(True, order, False, None, 3, 3)
    spatial.build(z.shape)
    spiral_to_layer(spatial, weights, order, (3, 3))
    assert_float64_close(spatial(z), expected)  # the same weights, spatial: equal
    centre = dict(
        weights, convs=[weights["convs"][0]] + [w[1:2, 1:2] for w in weights["convs"][1:]]
    )
    one_by_one = _spiral_layer(True, order, False, None, 3, 1)
    one_by_one.build(z.shape)
    spiral_to_layer(one_by_one, centre, order, (1, 1))
    # branch_a and the A branches are still 3×3 convolutions: only Sₙ lost its neighbours.
    y = keras.ops.convert_to_numpy(one_by_one(z))
    error = np.abs(y - expected).max() / np.abs(expected).max()
    assert error > 0.05, error


@pytest.mark.parametrize("kernel_sz", [3, 5])
@pytest.mark.parametrize("norm_s", [1, 0])
def test_single_poly_reference(kernel_sz, norm_s):
    """The tutorial's degree-2 block: A₁ = bn1∘conv1, S₂ = bn2∘conv2 (3×3), A₂ = conv_S
    (1×1, instance-normalized when norm_S=1), b₂ = 1; bn1 and bn2 folded at inference."""
    rng = np.random.default_rng(kernel_sz + norm_s)
    cin, cout = 2, 3
    z = float64_images((2, 7, 7, cin), seed=kernel_sz)
    weights = dict(
        conv1=rng.normal(0, 0.3, (kernel_sz, kernel_sz, cin, cout)),
        conv2=rng.normal(0, 0.3, (3, 3, cout, cout)),
        conv_S=rng.normal(0, 0.5, (1, 1, cin, cout)),
        bn1=_norm_weights(rng, cout),
        bn2=_norm_weights(rng, cout),
    )
    expected = single_poly(keras.ops.convert_to_numpy(z), weights, norm_s)

    def fold(kernel, norm):
        gamma, beta, mean, variance = norm
        scale = gamma / np.sqrt(variance + EPS)
        return kernel * scale, beta - scale * mean

    a_kernel, a_bias = fold(weights["conv1"], weights["bn1"])
    s_kernel, s_bias = fold(weights["conv2"], weights["bn2"])
    b_kernel = np.zeros((kernel_sz, kernel_sz, cin, cout))
    b_kernel[kernel_sz // 2, kernel_sz // 2] = weights["conv_S"][0, 0]  # 1×1 in the centre
    layer = PolynomialConv2D(
        cout,
        kernel_sz,
        padding="same",
        degree=2,
        form="ncp",
        s_kernel_size=3,
        normalization="instance_a" if norm_s == 1 else None,
        dtype="float64",
    )
    layer.build(z.shape)
    _assign(
        layer,
        {
            "branch_a/kernel": a_kernel,
            "branch_a/bias": a_bias,
            "branch_b/kernel": b_kernel,
            "branch_b/bias": np.zeros(cout),
            "mix_kernel_2": s_kernel,
            "mix_bias_2": s_bias + 1.0,
            "projection_kernel": np.eye(cout),
            "projection_bias": np.zeros(cout),
        },
    )
    assert_float64_close(layer(z), expected)
    # Instance normalization is per example: a batch of one gives the same rows.
    assert_float64_close(layer(z[:1]), expected[:1])


def test_instance_a_is_not_the_plain_form():
    """Negative control of the instance normalization: the same weights without it differ."""
    z = float64_images((2, 6, 6, 2), seed=3)
    layers = [
        PolynomialConv2D(
            3,
            3,
            padding="same",
            degree=3,
            form="ncp",
            s_kernel_size=3,
            normalization=norm,
            dtype="float64",
        )
        for norm in ("instance_a", None)
    ]
    layers[0].build(z.shape)
    layers[1].build(z.shape)
    layers[1].set_weights(layers[0].get_weights())
    y = [keras.ops.convert_to_numpy(layer(z)) for layer in layers]
    assert np.abs(y[0] - y[1]).max() > 0.05 * np.abs(y[1]).max()


def test_residual_skips_the_second_step_only():
    """use_skip='residual' adds xₙ₋₁ from n = 3 on; True at every step; at degree 2 the
    residual layer is the plain one, and at degree 3 it is neither."""
    z = float64_images((4, 5), seed=1)
    outputs = {}
    for degree in (2, 3):
        for skip in (False, True, "residual"):
            layer = PolynomialDense(3, degree=degree, form="ncp", use_skip=skip, dtype="float64")
            layer.build(z.shape)
            rng = np.random.default_rng(degree)
            layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
            outputs[degree, skip] = keras.ops.convert_to_numpy(layer(z))
    np.testing.assert_array_equal(outputs[2, "residual"], outputs[2, False])
    assert np.abs(outputs[2, True] - outputs[2, False]).max() > 0.1
    for other in (False, True):
        assert np.abs(outputs[3, "residual"] - outputs[3, other]).max() > 0.1


def test_batch_is_not_the_authors_normalization():
    """Negative control: ``"batch"`` (the whole last product normalized) with the weights
    that make ``"batch_as"`` the mesh reference with ``normalize="final"`` is not it."""
    rng = np.random.default_rng(5)
    z = float64_images((6, 2), seed=5)
    weights = spiral_weights(rng, 3, 2, 3, ())
    weights["norm"] = (np.full(3, 0.3),) + weights["norm"][1:]  # a scale far from 1
    expected = spiral_poly(keras.ops.convert_to_numpy(z), weights, 3, False, "final")
    errors = {}
    for norm in ("batch_as", "batch"):
        layer = PolynomialDense(3, degree=3, form="ncp", normalization=norm, dtype="float64")
        layer.build(z.shape)
        _set_epsilon(layer)
        spiral_to_layer(layer, weights, 3, ())
        y = keras.ops.convert_to_numpy(layer(z))
        errors[norm] = np.abs(y - expected).max() / np.abs(expected).max()
    assert (
        errors["batch_as"] < FLOAT64_RTOL or keras.backend.standardize_dtype(y.dtype) != "float64"
    )
    assert errors["batch"] > 0.05, errors


# -- arguments and files ----------------------------------------------------------
def test_s_kernel_size_config():
    layer = PolynomialConv1D(2, 3, form="ncp", degree=3, s_kernel_size=3)
    config = layer.get_config()
    assert config["s_kernel_size"] == (3,)
    assert PolynomialConv1D.from_config(config).s_kernel_size == (3,)
    # A configuration written before s_kernel_size: the 1×1 Sₙ it was built with.
    del config["s_kernel_size"]
    assert PolynomialConv1D.from_config(config).s_kernel_size == (1,)
    assert PolynomialConv2D(2, 3, form="ncp").get_config()["s_kernel_size"] == (1, 1)
    layer = PolynomialConv2D(2, 3, form="ncp", degree=3, s_kernel_size=(3, 5))
    layer.build((None, 8, 8, 1))
    assert tuple(layer.mix_kernel_3.shape) == (3, 5, 2, 2)


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (PolynomialConv2D, dict(filters=2, kernel_size=3, form="ccp", s_kernel_size=3)),
        (PolynomialConv2D, dict(filters=2, kernel_size=3, form="ncp", s_kernel_size=2)),
        (PolynomialConv2D, dict(filters=2, kernel_size=3, normalization="batch_as")),
        (PolynomialConv2D, dict(filters=2, kernel_size=3, normalization="instance_a")),
        (PolynomialConv2D, dict(filters=2, kernel_size=3, use_skip="residual")),
        (PolynomialConv2D, dict(filters=2, kernel_size=3, form="ncp", use_skip="always")),
        (PolynomialDense, dict(units=2, form="ncp", normalization="instance_a")),
    ],
)
def test_refused(cls, kwargs):
    with pytest.raises(ValueError):
        cls(**kwargs)


def test_spatial_ncp_round_trip(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            PolynomialConv2D(
                3,
                3,
                padding="same",
                degree=3,
                form="ncp",
                s_kernel_size=3,
                use_skip="residual",
                normalization="batch_as",
                name="ncp",
            ),
            PolynomialConv2D(
                3,
                3,
                degree=2,
                form="ncp",
                s_kernel_size=3,
                normalization="instance_a",
                dilation_rate=2,
            ),
        ]
    )
    rng = np.random.default_rng(0)
    for weight in model.weights:
        weight.assign(weight.numpy() + 0.1 * rng.normal(size=weight.shape))
    x = rng.uniform(size=(2, 6, 6, 2)).astype("float32")
    path = str(tmp_path / "spatial.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("ncp").s_kernel_size == (3, 3)
    assert loaded.get_layer("ncp").use_skip == "residual"
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_v0_3_0_file():
    """A model of NCP layers saved by 0.3.0 (1×1 Sₙ) loads with the same outputs."""
    model = keras.saving.load_model(os.path.join(FIXTURE_030, "ncp_variants.keras"))
    data = np.load(os.path.join(FIXTURE_030, "ncp_variants.npz"))
    layers = [layer for layer in model.layers if isinstance(layer, PolynomialBase)]
    assert len(layers) == 6
    for layer in layers:
        if hasattr(layer, "s_kernel_size"):
            assert layer.s_kernel_size == (1,) * layer.rank
    # Written on another CPU (and maybe backend): float32 rounding through the
    # degrees of the polynomial layers (the layer normalizations keep relative errors).
    degree = 3 * 4 * 2 * 2 * 3 * 3
    assert_float32_close(model.predict(data["x"], verbose=0), data["y"], degree=degree)


@pytest.mark.parametrize(
    "form, use_skip, degrees",
    [
        ("ncp", False, [4]),
        ("ncp", True, [1, 2, 3, 4]),
        ("ncp", "residual", [2, 3, 4]),
        ("ccp", False, [1, 2, 3, 4]),
        ("product", False, [4]),
    ],
)
def test_degrees_without_bias(form, use_skip, degrees):
    """README's degrees of a layer with ``use_bias=False``: the coefficients of
    ``t ↦ f(t z)``, a polynomial of degree 4, fitted on 9 points."""
    z = float64_images((1, 4), seed=0)
    layer = PolynomialDense(
        3, degree=4, form=form, use_skip=use_skip, use_bias=False, dtype="float64"
    )
    layer.build(z.shape)
    rng = np.random.default_rng(1)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    ts = np.linspace(-1.5, 1.5, 9)
    ys = [keras.ops.convert_to_numpy(layer(keras.ops.multiply(t, z)))[0, 0] for t in ts]
    coefficients = np.abs(np.polynomial.polynomial.polyfit(ts, ys, 4))
    rtol = 1e-8 if keras.backend.standardize_dtype(layer(z).dtype) == "float64" else 1e-3
    present = [d for d in range(5) if coefficients[d] > rtol * coefficients.max()]
    assert present == degrees
