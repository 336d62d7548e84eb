"""FastNet: the fast CIFAR layout, polynomial (degree 64) or with ReLUs, and its presets."""

import keras
import numpy as np
import pytest

from pinet_keras import FastNet
from pinet_keras import get_model
from pinet_keras import polynomial_degree
from pinet_keras.layers import PatchWhitening
from pinet_keras.models import adapt_whitening
from pinet_keras.models import pixel_preprocessing

TINY = dict(group_widths=(4, 8, 8))


def test_polynomial_by_default_relu_on_request():
    model = FastNet(**TINY)
    assert model.output_shape == (None, 10)
    assert polynomial_degree(model) == 64
    relu = FastNet(block="relu", **TINY)
    assert any(isinstance(layer, keras.layers.MaxPooling2D) for layer in relu.layers)
    with pytest.raises(ValueError, match="not .*polynomial"):
        polynomial_degree(relu)
    # Average pooling keeps the ReLU network's layout otherwise.
    assert not any(
        isinstance(layer, keras.layers.MaxPooling2D)
        for layer in FastNet(block="relu", pooling="average", **TINY).layers
    )


def test_width_scales_the_groups():
    model = FastNet(width=32)
    widths = [model.get_layer(f"group{g}_conv2").filters for g in (1, 2, 3)]
    assert widths == [32, 128, 128]
    assert get_model("fast_net", (32, 32, 3), 10, width=32).count_params() == model.count_params()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_shape=(8, 8, 1)), "at least 16x16"),
        (dict(group_widths=(4, 8)), "3 values"),
        (dict(block="gelu"), "block"),
        (dict(pooling="min"), "pooling"),
        (dict(logit_scale=0), "logit_scale"),
        (dict(dropout=1.0), "dropout"),
    ],
)
def test_wrong_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FastNet(**{**TINY, **kwargs})


def test_adapt_whitening_sees_the_preprocessed_pixels_and_training_lowers_the_loss():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 96)
    # Two classes told apart by brightness, raw 0..255 pixels.
    pixels = rng.integers(0, 128, (96, 16, 16, 3)) + 120 * labels[:, None, None, None]
    pixels = pixels.astype("float32")
    preprocessing = pixel_preprocessing(
        (16, 16, 3), "standardize", mean=[pixels.mean()] * 3, variance=[pixels.var()] * 3
    )
    keras.utils.set_random_seed(0)
    model = FastNet((16, 16, 3), 2, preprocessing=preprocessing, **TINY)
    assert adapt_whitening(model, pixels) == 1
    layer = next(layer for layer in model.layers if isinstance(layer, PatchWhitening))
    features = keras.Model(model.inputs, layer.output).predict(pixels, verbose=0)
    # Whitened: each direction has unit second moment (of its bias-free output).
    assert np.allclose((features[..., :12] ** 2).mean(axis=(0, 1, 2)), 1.0, atol=0.05)
    model.compile(
        keras.optimizers.SGD(0.05, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(pixels, labels, batch_size=32, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.isfinite(history.history["loss"]).all()
