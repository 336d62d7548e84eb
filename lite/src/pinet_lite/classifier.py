"""`Classifier`: a pinet_keras ``.tflite`` file run by the LiteRT interpreter."""

import os
from dataclasses import dataclass

import numpy as np

from pinet_lite.images import check_finite_pixels
from pinet_lite.images import image_pixels
from pinet_lite.images import read_image
from pinet_lite.metadata import read_bytes
from pinet_lite.metadata import read_metadata


@dataclass(frozen=True)
class Prediction:
    """One of the top classes of an image: its ``index``, ``name`` and ``probability``."""

    index: int
    name: str
    probability: float


class Classifier:
    """An image classifier of a ``.tflite`` file written by pinet_keras.

    The file says what it takes (its ``"pinet_keras"`` metadata: raw pixels
    0..255, uint8 for an int8 file) and names its classes; images are decoded
    as a viewer shows them and resized to the model's input.

    >>> classifier = Classifier("model_int8.tflite")  # doctest: +SKIP
    >>> classifier.predict(["seven.png"], top_k=2)  # doctest: +SKIP
    [[Prediction(index=7, name='7', probability=0.99...), Prediction(index=1, ...)]]

    Attributes:
        metadata: the file's ``"pinet_keras"`` metadata dict.
        class_names: the name of each output (``"class <i>"`` when the file has none).
        image_shape: ``(height, width, channels)`` of one image.
        input_dtype: the NumPy dtype of the input tensor (uint8 for an int8 file).
    """

    def __init__(self, path_or_bytes, num_threads=None):
        if not isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            path = os.fspath(path_or_bytes)
            if os.path.isdir(path):
                raise ValueError(f"{path} is a folder; pass a .tflite file")
            if not os.path.exists(path):
                raise FileNotFoundError(f"{path} does not exist")
        data = read_bytes(path_or_bytes)
        self.metadata = read_metadata(data)
        if not self.metadata:
            raise ValueError(
                "the file has no pinet_keras metadata, so what input it takes is unknown; "
                "export it with pinet_keras 0.2 or later"
            )
        from ai_edge_litert.interpreter import Interpreter

        try:
            self.interpreter = Interpreter(model_content=data, num_threads=num_threads)
        except (RuntimeError, ValueError) as error:
            raise ValueError(f"the LiteRT interpreter cannot load it ({error})") from error
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"expected a model with one input and one output, not "
                f"{len(inputs)} inputs and {len(outputs)} outputs"
            )
        self._input, self._output = inputs[0], outputs[0]
        signature = self._input.get("shape_signature")
        if signature is None or len(signature) == 0:
            signature = self._input["shape"]
        self._input_shape = tuple(int(d) for d in signature)
        self.image_shape = self._input_shape[1:]
        if len(self.image_shape) != 3 or self.image_shape[-1] not in (1, 3):
            raise ValueError(f"the model's input {self._input_shape} is not a batch of images")
        self.input_dtype = np.dtype(self._input["dtype"])
        self.output_dtype = np.dtype(self._output["dtype"])
        self.num_classes = int(self._output["shape"][-1])
        names = self.metadata.get("class_names")
        if not names or len(names) != self.num_classes:
            names = [f"class {i}" for i in range(self.num_classes)]
        self.class_names = [str(name) for name in names]
        self._batch = None

    def pixels(self, image):
        """uint8 pixels ``(height, width, channels)`` of the model's size from ``image``.

        ``image``: a path, a PIL image, or an array of pixels 0..255 (HWC or HW;
        resized when its size differs from the model's). An array holding a
        NaN or an infinity, or values outside 0..255, is refused
        (``ValueError``): cast to uint8 it would be some other image.
        """
        from PIL import Image

        height, width, channels = self.image_shape
        if isinstance(image, (str, os.PathLike)):
            return read_image(image, channels, (height, width))
        if isinstance(image, Image.Image):
            return image_pixels(image, channels, (height, width))
        array = np.asarray(image)
        if array.ndim == 2:
            array = array[..., None]
        array = _as_uint8(array)
        if array.shape == self.image_shape:
            return array
        if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
            raise ValueError(f"expected an image of shape (H, W, C), received {array.shape}")
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[array.shape[-1]]
        picture = Image.fromarray(np.ascontiguousarray(array[..., 0] if mode == "L" else array))
        return image_pixels(picture.convert(mode), channels, (height, width))

    def logits(self, pixels):
        """Float32 logits ``(N, classes)`` of pixels ``(N, height, width, channels)``, 0..255.

        Pixels holding a NaN or an infinity are refused (``ValueError``,
        naming how many): an int8 file would quantize them to some pixel
        value and answer with a class.
        """
        pixels = check_finite_pixels(np.asarray(pixels), "Classifier.logits")
        if pixels.shape[1:] != self.image_shape:
            raise ValueError(
                f"expected pixels of shape (N, {', '.join(map(str, self.image_shape))}), "
                f"received {pixels.shape}"
            )
        outputs = []
        fixed = self._input_shape[0] if self._input_shape[0] > 0 else None
        step = fixed or 32
        for start in range(0, len(pixels), step):
            batch = self._quantize(pixels[start : start + step])
            count = len(batch)
            if fixed and count < fixed:
                pad = np.zeros((fixed - count,) + batch.shape[1:], batch.dtype)
                batch = np.concatenate([batch, pad])
            outputs.append(self._dequantize(self._invoke(batch))[:count])
        if not outputs:
            return np.zeros((0, self.num_classes), np.float32)
        return np.concatenate(outputs)

    def predict(self, images, top_k=3):
        """The ``top_k`` classes of each image: a list (one per image) of `Prediction` lists.

        ``images``: paths, PIL images or uint8 pixel arrays (see `pixels`).
        Probabilities are the softmax of the logits.
        """
        if isinstance(images, (str, os.PathLike)) or (
            isinstance(images, np.ndarray) and images.ndim == 3
        ):
            images = [images]
        pixels = np.stack([self.pixels(image) for image in images])
        probabilities = softmax(self.logits(pixels))
        top_k = max(1, min(int(top_k), self.num_classes))
        result = []
        for p in probabilities:
            order = np.argsort(-p, kind="stable")[:top_k]
            result.append([Prediction(int(i), self.class_names[i], float(p[i])) for i in order])
        return result

    def _quantize(self, pixels):
        images = np.asarray(pixels, dtype=np.float32)
        if not np.issubdtype(self.input_dtype, np.integer):
            return images.astype(self.input_dtype)
        scale, zero_point = self._input["quantization"]
        if scale:
            images = np.round(images / scale) + zero_point
        info = np.iinfo(self.input_dtype)
        return np.clip(images, info.min, info.max).astype(self.input_dtype)

    def _dequantize(self, outputs):
        if not np.issubdtype(self.output_dtype, np.integer):
            return np.asarray(outputs, dtype=np.float32)
        scale, zero_point = self._output["quantization"]
        outputs = outputs.astype(np.float32)
        return (outputs - zero_point) * scale if scale else outputs

    def _invoke(self, batch):
        if len(batch) != self._batch:
            index = self._input["index"]
            if int(self.interpreter.get_input_details()[0]["shape"][0]) != len(batch):
                self.interpreter.resize_tensor_input(index, (len(batch),) + self.image_shape)
            self.interpreter.allocate_tensors()
            self._batch = len(batch)
        self.interpreter.set_tensor(self._input["index"], batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"])


def _as_uint8(array):
    """Pixels as uint8, refusing what a cast would change (NaN, ±inf, outside 0..255)."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"expected pixels 0..255 (uint8), received an array of {array.dtype}")
    check_finite_pixels(array, "Classifier.pixels")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise ValueError(
            f"pixels range over {array.min()}..{array.max()}, not 0..255; pass uint8 pixels "
            "(a float image in 0..1: multiply it by 255 first)"
        )
    return np.rint(array).astype(np.uint8)


def softmax(logits):
    logits = np.asarray(logits, dtype=np.float64)
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)
