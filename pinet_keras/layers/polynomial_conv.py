"""`PolynomialConv1D`, `PolynomialConv2D`, `PolynomialConv3D`: polynomial convolutions."""

from __future__ import annotations

import math
import numbers

import keras
from keras import ops

from pinet_keras import _compat
from pinet_keras.layers.polynomial_base import PolynomialBase

_CONVOLUTIONS = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}


def standardize_padding(padding, rank):
    """``"valid"``, ``"same"``, or ``rank`` pairs ``(before, after)`` of ints.

    Accepts PyTorch's convention (an int, or ``rank`` ints: symmetric
    padding of each spatial axis) and explicit pairs, as ``ZeroPadding2D``.
    """
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise ValueError(
                'Argument `padding` must be "valid", "same", an int or a list of ints or '
                f"(before, after) pairs. Received: padding={padding!r}"
            )
        return padding.lower()

    def amount(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(
                f"Argument `padding` must hold non-negative ints. Received: padding={padding!r}"
            )
        return int(value)

    if isinstance(padding, (list, tuple)):
        if len(padding) != rank:
            raise ValueError(
                f"Argument `padding` must have one entry per spatial axis ({rank}). "
                f"Received: padding={padding!r}"
            )
        pairs = []
        for item in padding:
            if isinstance(item, (list, tuple)):
                if len(item) != 2:
                    raise ValueError(
                        "Argument `padding` must hold ints or (before, after) pairs. "
                        f"Received: padding={padding!r}"
                    )
                pairs.append((amount(item[0]), amount(item[1])))
            else:
                pairs.append((amount(item),) * 2)
        return tuple(pairs)
    return ((amount(padding),) * 2,) * rank


def same_padding(size, kernel, stride, dilation):
    """The ``(before, after)`` padding of ``"same"`` on an axis of ``size``."""
    extent = (kernel - 1) * dilation + 1
    total = max((-(-size // stride) - 1) * stride + extent - size, 0)
    return (total // 2, total - total // 2)


class BasePolynomialConv(PolynomialBase):
    """Polynomial convolution of any rank, as Keras' ``BaseConv(rank)``.

    See `PolynomialConv2D` for the arguments. An explicit padding is applied
    as ``"same"`` or ``"valid"`` where it equals it for the input shape the
    layer is built for, and with ``ops.pad`` otherwise.
    """

    def __init__(
        self,
        rank,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        s_kernel_size=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rank = rank
        if isinstance(filters, bool) or not isinstance(filters, numbers.Integral) or filters <= 0:
            raise ValueError(
                f"Argument `filters` must be a positive int. Received: filters={filters!r}"
            )
        self.filters = int(filters)
        self.kernel_size = _compat.standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = _compat.standardize_tuple(strides, rank, "strides")
        self.dilation_rate = _compat.standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = standardize_padding(padding, rank)
        self.data_format = _compat.standardize_data_format(data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` is not compatible with `dilation_rate > 1`. "
                f"Received: strides={self.strides}, dilation_rate={self.dilation_rate}"
            )
        self.s_kernel_size = _compat.standardize_tuple(s_kernel_size, rank, "s_kernel_size")
        if any(size % 2 == 0 for size in self.s_kernel_size):
            raise ValueError(
                "Argument `s_kernel_size` must hold odd sizes (Sₙ is centred on each "
                f"position). Received: s_kernel_size={s_kernel_size!r}"
            )
        if self.form != "ncp" and max(self.s_kernel_size) > 1:
            raise ValueError(
                "Argument `s_kernel_size` is the kernel of the NCP form's Sₙ: it needs "
                f"form='ncp'. Received: form={self.form!r}, s_kernel_size={s_kernel_size!r}"
            )
        self.input_spec = keras.layers.InputSpec(ndim=rank + 2)
        self._explicit_padding = None
        self._branch_padding = self.padding if isinstance(self.padding, str) else "valid"

    @property
    def _units(self):
        return self.filters

    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    def _spatial(self, shape):
        return list(shape[2:] if self.data_format == "channels_first" else shape[1:-1])

    def _with_spatial(self, shape, spatial, channels):
        if self.data_format == "channels_first":
            return (shape[0], channels, *spatial)
        return (shape[0], *spatial, channels)

    def _built_input_spec(self, channels):
        return keras.layers.InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): channels})

    def _fan_in(self, input_shape):
        return int(self._input_channels(input_shape) * math.prod(self.kernel_size))

    def _prepare(self, input_shape):
        if isinstance(self.padding, str):
            return input_shape
        spatial = self._spatial(input_shape)
        same = None
        if None not in spatial:
            same = tuple(
                same_padding(size, k, s, d)
                for size, k, s, d in zip(
                    spatial, self.kernel_size, self.strides, self.dilation_rate
                )
            )
        if all(pair == (0, 0) for pair in self.padding):
            self._branch_padding = "valid"
        elif self.padding == same:
            self._branch_padding = "same"
        else:
            self._branch_padding = "valid"
            self._explicit_padding = self.padding
            spatial = [
                None if size is None else size + sum(pair)
                for size, pair in zip(spatial, self.padding)
            ]
            return self._with_spatial(input_shape, spatial, input_shape[self._channel_axis()])
        return input_shape

    @property
    def explicit_padding(self):
        return self._explicit_padding

    def pad_inputs(self, inputs):
        if self._explicit_padding is None:
            return inputs
        pairs = [list(pair) for pair in self._explicit_padding]
        if self.data_format == "channels_first":
            return ops.pad(inputs, [[0, 0], [0, 0], *pairs])
        return ops.pad(inputs, [[0, 0], *pairs, [0, 0]])

    def _convolution(self):
        """The arguments of each branch's convolution."""
        return dict(
            strides=self.strides,
            padding=self._branch_padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )

    def _mix_kernel_shape(self, units):
        if max(self.s_kernel_size) == 1:
            return (units, units)  # a 1×1 map of the channels, as before s_kernel_size
        return (*self.s_kernel_size, units, units)

    def _apply_mix(self, x, kernel, bias):
        if len(kernel.shape) == 2:
            return self._channel_map(x, kernel, bias)
        # Sₙ sees xₙ₋₁, already on the output grid: stride 1, "same", the branches' dilation.
        return self._apply_kernel(
            x,
            ops.cast(kernel, x.dtype),
            None if bias is None else ops.cast(bias, x.dtype),
            strides=1,
            padding="same",
        )

    def _instance_axes(self, ndim):
        first = 2 if self.data_format == "channels_first" else 1
        return tuple(range(first, first + self.rank))

    def _make_branch(self, name, kernel_initializer, bias_initializer):
        return _CONVOLUTIONS[self.rank](
            self.filters,
            self.kernel_size,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            name=name,
            **self._convolution(),
            **self._branch_kwargs(),
        )

    def _apply_kernel(self, inputs, kernel, bias, **convolution):
        y = ops.conv(inputs, kernel, **{**self._convolution(), **convolution})
        if bias is None:
            return y
        if self.data_format == "channels_first":
            bias = ops.reshape(bias, (1, -1) + (1,) * self.rank)
        return ops.add(y, bias)

    def compute_output_shape(self, input_shape):
        spatial = []
        for index, size in enumerate(self._spatial(input_shape)):
            if size is None:
                spatial.append(None)
                continue
            stride = self.strides[index]
            extent = (self.kernel_size[index] - 1) * self.dilation_rate[index] + 1
            if self.padding == "same":
                spatial.append(-(-size // stride))
            else:
                padded = size if self.padding == "valid" else size + sum(self.padding[index])
                spatial.append((padded - extent) // stride + 1)
        return self._with_spatial(input_shape, spatial, self.filters)

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
                "s_kernel_size": self.s_kernel_size,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # Files written before s_kernel_size (0.3.0 and earlier) had 1×1 Sₙ.
        config = dict(config)
        config.setdefault("s_kernel_size", 1)
        return super().from_config(config)


_DOC = """{rank}D polynomial convolution: ``N`` {rank}D convolutions of one input, combined.

    The building block of Π-nets (Chrysos et al., CVPR 2020): no activation
    function, the non-linearity is the Hadamard product of convolutions over
    the same input. With the defaults (``degree=2, form="product"``) it is
    ``Conv_A(x) ⊙ Conv_B(x)``; ``form="ccp"`` and ``form="ncp"`` expand a
    polynomial of degree ``N`` in the paper's CCP and NCP forms (see
    `pinet_keras.layers.polynomial_base`). ``n`` stacked layers of degree
    ``N`` have degree ``N**n``.

    The recursions, ``Aₙ`` the ``N`` convolutions of the input ``z``:

    - product: ``x₁ = A₁z``, ``xₙ = Aₙz ⊙ xₙ₋₁``, ``y = x_N``;
    - ccp: ``x₁ = A₁z``, ``xₙ = Aₙz ⊙ xₙ₋₁ + xₙ₋₁``, ``y = C x_N + β``;
    - ncp: ``x₁ = A₁z``, ``xₙ = Aₙz ⊙ (Sₙ xₙ₋₁ + bₙ) [+ xₙ₋₁]``,
      ``y = C x_N + β``, where ``C`` is a 1×1 convolution and ``Sₙ`` a
      convolution of kernel ``s_kernel_size`` (stride 1, "same" zero
      padding, the layer's ``dilation_rate``) of ``xₙ₋₁``, which is already
      on the output grid. The receptive field of ``y`` has radius
      ``d·(k-1)/2 + (N-1)·d·(s-1)/2`` (stride 1, odd kernel ``k`` and
      ``s_kernel_size`` ``s``, dilation ``d``): with 3×3 ``Sₙ`` it grows
      by 1 a degree; with the 1×1 ``Sₙ`` of the default, it is that of
      ``A``. ``[+ xₙ₋₁]``: at every step with ``use_skip=True``, from
      ``n = 3`` on with ``use_skip="residual"``.

    Args:
        filters: int, number of output channels (of each convolution).
        kernel_size: int or tuple of {rank} ints.
        strides: int or tuple of {rank} ints. Defaults to 1.
        padding: ``"valid"``, ``"same"``, an int or {rank} ints (PyTorch's
            symmetric padding of each spatial axis), or {rank} pairs
            ``(before, after)``.
        data_format: ``"channels_last"`` or ``"channels_first"``; defaults to
            Keras' image data format.
        dilation_rate: int or tuple of {rank} ints. Defaults to 1.
        s_kernel_size: int or tuple of {rank} odd ints, the kernel of the
            NCP form's ``Sₙ``. Defaults to 1 (a 1×1 map of the channels, the
            layer of 0.3.0 and before, whose files load as they were); 3 is
            the authors' (the Π-nets tutorial's ``SinglePoly``). ``Sₙ``
            starts as the identity either way.
        degree: int ``N >= 2``, the degree of the layer in its input.
        form: ``"product"``, ``"ccp"`` or ``"ncp"``.
        use_bias: whether the convolutions (and the channel maps) have
            biases. Defaults to True.
        kernel_initializer: one initializer, cloned for each convolution (an
            int seed is offset per convolution), or a list ``[first, others]``.
            Defaults to ``["lecun_uniform", BranchUniform()]``.
        bias_initializer: the same for biases. Defaults to
            ``[BranchUniform(), "ones"]`` (``"zeros"`` for CCP); see
            `PolynomialBase` for why.
        kernel_regularizer, bias_regularizer, kernel_constraint,
        bias_constraint: for every kernel and bias.
        use_skip: ``True`` adds ``xₙ₋₁`` at every step (product and NCP
            forms); at degree 2, ``A(x) ⊙ B(x) + A(x)``. ``"residual"`` (NCP)
            adds it from ``n = 3`` on only, as the authors' ``residual``.
        normalization: ``None``; ``"batch"``: batch normalization of the
            last product, ``x_N = BN(A_N z ⊙ (S_N x_{{N-1}} + b_N))``; NCP
            only, the authors' placements: ``"batch_as"``,
            ``x_N = BN(A_N z ⊙ S_N x_{{N-1}}) + A_N z ⊙ b_N`` (the mesh
            ``SpiralPoly``'s ``normalize="final"``), and ``"instance_a"``:
            each ``Aₙz``, ``n ≥ 2``, normalized per example and channel over
            the spatial axes, no learned scale or offset (the tutorial's
            ``norm_S=1``; its ``conv_S`` is ``A₂`` here).
        product_scale: ``None`` or the initial value of a learnable
            per-channel scale of the (normalized) last product (of
            ``A_N z ⊙ S_N x_{{N-1}}`` with ``"batch_as"``).
        output_range: ``None`` or ``(low, high)``: the output is clipped to
            it at inference, not in training (see
            `pinet_keras.models.set_output_ranges`).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Input shape:
        {rank_plus_2}D tensor with shape ``(batch_size, {spatial}, channels)``
        if ``data_format="channels_last"``, or ``(batch_size, channels,
        {spatial})`` if ``data_format="channels_first"``.

    Output shape:
        {rank_plus_2}D tensor with shape ``(batch_size, {new_spatial}, filters)``
        if ``data_format="channels_last"``, or ``(batch_size, filters,
        {new_spatial})`` if ``data_format="channels_first"``.

    Example:

    >>> import numpy as np
    >>> layer = {name}(4, 3, padding=1, degree=3, form="ccp")
    >>> tuple(layer(np.ones({example_shape}, "float32")).shape)
    {example_output}
    >>> layer.degree
    3
    """


def _document(cls, rank):
    """Gives ``cls`` the docstring of rank ``rank``."""
    axes = ("dim1", "dim2", "dim3")[:rank]
    spatial = ", ".join(axes)
    cls.__doc__ = _DOC.format(
        rank=rank,
        rank_plus_2=rank + 2,
        spatial=spatial,
        new_spatial=", ".join(f"new_{axis}" for axis in axes),
        name=cls.__name__,
        example_shape=(2,) + (6,) * rank + (1,),
        example_output=(2,) + (6,) * rank + (4,),
    )


@keras.saving.register_keras_serializable(package="pinet_keras")
class PolynomialConv1D(BasePolynomialConv):
    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str | int | tuple = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
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
        s_kernel_size: int = 1,
        **kwargs,
    ):
        super().__init__(
            1,
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
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
            s_kernel_size=s_kernel_size,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="pinet_keras")
class PolynomialConv2D(BasePolynomialConv):
    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str | int | tuple = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
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
        s_kernel_size: int = 1,
        **kwargs,
    ):
        super().__init__(
            2,
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
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
            s_kernel_size=s_kernel_size,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="pinet_keras")
class PolynomialConv3D(BasePolynomialConv):
    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str | int | tuple = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
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
        s_kernel_size: int = 1,
        **kwargs,
    ):
        super().__init__(
            3,
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
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
            s_kernel_size=s_kernel_size,
            **kwargs,
        )


for _rank, _cls in enumerate((PolynomialConv1D, PolynomialConv2D, PolynomialConv3D), 1):
    _document(_cls, _rank)
