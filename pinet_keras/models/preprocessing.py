"""Preprocessing inside the model: raw pixels in, the guard, augmentation, normalization."""

import keras
import numpy as np

from pinet_keras.layers.augmentation import RandomFlip
from pinet_keras.layers.augmentation import RandomTranslation
from pinet_keras.layers.pixel_range import PixelRange

INPUT_NORMALIZATIONS = ("unit", "standardize")


def pixel_preprocessing(
    input_shape,
    input_normalization="unit",
    mean=None,
    variance=None,
    augmentation=None,
    pixel_range=(0.0, 255.0),
    seed=None,
):
    """The layers that put raw pixels into the form a model was trained on.

    In order:

    1. `PixelRange` (``"pixel_range"``): the input-range guard, pixels cast to
       float32 and clipped to ``pixel_range``;
    2. with ``augmentation=(padding, flip)``: a random translation by up to
       ``padding`` pixels filled with black (`RandomTranslation`, Keras'
       layer, nearest neighbour) and, if ``flip``, a random horizontal flip
       (`RandomFlip`); both are the identity unless called with
       ``training=True``, as `fit` does;
    3. ``"unit"``: ``keras.layers.Rescaling(1 / 255)`` (pixels to ``[0, 1]``),
       or ``"standardize"``: ``keras.layers.Normalization`` with the
       per-channel ``mean`` and ``variance`` of the raw training pixels.

    The layers compute in float32 whatever the global dtype policy: the
    model's first layer casts to its own compute dtype (bfloat16 under mixed
    precision) after normalization, not before.

    Args:
        input_shape: ``(height, width, channels)`` of the raw images.
        input_normalization: one of ``INPUT_NORMALIZATIONS``.
        mean, variance: for ``"standardize"``, per-channel statistics of the
            raw training pixels (``0..255``), sequences of length
            ``channels``; see `pinet_keras.data.pixel_statistics`.
        augmentation: ``None``, or ``(padding, flip)``.
        pixel_range: ``(min, max)`` of a valid pixel.
        seed: seed of the augmentation layers.

    Returns:
        A list of new layers, to pass as ``preprocessing=`` to `PolyNet` or
        `PiResNet` (or to put first in any model).

    Example:

    >>> layers = pixel_preprocessing((28, 28, 1), augmentation=(2, False))
    >>> [layer.name for layer in layers]
    ['pixel_range', 'random_translation', 'rescaling']
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(
            "Argument `input_shape` must be (height, width, channels). "
            f"Received: input_shape={input_shape!r}"
        )
    if input_normalization not in INPUT_NORMALIZATIONS:
        raise ValueError(
            f"Argument `input_normalization` must be one of {INPUT_NORMALIZATIONS}. "
            f"Received: input_normalization={input_normalization!r}"
        )
    layers = [PixelRange(*pixel_range, dtype="float32", name="pixel_range")]
    if augmentation is not None:
        padding, flip = augmentation
        if padding:
            height, width = input_shape[:2]
            layers.append(
                RandomTranslation(
                    padding / height,
                    padding / width,
                    fill_mode="constant",
                    fill_value=0.0,
                    interpolation="nearest",
                    seed=seed,
                    dtype="float32",
                    name="random_translation",
                )
            )
        if flip:
            layers.append(RandomFlip("horizontal", seed=seed, dtype="float32", name="random_flip"))
    if input_normalization == "unit":
        scale = 1.0 / (pixel_range[1] - pixel_range[0])
        layers.append(
            keras.layers.Rescaling(
                scale, offset=-pixel_range[0] * scale, dtype="float32", name="rescaling"
            )
        )
    else:
        channels = input_shape[-1]
        if mean is None or variance is None:
            raise ValueError(
                "input_normalization='standardize' needs the per-channel `mean` and `variance` "
                "of the raw training pixels (see `pinet_keras.data.pixel_statistics`)."
            )
        mean = [float(m) for m in np.reshape(mean, -1)]
        variance = [float(v) for v in np.reshape(variance, -1)]
        if len(mean) != channels or len(variance) != channels or min(variance) <= 0:
            raise ValueError(
                f"`mean` and `variance` must have {channels} value(s) (one per channel), the "
                f"variances positive. Received: mean={mean}, variance={variance}"
            )
        layers.append(
            keras.layers.Normalization(
                axis=-1, mean=mean, variance=variance, dtype="float32", name="normalization"
            )
        )
    return layers


def has_pixel_preprocessing(model):
    """Whether ``model`` takes raw pixels: its first layer is a `PixelRange`."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    return bool(layers) and isinstance(layers[0], PixelRange)


def preprocessing_config(model):
    """What a model's preprocessing does, as a dict (for reports and file metadata).

    Keys: ``pixel_range`` (``[min, max]``), ``input_normalization``
    (``"unit"``, ``"standardize"`` or ``None``), ``mean`` and ``variance``
    (for ``"standardize"``). ``{}`` for a model without `PixelRange`.
    """
    if not has_pixel_preprocessing(model):
        return {}
    result = {"input_normalization": None}
    for layer in model.layers:
        if isinstance(layer, PixelRange):
            result["pixel_range"] = [layer.min_value, layer.max_value]
        elif isinstance(layer, keras.layers.Rescaling):
            result["input_normalization"] = "unit"
            break
        elif isinstance(layer, keras.layers.Normalization):
            result["input_normalization"] = "standardize"
            result["mean"] = np.reshape(np.asarray(layer.mean), -1).tolist()
            result["variance"] = np.reshape(np.asarray(layer.variance), -1).tolist()
            break
    return result
