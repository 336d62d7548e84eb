"""Reader for image class folders (`train/<class>/*.jpg`, `test/<class>/*.png`),
on disk or inside a tar archive (the layout of the CIFAR-10 JPEG copy)."""

import io
import os
import posixpath
import tarfile
import zlib

import numpy as np

from pinet_keras import _optional

SPLITS = ("train", "test")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".webp", ".tif", ".tiff")
ARCHIVE_EXTENSIONS = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")


def is_archive(path):
    """Whether `path` names a tar archive (by its extension)."""
    return os.fspath(path).lower().endswith(ARCHIVE_EXTENSIONS)


def find_archives(folder):
    """The tar archives directly inside `folder`, sorted by name."""
    return sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if is_archive(name) and os.path.isfile(os.path.join(folder, name))
    )


def load_image_folder_dataset(path, class_names, image_shape=None):
    """Loads `train/<class>/*` and `test/<class>/*` images into uint8 arrays.

    `path` is a folder holding `train/` and `test/`, a tar archive holding
    them (read member by member, nothing is extracted to disk), or a folder
    holding exactly one such archive. Folders above `train/` inside the
    archive (`cifar10/train/...`) are allowed. The label of an image is the
    index of its class folder in `class_names`; images are ordered by label,
    then file name, so the result does not depend on the order of the
    archive.

    Args:
        path: folder or archive, as above.
        class_names: the class folder names, in label order. Every split
            must have each of them, and no other.
        image_shape: `(height, width, channels)` every image must have
            (channels 1 or 3: images are converted to grey or RGB). `None`
            means RGB of any single size.

    Returns:
        `((x_train, y_train), (x_test, y_test))`: uint8 images NHWC, int64
        labels.

    Raises:
        FileNotFoundError: a missing folder, split or class folder.
        ValueError: an unreadable archive or image, an image of the wrong
            size, an unknown class folder or a class without images.

    Example:

    >>> (x_train, y_train), _ = load_image_folder_dataset(  # doctest: +SKIP
    ...     "cifar10-jpeg.tar.gz", ["airplane", "automobile", ...], (32, 32, 3))
    """
    path = os.fspath(path)
    decode = _image_decoder(image_shape)
    if os.path.isfile(path):
        if not is_archive(path):
            raise ValueError(
                f"{path} is neither a folder nor a tar archive ({', '.join(ARCHIVE_EXTENSIONS)})."
            )
        return _load_archive(path, class_names, decode)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"Image folder not found: {path}")
    if any(os.path.isdir(os.path.join(path, split)) for split in SPLITS):
        return _load_folders(path, class_names, decode)
    archives = find_archives(path)
    if len(archives) == 1:
        return _load_archive(archives[0], class_names, decode)
    if archives:
        names = ", ".join(os.path.basename(a) for a in archives)
        raise ValueError(f"{path} holds several archives ({names}); pass the path of one of them.")
    raise FileNotFoundError(
        f"{path} holds neither train/ and test/ class folders nor a tar archive with them."
    )


def _load_folders(root, class_names, decode):
    splits = []
    for split in SPLITS:
        split_dir = os.path.join(root, split)
        if not os.path.isdir(split_dir):
            raise FileNotFoundError(f"Missing {split}/ folder in {root}.")
        present = {n for n in os.listdir(split_dir) if not n.startswith(".")}
        present = {n for n in present if os.path.isdir(os.path.join(split_dir, n))}
        _check_classes(split_dir, present, class_names)
        images, labels = [], []
        for label, class_name in enumerate(class_names):
            class_dir = os.path.join(split_dir, class_name)
            files = sorted(f for f in os.listdir(class_dir) if _is_image_name(f))
            if not files:
                raise ValueError(
                    f"Class folder {class_dir} holds no images ({', '.join(IMAGE_EXTENSIONS)})."
                )
            for file_name in files:
                file_path = os.path.join(class_dir, file_name)
                with open(file_path, "rb") as f:
                    images.append(decode(f.read(), file_path))
            labels += [label] * len(files)
        splits.append(_stack(images, labels))
    return tuple(splits)


def _load_archive(path, class_names, decode):
    labels_of = {name: label for label, name in enumerate(class_names)}
    found = {split: {} for split in SPLITS}  # split -> {(label, name): image}
    unknown = set()
    try:
        # Stream mode ("r|*") reads the archive once, front to back: the
        # fastest way through a gzip stream, and any compression works.
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                parts = member.name.split("/")
                if not member.isfile() or len(parts) < 3 or parts[-3] not in SPLITS:
                    continue
                split, class_name, file_name = parts[-3:]
                if not _is_image_name(file_name):
                    continue
                if class_name not in labels_of:
                    unknown.add(posixpath.join(split, class_name))
                    continue
                where = f"{path}:{member.name}"
                image = decode(tar.extractfile(member).read(), where)
                found[split][(labels_of[class_name], member.name)] = image
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise ValueError(f"Cannot read archive {path}: {error}") from error
    if unknown:
        raise ValueError(
            f"{path} has class folders {sorted(unknown)} that are not among {list(class_names)}."
        )
    splits = []
    for split in SPLITS:
        if not found[split]:
            raise FileNotFoundError(
                f"Archive {path} has no {split}/ folder with images "
                f"(expected {split}/<class>/*.jpg or *.png)."
            )
        present = {class_names[label] for label, _ in found[split]}
        _check_classes(f"{path}:{split}/", present, class_names)
        keys = sorted(found[split])
        splits.append(_stack([found[split][k] for k in keys], [label for label, _ in keys]))
    return tuple(splits)


def _check_classes(where, present, class_names):
    missing = [name for name in class_names if name not in present]
    if missing:
        raise FileNotFoundError(
            f"{where} lacks class folders {missing} "
            f"(expected one folder per class: {list(class_names)})."
        )
    unknown = sorted(set(present) - set(class_names))
    if unknown:
        raise ValueError(
            f"{where} has class folders {unknown} that are not among {list(class_names)}."
        )


def _is_image_name(name):
    # Skips hidden files, e.g. the "._0001.jpg" resource forks macOS adds to archives.
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _stack(images, labels):
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def image_pixels(image, channels, size=None, float_range=None):
    """A PIL image as the uint8 pixels a model takes: `(height, width, channels)`.

    The image is converted as a viewer shows it, so that no pixel is silently
    clipped or dropped: 16-bit grey (PNG's ``I;16`` and ``I`` modes) is scaled
    from 0..65535 to 0..255 (PIL's own conversion clips it at 255); a
    floating-point image (a TIFF of floats, PIL's mode ``F``, which PIL's own
    conversion would clip, so that 0..1 shows black) is scaled to 0..255 from
    the range it states (TIFF's SMinSampleValue and SMaxSampleValue) or from
    ``float_range=(low, high)``, and refused (``ValueError``, saying what to
    pass) without a range, with values outside it or with a NaN; and an
    image with transparency (alpha, or a palette's transparent colour) is
    composited over white (dropping the alpha would show its hidden colour,
    often black). Then it is converted to grey (`channels=1`) or RGB (3) and,
    with `size=(height, width)`, resized (bilinear) to that size.

    >>> import numpy as np
    >>> from PIL import Image
    >>> grey16 = Image.fromarray(np.full((2, 2), 100 * 257, np.uint16))  # 100 in 8 bits
    >>> image_pixels(grey16, 1).tolist()
    [[[100], [100]], [[100], [100]]]
    >>> clear = Image.fromarray(np.zeros((2, 2, 4), np.uint8), "RGBA")
    >>> image_pixels(clear, 3)[0, 0].tolist()
    [255, 255, 255]
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    Image = _optional.require("PIL.Image")
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
    return value_range(low, high)


def value_range(low, high):
    """``(low, high)`` as floats when both are finite numbers and ``low < high``, else None."""
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
    given = float_range if float_range is not None else stated_range(image)
    if given is None:
        raise ValueError(
            f"a floating-point image (values {low_value:.4g}..{high_value:.4g}) that states no "
            "range, so how bright it is is unknown; save it as an 8-bit or 16-bit image (PNG), "
            "or state its range (TIFF SMinSampleValue and SMaxSampleValue), or pass its range: "
            "float_range=(low, high) (like (0, 1)), --float_range=0,1 on the command line"
        )
    try:
        checked = value_range(*given)
    except TypeError:  # not two values
        checked = None
    if checked is None:
        raise ValueError(f"float_range must be two finite numbers low < high, got {given}")
    low, high = checked
    if low_value < low or high_value > high:
        raise ValueError(
            f"a floating-point image with values {low_value:.4g}..{high_value:.4g} outside its "
            f"range {low:.4g}..{high:.4g}; fix the image or its range"
        )
    return np.clip(np.rint((values - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)


def _image_decoder(image_shape):
    """Returns `decode(data, where) -> uint8 HWC array`, with PIL or else TensorFlow."""
    channels = 3 if image_shape is None else image_shape[-1]
    if channels not in (1, 3):
        raise ValueError(f"image_shape {image_shape} must have 1 or 3 channels.")
    Image = _optional.require("PIL.Image") if _optional.available("PIL") else None

    def check(array, where):
        if image_shape is not None and array.shape != tuple(image_shape):
            raise ValueError(
                f"Image {where} has shape {array.shape}, expected {tuple(image_shape)}."
            )
        return array

    if Image is not None:

        def decode(data, where):
            try:
                with Image.open(io.BytesIO(data)) as image:
                    array = image_pixels(image, channels)
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
                raise ValueError(f"Cannot decode image {where}: {error}") from error
            return check(array, where)

        return decode

    tf = _optional.tensorflow("Decoding images without Pillow")

    def decode(data, where):
        try:
            if tf.io.is_jpeg(data):
                # PIL's (libjpeg's) default IDCT: the same pixels as with PIL.
                image = tf.io.decode_jpeg(data, channels=channels, dct_method="INTEGER_ACCURATE")
                array = image.numpy()
            elif data.startswith(_PNG_SIGNATURE):
                # As stored (grey or colour, with alpha; a palette's transparent
                # colour as alpha), in 16 bits: 8-bit values come times 257.
                image = tf.io.decode_png(data, channels=0, dtype=tf.uint16)
                array = _viewer_pixels(image.numpy(), channels)
            else:
                image = tf.io.decode_image(data, channels=channels, expand_animations=False)
                array = image.numpy()
        except (tf.errors.InvalidArgumentError, ValueError) as error:
            raise ValueError(f"Cannot decode image {where}: {error}") from error
        return check(array, where)

    return decode


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _viewer_pixels(wide, channels):
    """`image_pixels` without PIL, for a 16-bit decoded PNG `(H, W, 1 to 4)`: the same pixels.

    Scaled to 8 bits, composited over white if it has alpha (2 or 4
    channels), then converted to grey or RGB with PIL's integer formulas.
    """
    pixels = np.rint(wide / 257.0)  # 65535 / 255: both the 16-bit scaling and 8 bits exactly
    if pixels.shape[-1] in (2, 4):
        alpha = pixels[..., -1:] / 255.0
        pixels = np.rint(pixels[..., :-1] * alpha + 255.0 * (1.0 - alpha))
    pixels = pixels.astype(np.int64)
    if channels == 1 and pixels.shape[-1] == 3:
        red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
        pixels = ((red * 19595 + green * 38470 + blue * 7471 + 0x8000) >> 16)[..., None]
    elif channels == 3 and pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return pixels.astype(np.uint8)
