"""`PolyNet`: the five-block Π-net of the original experiment, as a Sequential."""

import numbers

import keras

from pinet_keras.layers import PolynomialConv2D
from pinet_keras.layers.polynomial_conv import standardize_padding
from pinet_keras.models.validation import check_input_shape
from pinet_keras.models.validation import positive_int
from pinet_keras.models.validation import rate

# (filters as a multiple of width, kernel, stride, padding) of the original
# network with PyTorch's symmetric integer paddings: its exact layers at any
# input size large enough (at least 12×12: below, block 5 has no output).
ORIGINAL_BLOCKS = (
    (1, 3, 1, 1),
    (2, 4, 2, 1),
    (4, 4, 2, 1),
    (8, 2, 1, 0),
    (16, 4, 2, 1),
)
# The default: "same" for 1, "valid" for 0. The same layers and function as
# ORIGINAL_BLOCKS at 28×28 (and wherever "same" pads symmetrically), and an
# output at every input size; at 32×32 block 5 gives 4×4 instead of 3×3.
DEFAULT_BLOCKS = tuple((m, k, s, "same" if p else "valid") for m, k, s, p in ORIGINAL_BLOCKS)
_ROW_ENTRIES = ("multiplier", "kernel", "stride", "padding")


def _check_blocks(blocks):
    """``blocks`` as a tuple of rows; a ValueError names the first wrong entry."""
    if isinstance(blocks, str) or not isinstance(blocks, (list, tuple)) or not blocks:
        raise ValueError(
            "Argument `blocks` must be a non-empty list of (multiplier, kernel, stride, "
            f"padding) rows. Received: blocks={blocks!r}"
        )
    rows = []
    for index, row in enumerate(blocks):
        if isinstance(row, str) or not isinstance(row, (list, tuple)) or len(row) != 4:
            raise ValueError(
                f"blocks[{index}] must be a row (multiplier, kernel, stride, padding). "
                f"Received: {row!r}"
            )
        for position, (entry, value) in enumerate(zip(_ROW_ENTRIES[:3], row)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(
                    f"blocks[{index}][{position}] ({entry}) must be a positive int. "
                    f"Received: {value!r} in row {tuple(row)!r}"
                )
        try:
            standardize_padding(row[3], 2)
        except ValueError as error:
            raise ValueError(
                f'blocks[{index}][3] (padding) must be "same", "valid", an int or pairs. '
                f"Received: {row[3]!r} in row {tuple(row)!r} ({error})"
            ) from None
        rows.append(tuple(row))
    return tuple(rows)


def PolyNet(
    input_shape=(28, 28, 1),
    num_classes=10,
    width=16,
    num_blocks=None,
    blocks=DEFAULT_BLOCKS,
    degree=2,
    form="product",
    use_skip=False,
    normalization=None,
    product_scale=None,
    dropout=0.0,
    kernel_regularizer=None,
    kernel_initializer=None,
    bias_initializer=None,
    use_bias=True,
    dtype=None,
    preprocessing=None,
    name="polynet",
):
    """Builds a PolyNet: stacked `PolynomialConv2D` blocks, flatten, dense.

    With default arguments it is the network of the original PyTorch
    experiment at 28×28: five blocks, each ``conv_a(x) ⊙ conv_b(x)`` with
    bias, of ``width * (1, 2, 4, 8, 16)`` filters, a flatten and a dense
    head giving logits; 1,220,362 parameters for 28×28×1 input and no
    activation function anywhere. ``blocks=ORIGINAL_BLOCKS`` (PyTorch's
    integer paddings) is the original at every size: 1,220,938 parameters
    at 32×32×3, where the default ("same" paddings) has 1,238,858. The
    network is a polynomial of degree ``degree**num_blocks`` in its input (32 by default; see
    `pinet_keras.polynomial_degree`).

    Args:
        input_shape: ``(height, width, channels)``.
        num_classes: number of logits.
        width: filters of the first block (``N``); block ``i`` has
            ``N * multiplier_i``.
        num_blocks: keep only the first ``num_blocks`` rows of ``blocks``
            (the degree is ``degree**num_blocks``). Defaults to all of them.
        blocks: rows ``(multiplier, kernel, stride, padding)``; padding as
            in `PolynomialConv2D` (an int is PyTorch's). `DEFAULT_BLOCKS` by
            default, `ORIGINAL_BLOCKS` for PyTorch's paddings.
        degree, form: of every block (see `PolynomialConv2D`).
        use_skip, normalization, product_scale: passed to every block (see
            `PolynomialConv2D`).
        dropout: rate of a dropout layer before the head (0 for none).
        kernel_regularizer: applied to every block and the head.
        kernel_initializer, bias_initializer: passed to every block.
        use_bias: whether the blocks and the head have biases (without them
            the network is a homogeneous polynomial of degree ``degree**n``).
        dtype: dtype or dtype policy of every layer (default: the global
            policy, e.g. ``keras.config.set_dtype_policy("mixed_bfloat16")``).
        preprocessing: layers to put first, e.g. `pixel_preprocessing(...)`
            for a model that takes raw pixels; none by default (the original
            network takes pixels in ``[0, 1]``).
        name: model name.

    Returns:
        An uncompiled `keras.Sequential` producing logits (use
        ``from_logits=True`` in the loss).

    Example:

    >>> model = PolyNet()
    >>> model.count_params()
    1220362
    >>> model.output_shape
    (None, 10)
    >>> PolyNet(input_shape=(32, 32, 3), blocks=ORIGINAL_BLOCKS).count_params()
    1220938
    """
    positive_int(num_classes, "num_classes")
    positive_int(width, "width")
    check_input_shape(input_shape)
    blocks = _check_blocks(blocks)
    if num_blocks is not None:
        positive_int(num_blocks, "num_blocks")
        if num_blocks > len(blocks):
            raise ValueError(
                f"Argument `num_blocks` must be at most len(blocks)={len(blocks)}. "
                f"Received: num_blocks={num_blocks}"
            )
        blocks = blocks[:num_blocks]
    rate(dropout, "dropout")

    model = keras.Sequential(name=name)
    # The input takes the policy's variable dtype: float64 for "float64",
    # float32 for the mixed policies (the layers cast to their compute dtype).
    input_dtype = keras.dtype_policies.get(dtype).variable_dtype if dtype is not None else None
    model.add(keras.Input(shape=tuple(input_shape), dtype=input_dtype))
    for layer in preprocessing or ():
        model.add(layer)
    shape = model.output_shape if model.layers else (None, *input_shape)
    for index, (multiplier, kernel, stride, padding) in enumerate(blocks, start=1):
        block = PolynomialConv2D(
            width * multiplier,
            kernel,
            strides=stride,
            padding=padding,
            degree=degree,
            form=form,
            use_skip=use_skip,
            normalization=normalization,
            product_scale=product_scale,
            kernel_regularizer=kernel_regularizer,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            use_bias=use_bias,
            dtype=dtype,
            name=f"block{index}",
        )
        shape = block.compute_output_shape(shape)
        if min(shape[1:3]) < 1:
            raise ValueError(
                f"Input of shape {tuple(input_shape)} is too small for block {index} "
                f"(row {blocks[index - 1]!r}): its output would be {shape[1:]}."
            )
        model.add(block)
    model.add(keras.layers.Flatten(dtype=dtype, name="flatten"))
    if dropout:
        model.add(keras.layers.Dropout(dropout, dtype=dtype, name="dropout"))
    model.add(
        keras.layers.Dense(
            num_classes,
            use_bias=use_bias,
            kernel_regularizer=kernel_regularizer,
            dtype=dtype,
            name="logits",
        )
    )
    return model
