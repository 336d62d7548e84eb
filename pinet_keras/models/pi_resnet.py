"""`PiResNet`: an activation-free ResNet made of polynomial residual blocks."""

import keras

from pinet_keras.layers import PolynomialConv2D
from pinet_keras.models.validation import check_input_shape
from pinet_keras.models.validation import positive_int

STEMS = ("poly", "conv")


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

    What is not polynomial, plainly: there is no activation function and no
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
        kernel_regularizer: applied to every convolution and the head
            (prefer the optimizer's decoupled weight decay).
        width: if given, every stage width (and the stem's) is scaled so that
            the first stage has ``width`` channels (``--width`` of
            `examples/train.py`).
        num_blocks: if given, the number of residual blocks of every stage
            (``--num_blocks`` of `examples/train.py`).
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
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"Argument `dropout` must be in [0, 1). Received: dropout={dropout!r}")

    def poly(filters, strides, layer_name):
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

    def batch_norm(layer_name):
        return keras.layers.BatchNormalization(dtype=dtype, name=layer_name)

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
    x = batch_norm("stem_bn")(x)

    channels = stem_width
    for stage, (filters, blocks) in enumerate(zip(stage_widths, blocks_per_stage), start=1):
        for block in range(1, blocks + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            prefix = f"stage{stage}_block{block}"
            h = x
            for conv in range(1, convs_per_block + 1):
                h = poly(filters, strides if conv == 1 else 1, f"{prefix}_poly{conv}")(h)
                h = batch_norm(f"{prefix}_bn{conv}")(h)
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
            channels = filters

    x = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, dtype=dtype, name="dropout")(x)
    outputs = keras.layers.Dense(
        num_classes, kernel_regularizer=kernel_regularizer, dtype=dtype, name="logits"
    )(x)
    return keras.Model(inputs, outputs, name=name)
