"""`PolynomialDense`: ``N`` dense maps of one input, combined."""

from __future__ import annotations

import numbers

import keras
from keras import ops

from pinet_keras.layers.polynomial_base import PolynomialBase


@keras.saving.register_keras_serializable(package="pinet_keras")
class PolynomialDense(PolynomialBase):
    """Dense polynomial layer: ``Dense_A(x) ⊙ Dense_B(x)``, or degree ``N`` in CCP/NCP form.

    The vector counterpart of `PolynomialConv2D`, with the same options
    (``degree``, ``form``, ``use_skip``, ``normalization``,
    ``product_scale``) and the same initialization (see `PolynomialBase`).
    Like ``keras.layers.Dense``, it acts on the last axis and keeps masks.
    ``Sₙ`` of the NCP form is a square matrix (no ``s_kernel_size``), and
    ``normalization="instance_a"``, which needs spatial axes, is refused.

    Args:
        units: int, output size (of each dense map).
        degree, form, use_bias, use_skip, normalization: as in `PolynomialConv2D`.
        product_scale, output_range: as in `PolynomialConv2D`.
        kernel_initializer, bias_initializer: as in `PolynomialConv2D`.
        kernel_regularizer, bias_regularizer: as in `PolynomialConv2D`.
        kernel_constraint, bias_constraint: as in `PolynomialConv2D`.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Input shape:
        N-D tensor with shape ``(batch_size, ..., input_dim)``; the most
        common case is a 2D input of shape ``(batch_size, input_dim)``.

    Output shape:
        N-D tensor with shape ``(batch_size, ..., units)``.

    Example:

    >>> import numpy as np
    >>> layer = PolynomialDense(4, degree=3, form="ncp")
    >>> tuple(layer(np.ones((3, 10), "float32")).shape)
    (3, 4)
    """

    def __init__(
        self,
        units: int,
        degree: int = 2,
        form: str = "product",
        use_bias: bool = True,
        kernel_initializer=None,
        bias_initializer=None,
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        use_skip: bool | str = False,
        normalization: str | None = None,
        product_scale: float | None = None,
        output_range: tuple[float, float] | None = None,
        **kwargs,
    ):
        super().__init__(
            degree=degree,
            form=form,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            use_skip=use_skip,
            normalization=normalization,
            product_scale=product_scale,
            output_range=output_range,
            **kwargs,
        )
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
            raise ValueError(f"Argument `units` must be a positive int. Received: units={units!r}")
        self.units = int(units)
        if self.normalization == "instance_a":
            raise ValueError(
                "normalization='instance_a' normalizes over spatial axes, which a dense layer "
                "has not: it is for the polynomial convolutions."
            )
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    @property
    def _units(self):
        return self.units

    def _built_input_spec(self, channels):
        return keras.layers.InputSpec(min_ndim=2, axes={-1: channels})

    def _fan_in(self, input_shape):
        return self._input_channels(input_shape)

    def _make_branch(self, name, kernel_initializer, bias_initializer):
        return keras.layers.Dense(
            self.units,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            name=name,
            **self._branch_kwargs(),
        )

    def _apply_kernel(self, inputs, kernel, bias):
        y = ops.matmul(inputs, kernel)
        return y if bias is None else ops.add(y, bias)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config
