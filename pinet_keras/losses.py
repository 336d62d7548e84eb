"""Losses on integer labels."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="pinet_keras")
class SparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels, with label smoothing.

    Keras' own ``SparseCategoricalCrossentropy`` has no ``label_smoothing``;
    this one computes ``(1 - s) * CE(y) + s * mean_k(-log p_k)``, which equals
    the categorical cross-entropy against one-hot labels smoothed by ``s``,
    without building the one-hot tensor.

    Example:

    >>> loss = SparseCategoricalCrossentropy(label_smoothing=0.1)
    >>> float(loss([0], [[2.0, 0.0, 0.0]])) > 0
    True
    """

    def __init__(
        self,
        from_logits=True,
        label_smoothing=0.0,
        reduction="sum_over_batch_size",
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                f"Argument `label_smoothing` must be in [0, 1). Received: label_smoothing={label_smoothing!r}"
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
        y_true = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:-1]), "int32")
        one_hot = ops.one_hot(y_true, ops.shape(y_pred)[-1], dtype=log_probs.dtype)
        nll = -ops.sum(one_hot * log_probs, axis=-1)
        if not self.label_smoothing:
            return nll
        smooth = -ops.mean(log_probs, axis=-1)
        return (1.0 - self.label_smoothing) * nll + self.label_smoothing * smooth

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits, "label_smoothing": self.label_smoothing})
        return config
