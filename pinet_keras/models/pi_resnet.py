"""`PiResNet`: an activation-free ResNet made of polynomial residual blocks."""

import keras

from pinet_keras.layers import DropBlock2D
from pinet_keras.layers import InstanceBatchNormalization
from pinet_keras.layers import PolynomialConv2D
from pinet_keras.layers import StochasticDepth
from pinet_keras.models.validation import check_input_shape
from pinet_keras.models.validation import positive_int

STEMS = ("poly", "conv")
BLOCKS = ("polynomial", "relu")
NORMALIZATIONS = ("batch", "instance_batch")


def _positive_ints(values, name):
    values = tuple(values) if isinstance(values, (list, tuple)) else None
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values):
        raise ValueError(
            f"Argument `{name}` must be a non-empty sequence of positive ints. "
            f"Received: {name}={values!r}"
        )
    return values


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
    (`pinet_keras.export`, ``bound``); README shows what this does.

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
    stage_widths = _positive_ints(stage_widths, "stage_widths")
    if num_blocks is not None:
        positive_int(num_blocks, "num_blocks")
        blocks_per_stage = (num_blocks,) * len(stage_widths)
    blocks_per_stage = _positive_ints(blocks_per_stage, "blocks_per_stage")
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
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"Argument `{arg}` must be in [0, 1). Received: {arg}={value!r}")
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

    def poly(filters, strides, layer_name):
        if block == "relu":
            return keras.layers.Conv2D(
                filters,
                3,
                strides=strides,
                padding="same",
                kernel_regularizer=kernel_regularizer,
                dtype=dtype,
                name=layer_name,
            )
        return PolynomialConv2D(
            filters,
            3,
            strides=strides,
            padding="same",
            use_skip=True,
            normalization="batch",
            product_scale=product_scale,
            kernel_regularizer=kernel_regularizer,
            dtype=dtype,
            name=layer_name,
        )

    def batch_norm(layer_name, instance=False):
        if instance:
            return InstanceBatchNormalization(0.8, dtype=dtype, name=layer_name)
        return keras.layers.BatchNormalization(dtype=dtype, name=layer_name)

    def activation(x, layer_name):
        if block == "relu":
            return keras.layers.ReLU(dtype=dtype, name=layer_name)(x)
        return x

    # The input takes the policy's variable dtype (float32 for the mixed
    # policies, float64 for "float64"); the layers cast to their compute dtype.
    input_dtype = keras.dtype_policies.get(dtype).variable_dtype if dtype is not None else None
    inputs = keras.Input(shape=tuple(input_shape), dtype=input_dtype, name="image")
    x = inputs
    for layer in preprocessing or ():
        x = layer(x)
    if stem == "poly":
        x = poly(stem_width, 1, "stem")(x)
    else:
        x = keras.layers.Conv2D(
            stem_width,
            3,
            padding="same",
            use_bias=False,
            kernel_regularizer=kernel_regularizer,
            dtype=dtype,
            name="stem",
        )(x)
    x = activation(batch_norm("stem_bn")(x), "stem_relu")

    channels = stem_width
    total_blocks = sum(blocks_per_stage)
    index = 0
    for stage, (filters, blocks) in enumerate(zip(stage_widths, blocks_per_stage), start=1):
        instance = normalization == "instance_batch" and stage < len(stage_widths)
        for number in range(1, blocks + 1):
            index += 1
            strides = 2 if stage > 1 and number == 1 else 1
            prefix = f"stage{stage}_block{number}"
            h = x
            for conv in range(1, convs_per_block + 1):
                h = poly(filters, strides if conv == 1 else 1, f"{prefix}_poly{conv}")(h)
                h = batch_norm(f"{prefix}_bn{conv}", instance and conv == 1)(h)
                if conv < convs_per_block:
                    h = activation(h, f"{prefix}_relu{conv}")
            if stochastic_depth:
                rate = stochastic_depth * index / total_blocks
                h = StochasticDepth(rate, dtype=dtype, name=f"{prefix}_drop_path")(h)
            shortcut = x
            if strides != 1 or channels != filters:
                shortcut = keras.layers.Conv2D(
                    filters,
                    1,
                    strides=strides,
                    use_bias=False,
                    kernel_regularizer=kernel_regularizer,
                    dtype=dtype,
                    name=f"{prefix}_shortcut",
                )(x)
                shortcut = batch_norm(f"{prefix}_shortcut_bn")(shortcut)
            x = keras.layers.Add(dtype=dtype, name=f"{prefix}_add")([shortcut, h])
            x = activation(x, f"{prefix}_relu")
            channels = filters
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
