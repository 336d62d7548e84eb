"""The output ranges that keep a trained polynomial network bounded on any input."""

import keras
import numpy as np

from pinet_keras.layers.polynomial_base import PolynomialBase


def polynomial_layers(model):
    """The polynomial layers of ``model`` (a Sequential or functional model), in order."""
    return [layer for layer in model.layers if isinstance(layer, PolynomialBase)]


def set_output_ranges(model, images, batch_size=256):
    """Sets each polynomial layer's ``output_range`` to its outputs' range on ``images``.

    A polynomial of high degree explodes outside the range it was trained
    on (a raw-pixel checkerboard drives a trained CIFAR-10 PiResNet's logits
    to 1e35, infinite in float16). With each layer's output clipped, at
    inference, to the range it had on training images, every layer's input
    and output stay bounded whatever the image: the model gives the same
    outputs on ``images`` (and almost always on others like them) and finite
    ones on everything else, in float32 and float16. Training ignores the
    ranges; call this again after fine-tuning.

    Args:
        model: a built Sequential or functional `keras.Model` whose polynomial
            layers are its own layers (not inside nested models).
        images: training images as the model takes them (raw pixels for the
            package's models), a NumPy array ``(N, ...)``.
        batch_size: images per forward pass.

    Returns:
        ``model``, its layers' ``output_range`` set (a list of ``(low, high)``
        per layer is in ``[layer.output_range for layer in
        polynomial_layers(model)]``).

    Raises:
        ValueError: if ``model`` has no polynomial layer of its own, or
            ``images`` is empty or not finite.
    """
    layers = polynomial_layers(model)
    if not layers:
        raise ValueError(
            f"Model {model.name!r} has no polynomial layer of its own to set a range on "
            "(polynomial layers inside nested models are not reached)."
        )
    images = np.asarray(images)
    if images.ndim < 2 or len(images) == 0:
        raise ValueError(f"`images` must be a non-empty batch of images; received {images.shape}.")
    if not np.isfinite(images.astype("float32")).all():
        raise ValueError("`images` contains NaN or infinite values.")
    previous = [layer.output_range for layer in layers]
    try:
        # Measured unclipped, in one pass: with each range the exact extremes
        # on these images, clipping leaves these images' outputs unchanged.
        for layer in layers:
            layer.output_range = None
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        probe = keras.Model(inputs, [layer.output for layer in layers])
        low = np.full(len(layers), np.inf)
        high = np.full(len(layers), -np.inf)
        for start in range(0, len(images), batch_size):
            outputs = probe(images[start : start + batch_size], training=False)
            for index, output in enumerate(outputs):
                values = keras.ops.convert_to_numpy(keras.ops.cast(output, "float32"))
                low[index] = min(low[index], float(values.min()))
                high[index] = max(high[index], float(values.max()))
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError(
                "The model's outputs on `images` are not finite: it cannot be bounded by them."
            )
    except BaseException:
        for layer, output_range in zip(layers, previous):
            layer.output_range = output_range
        raise
    for layer, lo, hi in zip(layers, low, high):
        layer.output_range = (float(lo), float(hi))
    return model
