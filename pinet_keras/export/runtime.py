"""Running a ``.tflite`` model: the LiteRT interpreter, int8 input/output, ops, latency.

Uses ``ai_edge_litert.interpreter.Interpreter`` (``pip install ai-edge-litert``,
or ``pip install "pinet_keras[litert]"``) when installed, otherwise
``tf.lite.Interpreter`` (deprecated in TensorFlow 2.20+ in favour of LiteRT).
Nothing here needs TensorFlow when LiteRT is installed.
"""

from __future__ import annotations

import os
import time

import numpy as np

from pinet_keras import _optional
from pinet_keras._finite import check_finite_pixels


def interpreter_class():
    """``(Interpreter class, name)``: LiteRT's when installed, else TensorFlow's."""
    if _optional.available("ai_edge_litert"):
        return _optional.require("ai_edge_litert.interpreter").Interpreter, "ai_edge_litert"
    tf = _optional.tensorflow("Running a .tflite file without ai-edge-litert")
    return tf.lite.Interpreter, "tf.lite"


def _model_kwargs(path_or_bytes):
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return {"model_content": bytes(path_or_bytes)}
    path = os.fspath(path_or_bytes)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"TFLite model file not found: {path}")
    return {"model_path": path}


def _read(path_or_bytes):
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return bytes(path_or_bytes)
    with open(os.fspath(path_or_bytes), "rb") as f:
        return f.read()


def _schema():
    from pinet_keras._compat import tflite_schema

    return tflite_schema()


def tflite_ops(path_or_bytes):
    """The set of operator names a ``.tflite`` model uses.

    Builtin operators by their TFLite name (``"CONV_2D"``, ``"MUL"``,
    ``"FULLY_CONNECTED"``...), custom operators by their custom code (a
    TensorFlow op run through Flex appears as ``"Flex<Op>"``). Read from the
    flatbuffer itself, so a model the interpreter cannot run is read too.
    """
    data = _read(path_or_bytes)
    schema = _schema()
    if schema is None:  # pragma: no cover - both LiteRT and TF ship the schema
        from pinet_keras._compat import ops_details

        interpreter = interpreter_class()[0](model_content=data)
        return {op["op_name"] for op in ops_details(interpreter)}
    names = {value: key for key, value in vars(schema.BuiltinOperator).items() if key.isupper()}
    model = schema.Model.GetRootAs(data, 0)
    used = set()
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            used.add(subgraph.Operators(o).OpcodeIndex())
    ops = set()
    for index in sorted(used):
        code = model.OperatorCodes(index)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.CustomCode()
            name = custom.decode("utf-8") if custom else "CUSTOM"
        ops.add(name)
    return ops


def non_builtin_ops(ops):
    """The custom and Flex (TensorFlow) ops among ``ops``, from `tflite_ops`."""
    builtin = _schema()
    names = set(vars(builtin.BuiltinOperator)) if builtin is not None else set()
    return {
        op for op in ops if op.startswith("Flex") or op == "CUSTOM" or (names and op not in names)
    }


class TFLiteRunner:
    """Runs a ``.tflite`` classifier on images, as an app would.

    Quantizes the images for a model with int8 or uint8 input (a no-op for
    the raw pixels of a uint8 input with scale 1), and dequantizes int8
    outputs, so that `predict` takes the same images as the Keras model and
    returns float logits whatever the quantization. Images holding a NaN or
    an infinity are refused (``ValueError``, naming how many): an int8 file
    would quantize the NaN to a pixel value and answer with a class.

    Example:

    >>> runner = TFLiteRunner("model_int8.tflite")  # doctest: +SKIP
    >>> runner.predict(images).shape  # doctest: +SKIP
    (100, 10)

    Attributes:
        interpreter: the LiteRT (or ``tf.lite``) interpreter.
        interpreter_name: ``"ai_edge_litert"`` or ``"tf.lite"``.
        input_shape: the model's input shape; the batch is -1 when resizable.
        input_dtype, output_dtype: NumPy dtypes of the input and output tensors.
        num_classes: the size of the output.
    """

    def __init__(self, path_or_bytes, num_threads=None):
        cls, self.interpreter_name = interpreter_class()
        kwargs = _model_kwargs(path_or_bytes)
        what = kwargs.get("model_path", "the model bytes")
        if "model_path" in kwargs and os.path.getsize(what) == 0:
            raise ValueError(f"{what} is empty (0 bytes), not a TFLite model; export it again")
        try:
            self.interpreter = cls(num_threads=num_threads, **kwargs)
        except (RuntimeError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ValueError(
                f"{what} is not a TFLite model the interpreter can load ({first}); export it again"
            ) from error
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"Expected a model with one input and one output; this one has "
                f"{len(inputs)} inputs and {len(outputs)} outputs."
            )
        self._input, self._output = inputs[0], outputs[0]
        signature = self._input.get("shape_signature")
        if signature is None or len(signature) == 0:
            signature = self._input["shape"]
        self.input_shape = tuple(int(d) for d in signature)
        self.input_dtype = np.dtype(self._input["dtype"])
        self.output_dtype = np.dtype(self._output["dtype"])
        self.num_classes = int(self._output["shape"][-1])
        self._batch = None

    @property
    def resizable_batch(self):
        return self.input_shape[0] == -1

    @property
    def example_shape(self):
        """The shape of one image, ``(H, W, C)``."""
        return self.input_shape[1:]

    def quantize(self, images):
        """Float images to the input tensor's dtype (int8/uint8 with its scale and zero point)."""
        images = np.asarray(images, dtype="float32")
        if not np.issubdtype(self.input_dtype, np.integer):
            return images.astype(self.input_dtype)
        scale, zero_point = self._input["quantization"]
        if scale:
            images = np.round(images / scale) + zero_point
        info = np.iinfo(self.input_dtype)
        return np.clip(images, info.min, info.max).astype(self.input_dtype)

    def dequantize(self, outputs):
        """Output tensor values to float32 logits."""
        if not np.issubdtype(self.output_dtype, np.integer):
            return np.asarray(outputs, dtype="float32")
        scale, zero_point = self._output["quantization"]
        outputs = outputs.astype("float32")
        return (outputs - zero_point) * scale if scale else outputs

    def _set_batch(self, batch):
        if batch != self._batch:
            index = self._input["index"]
            if tuple(self.interpreter.get_input_details()[0]["shape"])[0] != batch:
                self.interpreter.resize_tensor_input(index, (batch,) + self.example_shape)
            self.interpreter.allocate_tensors()
            self._batch = batch

    def invoke(self, batch):
        """Runs one batch already in the input dtype; returns the raw output."""
        self._set_batch(len(batch))
        self.interpreter.set_tensor(self._input["index"], batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"])

    def predict(self, images, batch_size=32):
        """Float logits for float ``images`` of shape ``(N, H, W, C)``, batch by batch.

        A model with a fixed batch size runs batches of that size (the last
        one padded); batch 1 is the size an app uses.
        """
        images = check_finite_pixels(np.asarray(images), "TFLiteRunner.predict")
        if images.shape[1:] != self.example_shape:
            raise ValueError(
                f"Expected images of shape (N, {', '.join(map(str, self.example_shape))}) "
                f"for this model; received {images.shape}."
            )
        if not self.resizable_batch:
            batch_size = self.input_shape[0]
        outputs = []
        for start in range(0, len(images), batch_size):
            batch = self.quantize(images[start : start + batch_size])
            count = len(batch)
            if not self.resizable_batch and count < batch_size:
                pad = np.zeros((batch_size - count,) + batch.shape[1:], batch.dtype)
                batch = np.concatenate([batch, pad])
            outputs.append(self.dequantize(self.invoke(batch))[:count])
        if not outputs:
            return np.zeros((0,) + tuple(self._output["shape"][1:]), "float32")
        return np.concatenate(outputs)

    def latency_ms(self, image, runs=50, warmup=5):
        """Mean milliseconds per invocation on one image at batch 1 (after ``warmup`` runs)."""
        image = check_finite_pixels(np.asarray(image), "TFLiteRunner.latency_ms")
        if image.shape == self.example_shape:
            image = image[None]
        if image.shape[1:] != self.example_shape or len(image) != 1:
            raise ValueError(
                f"Expected one image of shape {self.example_shape}; received {image.shape}."
            )
        if not self.resizable_batch and self.input_shape[0] != 1:
            raise ValueError(f"This model has a fixed batch of {self.input_shape[0]}, not 1.")
        batch = self.quantize(image)
        for _ in range(warmup):
            self.invoke(batch)
        start = time.perf_counter()
        for _ in range(runs):
            self.invoke(batch)
        return (time.perf_counter() - start) / runs * 1000.0


def run_tflite(
    path_or_bytes, images, batch_size: int = 32, num_threads: int | None = None
) -> np.ndarray:
    """Float logits of a ``.tflite`` model on float ``images`` (see `TFLiteRunner`)."""
    return TFLiteRunner(path_or_bytes, num_threads=num_threads).predict(images, batch_size)


def latency_ms(path_or_bytes, image, runs=50, warmup=5, num_threads=None):
    """Mean latency in milliseconds of one image at batch 1 in the LiteRT interpreter."""
    runner = TFLiteRunner(path_or_bytes, num_threads=num_threads)
    return runner.latency_ms(image, runs=runs, warmup=warmup)
