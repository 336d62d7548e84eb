"""The part shared by every polynomial layer: two branches and their product."""

import keras
from keras import ops

from pinet_keras.initializers import BranchUniform
from pinet_keras.initializers import branch_initializer

NORMALIZATIONS = (None, "batch")


def default_kernel_initializers():
    """Branch A: LeCun uniform (variance 1/fan_in); branch B: ``BranchUniform``."""
    return ["lecun_uniform", BranchUniform()]


def default_bias_initializers():
    """Branch A: ``BranchUniform`` (PyTorch's bias); branch B: ones."""
    return [BranchUniform(), "ones"]


def _pair(value, name):
    """Accepts one initializer (cloned per branch) or a list of two."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(
                f"Argument `{name}` must be one initializer or a list of two "
                f"(branch A, branch B). Received a sequence of length {len(value)}: {value!r}"
            )
        return [keras.initializers.get(v) for v in value]
    init = keras.initializers.get(value)
    return [init, init]


class PolynomialBase(keras.layers.Layer):
    """Base class: ``y = A(x) * B(x)``, with the optional terms below.

    Subclasses create the two linear branches (`_make_branch`) and say how
    to read the fan-in and the channel axis. The output is

        y = A(x) ⊙ B(x)                       (default)
        y = gamma · norm(A(x) ⊙ B(x)) + A(x)  (all options on)

    where ``norm`` is batch normalization of the product
    (``normalization="batch"``), ``gamma`` a learnable per-channel scale
    (``product_scale=<initial value>``) and ``+ A(x)`` the first-order term
    (``use_skip=True``, the CCP form of the Π-nets paper).

    Initialization, the heart of a deep product (see
    `pinet_keras.initializers`): at initialization branch B is close to 1
    (bias ones, small ``BranchUniform`` kernel) and branch A is variance
    preserving (LeCun uniform kernel, ``BranchUniform`` bias). Each block then
    starts close to the linear map ``A(x)`` plus a small quadratic term, so a
    stack of blocks starts as a well-conditioned linear network instead of a
    product whose scale is squared at every block; the higher-degree terms
    grow during training. Measured on Fashion-MNIST (five-block PolyNet, one
    epoch, Adam 1e-3): Keras' Glorot/zeros stays at chance and PyTorch's
    uniform initialization learns slowly and unevenly, while this default
    learns from the first steps (`examples/fashion_mnist_one_epoch.py`).
    """

    degree = 2

    def __init__(
        self,
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(use_bias, bool):
            raise ValueError(f"Argument `use_bias` must be a bool. Received: use_bias={use_bias!r}")
        if not isinstance(use_skip, bool):
            raise ValueError(f"Argument `use_skip` must be a bool. Received: use_skip={use_skip!r}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"Argument `normalization` must be one of {NORMALIZATIONS}. "
                f"Received: normalization={normalization!r}"
            )
        if product_scale is not None and (
            isinstance(product_scale, bool) or not isinstance(product_scale, (int, float))
        ):
            raise ValueError(
                "Argument `product_scale` must be None or a number (the initial "
                f"value of the learnable scale). Received: product_scale={product_scale!r}"
            )
        self.use_bias = use_bias
        self.use_skip = use_skip
        self.normalization = normalization
        self.product_scale = None if product_scale is None else float(product_scale)
        self.kernel_initializers = _pair(
            default_kernel_initializers() if kernel_initializer is None else kernel_initializer,
            "kernel_initializer",
        )
        self.bias_initializers = _pair(
            default_bias_initializers() if bias_initializer is None else bias_initializer,
            "bias_initializer",
        )
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        # Sublayers get the parent's dtype policy explicitly: they do not
        # inherit it, and mixed precision would otherwise stop at the border.
        self.branch_a = self._make_branch("branch_a")
        self.branch_b = self._make_branch("branch_b")
        self.product_norm = None
        if normalization == "batch":
            self.product_norm = keras.layers.BatchNormalization(
                axis=self._channel_axis(), dtype=self.dtype_policy, name="product_norm"
            )

    # -- to be provided by subclasses -------------------------------------
    def _make_branch(self, name):
        raise NotImplementedError

    def _fan_in(self, input_shape):
        raise NotImplementedError

    def _channel_axis(self):
        return -1

    def _branch_kwargs(self):
        return dict(
            use_bias=self.use_bias,
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            kernel_constraint=self.kernel_constraint,
            bias_constraint=self.bias_constraint,
            dtype=self.dtype_policy,
        )

    # -- Keras API ---------------------------------------------------------
    def build(self, input_shape):
        fan_in = self._fan_in(input_shape)
        # A bias has no fan-in of its own: initializers such as
        # BranchUniform read the kernel's, known only now.
        for index, branch in enumerate((self.branch_a, self.branch_b)):
            branch.kernel_initializer = branch_initializer(self.kernel_initializers[index], index)
            branch.bias_initializer = branch_initializer(
                self.bias_initializers[index], index, fan_in=fan_in
            )
            branch.build(input_shape)
        output_shape = self.branch_a.compute_output_shape(input_shape)
        if self.product_norm is not None:
            self.product_norm.build(output_shape)
        if self.product_scale is not None:
            channels = output_shape[self._channel_axis()]
            self.gamma = self.add_weight(
                name="product_scale",
                shape=(channels,),
                initializer=keras.initializers.Constant(self.product_scale),
            )

    def call(self, inputs, training=None):
        a = self.branch_a(inputs)
        y = ops.multiply(a, self.branch_b(inputs))
        if self.product_norm is not None:
            y = self.product_norm(y, training=training)
        if self.product_scale is not None:
            gamma = ops.cast(self.gamma, y.dtype)
            if self._channel_axis() != -1:
                gamma = ops.reshape(gamma, (-1,) + (1,) * (len(y.shape) - 2))
            y = ops.multiply(y, gamma)
        if self.use_skip:
            y = ops.add(y, a)
        return y

    def compute_output_shape(self, input_shape):
        return self.branch_a.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
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
            }
        )
        return config
