"""`PixelRange`: the input-range guard of a model that takes raw pixels."""

import numbers

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="pinet_keras")
class PixelRange(keras.layers.Layer):
    """Casts raw pixels to floats and clips them to ``[min_value, max_value]``.

    The first layer of every model that `pinet_keras` trains: the model takes
    raw pixels (``0..255``, uint8 or float) and nothing outside that box ever
    reaches the polynomial. A polynomial of high degree explodes outside the
    range it was trained on (a PolyNet fed ``1000.0`` everywhere gives logits
    near the float32 limit); clipped, every finite input gives the output of
    a valid image. NaN is not a pixel and stays NaN.

    Args:
        min_value: smallest valid pixel value.
        max_value: largest valid pixel value.
        **kwargs: base layer keyword arguments, such as ``name`` and ``dtype``.

    Input shape:
        Any shape; any real dtype.

    Output shape:
        The same shape, in the layer's compute dtype.

    Example:

    >>> import numpy as np
    >>> layer = PixelRange()
    >>> np.asarray(layer(np.array([-3.0, 12.5, 300.0]))).tolist()
    [0.0, 12.5, 255.0]
    """

    # The identity on valid pixels: it does not change a model's degree there.
    degree = 1

    def __init__(self, min_value=0.0, max_value=255.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("min_value", min_value), ("max_value", max_value)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:
                raise ValueError(f"Argument `{name}` must be a number. Received: {name}={value!r}")
        if not min_value < max_value:
            raise ValueError(
                "Argument `min_value` must be smaller than `max_value`. "
                f"Received: min_value={min_value}, max_value={max_value}"
            )
        self.min_value = float(min_value)
        self.max_value = float(max_value)
        self.supports_masking = True

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        return ops.clip(inputs, self.min_value, self.max_value)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"min_value": self.min_value, "max_value": self.max_value})
        return config
