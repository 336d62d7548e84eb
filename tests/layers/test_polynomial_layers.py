"""The Π-net layer family: Keras' layer test, a NumPy reference of each form, degrees, files.

Keras' own ``run_layer_test`` (``keras.src.testing.TestCase``, reached through
`pinet_keras._compat.layer_test_case`; Keras >= 3.15, < 4 as setup.cfg pins)
runs every layer over data formats, paddings, strides, degrees, forms and
dtype policies (its mixed-precision check), with the expected weight counts.
"""

import os

import keras
import numpy as np
import pytest
from absl.testing import parameterized

import conftest
from conftest import BACKEND
from conftest import assert_float32_close
from conftest import random_images
from pinet_keras import BranchUniform
from pinet_keras import PolyNet
from pinet_keras import PolynomialConv1D
from pinet_keras import PolynomialConv2D
from pinet_keras import PolynomialConv3D
from pinet_keras import PolynomialDense
from pinet_keras import _compat
from pinet_keras import polynomial_degree
from pinet_keras.export.fold import FoldedPolynomial
from pinet_keras.export.fold import fold_polynomial_layers
from pinet_keras.layers import PolynomialBase
from pinet_keras.models import ORIGINAL_BLOCKS

FIXTURES = os.path.join(conftest.FIXTURES, "v0_2_0")
CONVOLUTIONS = {1: PolynomialConv1D, 2: PolynomialConv2D, 3: PolynomialConv3D}


def expected_weights(degree, form, use_bias=True, normalization=None, product_scale=None):
    """(trainable, non-trainable) weight counts, counted by hand from the recursions."""
    per_map = 2 if use_bias else 1
    trainable = degree * per_map  # the N branches
    if form == "ncp":
        trainable += (degree - 1) * per_map  # S_n, b_n
    if form in ("ccp", "ncp"):
        trainable += per_map  # C, beta
    non_trainable = 0
    if normalization == "batch":
        trainable, non_trainable = trainable + 2, 2
    if product_scale is not None:
        trainable += 1
    return trainable, non_trainable


def _layer_cases():
    cases = []
    for form in ("product", "ccp", "ncp"):
        for degree in (2, 3, 4):
            cases.append(
                dict(
                    testcase_name=f"conv2d_{form}_{degree}",
                    layer_cls=PolynomialConv2D,
                    init_kwargs=dict(filters=3, kernel_size=3, degree=degree, form=form),
                    input_shape=(2, 6, 5, 2),
                    expected_output_shape=(2, 4, 3, 3),
                )
            )
            cases.append(
                dict(
                    testcase_name=f"dense_{form}_{degree}",
                    layer_cls=PolynomialDense,
                    init_kwargs=dict(units=3, degree=degree, form=form),
                    input_shape=(2, 4, 5),
                    expected_output_shape=(2, 4, 3),
                )
            )
    more = [
        (
            "conv1d_same_stride2",
            PolynomialConv1D,
            dict(filters=4, kernel_size=3, strides=2, padding="same"),
            (2, 7, 2),
            (2, 4, 4),
        ),
        (
            "conv1d_torch_padding_ncp",
            PolynomialConv1D,
            dict(filters=2, kernel_size=3, padding=1, form="ncp", degree=3),
            (2, 7, 2),
            (2, 7, 2),
        ),
        (
            "conv2d_pairs_channels_first",
            PolynomialConv2D,
            dict(filters=2, kernel_size=3, padding=((0, 1), (2, 0)), data_format="channels_first"),
            (2, 3, 6, 5),
            (2, 2, 5, 5),
        ),
        (
            "conv2d_torch_padding_stride2",
            PolynomialConv2D,
            dict(filters=2, kernel_size=4, strides=2, padding=1),
            (2, 7, 7, 1),
            (2, 3, 3, 2),
        ),
        (
            "conv2d_dilation_ccp",
            PolynomialConv2D,
            dict(filters=2, kernel_size=2, dilation_rate=2, form="ccp", degree=3),
            (2, 6, 6, 1),
            (2, 4, 4, 2),
        ),
        (
            "conv2d_channels_first_ncp_bn",
            PolynomialConv2D,
            dict(
                filters=2,
                kernel_size=3,
                padding="same",
                data_format="channels_first",
                form="ncp",
                normalization="batch",
                product_scale=0.5,
                use_skip=True,
            ),
            (2, 3, 5, 5),
            (2, 2, 5, 5),
        ),
        (
            "conv2d_full_product",
            PolynomialConv2D,
            dict(
                filters=2,
                kernel_size=3,
                use_skip=True,
                normalization="batch",
                product_scale=0.1,
                output_range=(-2.0, 3.0),
            ),
            (2, 5, 5, 1),
            (2, 3, 3, 2),
        ),
        (
            "conv3d_torch_padding",
            PolynomialConv3D,
            dict(filters=2, kernel_size=3, padding=(1, 0, 1), degree=3),
            (2, 4, 4, 4, 1),
            (2, 4, 2, 4, 2),
        ),
        (
            "conv3d_channels_first_ccp",
            PolynomialConv3D,
            dict(filters=2, kernel_size=2, strides=2, data_format="channels_first", form="ccp"),
            (2, 1, 4, 4, 4),
            (2, 2, 2, 2, 2),
        ),
        (
            "dense_bias_free_ncp_bn",
            PolynomialDense,
            dict(units=3, use_bias=False, form="ncp", degree=3, normalization="batch"),
            (2, 5),
            (2, 3),
        ),
    ]
    for name, cls, kwargs, shape, output_shape in more:
        cases.append(
            dict(
                testcase_name=name,
                layer_cls=cls,
                init_kwargs=kwargs,
                input_shape=shape,
                expected_output_shape=output_shape,
            )
        )
    return cases


class PolynomialLayerTest(_compat.layer_test_case()):
    @parameterized.named_parameters(*_layer_cases())
    def test_keras_layer_test(self, layer_cls, init_kwargs, input_shape, expected_output_shape):
        trainable, non_trainable = expected_weights(
            init_kwargs.get("degree", 2),
            init_kwargs.get("form", "product"),
            init_kwargs.get("use_bias", True),
            init_kwargs.get("normalization"),
            init_kwargs.get("product_scale"),
        )
        channels_first = init_kwargs.get("data_format") == "channels_first"
        if channels_first and BACKEND == "tensorflow":
            pytest.skip("TensorFlow has no channels_first convolution on the CPU (as Keras' own)")
        self.run_layer_test(
            layer_cls,
            init_kwargs=init_kwargs,
            input_shape=input_shape,
            expected_output_shape=expected_output_shape,
            expected_num_trainable_weights=trainable,
            expected_num_non_trainable_weights=non_trainable,
            expected_num_non_trainable_variables=non_trainable,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=layer_cls is PolynomialDense,
        )

    @parameterized.product(
        policy=["float64", "bfloat16", "mixed_bfloat16", "mixed_float16"],
        form=["product", "ccp", "ncp"],
    )
    def test_dtype_policies(self, policy, form):
        compute = keras.dtype_policies.get(policy).compute_dtype
        for layer_cls, kwargs, shape, output_shape in (
            (
                PolynomialConv2D,
                dict(filters=2, kernel_size=3, padding=1),
                (2, 5, 5, 2),
                (2, 5, 5, 2),
            ),
            (PolynomialDense, dict(units=2, normalization="batch"), (2, 3), (2, 2)),
        ):
            trainable, non_trainable = expected_weights(3, form, True, kwargs.get("normalization"))
            self.run_layer_test(
                layer_cls,
                init_kwargs=dict(kwargs, degree=3, form=form, dtype=policy),
                input_shape=shape,
                input_dtype="float64" if policy == "float64" else "float32",
                expected_output_shape=output_shape,
                expected_output_dtype=compute,
                expected_num_trainable_weights=trainable,
                expected_num_non_trainable_weights=non_trainable,
                run_training_check=False,
            )


def test_weight_counts_by_hand():
    # The counting function above, checked on numbers worked out on paper:
    # NCP of degree 3 with bias: A1..A3 (6), S2, S3 with b (4), C, beta (2).
    assert expected_weights(3, "ncp") == (12, 0)
    assert expected_weights(2, "product", normalization="batch", product_scale=1.0) == (7, 2)
    assert expected_weights(4, "ccp", use_bias=False) == (5, 0)


# -- NumPy reference ----------------------------------------------------------


def np_same_padding(size, kernel, stride, dilation):
    extent = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


def np_conv(x, kernel, bias, strides, pads, dilation):
    """Channels-last convolution of any rank: a sum over kernel positions of matmuls."""
    rank = kernel.ndim - 2
    x = np.pad(x, [(0, 0), *pads, (0, 0)])
    sizes = [
        (x.shape[1 + i] - (kernel.shape[i] - 1) * dilation[i] - 1) // strides[i] + 1
        for i in range(rank)
    ]
    y = np.zeros((x.shape[0], *sizes, kernel.shape[-1]))
    for position in np.ndindex(*kernel.shape[:rank]):
        window = tuple(
            slice(
                position[i] * dilation[i],
                position[i] * dilation[i] + (sizes[i] - 1) * strides[i] + 1,
                strides[i],
            )
            for i in range(rank)
        )
        y += x[(slice(None),) + window] @ kernel[position]
    return y if bias is None else y + bias


def np_layer(layer, x):
    """``layer(x)`` at inference, computed in float64 NumPy from its weights."""
    w = {
        v.path.split("/", 1)[1]: np.asarray(keras.ops.convert_to_numpy(v), "float64")
        for v in layer.weights
    }
    x = np.asarray(x, "float64")
    channels_first = getattr(layer, "data_format", None) == "channels_first"
    if channels_first:
        x = np.moveaxis(x, 1, -1)

    def linear(name):
        kernel, bias = w[f"{name}/kernel"], w.get(f"{name}/bias")
        if isinstance(layer, PolynomialDense):
            return x @ kernel if bias is None else x @ kernel + bias
        if layer.padding == "same":
            pads = [
                np_same_padding(n, k, s, d)
                for n, k, s, d in zip(
                    x.shape[1:-1], layer.kernel_size, layer.strides, layer.dilation_rate
                )
            ]
        elif layer.padding == "valid":
            pads = [(0, 0)] * layer.rank
        else:
            pads = layer.padding
        return np_conv(x, kernel, bias, layer.strides, pads, layer.dilation_rate)

    def channel_map(h, kernel, bias):
        return h @ w[kernel] + w.get(bias, 0.0)

    names = [f"branch_{letter}" for letter in "abcdefgh"[: layer.degree]]
    maps = [linear(name) for name in names]
    h = maps[0]
    for n in range(2, layer.degree + 1):
        factor = channel_map(h, f"mix_kernel_{n}", f"mix_bias_{n}") if layer.form == "ncp" else h
        term = factor * maps[n - 1]
        if n == layer.degree:
            if layer.normalization == "batch":
                norm = {k.split("/")[-1]: v for k, v in w.items() if "product_norm" in k}
                scale = norm["gamma"] / np.sqrt(norm["moving_variance"] + 1e-3)
                term = (term - norm["moving_mean"]) * scale + norm["beta"]
            if layer.product_scale is not None:
                term = term * w["product_scale"]
        h = term + h if layer.form == "ccp" or layer.use_skip else term
    if layer.form != "product":
        h = channel_map(h, "projection_kernel", "projection_bias")
    return np.moveaxis(h, -1, 1) if channels_first else h


def _perturb(layer, seed=0):
    """Every weight moved from its initial value (the identity maps, ones and zeros too)."""
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        value = keras.ops.convert_to_numpy(v)
        if "variance" in v.path:
            v.assign(rng.uniform(0.5, 2.0, value.shape).astype(value.dtype))
        else:
            v.assign((value + 0.2 * rng.normal(size=value.shape)).astype(value.dtype))


REFERENCE_CASES = [
    (PolynomialDense, dict(units=3), (4, 5)),
    (PolynomialConv1D, dict(filters=3, kernel_size=3, padding=1), (2, 7, 2)),
    (PolynomialConv2D, dict(filters=3, kernel_size=3, strides=2, padding="same"), (2, 7, 6, 2)),
    (PolynomialConv2D, dict(filters=2, kernel_size=4, strides=2, padding=1), (2, 7, 7, 1)),
    (
        PolynomialConv2D,
        dict(filters=2, kernel_size=2, padding=((1, 0), (0, 2)), dilation_rate=2),
        (2, 6, 5, 2),
    ),
    (PolynomialConv3D, dict(filters=2, kernel_size=2, padding="valid"), (2, 4, 3, 4, 1)),
]


@pytest.mark.parametrize("form", ["product", "ccp", "ncp"])
@pytest.mark.parametrize("degree", [2, 3, 4])
@pytest.mark.parametrize("case", range(len(REFERENCE_CASES)))
def test_matches_numpy_reference(case, degree, form):
    cls, kwargs, shape = REFERENCE_CASES[case]
    layer = cls(**kwargs, degree=degree, form=form)
    x = random_images(shape, seed=case)
    layer(x)
    _perturb(layer, seed=degree)
    y = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(y, np_layer(layer, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("form, use_skip", [("product", True), ("ncp", True), ("ncp", False)])
def test_options_match_numpy_reference(form, use_skip):
    layer = PolynomialConv2D(
        3,
        3,
        padding="same",
        degree=3,
        form=form,
        use_skip=use_skip,
        normalization="batch",
        product_scale=0.5,
    )
    x = random_images((2, 5, 5, 2))
    layer(x)
    _perturb(layer)
    y = keras.ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_allclose(y, np_layer(layer, x), rtol=1e-4, atol=1e-4)


def test_numpy_reference_is_not_trivially_equal():
    # The reference must catch a wrong recursion: NCP's reference differs from CCP's.
    layer = PolynomialDense(3, degree=3, form="ncp")
    x = random_images((4, 5))
    layer(x)
    _perturb(layer)
    reference = np_layer(layer, x)
    layer.form = "ccp"
    assert not np.allclose(reference, np_layer(layer, x), rtol=1e-3)


@pytest.mark.skipif(BACKEND == "tensorflow", reason="TensorFlow: no channels_first conv on CPU")
def test_channels_first_is_channels_last_transposed():
    x = random_images((2, 6, 5, 2))
    last = PolynomialConv2D(3, 3, padding=1, degree=3, form="ncp")
    first = PolynomialConv2D(3, 3, padding=1, degree=3, form="ncp", data_format="channels_first")
    y_last = keras.ops.convert_to_numpy(last(x))
    first(np.moveaxis(x, -1, 1))
    first.set_weights(last.get_weights())
    y_first = keras.ops.convert_to_numpy(first(np.moveaxis(x, -1, 1)))
    np.testing.assert_allclose(np.moveaxis(y_first, 1, -1), y_last, rtol=1e-5, atol=1e-6)


# -- Degree -------------------------------------------------------------------


def _coefficients(layer, x, degree):
    """Coefficients of the polynomial ``c -> layer(c x)`` (float64), lowest first."""
    cs = np.arange(degree + 3, dtype="float64") - 1.0
    values = np.stack(
        [keras.ops.convert_to_numpy(layer(keras.ops.convert_to_tensor(c * x))) for c in cs]
    )
    return np.polynomial.polynomial.polyfit(cs, values.reshape(len(cs), -1), degree + 1)


LAYERS_FOR_DEGREE = [
    (PolynomialDense, dict(units=3), (3, 4)),
    (PolynomialConv1D, dict(filters=2, kernel_size=2, padding=1), (2, 5, 2)),
    (PolynomialConv2D, dict(filters=2, kernel_size=3, padding="same"), (2, 5, 5, 1)),
]


@pytest.mark.parametrize("form", ["product", "ncp"])
@pytest.mark.parametrize("degree", [2, 3, 4])
@pytest.mark.parametrize("case", range(len(LAYERS_FOR_DEGREE)))
def test_bias_free_layer_is_homogeneous_of_degree_n(case, degree, form):
    keras.utils.set_random_seed(case)
    cls, kwargs, shape = LAYERS_FOR_DEGREE[case]
    layer = cls(**kwargs, degree=degree, form=form, use_bias=False, dtype="float64")
    x = random_images(shape, dtype="float64")
    y = keras.ops.convert_to_numpy(layer(keras.ops.convert_to_tensor(x)))
    scaled = keras.ops.convert_to_numpy(layer(keras.ops.convert_to_tensor(-1.5 * x)))
    np.testing.assert_allclose(scaled, (-1.5) ** degree * y, rtol=1e-9, atol=1e-15)
    # Not trivially homogeneous: the output is far from 0 (the default initialization
    # shrinks the later factors at degree N, so a degree-4 output can be ~1e-4).
    assert np.abs(y).max() > 1e-7
    assert layer.degree == polynomial_degree(layer) == degree


@pytest.mark.parametrize("form", ["product", "ccp", "ncp"])
@pytest.mark.parametrize("degree", [2, 3, 4])
def test_layer_is_a_polynomial_of_degree_exactly_n(degree, form):
    # With biases (and CCP's skip) every degree up to N appears, none above.
    layer = PolynomialDense(3, degree=degree, form=form, dtype="float64")
    x = random_images((3, 4), dtype="float64")
    layer(keras.ops.convert_to_tensor(x))
    _perturb(layer)
    coefficients = np.abs(_coefficients(layer, x, degree))
    assert coefficients[degree + 1].max() < 1e-8 * coefficients.max()
    assert coefficients[degree].max() > 1e-3 * coefficients.max()


def test_polynet_degree():
    assert polynomial_degree(PolyNet(input_shape=(12, 12, 1), width=1, degree=3)) == 3**5


# -- Arguments, initialization, fused branches --------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(degree=1), "`degree` must be an int >= 2"),
        (dict(degree=2.0), "`degree` must be an int >= 2"),
        (dict(form="cp"), "`form` must be one of"),
        (dict(form="ccp", use_skip=True), "by definition"),
        (dict(padding="full"), "`padding` must be"),
        (dict(padding=(1, 1, 1)), "one entry per spatial axis"),
        (dict(padding=-1), "non-negative ints"),
        (dict(padding=((1, 2, 3), 1)), "(before, after) pairs"),
        (dict(strides=2, dilation_rate=2), "not compatible"),
        (dict(kernel_size=0), "kernel_size"),
        (dict(output_range=(1.0, -1.0)), "`output_range` must be None or (low, high)"),
        (dict(output_range=(0.0, float("inf"))), "two finite numbers"),
        (dict(output_range=3.0), "`output_range` must be None or (low, high)"),
        (dict(output_range=(0, 1, 2)), "`output_range` must be None or (low, high)"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PolynomialConv2D(2, **{"kernel_size": 3, **kwargs})


@pytest.mark.parametrize(
    "cls, shape", [(PolynomialConv2D, (3, 5, 5, 2)), (PolynomialDense, (3, 4))]
)
def test_output_range_clips_at_inference_only(cls, shape):
    layer = cls(3, **({"kernel_size": 3} if cls is PolynomialConv2D else {}), degree=3)
    x = 10.0 * random_images(shape)
    free = np.asarray(layer(x))
    assert np.abs(free).max() > 1.0  # so that the clip below has something to do
    layer.output_range = (-0.5, 1.0)
    np.testing.assert_array_equal(np.asarray(layer(x)), np.clip(free, -0.5, 1.0))
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), np.clip(free, -0.5, 1.0))
    np.testing.assert_array_equal(np.asarray(layer(x, training=True)), free)
    config = layer.get_config()
    assert config["output_range"] == [-0.5, 1.0]
    assert cls.from_config(config).output_range == (-0.5, 1.0)


def test_padding_conventions():
    assert PolynomialConv2D(2, 3, padding=1).padding == ((1, 1), (1, 1))
    assert PolynomialConv2D(2, 3, padding=(1, 2)).padding == ((1, 1), (2, 2))
    assert PolynomialConv1D(2, 3, padding=[[0, 2]]).padding == ((0, 2),)
    assert PolynomialConv2D(2, 3, padding="SAME").padding == "same"
    # Applied as "same" / "valid" where they are equal, explicitly elsewhere.
    layer = PolynomialConv2D(2, 3, padding=1)
    layer.build((None, 8, 8, 1))
    assert layer.explicit_padding is None and layer.branch_a.padding == "same"
    layer = PolynomialConv2D(2, 4, strides=2, padding=1)
    layer.build((None, 7, 7, 1))
    assert layer.explicit_padding == ((1, 1), (1, 1)) and layer.branch_a.padding == "valid"
    layer = PolynomialConv2D(2, 3, padding=1)
    layer.build((None, None, None, 1))  # unknown sizes: explicit
    assert layer.explicit_padding == ((1, 1), (1, 1))


def test_input_spec_fixes_the_channels_once_built():
    layer = PolynomialConv2D(2, 3)
    layer(random_images((1, 5, 5, 3)))
    with pytest.raises(ValueError, match="axis -1"):
        layer(random_images((1, 5, 5, 2)))
    dense = PolynomialDense(2)
    dense(random_images((1, 4)))
    with pytest.raises(ValueError, match="axis -1"):
        dense(random_images((1, 5)))


def test_dense_keeps_masks_like_keras_dense():
    inputs = keras.Input((4, 3))
    masked = keras.layers.Masking(0.0)(inputs)
    for layer in (keras.layers.Dense(2), PolynomialDense(2, degree=3, form="ncp")):
        assert layer.supports_masking
        assert layer(masked)._keras_mask is not None


def test_weights_are_made_in_build():
    layer = PolynomialConv2D(2, 3, degree=3, form="ncp", normalization="batch", product_scale=1.0)
    assert not layer.weights and not hasattr(layer, "branch_a")
    layer.build((None, 5, 5, 1))
    names = [v.path.split("/", 1)[1] for v in layer.weights]
    branches = [n for n in names if n.startswith("branch_")]
    assert branches == [f"branch_{x}/{w}" for x in "abc" for w in ("kernel", "bias")]
    assert "product_norm/gamma" in names and "product_scale" in names
    assert {"mix_kernel_2", "mix_bias_3", "projection_kernel", "projection_bias"} <= set(names)
    assert layer.product_scale == 1.0 and layer.product_scale_weight.path.endswith("product_scale")


@pytest.mark.parametrize("form", ["product", "ccp", "ncp"])
def test_default_initialization_starts_near_a_linear_map(form):
    # xₙ ≈ xₙ₋₁ at initialization: the layer's output has the scale of its first branch.
    layer = PolynomialConv2D(16, 3, padding="same", degree=4, form=form)
    x = random_images((8, 12, 12, 4))
    y = keras.ops.convert_to_numpy(layer(x))
    first = keras.ops.convert_to_numpy(layer.branch_a(x))
    ratio = np.std(y) / np.std(first)
    assert 0.5 < ratio < 3.0, ratio
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer.branch_b.bias), 0.0 if form == "ccp" else 1.0
    )


@pytest.mark.parametrize("degree", [2, 3, 4])
def test_other_branches_bound_shrinks_with_the_degree(degree):
    # Bound 1/((N-1) sqrt(fan_in)): at N = 2 PyTorch's, as in 0.2.
    layer = PolynomialConv2D(64, 3, degree=degree)
    layer.build((None, 8, 8, 4))
    bound = 1.0 / ((degree - 1) * np.sqrt(3 * 3 * 4))
    for branch in layer.branches()[1:]:
        kernel = np.abs(keras.ops.convert_to_numpy(branch.kernel))
        assert 0.9 * bound < kernel.max() <= bound
    first = np.abs(keras.ops.convert_to_numpy(layer.branch_a.kernel))
    assert first.max() > 1.5 / np.sqrt(36)  # LeCun uniform: sqrt(3 / fan_in)


@pytest.mark.parametrize(
    "cls, kwargs, shape",
    [
        (PolynomialConv2D, dict(filters=3, kernel_size=3, strides=2, padding=1), (2, 7, 7, 2)),
        (PolynomialDense, dict(units=3), (2, 5)),
    ],
)
@pytest.mark.parametrize("form", ["product", "ncp"])
def test_fused_branches_compute_the_same(cls, kwargs, shape, form):
    layer = cls(**kwargs, degree=3, form=form)
    x = random_images(shape)
    separate = keras.ops.convert_to_numpy(layer(x))
    layer.fuse_branches = not layer.fuse_branches
    fused = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(fused, separate, rtol=1e-5, atol=1e-6)


def test_branch_uniform_is_a_plain_initializer_with_a_complete_config():
    init = BranchUniform(scale=0.5, fan_in=4, seed=3)
    assert not isinstance(init, keras.initializers.RandomUniform)
    assert init.get_config() == {"scale": 0.5, "fan_in": 4, "seed": 3}
    clone = BranchUniform.from_config(init.get_config())
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(init((4, 2))), keras.ops.convert_to_numpy(clone((4, 2)))
    )
    values = keras.ops.convert_to_numpy(init((1000,)))
    assert np.abs(values).max() <= 0.25 and np.abs(values).max() > 0.2
    # As 0.2.0 saved it.
    old = keras.initializers.deserialize(
        {
            "module": None,
            "class_name": "BranchUniform",
            "registered_name": "pinet_keras>BranchUniform",
            "config": {"seed": None, "scale": 1.0, "fan_in": 9},
        }
    )
    assert isinstance(old, BranchUniform) and old.fan_in == 9


def test_compat_layer_test_case_and_standardization():
    # Fails loudly when Keras moves the private pieces the layers use.
    test_case = _compat.layer_test_case()
    assert callable(test_case.run_layer_test)
    assert _compat.standardize_tuple(3, 2, "kernel_size") == (3, 3)
    assert _compat.standardize_data_format(None) == keras.config.image_data_format()


# -- Folding ------------------------------------------------------------------


def test_fold_is_a_method_of_the_layer():
    layer = PolynomialDense(3, use_skip=True, normalization="batch", product_scale=0.5)
    x = random_images((4, 5))
    layer(x)
    _perturb(layer)
    ka, ba, kb, bb, offset = layer.fold()
    a, b = x @ ka + ba, x @ kb + bb
    expected = keras.ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_allclose(a * b + offset, expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="no A ⊙ B \\+ c fold"):
        PolynomialDense(3, form="ccp").fold()


def test_fold_keeps_pytorch_padding_and_skips_other_forms():
    keras.utils.set_random_seed(0)
    model = PolyNet(input_shape=(32, 32, 3), width=1, blocks=ORIGINAL_BLOCKS, normalization="batch")
    x = np.random.default_rng(0).uniform(size=(4, 32, 32, 3)).astype("float32")
    folded = fold_polynomial_layers(model, x)
    assert model.get_layer("block5").explicit_padding == ((1, 1), (1, 1))
    assert folded.get_layer("block5").padding == [[1, 1], [1, 1]]
    np.testing.assert_allclose(
        folded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )
    ccp = PolyNet(input_shape=(12, 12, 1), width=1, num_blocks=2, form="ccp")
    folded = fold_polynomial_layers(ccp)
    assert not any(isinstance(layer, FoldedPolynomial) for layer in folded.layers)


# -- Files --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["polynet_small", "polynet_variants"])
def test_0_2_0_files_load_with_identical_outputs(name):
    model = keras.saving.load_model(os.path.join(FIXTURES, f"{name}.keras"))
    data = np.load(os.path.join(FIXTURES, f"{name}.npz"))
    y = model.predict(data["x"], verbose=0)
    # Written on another CPU (and backend): float32 rounding through the network's degree.
    assert_float32_close(y, data["y"], degree=polynomial_degree(model))
    layers = [layer for layer in model.layers if isinstance(layer, PolynomialBase)]
    assert layers and all(layer.form == "product" and layer.degree == 2 for layer in layers)


@pytest.mark.parametrize("form", ["product", "ccp", "ncp"])
def test_keras_file_round_trip(tmp_path, form):
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            PolynomialConv2D(3, 3, padding=1, degree=3, form=form, normalization="batch"),
            keras.layers.Flatten(),
            PolynomialDense(2, degree=3, form=form),
        ]
    )
    _perturb(model)
    x = random_images((2, 6, 6, 2))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
