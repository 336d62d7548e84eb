import keras
import numpy as np
import pytest

from conftest import float64_images
from conftest import homogeneity_rtol
from conftest import random_images
from pinet_keras import PolyNet
from pinet_keras import PolynomialConv2D
from pinet_keras import polynomial_degree
from pinet_keras.models import ORIGINAL_BLOCKS


def test_default_is_the_original_network():
    model = PolyNet()
    assert model.count_params() == 1_220_362
    blocks = [layer for layer in model.layers if isinstance(layer, PolynomialConv2D)]
    expected = [
        (16, (3, 3), (1, 1), "same", (28, 28, 16)),
        (32, (4, 4), (2, 2), "same", (14, 14, 32)),
        (64, (4, 4), (2, 2), "same", (7, 7, 64)),
        (128, (2, 2), (1, 1), "valid", (6, 6, 128)),
        (256, (4, 4), (2, 2), "same", (3, 3, 256)),
    ]
    assert len(blocks) == 5
    for block, (filters, kernel, strides, padding, shape) in zip(blocks, expected):
        assert (block.filters, block.kernel_size, block.strides, block.padding) == (
            filters,
            kernel,
            strides,
            padding,
        )
        assert tuple(block.output.shape[1:]) == shape
        assert block.use_bias and not block.use_skip and block.normalization is None
    assert model.output_shape == (None, 10)
    assert polynomial_degree(model) == 32
    # No activation anywhere.
    for layer in model.layers:
        activation = getattr(layer, "activation", None)
        assert activation is None or activation.__name__ == "linear"


def test_rgb_input_and_variants():
    model = PolyNet(input_shape=(32, 32, 3), num_classes=7, width=8, num_blocks=3, dropout=0.2)
    assert model.output_shape == (None, 7)
    assert polynomial_degree(model) == 8
    assert model.predict(random_images((2, 32, 32, 3)), verbose=0).shape == (2, 7)
    variant = PolyNet(use_skip=True, normalization="batch", product_scale=0.1)
    block = variant.get_layer("block1")
    assert block.use_skip and block.normalization == "batch" and block.product_scale == 0.1


def test_preprocessing_layers_come_first():
    from pinet_keras.models import pixel_preprocessing

    assert PolyNet(input_shape=(8, 8, 1), width=4).layers[0].name == "block1"  # none by default
    layers = pixel_preprocessing((8, 8, 1), augmentation=(1, False))
    model = PolyNet(input_shape=(8, 8, 1), width=4, preprocessing=layers)
    assert (
        all(a is b for a, b in zip(model.layers, layers))
        and model.layers[len(layers)].name == "block1"
    )
    assert model.count_params() == PolyNet(input_shape=(8, 8, 1), width=4).count_params()
    pixels = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 1)).astype("uint8")
    assert model.predict(pixels, verbose=0).shape == (2, 10)


def test_small_input_works_for_digits():
    model = PolyNet(input_shape=(8, 8, 1), width=4)
    assert model.predict(random_images((2, 8, 8, 1)), verbose=0).shape == (2, 10)


def test_bias_free_polynet_is_homogeneous_of_degree_32():
    model = PolyNet(use_bias=False, dtype="float64")
    assert all(not w.path.endswith("bias") for w in model.weights)
    x = float64_images((3, 28, 28, 1))
    y = model(x)
    fx = keras.ops.convert_to_numpy(y)
    assert np.abs(fx).max() > 0
    for t in (2.0, -0.5, 1.5):
        ftx = keras.ops.convert_to_numpy(model(t * x))
        np.testing.assert_allclose(ftx, t**32 * fx, rtol=homogeneity_rtol(y, 1e-8, 1e-4))
    # Not homogeneous of degree 31 or 33: the check has teeth.
    ftx = keras.ops.convert_to_numpy(model(2.0 * x))
    assert not np.allclose(ftx, 2.0**31 * fx, rtol=1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_classes=0), "num_classes"),
        (dict(width=-4), "width"),
        (dict(num_blocks=6), "num_blocks"),
        (dict(input_shape=(28, 28)), "input_shape"),
        (dict(dropout=1.0), "dropout"),
        (dict(blocks=[(1, 3, 1)]), "blocks"),
        (dict(input_shape=(2, 2, 1), blocks=[(1, 3, 1, "valid")]), "too small|negative"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PolyNet(**kwargs)


def test_polynomial_degree_of_graphs_and_non_polynomials():
    inputs = keras.Input((8,))
    a = keras.layers.Dense(4)(inputs)
    product = keras.layers.Multiply()([a, keras.layers.Dense(4)(inputs)])  # degree 2
    cube = keras.layers.Multiply()([product, a])  # degree 3
    outputs = keras.layers.Add()([cube, a])
    assert polynomial_degree(keras.Model(inputs, outputs)) == 3

    relu = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu")])
    with pytest.raises(ValueError, match="relu"):
        polynomial_degree(relu)
    pooled = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.MaxPooling2D()])
    with pytest.raises(ValueError, match="not known to be polynomial"):
        polynomial_degree(pooled)
    assert polynomial_degree(PolynomialConv2D(2, 3)) == 2


def test_original_network_at_32x32x3():
    # PyTorch's network: block 5 maps 7×7 to 3×3 with padding=1; "same" gives 4×4.
    model = PolyNet(input_shape=(32, 32, 3), blocks=ORIGINAL_BLOCKS)
    assert model.count_params() == 1_220_938
    assert tuple(model.get_layer("block5").output.shape[1:]) == (3, 3, 256)
    assert model.get_layer("block5").explicit_padding == ((1, 1), (1, 1))
    assert model.get_layer("block5").padding == ((1, 1), (1, 1))
    same = PolyNet(input_shape=(32, 32, 3))
    assert same.count_params() == 1_238_858
    assert tuple(same.get_layer("block5").output.shape[1:]) == (4, 4, 256)


def test_original_blocks_are_the_default_network_at_28x28():
    keras.utils.set_random_seed(0)
    model = PolyNet(width=2)
    original = PolyNet(width=2, blocks=ORIGINAL_BLOCKS)
    # "same" and "valid" where they equal PyTorch's padding: no padding op.
    assert all(layer.explicit_padding is None for layer in original.layers[:5])
    original.set_weights(model.get_weights())
    x = random_images((3, 28, 28, 1))
    np.testing.assert_array_equal(model.predict(x, verbose=0), original.predict(x, verbose=0))


def test_original_blocks_need_12x12():
    PolyNet(input_shape=(12, 12, 1), width=1, blocks=ORIGINAL_BLOCKS)
    with pytest.raises(ValueError, match=r"too small for block 5 \(row \(16, 4, 2, 1\)\)"):
        PolyNet(input_shape=(11, 11, 1), width=1, blocks=ORIGINAL_BLOCKS)


@pytest.mark.parametrize("form", ["product", "ccp", "ncp"])
@pytest.mark.parametrize("degree", [2, 3])
def test_form_and_degree_of_every_block(form, degree):
    model = PolyNet(input_shape=(12, 12, 1), width=2, num_blocks=2, form=form, degree=degree)
    blocks = [model.get_layer("block1"), model.get_layer("block2")]
    assert all(block.form == form and block.degree == degree for block in blocks)
    assert polynomial_degree(model) == degree**2
    assert np.isfinite(model.predict(random_images((2, 12, 12, 1)), verbose=0)).all()


@pytest.mark.parametrize(
    "blocks, message",
    [
        ([(1, 3, 1, 1), (2, 4, 2)], r"blocks\[1\] must be a row"),
        ([(1, 3, 1, 1), (2, 0, 2, 1)], r"blocks\[1\]\[1\] \(kernel\) must be a positive int"),
        ([(1.5, 3, 1, 1)], r"blocks\[0\]\[0\] \(multiplier\)"),
        ([(1, 3, 1, 1), (1, 3, True, 1)], r"blocks\[1\]\[2\] \(stride\)"),
        ([(1, 3, 1, "full")], r"blocks\[0\]\[3\] \(padding\).*'full'"),
        ([(1, 3, 1, -1)], r"blocks\[0\]\[3\] \(padding\)"),
        ("same", "non-empty list"),
        ([], "non-empty list"),
    ],
)
def test_blocks_rows_are_checked(blocks, message):
    with pytest.raises(ValueError, match=message):
        PolyNet(blocks=blocks)
