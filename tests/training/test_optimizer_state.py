"""Optimizer state survives a save: the weight decay exclusions of `build_optimizer`."""

import keras
import numpy as np
import pytest

from conftest import tensorflow_only

pytestmark = tensorflow_only


def _one_step_after_reload(optimizer, tmp_path):
    """Largest difference between one step of a model and one step of its saved, reloaded copy.

    The model is a one-stage, one-block PiResNet: it has every kind of weight
    that the exclusions name (biases, the normalizations' gamma and beta, the
    learnable product scale) at a quarter of the graph of the small preset.
    """
    from pinet_keras import PiResNet

    keras.utils.set_random_seed(0)
    model = PiResNet((8, 8, 1), 10, stage_widths=(2,), blocks_per_stage=(1,), product_scale=0.1)
    names = {w.path.rsplit("/", 1)[-1] for w in model.trainable_weights}
    assert {"bias", "gamma", "beta", "product_scale"} <= names, names
    model.compile(
        optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    x = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype("float32")
    y = np.arange(16) % 10
    model.train_on_batch(x, y)
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    model.train_on_batch(x, y)
    reloaded.train_on_batch(x, y)
    return max(
        float(np.max(np.abs(a.numpy() - b.numpy())))
        for a, b in zip(model.trainable_variables, reloaded.trainable_variables)
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_weight_decay_exclusions_survive_save_and_load(tmp_path, name):
    from pinet_keras.training import build_optimizer

    optimizer = build_optimizer(name, 0.01, weight_decay=0.5)
    assert "product_scale" in optimizer.get_config()["weight_decay_exclusions"]
    assert _one_step_after_reload(optimizer, tmp_path) < 1e-6


@pytest.mark.slow
def test_plain_keras_adamw_loses_its_exclusions(tmp_path):
    """The failure the subclasses fix: a measurable difference, so the test above can fail."""
    optimizer = keras.optimizers.AdamW(0.01, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta", "product_scale"])
    assert _one_step_after_reload(optimizer, tmp_path) > 1e-5
