"""`pinet-keras train --model=fast_net`: the whitened first layer is adapted before training."""

import os

import keras
import numpy as np
from PIL import Image

from conftest import tiny_train_config
from pinet_keras.layers import PatchWhitening
from pinet_keras.training import train


def test_training_adapts_the_whitening_to_the_training_images(tmp_path):
    rng = np.random.default_rng(0)
    for label, name in enumerate(("dark", "light")):
        os.makedirs(tmp_path / "images" / name)
        for i in range(20):
            pixels = rng.integers(0, 128, (16, 16, 3)) + 120 * label
            Image.fromarray(pixels.astype("uint8")).save(tmp_path / "images" / name / f"{i}.png")
    config = tiny_train_config(
        tmp_path / "run",
        dataset="folder",
        data_dir=str(tmp_path / "images"),
        model="fast_net",
        model_overrides=dict(width=4),
        input_normalization="standardize",
        validation_split=0.25,
        batch_size=8,
        epochs=1,
    )
    metrics = train(config)
    assert metrics["model"] == "fast_net"
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    layer = next(layer for layer in model.layers if isinstance(layer, PatchWhitening))
    kernel = keras.ops.convert_to_numpy(layer.kernel).reshape(12, 24)
    # Set from the data: the two halves are the same directions with both signs,
    # which a random initialization is not.
    np.testing.assert_allclose(kernel[:, 12:], -kernel[:, :12], rtol=1e-6)
