"""Image files to the uint8 pixels a model takes, as an image viewer shows them."""

import os

import numpy as np
from PIL import Image


def image_pixels(image, channels, size=None):
    """A PIL image as the uint8 pixels a model takes: ``(height, width, channels)``.

    The rules of pinet_keras (``pinet_keras.data.image_folder.image_pixels``),
    so that no pixel is silently clipped or dropped: 16-bit grey (PNG's
    ``I;16`` and ``I`` modes) is scaled from 0..65535 to 0..255, an image
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
        with Image.open(path) as image:
            image.load()
            return image_pixels(image, channels, size)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(f"{path} is not a readable image ({error})") from error
