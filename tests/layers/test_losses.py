"""`LabelSmoothingCrossentropy` against Keras' categorical cross-entropy with label smoothing."""

import os
import warnings

import keras
import numpy as np
import pytest

import pinet_keras
from conftest import FIXTURES
from pinet_keras import LabelSmoothingCrossentropy

NUM_CLASSES = 5


def data(seed=0, batch=16):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (batch, NUM_CLASSES)).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, batch)
    return labels, logits


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", None])
def test_equals_categorical_crossentropy_with_smoothing(from_logits, smoothing, reduction):
    labels, logits = data()
    y_pred = logits if from_logits else keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    one_hot = np.eye(NUM_CLASSES, dtype="float32")[labels]
    kwargs = dict(from_logits=from_logits, label_smoothing=smoothing, reduction=reduction)
    ours = LabelSmoothingCrossentropy(**kwargs)(labels, y_pred)
    reference = keras.losses.CategoricalCrossentropy(**kwargs)(one_hot, y_pred)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)
    if smoothing == 0.0:
        sparse = keras.losses.SparseCategoricalCrossentropy(
            from_logits=from_logits, reduction=reduction
        )
        np.testing.assert_allclose(ours, sparse(labels, y_pred), rtol=1e-5, atol=1e-5)


def test_labels_of_shape_batch_by_one_and_sample_weights():
    labels, logits = data(1)
    loss = LabelSmoothingCrossentropy(from_logits=True, label_smoothing=0.2)
    reference = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)
    weights = np.linspace(0, 1, len(labels)).astype("float32")
    one_hot = np.eye(NUM_CLASSES, dtype="float32")[labels]
    np.testing.assert_allclose(
        loss(labels[:, None], logits, sample_weight=weights),
        reference(one_hot, logits, sample_weight=weights),
        rtol=1e-5,
    )


def test_defaults_and_config_round_trip():
    loss = LabelSmoothingCrossentropy()
    assert loss.from_logits is False and loss.label_smoothing == 0.0  # Keras' defaults
    loss = LabelSmoothingCrossentropy(from_logits=True, label_smoothing=0.1)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is LabelSmoothingCrossentropy
    assert (again.from_logits, again.label_smoothing) == (True, 0.1)
    with pytest.raises(ValueError, match="label_smoothing"):
        LabelSmoothingCrossentropy(label_smoothing=1.0)


def test_old_name_is_deprecated_but_loads():
    with pytest.warns(DeprecationWarning, match="LabelSmoothingCrossentropy"):
        old = pinet_keras.SparseCategoricalCrossentropy
    assert issubclass(old, LabelSmoothingCrossentropy)
    assert old().from_logits is True  # its default then
    # The compile config of a model saved by pinet_keras 0.1 / 0.2.
    config = {
        "module": "pinet_keras.losses",
        "class_name": "SparseCategoricalCrossentropy",
        "config": {
            "name": "sparse_categorical_crossentropy",
            "reduction": "sum_over_batch_size",
            "from_logits": True,
            "label_smoothing": 0.1,
        },
        "registered_name": "pinet_keras>SparseCategoricalCrossentropy",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loading an old model does not warn
        loss = keras.losses.deserialize(config)
    assert isinstance(loss, LabelSmoothingCrossentropy) and loss.label_smoothing == 0.1
    labels, logits = data(2)
    np.testing.assert_allclose(
        loss(labels, logits),
        LabelSmoothingCrossentropy(from_logits=True, label_smoothing=0.1)(labels, logits),
    )


def test_model_of_version_0_1_0_loads_with_its_loss():
    path = os.path.join(FIXTURES, "v0_1_0", "digits_unit", "model.keras")
    model = keras.saving.load_model(path)
    assert isinstance(model.loss, LabelSmoothingCrossentropy) and model.loss.from_logits
