"""`PolynomialDense`: two dense branches multiplied elementwise."""

import keras

from pinet_keras.layers.polynomial_base import PolynomialBase


@keras.saving.register_keras_serializable(package="pinet_keras")
class PolynomialDense(PolynomialBase):
    """Dense polynomial block: ``Dense_A(x) ⊙ Dense_B(x)``, degree 2.

    The vector counterpart of `PolynomialConv2D`, with the same options
    (``use_skip``, ``normalization``, ``product_scale``) and the same
    initialization (see `PolynomialBase`).

    Args:
        units: int, output size of each branch.
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, kernel_constraint, bias_constraint, use_skip,
        normalization, product_scale: as in `PolynomialConv2D`.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:

    >>> import numpy as np
    >>> layer = PolynomialDense(4)
    >>> layer(np.ones((3, 10), "float32")).shape
    (3, 4)
    """

    def __init__(self, units, **kwargs):
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"Argument `units` must be a positive int. Received: units={units!r}")
        self.units = units
        super().__init__(**kwargs)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def _make_branch(self, name):
        return keras.layers.Dense(self.units, name=name, **self._branch_kwargs())

    def _fan_in(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                f"Layer {self.name!r} needs a known last dimension. Received input_shape={input_shape}."
            )
        return int(input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config
