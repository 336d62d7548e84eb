"""`FastNet`: a small CIFAR network for short training budgets, polynomial or with ReLUs.

Its layout is the one of the fastest published CIFAR-10 recipes (airbench,
Keller Jordan): a whitened, frozen 2×2 first convolution, three groups of two
3×3 convolutions with a 2×2 pooling after the first, batch normalization
without a learned scale, and a linear head without bias on the pooled
features. Built from the block functions below, as keras-hub's
models are.
"""

import keras

from pinet_keras.layers import PolynomialConv2D
from pinet_keras.layers.whitening import PatchWhitening
from pinet_keras.models.validation import check_input_shape
from pinet_keras.models.validation import positive_int
from pinet_keras.models.validation import positive_ints
from pinet_keras.models.validation import rate

BLOCKS = ("polynomial", "relu")
POOLINGS = ("average", "max")


def apply_conv(x, filters, block, product_scale, dtype, name):
    """A 3×3 convolution: a `PolynomialConv2D` (degree 2, skip, normalized product) or plain."""
    if block == "relu":
        layer = keras.layers.Conv2D(
            filters, 3, padding="same", use_bias=False, dtype=dtype, name=name
        )
    else:
        layer = PolynomialConv2D(
            filters,
            3,
            padding="same",
            use_skip=True,
            normalization="batch",
            product_scale=product_scale,
            use_bias=False,
            dtype=dtype,
            name=name,
        )
    return layer(x)


def apply_norm_activation(x, block, dtype, name):
    """Batch normalization without a learned scale, then a ReLU (``block="relu"``) or nothing."""
    x = keras.layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5, scale=False, dtype=dtype, name=f"{name}_bn"
    )(x)
    if block == "relu":
        x = keras.layers.ReLU(dtype=dtype, name=f"{name}_relu")(x)
    return x


def apply_conv_group(x, filters, block, pooling, product_scale, dtype, name):
    """conv → 2×2 pooling → norm → conv → norm: one group, half the resolution."""
    x = apply_conv(x, filters, block, product_scale, dtype, f"{name}_conv1")
    pool = keras.layers.MaxPooling2D if pooling == "max" else keras.layers.AveragePooling2D
    x = pool(2, dtype=dtype, name=f"{name}_pool")(x)
    x = apply_norm_activation(x, block, dtype, f"{name}_1")
    x = apply_conv(x, filters, block, product_scale, dtype, f"{name}_conv2")
    return apply_norm_activation(x, block, dtype, f"{name}_2")


def FastNet(
    input_shape=(32, 32, 3),
    num_classes=10,
    group_widths=(64, 256, 256),
    block="polynomial",
    pooling=None,
    product_scale=0.1,
    logit_scale=1.0,
    dropout=0.0,
    width=None,
    dtype=None,
    preprocessing=None,
    name="fast_net",
):
    """Builds a FastNet: whitening, three groups of two 3×3 convolutions, a linear head.

        PatchWhitening(2×2) → [ReLU] → group 1 → group 2 → group 3
            → global pooling → [dropout] → dense (no bias) → × logit_scale

    where each group is ``conv → 2×2 pooling → BN → [ReLU] → conv → BN →
    [ReLU]`` with ``group_widths[g]`` channels, and BN has no learned scale.
    ``block="polynomial"`` (default) makes every 3×3 convolution a
    `PolynomialConv2D` (``A(x) ⊙ B(x)``, batch-normalized, plus ``A(x)``,
    the product scaled by a learnable ``γ`` that starts at
    ``product_scale``) and has no ReLU; ``block="relu"`` is the ReLU network
    of the fast recipes, the reference the polynomial one is measured
    against. ``PatchWhitening`` must be adapted to training images (the
    trainer does it; see `PatchWhitening.adapt`).

    With ``pooling="average"`` (the polynomial network's default) it is a
    polynomial of its input at inference, of degree ``2**6 = 64``
    (`polynomial_degree`); ``pooling="max"`` (the ReLU network's default, as
    in the fast recipes) uses max pooling (2×2 in the groups, global at the
    end), which is not polynomial.

    Args:
        input_shape: ``(height, width, channels)``, at least 16 pixels a side.
        num_classes: number of logits.
        group_widths: channels of the three groups.
        block: ``"polynomial"`` or ``"relu"``.
        pooling: ``"average"`` or ``"max"``; ``None``: average for
            ``block="polynomial"``, max for ``block="relu"``.
        product_scale: the polynomial layers' initial product scale.
        logit_scale: the logits are the head's outputs times this (the fast
            ReLU recipes scale them down, by 1/9, with a larger learning rate).
        dropout: rate of a dropout before the head (0: none).
        width: if given, the widths are scaled so that the first group has
            ``width`` channels (``--width`` of `pinet-keras train`).
        dtype: dtype or dtype policy of every layer.
        preprocessing: layers to put first, e.g. `pixel_preprocessing(...)`.
        name: model name.

    Returns:
        An uncompiled functional `keras.Model` producing logits.

    Example:

    >>> from pinet_keras import polynomial_degree
    >>> model = FastNet(group_widths=(8, 16, 16))
    >>> model.output_shape, polynomial_degree(model)
    ((None, 10), 64)
    """
    positive_int(num_classes, "num_classes")
    check_input_shape(input_shape)
    group_widths = positive_ints(group_widths, "group_widths")
    if len(group_widths) != 3:
        raise ValueError(
            f"Argument `group_widths` must have 3 values. Received: group_widths={group_widths!r}"
        )
    if min(input_shape[:2]) < 16:
        raise ValueError(
            f"FastNet needs images of at least 16x16 pixels (three 2x2 poolings after a 2x2 "
            f"convolution). Received: input_shape={tuple(input_shape)!r}"
        )
    if width is not None:
        positive_int(width, "width")
        group_widths = tuple(max(1, round(w * width / group_widths[0])) for w in group_widths)
    if block not in BLOCKS:
        raise ValueError(f"Argument `block` must be one of {BLOCKS}. Received: block={block!r}")
    if pooling is None:
        pooling = "max" if block == "relu" else "average"
    if pooling not in POOLINGS:
        raise ValueError(
            f"Argument `pooling` must be one of {POOLINGS}. Received: pooling={pooling!r}"
        )
    for arg, value in (("product_scale", product_scale), ("logit_scale", logit_scale)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"Argument `{arg}` must be a number > 0. Received: {arg}={value!r}")
    rate(dropout, "dropout")

    input_dtype = keras.dtype_policies.get(dtype).variable_dtype if dtype is not None else None
    inputs = keras.Input(shape=tuple(input_shape), dtype=input_dtype, name="image")
    x = inputs
    for layer in preprocessing or ():
        x = layer(x)
    x = PatchWhitening(2, dtype=dtype, name="whitening")(x)
    if block == "relu":
        x = keras.layers.ReLU(dtype=dtype, name="whitening_relu")(x)
    for group, filters in enumerate(group_widths, start=1):
        x = apply_conv_group(x, filters, block, pooling, product_scale, dtype, f"group{group}")
    if pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(dtype=dtype, name="pool")(x)
    else:
        x = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, dtype=dtype, name="dropout")(x)
    x = keras.layers.Dense(num_classes, use_bias=False, dtype=dtype, name="head")(x)
    outputs = keras.layers.Rescaling(logit_scale, dtype=dtype, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def adapt_whitening(model, images, batch_size=256):
    """Adapts every `PatchWhitening` of ``model`` to ``images`` (what the model takes, raw pixels).

    Each layer's input is computed by the layers before it, at inference
    (no augmentation), and `PatchWhitening.adapt` sets its kernel. Returns
    the number of layers adapted.
    """
    layers = [layer for layer in model.layers if isinstance(layer, PatchWhitening)]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    for layer in layers:
        features = keras.Model(inputs, layer.input).predict(
            images, batch_size=batch_size, verbose=0
        )
        layer.adapt(features)
    return len(layers)
