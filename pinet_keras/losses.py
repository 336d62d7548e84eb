"""Cross-entropy with label smoothing, and accuracy, on integer labels or class probabilities."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="pinet_keras")
class LabelSmoothingCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels (or class probabilities), with label smoothing.

    The same value as ``keras.losses.CategoricalCrossentropy(label_smoothing=s)``
    on one-hot labels, from the integer labels directly: Keras'
    ``SparseCategoricalCrossentropy`` has no ``label_smoothing``. It computes
    ``(1 - s) * (-log p_y) + s * mean_k(-log p_k)``, picking ``log p_y`` with
    ``take_along_axis`` (no one-hot tensor). Labels of the logits' shape are
    class probabilities (one-hot, or mixed by MixUp and CutMix):
    ``(1 - s) * (-Σ_k y_k log p_k) + s * mean_k(-log p_k)``.

    Args:
        from_logits: whether ``y_pred`` holds logits (the package's models
            output logits) rather than probabilities. Default False, as in Keras.
        label_smoothing: ``s`` in ``[0, 1)``.
        reduction, name, dtype: as for any `keras.losses.Loss`.

    Example:

    >>> import numpy as np
    >>> loss = LabelSmoothingCrossentropy(from_logits=True, label_smoothing=0.1)
    >>> keras_loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    >>> logits = np.array([[2.0, 0.0, -1.0]])
    >>> one_hot = np.array([[1.0, 0.0, 0.0]])
    >>> bool(np.isclose(loss(np.array([0]), logits), keras_loss(one_hot, logits)))
    True
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        reduction="sum_over_batch_size",
        name="label_smoothing_crossentropy",
        dtype=None,
    ):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                "Argument `label_smoothing` must be in [0, 1). "
                f"Received: label_smoothing={label_smoothing!r}"
            )
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = from_logits
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        if self.from_logits:
            log_probs = ops.log_softmax(y_pred, axis=-1)
        else:
            log_probs = ops.log(ops.clip(y_pred, keras.config.epsilon(), 1.0))
        if _is_dense(y_true, y_pred):
            # Class probabilities (one-hot, or mixed by MixUp/CutMix).
            nll = -ops.sum(ops.cast(y_true, log_probs.dtype) * log_probs, axis=-1)
        else:
            y_true = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:-1]), "int32")
            nll = -ops.take_along_axis(log_probs, ops.expand_dims(y_true, -1), axis=-1)[..., 0]
        if not self.label_smoothing:
            return nll
        smooth = -ops.mean(log_probs, axis=-1)
        return (1.0 - self.label_smoothing) * nll + self.label_smoothing * smooth

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits, "label_smoothing": self.label_smoothing})
        return config


def _is_dense(y_true, y_pred):
    """Whether ``y_true`` holds class probabilities ``(..., num_classes)``, not integer labels."""
    y_true_shape, y_pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    return (
        len(y_true_shape) == len(y_pred_shape)
        and y_pred_shape[-1] not in (None, 1)
        and y_true_shape[-1] == y_pred_shape[-1]
    )


@keras.saving.register_keras_serializable(package="pinet_keras")
class Accuracy(keras.metrics.MeanMetricWrapper):
    """Top-1 accuracy on integer labels or on class probabilities (their argmax).

    Keras' ``"accuracy"`` picks its integer or one-hot variant once, from the
    first batch; a run whose training batches carry mixed labels (MixUp,
    CutMix) and whose validation batches carry integers needs both. A
    prediction with a NaN or infinite logit counts as wrong: Keras' own
    ``"accuracy"`` takes the argmax of NaN logits, class 0, so a model that
    answers NaN on every image scores the share of class 0 in the labels
    (1.0 when all labels are 0). Compile with this metric:

    >>> import numpy as np, keras, pinet_keras
    >>> model = pinet_keras.PolyNet(input_shape=(8, 8, 1), width=2, num_blocks=2)
    >>> model.compile(
    ...     optimizer="adam",
    ...     loss=pinet_keras.LabelSmoothingCrossentropy(from_logits=True),
    ...     metrics=[pinet_keras.Accuracy()],
    ... )
    >>> float(Accuracy()(np.array([0, 0]), np.array([[np.nan, 0.0], [1.0, 0.0]])))
    0.5
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(fn=_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _accuracy(y_true, y_pred):
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if _is_dense(y_true, y_pred):
        y_true = ops.argmax(y_true, axis=-1)
    y_true = ops.reshape(y_true, ops.shape(y_pred)[:-1])
    predicted = ops.argmax(y_pred, axis=-1)
    correct = ops.equal(ops.cast(y_true, "int32"), ops.cast(predicted, "int32"))
    finite = ops.all(ops.isfinite(y_pred), axis=-1)
    return ops.cast(ops.logical_and(correct, finite), "float32")


_OLD_NAME = "SparseCategoricalCrossentropy"


@keras.saving.register_keras_serializable(package="pinet_keras", name=_OLD_NAME)
class _SparseCategoricalCrossentropy(LabelSmoothingCrossentropy):
    """The name of `LabelSmoothingCrossentropy` in pinet_keras 0.1 and 0.2.

    Registered under its old name so that the ``.keras`` files compiled with
    it load; ``pinet_keras.SparseCategoricalCrossentropy`` still gives it,
    with a `DeprecationWarning`. Its ``from_logits`` defaults to True, as it did.
    """

    def __init__(self, from_logits=True, name="sparse_categorical_crossentropy", **kwargs):
        super().__init__(from_logits=from_logits, name=name, **kwargs)
