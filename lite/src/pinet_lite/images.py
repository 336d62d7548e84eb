"""Image files to the uint8 pixels a model takes, as an image viewer shows them."""

import os

import numpy as np
from PIL import Image


def image_pixels(image, channels, size=None, float_range=None):
    """A PIL image as the uint8 pixels a model takes: ``(height, width, channels)``.

    The rules of pinet_keras (``pinet_keras.data.image_folder.image_pixels``),
    so that no pixel is silently clipped or dropped: 16-bit grey (PNG's
    ``I;16`` and ``I`` modes) is scaled from 0..65535 to 0..255, a
    floating-point image (a TIFF of floats, PIL's mode ``F``) is scaled from
    the range it states (TIFF's SMinSampleValue and SMaxSampleValue), or
    ``float_range=(low, high)``, to 0..255, and refused (``ValueError``)
    without one or with a NaN; an image
    with transparency (alpha, or a palette's transparent colour) is
    composited over white, then it is converted to grey (``channels=1``,
    PIL's ITU-R 601-2 luma) or RGB (3) and, with ``size=(height, width)``,
    resized (bilinear) to that size.

    >>> grey16 = Image.fromarray(np.full((2, 2), 100 * 257, np.uint16))
    >>> image_pixels(grey16, 1).tolist()
    [[[100], [100]], [[100], [100]]]
    >>> clear = Image.fromarray(np.zeros((2, 2, 4), np.uint8), "RGBA")
    >>> image_pixels(clear, 3)[0, 0].tolist()
    [255, 255, 255]
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    if image.mode == "F":
        image = Image.fromarray(_float_grey(image, float_range), "L")
    if image.mode.startswith("I;16") or image.mode == "I":
        wide = np.asarray(image, dtype=np.float64)
        grey = np.clip(np.rint(wide * (255 / 65535)), 0, 255).astype(np.uint8)
        image = Image.fromarray(grey, "L")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    mode = "L" if channels == 1 else "RGB"
    if image.mode != mode:
        image = image.convert(mode)
    if size is not None and image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array.reshape(array.shape[:2] + (channels,))


# TIFF's SMinSampleValue and SMaxSampleValue: the range a floating-point image states.
_STATED_MIN, _STATED_MAX = 340, 341


def stated_range(image):
    """``(low, high)`` a floating-point PIL image states for its values (TIFF tags), or None."""
    tags = getattr(image, "tag_v2", None)
    if tags is None:
        return None
    low, high = tags.get(_STATED_MIN), tags.get(_STATED_MAX)
    if low is None or high is None:
        return None
    low = min(low) if isinstance(low, (tuple, list)) else low
    high = max(high) if isinstance(high, (tuple, list)) else high
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        return None
    return (low, high) if np.isfinite([low, high]).all() and low < high else None


def _float_grey(image, float_range):
    """A floating-point image (PIL mode ``F``) as 8-bit grey, scaled from its range."""
    values = np.asarray(image, dtype=np.float64)
    bad = int((~np.isfinite(values)).sum())
    if bad:
        raise ValueError(
            f"a floating-point image with {bad} NaN or infinite pixels; a NaN is not a pixel: "
            "fix or remove the image"
        )
    low_value = float(values.min()) if values.size else 0.0
    high_value = float(values.max()) if values.size else 0.0
    value_range = float_range if float_range is not None else stated_range(image)
    if value_range is None:
        raise ValueError(
            f"a floating-point image (values {low_value:.4g}..{high_value:.4g}) that states no "
            "range, so how bright it is is unknown; save it as an 8-bit or 16-bit image (PNG), "
            "or state its range (TIFF SMinSampleValue and SMaxSampleValue), or pass "
            "float_range=(low, high) (like (0, 1)) to image_pixels"
        )
    low, high = (float(v) for v in value_range)
    if not (np.isfinite([low, high]).all() and low < high):
        raise ValueError(f"float_range must be two finite numbers low < high, got {value_range}")
    if low_value < low or high_value > high:
        raise ValueError(
            f"a floating-point image with values {low_value:.4g}..{high_value:.4g} outside its "
            f"range {low:.4g}..{high:.4g}; fix the image or its range"
        )
    return np.clip(np.rint((values - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)


def check_finite_pixels(images, where=None):
    """Returns ``images`` unchanged; raises ``ValueError`` if a pixel is NaN or infinite.

    The message names how many images and pixel values are not finite (the
    check of ``pinet_keras._finite``).
    """
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.inexact):
        return images
    bad = ~np.isfinite(images)
    values = int(bad.sum())
    if values:
        total = len(images) if images.ndim > 3 else 1
        count = int(bad.reshape(len(images), -1).any(axis=1).sum()) if images.ndim > 3 else 1
        prefix = f"{where}: " if where else ""
        raise ValueError(
            f"{prefix}{count} of {total} image{'s' if total != 1 else ''} "
            f"hold{'s' if total == 1 else ''} non-finite pixels ({values} NaN or infinite "
            f"value{'s' if values != 1 else ''}); pixels must be finite numbers in 0..255 "
            "(a NaN is not a pixel and has no class)"
        )
    return images


def read_image(path, channels, size=None):
    """The uint8 pixels ``(height, width, channels)`` of an image file (see `image_pixels`).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a
    folder, a file that is not an image, or a truncated one.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder, not an image file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist")
    try:
        image = Image.open(path)
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(f"{path} is not a readable image ({error})") from error
    with image:
        try:
            return image_pixels(image, channels, size)
        except ValueError as error:
            raise ValueError(f"{path} is {error}") from error
