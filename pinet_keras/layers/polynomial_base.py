"""The algebra shared by every polynomial layer: its forms, its degree, its folding.

A polynomial layer of degree ``N`` takes ``N`` linear maps of its input ``z``
(the *branches*, ``branch_a``, ``branch_b``, ...: convolutions or dense
layers, created by the subclass) and combines them in one of three forms:

- ``"product"``: ``x₁ = A₁(z)``, ``xₙ = Aₙ(z) ⊙ xₙ₋₁`` — the Hadamard
  product of the ``N`` branches (``N = 2``: ``A(z) ⊙ B(z)``).
- ``"ccp"`` (coupled CP decomposition of the Π-nets paper):
  ``x₁ = U₁(z)``, ``xₙ = Uₙ(z) ⊙ xₙ₋₁ + xₙ₋₁``, then ``y = C xₙ + β``.
- ``"ncp"`` (nested CP decomposition): ``x₁ = A₁(z)``,
  ``xₙ = Aₙ(z) ⊙ (Sₙ xₙ₋₁ + bₙ)``, then ``y = C xₙ + β``.

``C`` is a square map of the channels (a 1×1 convolution), ``bₙ`` and
``β`` biases. ``Sₙ`` is one too by default; a convolutional layer's
``s_kernel_size=3`` makes it a 3×3 convolution of ``xₙ₋₁`` (stride 1,
"same" padding, the layer's dilation), as in the authors' code, and the
receptive field then grows with the degree. With ``use_skip=True`` the
product and NCP forms add ``xₙ₋₁`` at every step (``N = 2`` product:
``A ⊙ B + A``, NCP-skip); ``use_skip="residual"`` (NCP) adds it from
``n = 3`` on only, as the authors' ``residual``. CCP has that term by
definition. ``normalization="batch"`` and ``product_scale`` act on the last
product: ``x_N = γ ⊙ BN(P_N) + ...``. The NCP form has the authors'
placements too: ``"batch_as"`` normalizes ``Aₙz ⊙ Sₙxₙ₋₁`` alone at the
last step, ``x_N = γ ⊙ BN(A_N z ⊙ S_N x_{N-1}) + A_N z ⊙ b_N [+ x_{N-1}]``
(the Π-nets mesh ``SpiralPoly``, ``normalize="final"``), and
``"instance_a"`` normalizes each ``Aₙz``, ``n ≥ 2``, per example and
channel over the spatial axes, without learned scale and offset
(convolutions only; the 2022 tutorial's ``norm_S=1``, whose ``conv_S``
is the ``Aₙ`` branch of this recursion).

``output_range=(low, high)`` clips the layer's output at inference (not in
training): the guard that keeps a high-degree stack bounded on inputs
unlike its training images. `pinet_keras.models.set_output_ranges` sets
it from the outputs on training images; the trainer does so for the model
it writes.
"""

import math
import numbers

import keras
import numpy as np
from keras import ops

from pinet_keras.initializers import BranchUniform
from pinet_keras.initializers import branch_initializer

FORMS = ("product", "ccp", "ncp")
# Batch normalization of the layer's last product. Not the pixel
# normalization of a model's input (`pinet_keras.models.INPUT_NORMALIZATIONS`).
# "batch_as" and "instance_a" are the authors' NCP placements (form="ncp" only).
PRODUCT_NORMALIZATIONS = (None, "batch", "batch_as", "instance_a")
NCP_NORMALIZATIONS = ("batch_as", "instance_a")
INSTANCE_EPSILON = 1e-5
BRANCH_NAMES = tuple(f"branch_{letter}" for letter in "abcdefghijklmnop")


def default_kernel_initializers(degree=2):
    """First branch: LeCun uniform (variance 1/fan_in); the others: ``BranchUniform``.

    The others' bound is ``1/(N-1)`` of PyTorch's: the ``N-1`` factors
    ``(1 + Uₙz)`` together then deviate from 1 as one factor does at
    degree 2, whatever ``N``; with PyTorch's bound in each, the deviations
    multiply and a stack of degree-4 layers can start with exploding outputs.
    """
    return ["lecun_uniform", BranchUniform(scale=1.0 / (degree - 1))]


def default_bias_initializers(form="product"):
    """First branch: ``BranchUniform`` (PyTorch's bias); the others: ones, zeros for CCP.

    The other branches start close to the constant that leaves ``xₙ₋₁``
    unchanged: 1 for the products, 0 for CCP, whose ``+ xₙ₋₁`` already
    carries it.
    """
    return [BranchUniform(), "zeros" if form == "ccp" else "ones"]


def _pair(value, name):
    """One initializer (cloned per branch) or a list ``[first branch, other branches]``."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(
                f"Argument `{name}` must be one initializer or a list of two (the first "
                "branch, the other branches). "
                f"Received a sequence of length {len(value)}: {value!r}"
            )
        return [keras.initializers.get(v) for v in value]
    init = keras.initializers.get(value)
    return [init, init]


def _check_bool(value, name):
    if not isinstance(value, bool):
        raise ValueError(f"Argument `{name}` must be a bool. Received: {name}={value!r}")


def standardize_output_range(output_range):
    """``None`` or ``(low, high)`` as two floats with ``low <= high``."""
    if output_range is None:
        return None
    try:
        low, high = (float(value) for value in output_range)
    except (TypeError, ValueError):
        low = high = float("nan")
    if not low <= high or not np.isfinite([low, high]).all():
        raise ValueError(
            "Argument `output_range` must be None or (low, high), two finite numbers with "
            f"low <= high. Received: output_range={output_range!r}"
        )
    return (low, high)


def centred_identity(shape, dtype=None):
    """A convolution kernel ``(*spatial, c, c)`` that is the identity: ``I`` at the centre tap."""
    kernel = np.zeros(shape)
    centre = tuple(size // 2 for size in shape[:-2])
    kernel[centre] = np.eye(shape[-2], shape[-1])
    return ops.convert_to_tensor(kernel, dtype=dtype or keras.config.floatx())


def batch_norm_affine(norm, channels):
    """``(s, t)`` in float64 with ``norm(x) = s * x + t`` at inference."""
    gamma = np.asarray(norm.gamma, "float64") if norm.scale else np.ones(channels)
    beta = np.asarray(norm.beta, "float64") if norm.center else np.zeros(channels)
    mean = np.asarray(norm.moving_mean, "float64")
    variance = np.asarray(norm.moving_variance, "float64")
    scale = gamma / np.sqrt(variance + norm.epsilon)
    return scale, beta - scale * mean


class PolynomialBase(keras.layers.Layer):
    """Base class of the polynomial layers; see the module docstring for the forms.

    Subclasses say how to make a branch (`_make_branch`), how to apply the
    ``N`` branches' kernels at once (`_apply_kernel`), the fan-in, the
    channel axis and the output shape. Weights are made in `build`: the
    branches (sublayers ``branch_a``, ``branch_b``, ...), ``product_norm``
    (a ``BatchNormalization``), the ``product_scale_weight`` and, for CCP
    and NCP, the channel maps ``mix_kernel_<n>``, ``mix_bias_<n>``,
    ``projection_kernel`` and ``projection_bias``.

    Initialization, the heart of a deep product (see
    `pinet_keras.initializers`): the first branch is variance preserving
    (LeCun uniform kernel, ``BranchUniform`` bias) and every other branch,
    ``Sₙ`` and ``C`` start close to the map that leaves ``xₙ₋₁`` unchanged
    (small ``BranchUniform`` kernels, biases of ones, zeros for CCP,
    identity ``Sₙ`` and ``C``). Each layer then starts close to the linear
    map ``A₁(z)`` plus small higher-degree terms, so a stack of layers starts
    as a well-conditioned linear network; the documentation's forms
    results have the one-epoch measurements.
    """

    # Run the N branches as one convolution (or matmul) with N·F filters:
    # slower on the CPU of the measurements (benchmarks/experiments/fused_branches.py).
    fuse_branches = False

    def __init__(
        self,
        degree=2,
        form="product",
        use_bias=True,
        kernel_initializer=None,
        bias_initializer=None,
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        use_skip=False,
        normalization=None,
        product_scale=None,
        output_range=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(degree, bool) or not isinstance(degree, numbers.Integral) or degree < 2:
            raise ValueError(f"Argument `degree` must be an int >= 2. Received: degree={degree!r}")
        if degree > len(BRANCH_NAMES):
            raise ValueError(
                f"Argument `degree` must be at most {len(BRANCH_NAMES)}. Received: degree={degree}"
            )
        if form not in FORMS:
            raise ValueError(f"Argument `form` must be one of {FORMS}. Received: form={form!r}")
        _check_bool(use_bias, "use_bias")
        if not isinstance(use_skip, bool) and use_skip != "residual":
            raise ValueError(
                f"Argument `use_skip` must be a bool or 'residual'. Received: use_skip={use_skip!r}"
            )
        if use_skip == "residual" and form != "ncp":
            raise ValueError(
                "use_skip='residual' (xₙ₋₁ added from n = 3 on, the authors' NCP) is for "
                f"form='ncp'. Received: form={form!r}"
            )
        if form == "ccp" and use_skip:
            raise ValueError(
                "form='ccp' adds xₙ₋₁ at every step by definition: `use_skip` is for the "
                "'product' and 'ncp' forms. Received: form='ccp', use_skip=True"
            )
        if normalization not in PRODUCT_NORMALIZATIONS:
            raise ValueError(
                f"Argument `normalization` must be one of {PRODUCT_NORMALIZATIONS}. "
                f"Received: normalization={normalization!r}"
            )
        if normalization in NCP_NORMALIZATIONS and form != "ncp":
            raise ValueError(
                f"normalization={normalization!r} is a placement of the NCP recursion: it "
                f"needs form='ncp'. Received: form={form!r}"
            )
        if product_scale is not None and (
            isinstance(product_scale, bool)
            or not isinstance(product_scale, numbers.Real)
            or not math.isfinite(product_scale)
        ):
            raise ValueError(
                "Argument `product_scale` must be None or a finite number (the initial "
                f"value of the learnable scale). Received: product_scale={product_scale!r}"
            )
        self.output_range = standardize_output_range(output_range)
        self.degree = int(degree)
        self.form = form
        self.use_bias = use_bias
        self.use_skip = use_skip
        self.normalization = normalization
        self.product_scale = None if product_scale is None else float(product_scale)
        self.kernel_initializers = _pair(
            default_kernel_initializers(degree)
            if kernel_initializer is None
            else kernel_initializer,
            "kernel_initializer",
        )
        self.bias_initializers = _pair(
            default_bias_initializers(form) if bias_initializer is None else bias_initializer,
            "bias_initializer",
        )
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

    # -- to be provided by subclasses -------------------------------------
    @property
    def _units(self):
        """Output channels of each branch."""
        raise NotImplementedError

    def _make_branch(self, name, kernel_initializer, bias_initializer):
        raise NotImplementedError

    def _apply_kernel(self, inputs, kernel, bias):
        """What a branch computes, with ``kernel`` and ``bias`` (or None) in place of its own."""
        raise NotImplementedError

    def _fan_in(self, input_shape):
        """The fan-in of one branch's kernel (read by ``BranchUniform`` biases)."""
        raise NotImplementedError

    def _channel_axis(self):
        return -1

    def _prepare(self, input_shape):
        """Called first in `build`; returns the shape the branches see."""
        return input_shape

    def _mix_kernel_shape(self, units):
        """The shape of each ``Sₙ`` kernel: a square map of the channels."""
        return (units, units)

    def _apply_mix(self, x, kernel, bias):
        """``Sₙ xₙ₋₁ + bₙ`` (``bias`` may be None)."""
        return self._channel_map(x, kernel, bias)

    def _instance_axes(self, ndim):
        """The axes an instance normalization reduces (the spatial axes), or None."""
        return None

    @property
    def explicit_padding(self):
        """Once built, the ``(before, after)`` pairs padded before the branches, or None."""
        return None

    def pad_inputs(self, inputs):
        """The input as the branches see it (explicitly padded, for some convolutions)."""
        return inputs

    def _built_input_spec(self, channels):
        """The input spec once built: the channel axis is fixed."""
        raise NotImplementedError

    # -- Keras API ---------------------------------------------------------
    def _branch_kwargs(self):
        return dict(
            use_bias=self.use_bias,
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            kernel_constraint=self.kernel_constraint,
            bias_constraint=self.bias_constraint,
            # Sublayers get the parent's dtype policy explicitly: they do not
            # inherit it, and mixed precision would otherwise stop at the border.
            dtype=self.dtype_policy,
        )

    def _input_channels(self, input_shape):
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(
                f"Layer {self.name!r} needs a known number of input channels "
                f"(axis {self._channel_axis()}). Received input_shape={input_shape}."
            )
        return int(channels)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        branch_shape = self._prepare(input_shape)
        fan_in = self._fan_in(input_shape)
        # A bias has no fan-in of its own: initializers such as
        # BranchUniform read the kernel's, known only now.
        for index in range(self.degree):
            which = min(index, 1)
            branch = self._make_branch(
                BRANCH_NAMES[index],
                branch_initializer(self.kernel_initializers[which], index),
                branch_initializer(self.bias_initializers[which], index, fan_in=fan_in),
            )
            branch.build(branch_shape)
            setattr(self, BRANCH_NAMES[index], branch)
        units = self._units
        output_shape = self.compute_output_shape(input_shape)
        self.product_norm = None
        if self.normalization in ("batch", "batch_as"):
            self.product_norm = keras.layers.BatchNormalization(
                axis=self._channel_axis(), dtype=self.dtype_policy, name="product_norm"
            )
            self.product_norm.build(output_shape)
        self.product_scale_weight = None
        if self.product_scale is not None:
            self.product_scale_weight = self.add_weight(
                name="product_scale",
                shape=(units,),
                initializer=keras.initializers.Constant(self.product_scale),
            )
        if self.form == "ncp":
            for n in range(2, self.degree + 1):
                self._add_channel_map(
                    f"mix_kernel_{n}", f"mix_bias_{n}", units, self._mix_kernel_shape(units)
                )
        if self.form in ("ccp", "ncp"):
            self._add_channel_map("projection_kernel", "projection_bias", units)
        self.input_spec = self._built_input_spec(channels)

    def _add_channel_map(self, kernel_name, bias_name, units, shape=None):
        """A square map of the channels (or a kernel of ``shape``), starting as the identity."""
        shape = (units, units) if shape is None else tuple(shape)
        setattr(
            self,
            kernel_name,
            self.add_weight(
                name=kernel_name,
                shape=shape,
                initializer="identity" if len(shape) == 2 else centred_identity,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            ),
        )
        bias = None
        if self.use_bias:
            bias = self.add_weight(
                name=bias_name,
                shape=(units,),
                initializer="zeros",
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        setattr(self, bias_name, bias)

    def branches(self):
        """The ``N`` linear maps of the input, in order (``branch_a``, ``branch_b``...)."""
        return [getattr(self, name) for name in BRANCH_NAMES[: self.degree]]

    def _branch_outputs(self, inputs):
        branches = self.branches()
        if not self.fuse_branches:
            return [branch(inputs) for branch in branches]
        kernel = ops.concatenate(
            [ops.cast(branch.kernel, self.compute_dtype) for branch in branches], axis=-1
        )
        bias = None
        if self.use_bias:
            bias = ops.concatenate(
                [ops.cast(branch.bias, self.compute_dtype) for branch in branches], axis=0
            )
        fused = self._apply_kernel(inputs, kernel, bias)
        return ops.split(fused, self.degree, axis=self._channel_axis())

    def _channel_map(self, x, kernel, bias):
        """``kernel`` applied to the channel axis of ``x``, plus ``bias``."""
        axis = self._channel_axis()
        if axis != -1:
            x = ops.moveaxis(x, axis, -1)
        y = ops.matmul(x, ops.cast(kernel, x.dtype))
        if bias is not None:
            y = ops.add(y, ops.cast(bias, y.dtype))
        if axis != -1:
            y = ops.moveaxis(y, -1, axis)
        return y

    def _per_channel(self, vector, ndim):
        """``vector`` (one value per channel) shaped to broadcast on a tensor of ``ndim`` axes."""
        if self._channel_axis() == -1:
            return vector
        return ops.reshape(vector, (-1,) + (1,) * (ndim - 2))

    def _instance_normalize(self, y):
        """``y`` normalized per example and channel over the spatial axes (no scale, offset)."""
        axes = self._instance_axes(len(y.shape))
        dtype = y.dtype
        if keras.backend.standardize_dtype(dtype) in ("float16", "bfloat16"):
            y = ops.cast(y, "float32")
        mean, variance = ops.moments(y, axes=axes, keepdims=True)
        y = ops.multiply(ops.subtract(y, mean), ops.rsqrt(ops.add(variance, INSTANCE_EPSILON)))
        return ops.cast(y, dtype)

    def _skips(self, n):
        """Whether step ``n`` adds ``xₙ₋₁``."""
        if self.form == "ccp" or self.use_skip is True:
            return True
        return self.use_skip == "residual" and n >= 3

    def call(self, inputs, training=None):
        maps = self._branch_outputs(self.pad_inputs(inputs))
        x = maps[0]
        for n in range(2, self.degree + 1):
            a = maps[n - 1]
            if self.normalization == "instance_a":
                a = self._instance_normalize(a)
            kernel = getattr(self, f"mix_kernel_{n}", None)
            bias = getattr(self, f"mix_bias_{n}", None)
            if self.normalization == "batch_as":
                # Aₙz ⊙ Sₙxₙ₋₁ alone is normalized (at the last step), then + Aₙz ⊙ bₙ.
                term = ops.multiply(self._apply_mix(x, kernel, None), a)
                if n == self.degree:
                    term = self._normalize_and_scale(term, training)
                if bias is not None:
                    bias = self._per_channel(ops.cast(bias, a.dtype), len(a.shape))
                    term = ops.add(term, ops.multiply(a, bias))
            else:
                factor = x if self.form != "ncp" else self._apply_mix(x, kernel, bias)
                term = ops.multiply(factor, a)
                if n == self.degree:
                    term = self._normalize_and_scale(term, training)
            x = ops.add(term, x) if self._skips(n) else term
        if self.form != "product":
            x = self._channel_map(x, self.projection_kernel, self.projection_bias)
        if self.output_range is not None and not training:
            x = ops.clip(x, *self.output_range)
        return x

    def _normalize_and_scale(self, y, training):
        if self.product_norm is not None:
            y = self.product_norm(y, training=training)
        if self.product_scale_weight is not None:
            scale = ops.cast(self.product_scale_weight, y.dtype)
            y = ops.multiply(y, self._per_channel(scale, len(y.shape)))
        return y

    @property
    def has_fold(self):
        """Whether `fold` applies: a degree-2 product layer."""
        return self.form == "product" and self.degree == 2

    def fold(self, norm_after=None):
        """Float64 ``(kernel_a, bias_a, kernel_b, bias_b, offset)`` of this layer at inference.

        For a degree-2 product layer, trained with the product batch
        normalized, scaled and the first-order skip,

            y = g ⊙ (s ⊙ (A ⊙ B) + t) + A = A ⊙ (g s ⊙ B + 1) + g t

        where ``s, t`` are the batch normalization's scale and shift from its
        moving statistics and ``g`` the product scale: the layer is exactly
        ``A(x) ⊙ B'(x) + c`` with branch A's kernel and bias as they are and
        branch B's returned. ``norm_after``, a ``BatchNormalization`` applied
        to this layer's output, folds in too:
        ``norm(A ⊙ B' + c) = A ⊙ (s B') + (s c + t)``.

        Raises:
            ValueError: for other forms and degrees, which have no such fold.
        """
        if not self.has_fold:
            raise ValueError(
                f"Layer {self.name!r} (form={self.form!r}, degree={self.degree}) has no "
                "A ⊙ B + c fold: only degree-2 product layers have one."
            )
        a, b = self.branches()
        ka, kb = (np.asarray(branch.kernel, "float64") for branch in (a, b))
        channels = ka.shape[-1]
        ba = np.asarray(a.bias, "float64") if a.use_bias else np.zeros(channels)
        bb = np.asarray(b.bias, "float64") if b.use_bias else np.zeros(channels)
        scale, offset = np.ones(channels), np.zeros(channels)
        if self.product_norm is not None:
            scale, offset = batch_norm_affine(self.product_norm, channels)
        if self.product_scale_weight is not None:
            g = np.asarray(self.product_scale_weight, "float64")
            scale, offset = g * scale, g * offset
        kb, bb = kb * scale, bb * scale
        if self.use_skip:
            bb = bb + 1.0
        if norm_after is not None:
            s, t = batch_norm_affine(norm_after, channels)
            kb, bb, offset = kb * s, bb * s, s * offset + t
        return ka, ba, kb, bb, offset

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "degree": self.degree,
                "form": self.form,
                "use_bias": self.use_bias,
                "kernel_initializer": [
                    keras.initializers.serialize(i) for i in self.kernel_initializers
                ],
                "bias_initializer": [
                    keras.initializers.serialize(i) for i in self.bias_initializers
                ],
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "use_skip": self.use_skip,
                "normalization": self.normalization,
                "product_scale": self.product_scale,
                "output_range": None if self.output_range is None else list(self.output_range),
            }
        )
        return config
