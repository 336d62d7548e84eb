"""`PolynomialConv2D`: two convolutions multiplied elementwise."""

import keras

from pinet_keras.layers.polynomial_base import PolynomialBase


@keras.saving.register_keras_serializable(package="pinet_keras")
class PolynomialConv2D(PolynomialBase):
    """2D polynomial convolution block: ``Conv2D_A(x) ⊙ Conv2D_B(x)``.

    The building block of Π-nets (Chrysos et al., CVPR 2020): no activation
    function, the non-linearity is the Hadamard product of two convolution
    branches over the same input. The block is a polynomial of degree 2 in
    its input (``degree == 2``); ``n`` stacked blocks have degree ``2**n``.

    Args:
        filters: int, number of output channels of each branch.
        kernel_size: int or tuple of 2 ints.
        strides: int or tuple of 2 ints. Defaults to 1.
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` or ``"channels_first"``; defaults to
            Keras' image data format.
        dilation_rate: int or tuple of 2 ints. Defaults to 1.
        use_bias: whether both branches have a bias. Defaults to True.
        kernel_initializer: one initializer, cloned for each branch (an int
            seed is offset per branch), or a list ``[branch_a, branch_b]``.
            Defaults to ``["lecun_uniform", BranchUniform()]``.
        bias_initializer: the same for biases. Defaults to
            ``[BranchUniform(), "ones"]``; see `PolynomialBase` for why.
        kernel_regularizer, bias_regularizer, kernel_constraint,
        bias_constraint: passed to both branches.
        use_skip: add the first-order term: ``A(x) ⊙ B(x) + A(x)``.
        normalization: ``None`` or ``"batch"``: batch normalization of the
            product.
        product_scale: ``None`` or the initial value of a learnable
            per-channel scale on the (normalized) product.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Example:

    >>> import numpy as np
    >>> layer = PolynomialConv2D(8, 3, padding="same")
    >>> layer(np.ones((2, 28, 28, 1), "float32")).shape
    (2, 28, 28, 8)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        **kwargs,
    ):
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(
                "Argument `filters` must be a positive int. " f"Received: filters={filters!r}"
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.data_format = data_format
        self.dilation_rate = dilation_rate
        super().__init__(**kwargs)
        # Conv2D validated and normalized the arguments: keep its values.
        self.kernel_size = self.branch_a.kernel_size
        self.strides = self.branch_a.strides
        self.padding = self.branch_a.padding
        self.data_format = self.branch_a.data_format
        self.dilation_rate = self.branch_a.dilation_rate
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def _make_branch(self, name):
        return keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            name=name,
            **self._branch_kwargs(),
        )

    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    def _fan_in(self, input_shape):
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(
                f"Layer {self.name!r} needs a known number of input channels. "
                f"Received input_shape={input_shape}."
            )
        kernel = self.branch_a.kernel_size
        return int(kernel[0] * kernel[1] * channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
            }
        )
        return config
