"""`InstanceBatchNormalization`: instance normalization on some channels, batch on the rest."""

import numbers

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="pinet_keras")
class InstanceBatchNormalization(keras.layers.Layer):
    """Instance-batch normalization (IBN, Pan et al., 2018), as the R-PolyNets authors use it.

    The first ``int(channels * ratio)`` channels are normalized per example
    (instance normalization: each example's own mean and variance over the
    spatial axes, with a learned scale and offset per channel); the others
    by `keras.layers.BatchNormalization`. The R-PolyNets CIFAR networks use
    ``ratio=0.8`` after the first convolution of every block but those of the
    last stage.

    Instance normalization divides by a statistic of the input at inference
    too: a model with this layer is not a polynomial of its input.

    Args:
        ratio: fraction of the channels normalized per instance, in ``[0, 1]``.
        epsilon: added to the variances.
        momentum: of the batch normalization's moving statistics.
        **kwargs: base layer keyword arguments, such as ``name`` and ``dtype``.

    Input shape:
        4D tensor ``(batch, height, width, channels)`` (channels last).

    Output shape:
        The same.

    Example:

    >>> import numpy as np
    >>> layer = InstanceBatchNormalization(ratio=0.5)
    >>> x = np.random.default_rng(0).normal(3.0, 2.0, (4, 5, 5, 6)).astype("float32")
    >>> y = np.asarray(layer(x, training=True))
    >>> np.abs(y[..., :3].mean(axis=(1, 2))).max() < 1e-4  # per example
    np.True_
    """

    def __init__(self, ratio=0.5, epsilon=1e-5, momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not 0 <= ratio <= 1:
            raise ValueError(f"Argument `ratio` must be in [0, 1]. Received: ratio={ratio!r}")
        self.ratio = float(ratio)
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        self.batch_norm = None
        self.instance_channels = None

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                "InstanceBatchNormalization takes 4D inputs (batch, height, width, channels) "
                f"with a known number of channels. Received: input_shape={input_shape}"
            )
        channels = input_shape[-1]
        self.instance_channels = int(channels * self.ratio)
        if self.instance_channels:
            self.gamma = self.add_weight(
                shape=(self.instance_channels,), initializer="ones", name="gamma"
            )
            self.beta = self.add_weight(
                shape=(self.instance_channels,), initializer="zeros", name="beta"
            )
        if self.instance_channels < channels:
            self.batch_norm = keras.layers.BatchNormalization(
                epsilon=self.epsilon, momentum=self.momentum, dtype=self.dtype_policy, name="bn"
            )
            shape = tuple(input_shape[:-1]) + (channels - self.instance_channels,)
            self.batch_norm.build(shape)

    def call(self, inputs, training=False):
        parts = []
        k = self.instance_channels
        if k:
            x = ops.cast(inputs[..., :k], "float32")
            mean, variance = ops.moments(x, axes=(1, 2), keepdims=True)
            x = (x - mean) * ops.rsqrt(variance + self.epsilon)
            x = x * ops.cast(self.gamma, "float32") + ops.cast(self.beta, "float32")
            parts.append(ops.cast(x, self.compute_dtype))
        if self.batch_norm is not None:
            parts.append(self.batch_norm(inputs[..., k:], training=training))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"ratio": self.ratio, "epsilon": self.epsilon, "momentum": self.momentum})
        return config
