"""An inference-time rewrite of polynomial layers that quantizes well: ``A'(x) ⊙ B'(x) + c``."""

from __future__ import annotations

import keras
import numpy as np

from pinet_keras import _compat
from pinet_keras.layers.folded import FoldedPolynomial
from pinet_keras.layers.folded import _Absorbed
from pinet_keras.layers.polynomial_base import PolynomialBase
from pinet_keras.layers.polynomial_base import batch_norm_affine


def fold_polynomial_layers(
    model, representative_data=None, bound: float | None = None
) -> keras.Model:
    """Returns a copy of ``model`` in which each polynomial layer is one product plus a constant.

    A trained degree-2 product layer (`PolynomialConv2D` or
    `PolynomialDense`) is exactly ``A ⊙ B' + c`` at inference, its batch
    normalization, product scale and first-order skip folded into branch B
    and ``c`` (`PolynomialBase.fold`, which also folds a batch normalization
    that alone follows the layer): three tensors per block instead of six,
    and the product comes out already normalized per channel. Only the
    model's own channels-last degree-2 product layers are folded (not those
    of nested models, nor CCP, NCP or higher degrees). With ``representative_data``, branch A's and
    branch B's output channels are then rebalanced (``A ⊙ B' = (r A) ⊙ (B'/r)``
    with ``r`` per channel, so that both have the same range on those
    inputs): the two factors then share the int8 range instead of one of them
    spending it on a few large channels. Nothing else changes; other layers
    are shared with ``model`` (a model with nothing to fold, one folded
    before included, is copied whole).

    This is what `export_tflite` quantizes for ``quantization="int8"``: int8
    activations are quantized per tensor, and a product of two per-channel
    ranges spreads its channels' ranges by the square, so the unfolded
    layer loses the small channels of its product to the large ones.

    A layer's ``output_range`` (`pinet_keras.models.set_output_ranges`,
    set by the trainer) carries over to its folded layer, through a folded
    normalization as the union of its channels' ranges. With ``bound=p`` (a
    percentile in ``(50, 100]``, needs
    ``representative_data``), each folded layer's output is also clipped to
    ``[P(100 - p), P(p)]`` of its values on the representative images
    (``p = 100``: their min and max): every activation of the network, and
    so its logits, is then bounded whatever the input, as in an int8 file,
    where each tensor saturates at its calibrated range.

    Args:
        model: a float32 `keras.Model` (see `as_float32`).
        representative_data: optional images ``(N, H, W, C)`` as the model
            takes them, as for int8 calibration.
        bound: ``None``, or the percentile of the output ranges.

    Returns:
        A new `keras.Model` with the same inputs and, up to float rounding,
        the same outputs in inference mode.

    Example:

    >>> import numpy as np, pinet_keras
    >>> model = pinet_keras.PolyNet(normalization="batch", use_skip=True, width=2)
    >>> folded = fold_polynomial_layers(model)
    >>> x = np.random.rand(2, 28, 28, 1).astype("float32")
    >>> bool(np.allclose(model.predict(x, verbose=0), folded.predict(x, verbose=0), atol=1e-4))
    True
    """
    # Channels-last layers of the model itself (not of nested models).
    polynomial = [
        layer
        for layer in model.layers
        if isinstance(layer, PolynomialBase) and layer._channel_axis() == -1 and layer.has_fold
    ]
    inputs = {}
    if representative_data is not None and polynomial:
        try:
            probe = keras.Model(model.inputs, [layer.input for layer in polynomial])
        except ValueError:  # a layer called more than once has no single input
            probe = None
        if probe is not None:
            values = probe.predict(np.asarray(representative_data, "float32"), verbose=0)
            if len(polynomial) == 1:
                values = [values]
            inputs = {id(layer): value for layer, value in zip(polynomial, values)}

    following = {id(layer): _only_batch_norm_after(layer) for layer in polynomial}
    absorbed = {id(norm) for norm in following.values() if norm is not None}

    def clone(layer):
        if id(layer) in following:
            return _fold(layer, inputs.get(id(layer)), following[id(layer)])
        if id(layer) in absorbed:
            return _Absorbed(name=layer.name, dtype="float32")
        return layer

    if polynomial:
        folded = keras.models.clone_model(model, clone_function=clone)
    else:
        # Nothing to fold (a model folded before, or none of its layers is
        # polynomial): an independent copy, so that `bound` leaves ``model`` as it is.
        folded = keras.models.clone_model(model)
        folded.set_weights(model.get_weights())
    if not folded.built:
        folded.build(model.input_shape)
    if bound is not None:
        _bound(folded, representative_data, bound)
    return folded


def bound_model(model, representative_data, percentile: float = 100.0) -> keras.Model:
    """``model`` folded, each polynomial layer's output clipped to its range on given images.

    `fold_polynomial_layers` with ``bound=percentile``: a Keras model with
    the outputs of ``model`` on ordinary inputs (``percentile=100``: exactly
    on the representative images) and bounded logits on every input, what
    the exported files compute with ``bound``.

    Args:
        model: a float32 `keras.Model` taking raw pixels.
        representative_data: a few hundred training images as the model takes them.
        percentile: of each layer's output range, in ``(50, 100]``.
    """
    images = np.asarray(representative_data, "float32")
    return fold_polynomial_layers(model, images, bound=percentile)


def _bound(folded, representative_data, percentile):
    """Sets each `FoldedPolynomial`'s ``output_range`` to percentiles of its outputs."""
    if representative_data is None:
        raise ValueError("`bound` needs `representative_data` to measure the activation ranges.")
    number = not isinstance(percentile, bool) and isinstance(percentile, (int, float))
    if not number or not 50 < percentile <= 100:
        raise ValueError(
            f"`bound` must be a percentile in (50, 100]. Received: bound={percentile!r}"
        )
    layers = [layer for layer in folded.layers if isinstance(layer, FoldedPolynomial)]
    if not layers:
        return
    # The next layer's range is measured on the clipped values of the ones before.
    for layer in layers:
        probe = keras.Model(folded.inputs, layer.output)
        values = np.asarray(probe.predict(np.asarray(representative_data, "float32"), verbose=0))
        low, high = np.percentile(values, [100 - percentile, percentile])
        layer.output_range = (float(low), float(high))


def _only_batch_norm_after(layer):
    """The `BatchNormalization` layer that alone consumes ``layer``'s output, if any."""
    consumers = {id(op): op for op in _compat.outbound_operations(layer)}
    if len(consumers) != 1:
        return None
    (consumer,) = consumers.values()
    if not isinstance(consumer, keras.layers.BatchNormalization):
        return None
    if _compat.inbound_node_count(consumer) != 1:
        return None
    if consumer.axis not in (-1, len(consumer.input.shape) - 1):
        return None
    return consumer


def _fold(layer, layer_inputs, norm_after=None):
    ka, ba, kb, bb, offset = layer.fold(norm_after)
    a, b = layer.branches()
    if layer_inputs is not None:
        layer_inputs = np.asarray(layer.pad_inputs(layer_inputs))
        range_a = _channel_range(a, ka, ba, layer_inputs)
        range_b = _channel_range(b, kb, bb, layer_inputs)
        # Equal ranges for both factors; a dead channel keeps r = 1.
        ratio = np.sqrt(range_b / np.maximum(range_a, 1e-30))
        r = np.where((range_a > 0) & (range_b > 0), ratio, 1.0)
        ka, ba, kb, bb = ka * r, ba * r, kb / r, bb / r

    config_a, config_b = a.get_config(), b.get_config()
    for config in (config_a, config_b):
        config.update(
            use_bias=True,
            dtype="float32",
            kernel_regularizer=None,
            bias_regularizer=None,
            kernel_constraint=None,
            bias_constraint=None,
        )
    folded = FoldedPolynomial(
        config_a,
        config_b,
        type(a).__name__,
        output_range=_folded_range(layer, norm_after),
        padding=layer.explicit_padding,
        name=layer.name,
        dtype="float32",
    )
    folded.build((None,) * (ka.ndim - 1) + (ka.shape[-2],))
    folded.branch_a.set_weights([ka.astype("float32"), ba.astype("float32")])
    folded.branch_b.set_weights([kb.astype("float32"), bb.astype("float32")])
    folded.offset.assign(offset.astype("float32"))
    return folded


def _folded_range(layer, norm_after=None):
    """The layer's ``output_range``, through the batch normalization folded after it, if any.

    A normalization maps the range per channel; the folded layer clips to one
    range: the union over channels (still a bound on every input).
    """
    if layer.output_range is None:
        return None
    if norm_after is None:
        return layer.output_range
    scale, offset = batch_norm_affine(norm_after, norm_after.moving_mean.shape[0])
    ends = np.stack([scale * bound + offset for bound in layer.output_range])
    return (float(ends.min()), float(ends.max()))


def _channel_range(branch, kernel, bias, x):
    """max |branch(x)| per output channel, with ``kernel`` and ``bias`` in place of the branch's."""
    config = {**branch.get_config(), "use_bias": True, "dtype": "float32", "name": "probe"}
    probe = type(branch).from_config(config)
    probe.build(x.shape)
    probe.set_weights([kernel.astype("float32"), bias.astype("float32")])
    out = np.asarray(probe(x))
    return np.abs(out.reshape(-1, out.shape[-1])).max(axis=0).astype("float64")
