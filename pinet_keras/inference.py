"""`predict`: the classes of images, with a ``.keras``, SavedModel or ``.tflite`` model.

The job of ``pinet-keras predict``. Images are files (or a folder of them),
read as a viewer shows them (`pinet_keras.data.image_folder.image_pixels`:
16-bit grey scaled to 8 bits, transparency on white), converted to the
model's channels and resized to its input; or uint8 pixels already shaped
``(N, H, W, C)``. The class names are the model's own (a file's metadata, a
run's ``metrics.json``) unless ``labels`` are given.

Example:

>>> from pinet_keras.inference import predict
>>> for p in predict("runs/mine/export/model_int8.tflite", ["cat.png"]):  # doctest: +SKIP
...     print(p.source, p.top)
cat.png [('cat', 0.93), ('dog', 0.06), ('bird', 0.01)]
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from pinet_keras._finite import check_finite_pixels
from pinet_keras.data.image_folder import IMAGE_EXTENSIONS
from pinet_keras.data.image_folder import image_pixels

__all__ = ["Prediction", "image_files", "predict", "read_image"]


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One image's answer: its source, the top classes ``[(name, probability)]`` and the logits."""

    source: str
    top: list
    logits: np.ndarray

    @property
    def label(self) -> str:
        """The most probable class's name."""
        return self.top[0][0]


def image_files(paths) -> list[str]:
    """The image files of ``paths`` (files, or folders: their images, sorted)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = []
    for path in map(os.fspath, paths):
        if os.path.isdir(path):
            found = sorted(
                os.path.join(path, name)
                for name in os.listdir(path)
                if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)
            )
            if not found:
                raise ValueError(
                    f"{path} is a folder without images ({', '.join(IMAGE_EXTENSIONS)}); "
                    "pass image files or a folder of them"
                )
            files += found
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise ValueError(f"{path} does not exist; pass image files or a folder of them")
    if not files:
        raise ValueError("no image files given; pass one or more image files or a folder")
    return files


def read_image(
    path: str,
    height: int,
    width: int,
    channels: int,
    float_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """A uint8 array ``(height, width, channels)`` of the image file at ``path``.

    ``float_range=(low, high)``: the values of black and white in a
    floating-point image (PIL mode ``F``, e.g. a float TIFF) that states no
    range of its own (`pinet_keras.data.image_folder.image_pixels`).
    """
    from pinet_keras import _optional

    Image = _optional.require("PIL.Image", "Reading images")
    if channels not in (1, 3):
        raise ValueError(
            f"Only models with 1 or 3 input channels take images; this one has {channels}."
        )
    try:
        image = Image.open(path)
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(
            f"{path} is not a readable image ({error}); pass PNG or JPEG files"
        ) from error
    with image:
        try:
            return image_pixels(image, channels, size=(height, width), float_range=float_range)
        except ValueError as error:
            raise ValueError(f"{path} is {error}") from error


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class _Model:
    """A model file behind one interface: ``input_shape`` (H, W, C), ``class_names``, ``logits``."""

    def __init__(self, path):
        path = os.fspath(path)
        self.path = path
        if os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb")):
            self.kind = "saved_model"
        elif os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.endswith((".tflite", ".keras")))
            found = f" ({', '.join(names)})" if names else ""
            raise ValueError(f"--model: {path} is a folder; pass one of its model files{found}")
        elif not os.path.isfile(path):
            raise FileNotFoundError(2, "No such file", path)
        elif path.endswith(".keras"):
            self.kind = "keras"
        else:
            self.kind = "tflite"
        getattr(self, f"_open_{self.kind}")()

    def _open_tflite(self):
        from pinet_keras import _optional

        if _optional.available("pinet_lite"):
            # The LiteRT runtime alone (pinet-lite): what an app without TensorFlow runs.
            import pinet_lite

            try:
                self.lite = pinet_lite.Classifier(self.path)
            except ValueError as error:
                raise ValueError(
                    f"--model: {self.path}: {error}; pass a .tflite, .keras or SavedModel"
                ) from error
            self.input_shape = tuple(self.lite.image_shape)
            self.num_classes = self.lite.num_classes
            self.class_names = self.lite.metadata.get("class_names")
            return
        from pinet_keras.export import TFLiteRunner
        from pinet_keras.export import read_tflite_metadata

        self.lite = None
        try:
            metadata = read_tflite_metadata(self.path)
        except ValueError as error:
            raise ValueError(
                f"--model: {self.path} is {error}; pass a .tflite, .keras or SavedModel"
            ) from error
        if not metadata:
            raise ValueError(
                f"--model: {self.path} has no pinet_keras metadata, so what input it takes is "
                "unknown (a file of pinet_keras 0.1.0 took normalized images); export it again "
                "with pinet-keras export"
            )
        self.runner = TFLiteRunner(self.path)
        self.input_shape = tuple(self.runner.example_shape)
        self.num_classes = self.runner.num_classes
        self.class_names = metadata.get("class_names")

    def _open_saved_model(self):
        from pinet_keras.export import read_saved_model_metadata

        metadata = read_saved_model_metadata(self.path) or {}
        shape = metadata.get("input", {}).get("shape")
        if not shape:
            raise ValueError(
                f"--model: {self.path} has no pinet_keras metadata; export it with "
                "pinet-keras export"
            )
        self.input_shape = tuple(shape[-3:])
        self.class_names = metadata.get("class_names")
        self.num_classes = len(self.class_names) if self.class_names else None

    def _open_keras(self):
        from pinet_keras.export import load_keras_model
        from pinet_keras.export.files import read_training_metadata
        from pinet_keras.models import has_pixel_preprocessing

        self.model = load_keras_model(self.path)
        if not has_pixel_preprocessing(self.model):
            raise ValueError(
                f"--model: {self.path} takes normalized images (a model of pinet_keras 0.1.0); "
                "export it with pinet-keras export and predict with the exported file"
            )
        self.input_shape = tuple(self.model.input_shape[1:])
        self.num_classes = self.model.output_shape[-1]
        self.class_names = read_training_metadata(self.path).get("class_names")

    def logits(self, images):
        if self.kind == "tflite":
            if self.lite is not None:
                return self.lite.logits(images)
            return self.runner.predict(images, batch_size=1)
        if self.kind == "saved_model":
            from pinet_keras.export import predict_saved_model

            return np.asarray(predict_saved_model(self.path, images))
        return np.asarray(self.model.predict(images.astype("float32"), verbose=0))


def predict(
    model,
    images,
    top_k: int = 3,
    labels: list[str] | None = None,
    float_range: tuple[float, float] | None = None,
) -> list[Prediction]:
    """The ``top_k`` classes of each image, with probabilities (softmax of the logits).

    Args:
        model: path of a ``.keras`` file, a SavedModel folder or a ``.tflite`` file.
        images: image files, folders of them, or pixels ``(N, H, W, C)`` (0..255;
            a NaN or infinite pixel is refused with a ``ValueError``).
        top_k: how many classes per image.
        labels: class names overriding the model's own.
        float_range: ``(low, high)``, the values of black and white in
            floating-point image files that state no range (otherwise refused).

    Returns:
        A `Prediction` per image, in order (a folder's images sorted by name).
    """
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"--top_k must be at least 1, got {top_k}")
    loaded = _Model(model)
    height, width, channels = loaded.input_shape
    if isinstance(images, np.ndarray):
        check_finite_pixels(images, "images")
        if images.shape[1:] != (height, width, channels):
            raise ValueError(
                f"images of shape {images.shape[1:]} for a model that takes "
                f"{(height, width, channels)}; pass image files to have them resized"
            )
        pixels, sources = images, [f"image {i}" for i in range(len(images))]
    else:
        sources = image_files(images)
        pixels = np.stack(
            [read_image(path, height, width, channels, float_range) for path in sources]
        )
    names = list(labels) if labels is not None else loaded.class_names
    logits = np.asarray(loaded.logits(pixels), dtype=np.float64)
    if names is not None and len(names) != logits.shape[-1]:
        raise ValueError(
            f"--labels: {len(names)} class names for a model with {logits.shape[-1]} outputs"
        )
    probabilities = softmax(logits)
    results = []
    for source, p, row in zip(sources, probabilities, logits):
        top = np.argsort(-p, kind="stable")[:top_k]
        named = [(names[i] if names else f"class {i}", float(p[i])) for i in top]
        results.append(Prediction(source, named, row))
    return results
