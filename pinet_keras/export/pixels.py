"""Exports take raw pixels: checking a model's preprocessing, adding it to an older one."""

import keras
import numpy as np

from pinet_keras.models.preprocessing import has_pixel_preprocessing
from pinet_keras.models.preprocessing import pixel_preprocessing


def require_pixel_preprocessing(model):
    """Raises ``ValueError`` unless ``model`` takes raw pixels (its first layer is `PixelRange`)."""
    if not has_pixel_preprocessing(model):
        raise ValueError(
            f"Model {model.name!r} takes normalized images: its first layer is not "
            "pinet_keras.layers.PixelRange, so an exported file would silently expect the "
            "normalization it was trained with. Add it with "
            "pinet_keras.export.add_pixel_preprocessing(model, input_normalization=...) "
            "(what pinet-keras export does for a model of pinet_keras 0.1.0), or build the "
            "model with preprocessing=pinet_keras.models.pixel_preprocessing(...)."
        )


def add_pixel_preprocessing(model, input_normalization="unit", mean=None, variance=None):
    """Returns ``model`` with `pixel_preprocessing` layers in front: it then takes raw pixels.

    For a model that takes normalized images, such as the ``.keras`` files of
    pinet_keras 0.1.0 or a model built without ``preprocessing``. The new
    model shares the layers (and weights) of ``model``; its layers are those
    of ``model`` preceded by `PixelRange` and ``Rescaling`` or
    ``Normalization``, in one flat graph (the export rewrites see every
    layer).

    Args:
        model: a built single-input `keras.Model` taking images ``(N, H, W, C)``.
        input_normalization: what the model was trained on: ``"unit"``
            (pixels / 255) or ``"standardize"`` (``(pixels - mean) /
            sqrt(variance)``, per channel, on the 0..255 scale).
        mean, variance: for ``"standardize"``; see
            `legacy_standardization` for the constants of pinet_keras 0.1.0.

    Example:

    >>> import numpy as np, pinet_keras
    >>> model = pinet_keras.PolyNet(width=2)
    >>> raw = add_pixel_preprocessing(model)
    >>> x = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1))
    >>> bool(np.allclose(raw.predict(x, verbose=0), model.predict(x / 255, verbose=0), atol=1e-4))
    True
    """
    if has_pixel_preprocessing(model):
        raise ValueError(
            f"Model {model.name!r} already takes raw pixels (it starts with PixelRange)."
        )
    shape = tuple(model.input_shape[1:])
    inputs = keras.Input(shape, name="image")
    x = inputs
    for layer in pixel_preprocessing(shape, input_normalization, mean=mean, variance=variance):
        x = layer(x)
    # `call` on a symbolic tensor runs the model's own layers one by one: a
    # flat graph, not a nested model.
    return keras.Model(inputs, model.call(x), name=model.name)


def legacy_standardization(dataset):
    """``(mean, variance)`` on the 0..255 scale of pinet_keras 0.1.0's ``"standardize"``.

    Version 0.1.0 standardized ``pixels / 255`` with the fixed constants
    ``dataset_info(dataset).mean`` and ``.std``.
    """
    from pinet_keras.data import dataset_info

    info = dataset_info(dataset)
    mean = 255.0 * np.asarray(info.mean, "float64")
    std = 255.0 * np.asarray(info.std, "float64")
    return mean.tolist(), np.square(std).tolist()
