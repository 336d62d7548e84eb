"""`PiResNet`: an activation-free ResNet made of polynomial residual blocks.

Built from the block functions below (`apply_stem`, `apply_residual_block`,
`apply_stack`), which take a tensor and return one, as keras-hub's ResNet does.
"""

import dataclasses

import keras

from pinet_keras.layers import DropBlock2D
from pinet_keras.layers import InstanceBatchNormalization
from pinet_keras.layers import PolynomialConv2D
from pinet_keras.layers import StochasticDepth
from pinet_keras.models.validation import check_input_shape
from pinet_keras.models.validation import positive_int
from pinet_keras.models.validation import positive_ints
from pinet_keras.models.validation import rate

STEMS = ("poly", "conv")
BLOCKS = ("polynomial", "relu")
NORMALIZATIONS = ("batch", "instance_batch")


@dataclasses.dataclass(frozen=True)
class BlockOptions:
    """What every layer of a `PiResNet` shares.

    Attributes:
        block: ``"polynomial"`` (a `PolynomialConv2D` per convolution, no
            activation) or ``"relu"`` (the ReLU twin: a ``Conv2D`` and a ReLU).
        product_scale: the polynomial layers' ``product_scale``.
        kernel_regularizer: every kernel's regularizer.
        dtype: every layer's dtype policy.
    """

    block: str = "polynomial"
    product_scale: float = 0.1
    kernel_regularizer: object = None
    dtype: object = None


def apply_conv(x, filters, strides, options, name):
    """One 3x3 convolution of a block: polynomial (degree 2, skip, normalized) or plain."""
    if options.block == "relu":
        layer = keras.layers.Conv2D(
            filters,
            3,
            strides=strides,
            padding="same",
            kernel_regularizer=options.kernel_regularizer,
            dtype=options.dtype,
            name=name,
        )
    else:
        layer = PolynomialConv2D(
            filters,
            3,
            strides=strides,
            padding="same",
            use_skip=True,
            normalization="batch",
            product_scale=options.product_scale,
            kernel_regularizer=options.kernel_regularizer,
            dtype=options.dtype,
            name=name,
        )
    return layer(x)


def apply_norm(x, options, name, instance=False):
    """Batch normalization, or `InstanceBatchNormalization` (``instance``)."""
    if instance:
        return InstanceBatchNormalization(0.8, dtype=options.dtype, name=name)(x)
    return keras.layers.BatchNormalization(dtype=options.dtype, name=name)(x)


def apply_activation(x, options, name):
    """A ReLU in the ReLU twin; nothing in a Π-ResNet (the products are its non-linearity)."""
    if options.block == "relu":
        return keras.layers.ReLU(dtype=options.dtype, name=name)(x)
    return x


def apply_stem(x, filters, options, stem="poly"):
    """The stem: a polynomial (or plain, ``stem="conv"``) 3x3 convolution, normalized."""
    if stem == "poly":
        x = apply_conv(x, filters, 1, options, "stem")
    else:
        x = keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=False,
            kernel_regularizer=options.kernel_regularizer,
            dtype=options.dtype,
            name="stem",
        )(x)
    return apply_activation(apply_norm(x, options, "stem_bn"), options, "stem_relu")


def apply_residual_block(
    x, filters, strides, options, convs=2, instance=False, drop_rate=0.0, name="block"
):
    """``x + F(x)``: ``convs`` convolutions, each normalized, and a projected shortcut if needed.

    ``instance``: the first normalization is `InstanceBatchNormalization`;
    ``drop_rate``: stochastic depth of the residual branch.
    """
    h = x
    for conv in range(1, convs + 1):
        h = apply_conv(h, filters, strides if conv == 1 else 1, options, f"{name}_poly{conv}")
        h = apply_norm(h, options, f"{name}_bn{conv}", instance and conv == 1)
        if conv < convs:
            h = apply_activation(h, options, f"{name}_relu{conv}")
    if drop_rate:
        h = StochasticDepth(drop_rate, dtype=options.dtype, name=f"{name}_drop_path")(h)
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(
            filters,
            1,
            strides=strides,
            use_bias=False,
            kernel_regularizer=options.kernel_regularizer,
            dtype=options.dtype,
            name=f"{name}_shortcut",
        )(x)
        shortcut = apply_norm(shortcut, options, f"{name}_shortcut_bn")
    x = keras.layers.Add(dtype=options.dtype, name=f"{name}_add")([shortcut, h])
    return apply_activation(x, options, f"{name}_relu")


def apply_stack(
    x, filters, blocks, strides, options, convs=2, instance=False, drop_rates=None, name="stage1"
):
    """``blocks`` residual blocks of ``filters`` channels; the first one strided by ``strides``."""
    drop_rates = drop_rates or (0.0,) * blocks
    for number in range(1, blocks + 1):
        x = apply_residual_block(
            x,
            filters,
            strides if number == 1 else 1,
            options,
            convs=convs,
            instance=instance,
            drop_rate=drop_rates[number - 1],
            name=f"{name}_block{number}",
        )
    return x


def PiResNet(
    input_shape=(32, 32, 3),
    num_classes=10,
    stage_widths=(64, 128, 256, 512),
    blocks_per_stage=(2, 2, 2, 2),
    convs_per_block=2,
    product_scale=0.1,
    stem="poly",
    stem_width=None,
    dropout=0.0,
    block="polynomial",
    normalization="batch",
    max_pooling=False,
    dropblock=0.0,
    dropblock_size=7,
    stochastic_depth=0.0,
    kernel_regularizer=None,
    width=None,
    num_blocks=None,
    dtype=None,
    preprocessing=None,
    name="pi_resnet",
):
    """Builds a Π-ResNet: a ResNet with polynomial blocks and no activation function.

    Every non-linearity is a Hadamard product. The network is

        stem → stage 1 → ... → stage S → global average pooling → [dropout] → dense logits

    where each stage is ``blocks_per_stage[s]`` residual blocks of
    ``stage_widths[s]`` channels (the first block of every stage after the
    first halves the resolution), and each residual block is

        h = x
        repeat convs_per_block times:
            h = BN( γ ⊙ BN(A(h) ⊙ B(h)) + A(h) )      # PolynomialConv2D + BatchNormalization
        y = shortcut(x) + h

    ``A`` and ``B`` are 3×3 convolutions (`PolynomialConv2D` with
    ``use_skip=True, normalization="batch", product_scale=...``): the first
    order term ``A(h)`` carries the signal, the second order term is batch
    normalized and scaled by a learnable per-channel ``γ`` initialized to
    ``product_scale`` (small, so each block starts close to a linear map and
    the higher-degree terms grow during training). ``shortcut`` is the
    identity, or a strided 1×1 convolution followed by batch normalization
    (a linear map) where the resolution or the width changes. The stem is a
    3×3 `PolynomialConv2D` (``stem="poly"``) or a 3×3 linear convolution
    (``stem="conv"``), followed by batch normalization.

    Options, all off by default (the R-PolyNets authors' CIFAR networks use
    the first three): ``normalization="instance_batch"`` normalizes the first
    product of every block outside the last stage with
    `InstanceBatchNormalization` (ratio 0.8) instead of batch normalization;
    ``max_pooling=True`` puts a 3×3 max pooling of stride 1 after every
    stage but the last; ``dropblock=p`` puts a `DropBlock2D` (rate ``p``,
    block ``dropblock_size``) after the first two stages;
    ``stochastic_depth=p`` drops the residual branch of block ``i`` of ``n``
    with probability ``p * i / n`` in training (`StochasticDepth`).
    ``block="relu"`` builds the network's ReLU twin: the same widths and
    depth with one 3×3 convolution, batch normalization and a ReLU where each
    polynomial layer and its batch normalization are (the stem too), to
    measure what having no activation function costs.

    What is not polynomial, plainly (default options): there is no activation function and no
    max pooling anywhere; the only non-polynomial operation is batch
    normalization *at training time*, which divides by the standard
    deviation of the batch. At inference batch normalization uses its moving
    statistics and is an affine map, global average pooling and the dense
    head are linear, dropout is the identity, so the trained network is a
    polynomial of its input, of degree ``polynomial_degree(model)``:
    ``2 ** (convs_per_block * total_blocks + (stem == "poly"))``, e.g.
    ``2**17 = 131072`` for the default (ResNet-18-like) configuration.

    A polynomial of high degree extrapolates steeply: an input unlike the
    training images can get enormous logits at inference, while the accuracy
    does not notice (the mean validation or test loss can jump by orders of
    magnitude from one epoch to the next; read the accuracy). Give the model
    raw pixels through ``preprocessing`` (`pinet_keras.models.pixel_preprocessing`,
    whose `PixelRange` clips them to the pixel box) and export it bounded
    (`pinet_keras.export`, ``bound``); the export guide shows what this does.

    Args:
        input_shape: ``(height, width, channels)``; 32×32×3 for CIFAR-10,
            28×28×1 for (Fashion-)MNIST.
        num_classes: number of logits.
        stage_widths: channels of each stage.
        blocks_per_stage: residual blocks of each stage (same length).
        convs_per_block: `PolynomialConv2D` layers in the residual branch of a
            block (each of degree 2, with two 3×3 convolutions).
        product_scale: initial value of the learnable scale ``γ`` of every
            product term.
        stem: ``"poly"`` or ``"conv"``, see above.
        stem_width: channels of the stem; defaults to ``stage_widths[0]``.
        dropout: rate of a dropout layer before the head (0 for none).
        block: ``"polynomial"``, or ``"relu"`` for the ReLU twin.
        normalization: ``"batch"`` or ``"instance_batch"``, see above.
        max_pooling: 3×3 max pooling (stride 1) after every stage but the last.
        dropblock: rate of the `DropBlock2D` after the first two stages (0: none).
        dropblock_size: its block size.
        stochastic_depth: drop rate of the last block's residual branch
            (linearly less for earlier blocks; 0: none).
        kernel_regularizer: applied to every convolution and the head
            (prefer the optimizer's decoupled weight decay).
        width: if given, every stage width (and the stem's) is scaled so that
            the first stage has ``width`` channels (``--width`` of
            `pinet-keras train`).
        num_blocks: if given, the number of residual blocks of every stage
            (``--num_blocks`` of `pinet-keras train`).
        dtype: dtype or dtype policy of every layer (default: the global
            policy, e.g. ``keras.config.set_dtype_policy("mixed_bfloat16")``).
        preprocessing: layers to put first, e.g. `pixel_preprocessing(...)`
            for a model that takes raw pixels; none by default.
        name: model name.

    Returns:
        An uncompiled functional `keras.Model` producing logits (use
        ``from_logits=True`` in the loss).

    Example:

    >>> from pinet_keras import polynomial_degree
    >>> model = PiResNet(stage_widths=(16, 32), blocks_per_stage=(1, 1))
    >>> model.output_shape
    (None, 10)
    >>> polynomial_degree(model)  # 2 (stem) * 4 * 4 (two blocks of two products)
    32
    """
    positive_int(num_classes, "num_classes")
    positive_int(convs_per_block, "convs_per_block")
    check_input_shape(input_shape)
    stage_widths = positive_ints(stage_widths, "stage_widths")
    if num_blocks is not None:
        positive_int(num_blocks, "num_blocks")
        blocks_per_stage = (num_blocks,) * len(stage_widths)
    blocks_per_stage = positive_ints(blocks_per_stage, "blocks_per_stage")
    if len(blocks_per_stage) != len(stage_widths):
        raise ValueError(
            "Arguments `stage_widths` and `blocks_per_stage` must have the same length. "
            f"Received: stage_widths={stage_widths!r}, blocks_per_stage={blocks_per_stage!r}"
        )
    if stem_width is None:
        stem_width = stage_widths[0]
    positive_int(stem_width, "stem_width")
    if width is not None:
        positive_int(width, "width")
        factor = width / stage_widths[0]
        stage_widths = tuple(max(1, round(w * factor)) for w in stage_widths)
        stem_width = max(1, round(stem_width * factor))
    if stem not in STEMS:
        raise ValueError(f"Argument `stem` must be one of {STEMS}. Received: stem={stem!r}")
    if isinstance(product_scale, bool) or not isinstance(product_scale, (int, float)):
        raise ValueError(
            f"Argument `product_scale` must be a number. Received: product_scale={product_scale!r}"
        )
    for arg, value in (
        ("dropout", dropout),
        ("dropblock", dropblock),
        ("stochastic_depth", stochastic_depth),
    ):
        rate(value, arg)
    positive_int(dropblock_size, "dropblock_size")
    if block not in BLOCKS:
        raise ValueError(f"Argument `block` must be one of {BLOCKS}. Received: block={block!r}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"Argument `normalization` must be one of {NORMALIZATIONS}. "
            f"Received: normalization={normalization!r}"
        )
    if not isinstance(max_pooling, bool):
        raise ValueError(f"Argument `max_pooling` must be a bool. Received: {max_pooling!r}")

    options = BlockOptions(block, product_scale, kernel_regularizer, dtype)
    # The input takes the policy's variable dtype (float32 for the mixed
    # policies, float64 for "float64"); the layers cast to their compute dtype.
    input_dtype = keras.dtype_policies.get(dtype).variable_dtype if dtype is not None else None
    inputs = keras.Input(shape=tuple(input_shape), dtype=input_dtype, name="image")
    x = inputs
    for layer in preprocessing or ():
        x = layer(x)
    x = apply_stem(x, stem_width, options, stem)

    total_blocks, index = sum(blocks_per_stage), 0
    for stage, (filters, blocks) in enumerate(zip(stage_widths, blocks_per_stage), start=1):
        rates = [stochastic_depth * (index + n) / total_blocks for n in range(1, blocks + 1)]
        index += blocks
        x = apply_stack(
            x,
            filters,
            blocks,
            2 if stage > 1 else 1,
            options,
            convs=convs_per_block,
            instance=normalization == "instance_batch" and stage < len(stage_widths),
            drop_rates=rates,
            name=f"stage{stage}",
        )
        if max_pooling and stage < len(stage_widths):
            x = keras.layers.MaxPooling2D(
                3, strides=1, padding="same", dtype=dtype, name=f"stage{stage}_max_pool"
            )(x)
        if dropblock and stage <= 2:
            x = DropBlock2D(dropblock, dropblock_size, dtype=dtype, name=f"stage{stage}_dropblock")(
                x
            )

    x = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, dtype=dtype, name="dropout")(x)
    outputs = keras.layers.Dense(
        num_classes, kernel_regularizer=kernel_regularizer, dtype=dtype, name="logits"
    )(x)
    return keras.Model(inputs, outputs, name=name)
