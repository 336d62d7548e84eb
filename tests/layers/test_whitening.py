"""PatchWhitening: a frozen 2x2 convolution that whitens the patches it was adapted to."""

import keras
import numpy as np
import pytest

from pinet_keras import polynomial_degree
from pinet_keras.layers import PatchWhitening


def correlated_images(count=200, size=12, channels=3, seed=0):
    """Images whose neighbouring pixels and channels are strongly correlated."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(count, size + 1, size + 1, 1))
    smooth = base[:, 1:, 1:] + base[:, :-1, :-1] + 0.3 * base[:, 1:, :-1]
    return smooth * np.array([1.0, 0.8, 0.5])[:channels] + 0.1 * rng.normal(
        size=(count, size, size, channels)
    )


def test_adapted_outputs_are_white_on_the_adapted_images():
    images = correlated_images()
    layer = PatchWhitening(2, epsilon=1e-8)
    layer.adapt(images)
    outputs = keras.ops.convert_to_numpy(layer(images.astype("float32")))
    assert outputs.shape == (200, 11, 11, 24)
    first_half = outputs[..., :12].reshape(-1, 12)
    moment = first_half.T @ first_half / len(first_half)
    np.testing.assert_allclose(moment, np.eye(12), atol=0.02)
    # The second half is the first with the other sign.
    np.testing.assert_allclose(outputs[..., 12:], -outputs[..., :12], atol=1e-5)


def test_kernel_is_frozen_and_saved(tmp_path):
    images = correlated_images(40)
    inputs = keras.Input((12, 12, 3))
    layer = PatchWhitening(2)
    model = keras.Model(inputs, keras.layers.Dense(2)(layer(inputs)))
    layer.adapt(images)
    assert [w.name for w in model.trainable_weights if "whitening" in w.path] == ["bias"]
    assert not layer.kernel.trainable
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = images[:4].astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert polynomial_degree(model) == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(patch_size=0), "patch_size"),
        (dict(patch_size=True), "patch_size"),
        (dict(epsilon=0), "epsilon"),
    ],
)
def test_wrong_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PatchWhitening(**kwargs)


def test_adapt_refuses_what_is_not_images():
    with pytest.raises(ValueError, match=r"images \(N, H, W, C\)"):
        PatchWhitening(3).adapt(np.zeros((4, 2, 2, 3)))
