"""TFLite (LiteRT) conversion: float32, float16, dynamic-range and int8, builtin ops only.

`TFLiteSettings` says how a file is made; `TFLiteExporter` makes it, step by
step; `export_tflite` and `convert_to_tflite` are the two calls in one line.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile

import numpy as np

from pinet_keras import _io
from pinet_keras import _optional
from pinet_keras._compat import converter_error_details
from pinet_keras._compat import layer_of_scope
from pinet_keras._compat import ops_details
from pinet_keras.export.calibration import DEFAULT_PERCENTILE
from pinet_keras.export.calibration import check_calibration
from pinet_keras.export.calibration import quantize_int8
from pinet_keras.export.finetune import check_recalibrate_every
from pinet_keras.export.finetune import finetune_for_int8
from pinet_keras.export.fold import fold_polynomial_layers
from pinet_keras.export.metadata import add_tflite_metadata
from pinet_keras.export.runtime import TFLiteRunner
from pinet_keras.export.runtime import non_builtin_ops
from pinet_keras.export.runtime import tflite_ops
from pinet_keras.export.saved_model import write_saved_model
from pinet_keras.export.signature import model_input_shape
from pinet_keras.export.signature import prepare_model

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8", "int16x8")


class TFLiteConversionError(ValueError):
    """The model cannot be converted with TFLite builtin ops (or fully to int8).

    Attributes:
        ops: names of the offending operators.
        layers: names of the model's layers they come from (when known).
    """

    def __init__(self, message, ops=(), layers=()):
        super().__init__(message)
        self.ops = list(ops)
        self.layers = list(layers)


@dataclasses.dataclass(frozen=True)
class TFLiteSettings:
    """How a ``.tflite`` file is made: its quantization and the int8 settings.

    Frozen and serializable (`dataclasses.asdict`); checked once, by
    `validate`, before any work. See `export_tflite` for what each does.

    Attributes:
        quantization: one of `QUANTIZATIONS`.
        int8_output: ``"int8"`` only: int8 logits (with scale and zero point).
        calibration: ``"percentile"`` or ``"minmax"`` activation ranges.
        percentile: the percentile of ``calibration="percentile"``.
        fold: rewrite the polynomial layers (`fold_polynomial_layers`) first;
            ``None``: for ``"int8"``, ``"int16x8"`` or ``bound`` only.
        bound: ``None``, or the percentile range each polynomial layer is clipped to.
        finetune_epochs: ``"int8"`` only: epochs of `finetune_for_int8` (0: none).
        finetune_learning_rate: its Adam learning rate.
        finetune_recalibrate_every: calibrate its ranges again every N steps (0: once).
    """

    quantization: str = "float32"
    int8_output: bool = False
    calibration: str = "percentile"
    percentile: float = DEFAULT_PERCENTILE
    fold: bool | None = None
    bound: float | None = None
    finetune_epochs: int = 0
    finetune_learning_rate: float = 1e-5
    finetune_recalibrate_every: int = 0

    @classmethod
    def from_arguments(cls, quantization="float32", finetune_data=None, finetune_epochs=1, **kw):
        """The settings of `export_tflite`'s keyword arguments (fine-tuning with its data)."""
        if finetune_data is not None:
            integer = isinstance(finetune_epochs, int) and not isinstance(finetune_epochs, bool)
            if not integer or finetune_epochs < 1:
                raise ValueError(
                    "Argument `finetune_epochs` must be a positive int. "
                    f"Received: {finetune_epochs!r}"
                )
        return cls(
            quantization, finetune_epochs=finetune_epochs if finetune_data is not None else 0, **kw
        )

    @property
    def integer(self) -> bool:
        """Whether the activations are integers (calibrated on representative images)."""
        return self.quantization in ("int8", "int16x8")

    @property
    def folds(self) -> bool:
        """Whether the polynomial layers are folded before the conversion."""
        return self.fold if self.fold is not None else (self.integer or self.bound is not None)

    def validate(self, finetune_data=None) -> None:
        """Raises ``ValueError`` for a setting, or a combination, that cannot be exported."""
        if self.finetune_epochs and finetune_data is None:
            raise ValueError(
                "`finetune_epochs` fine-tunes on training images: pass finetune_data too."
            )
        check_tflite_arguments(
            self.quantization,
            self.int8_output,
            self.calibration,
            self.percentile,
            self.bound,
            finetune_data if self.finetune_epochs else None,
            self.finetune_epochs or 1,
            self.finetune_learning_rate,
            self.finetune_recalibrate_every,
        )
        if self.bound is not None and not self.folds:
            raise ValueError(
                "`bound` clips the folded layers' outputs: it needs fold=True (or None)."
            )
        if self.finetune_epochs and not self.folds:
            raise ValueError(
                "`finetune_data` fine-tunes the folded model: it needs fold=True (or None)."
            )


class TFLiteExporter:
    """Makes one ``.tflite`` file, one method per step.

    `prepare` (the float32 raw-pixel model and its representative images),
    `rewrite` (fold, fine-tune for int8, bound), `convert` (the TFLite
    converter, builtin ops only), `verify` (no Flex or custom op; int8 all
    the way), `annotate` (the metadata). `run` does them in order and
    returns the file's bytes; `export` writes them to a path, atomically.

    >>> exporter = TFLiteExporter(model, TFLiteSettings("int8"),  # doctest: +SKIP
    ...                           representative_data=x_train[:200])
    >>> exporter.export("model_int8.tflite")  # doctest: +SKIP
    """

    def __init__(
        self,
        model,
        settings: TFLiteSettings | None = None,
        representative_data=None,
        finetune_data=None,
        metadata: dict | None = None,
    ):
        self.settings = settings or TFLiteSettings()
        self.settings.validate(finetune_data)
        self.model = model
        self.representative_data = representative_data
        self.finetune_data = finetune_data
        self.metadata = metadata
        self.representative = None
        self.converted = None
        self.content = None

    def prepare(self):
        """The float32 Keras model taking raw pixels, and the representative images."""
        self.model = prepare_model(self.model)
        if self.settings.integer or self.settings.bound is not None:
            self.representative = representative_images(
                self.representative_data, model_input_shape(self.model)
            )
        return self.model

    def rewrite(self):
        """The model the converter sees: folded, fine-tuned for int8, bounded."""
        settings, model = self.settings, self.model
        if settings.folds:
            folded = fold_polynomial_layers(model, self.representative, bound=settings.bound)
            if settings.finetune_epochs:
                folded = finetune_for_int8(
                    model,
                    folded,
                    images=representative_images(self.finetune_data, model_input_shape(model)),
                    representative_data=self.representative,
                    epochs=settings.finetune_epochs,
                    learning_rate=settings.finetune_learning_rate,
                    percentile=settings.percentile
                    if settings.calibration == "percentile"
                    else 100.0,
                    recalibrate_every=settings.finetune_recalibrate_every,
                )
                if settings.bound is not None:
                    folded = fold_polynomial_layers(
                        folded, self.representative, bound=settings.bound
                    )
            model = folded
        self.converted = model
        return model

    def convert(self, workdir=None):
        """The TFLite converter on the rewritten model: the file's bytes, before metadata.

        ``workdir``: the folder of the intermediate SavedModel, created and
        removed here (default: a new folder in the system's temporary folder).
        """
        tf = _optional.tensorflow("TFLite export")
        settings, model, representative = self.settings, self.converted, self.representative
        if workdir is None:
            folder = tempfile.mkdtemp(prefix="pinet_keras_export_")
        else:
            folder = os.fspath(workdir)
            os.makedirs(folder)
        try:
            saved_model = os.path.join(folder, "saved_model")
            write_saved_model(model, saved_model)
            converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            if settings.quantization != "float32":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if settings.quantization == "float16":
                converter.target_spec.supported_types = [tf.float16]
            try:
                if settings.quantization == "int8":
                    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                    content = quantize_int8(
                        converter,
                        representative,
                        settings.int8_output,
                        settings.calibration,
                        settings.percentile,
                        input_range=pixel_range(model),
                    )
                elif settings.quantization == "int16x8":
                    converter.target_spec.supported_ops = [
                        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
                    ]
                    converter.representative_dataset = lambda: (
                        [image[None]] for image in representative
                    )
                    content = converter.convert()
                else:
                    content = converter.convert()
            except Exception as error:
                raise _conversion_error(error, model, settings.quantization) from error
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.content = content
        return content

    def verify(self):
        """Raises `TFLiteConversionError` for a Flex or custom op, or (integer) a float op."""
        check_builtin_ops(self.content, self.converted, self.settings.quantization)
        if self.settings.integer:
            check_fully_quantized(self.content, self.converted)

    def annotate(self):
        """Stores the metadata (with the quantization and the input and output dtypes)."""
        if self.metadata is None:
            return self.content
        settings = self.settings
        metadata = {
            **self.metadata,
            "quantization": settings.quantization,
            "bounded": settings.bound is not None,
        }
        if settings.finetune_epochs:
            metadata["int8_finetune"] = {
                "epochs": settings.finetune_epochs,
                "images": len(self.finetune_data),
                "learning_rate": settings.finetune_learning_rate,
                "recalibrate_every": settings.finetune_recalibrate_every,
            }
        metadata["input"] = {
            **metadata.get("input", {}),
            "dtype": "uint8" if settings.quantization == "int8" else "float32",
        }
        if settings.quantization == "int8":
            metadata["output"] = {
                **metadata.get("output", {}),
                "dtype": "int8" if settings.int8_output else "float32",
            }
        self.content = add_tflite_metadata(self.content, metadata)
        return self.content

    def run(self, workdir=None) -> bytes:
        """Every step in order; the file's bytes."""
        self.prepare()
        self.rewrite()
        self.convert(workdir)
        self.verify()
        return self.annotate()

    def export(self, path, overwrite=False) -> str:
        """Writes the file to ``path`` (under a temporary name, renamed into place)."""
        _io.check_overwrite(path, overwrite, folder=False)
        content = self.run(workdir=_io.temporary_path(path))
        return _io.write_bytes(path, content, overwrite)


def export_tflite(
    model,
    path,
    quantization="float32",
    representative_data=None,
    overwrite=False,
    metadata=None,
    finetune_data=None,
    settings: TFLiteSettings | None = None,
    **options,
):
    """Converts a Keras model to a ``.tflite`` file that runs on TFLite builtin ops only.

    The model must take raw pixels (its first layer is `PixelRange`; see
    `add_pixel_preprocessing` for an older model). The file has one
    signature, ``serving_default``: input ``images``, raw pixels ``0..255``
    of shape ``(1, H, W, C)`` resizable to any batch (shape signature
    ``(-1, H, W, C)``), float32, or **uint8** for ``"int8"``, as a camera
    gives them; output ``logits`` ``(batch, num_classes)``, float32. No Flex
    (SELECT_TF_OPS) or custom op is allowed: the file runs in the plain
    LiteRT interpreter, on Android/iOS/microcontrollers alike.

    Quantization:

    - ``"float32"``: no quantization, the reference.
    - ``"float16"``: weights stored in float16 (half the size), computed in
      float32 on CPU (float16 on GPU delegates).
    - ``"dynamic"``: dynamic-range quantization, int8 weights (about a
      quarter of the size), activations quantized on the fly.
    - ``"int8"``: full-integer quantization: int8 weights and activations,
      calibrated on ``representative_data``, uint8 input (scale 1, zero
      point 0: the raw pixels themselves). Every operator must have an int8
      kernel (``TFLITE_BUILTINS_INT8``). The output is float32 unless
      ``int8_output=True`` (int8 logits with their scale and zero point; see
      `TFLiteRunner`).
    - ``"int16x8"``: int8 weights and int16 activations (TFLite's 16x8
      mode), calibrated on ``representative_data`` with the converter's own
      min/max ranges; float32 input and output. About the size of int8, on
      CPU kernels: for a deep polynomial whose int8 activations are too
      coarse (each product's range is set by its heavy tail).

    For ``"int8"`` the model is first rewritten with
    `fold_polynomial_layers` (each polynomial layer becomes ``A' ⊙ B' + c``,
    its batch normalizations folded in, exactly), and the activation ranges
    are calibrated on percentiles of the representative data (see
    `quantize_int8`): both keep a deep product's accuracy in int8, where the
    converter's plain min/max calibration of the unfolded model loses points.

    ``bound=p`` (a percentile; needs ``representative_data``) folds the
    polynomial layers and clips each one's output to the ``[100 - p, p]``
    percentiles of its values on the representative images: every file, in
    any quantization, is then bounded on every input, and float32, float16
    and int8 saturate alike (use the int8 ``percentile`` for ``p``).

    ``finetune_data`` (training images, raw pixels; ``"int8"`` only):
    before converting, the folded model is fine-tuned for
    ``finetune_epochs`` (Adam from ``finetune_learning_rate``; the ranges
    calibrated again every ``finetune_recalibrate_every`` steps, or with 0
    once) with int8 rounding simulated, to give the Keras model's class
    probabilities on those images (`finetune_for_int8`). The
    int8 file then agrees with the Keras model on more images (the CIFAR-10
    `PiResNet`, one epoch: 97.73% of the test images instead of 95.82%), at
    the cost of training epochs; its weights are no longer exactly the
    Keras model's.

    ``metadata`` (a dict, see `model_metadata`) is stored in the file
    (`read_tflite_metadata`).

    A mixed-precision model is converted in float32 with the same weights
    (see `as_float32`).

    Args:
        model: a `keras.Model` or the path of a ``.keras`` file.
        path: the ``.tflite`` file to write.
        quantization: one of ``QUANTIZATIONS``.
        settings: a `TFLiteSettings` (instead of ``quantization`` and the
            keyword arguments below, which make one: ``int8_output``,
            ``calibration``, ``percentile``, ``fold``, ``bound``,
            ``finetune_epochs``, ``finetune_learning_rate``,
            ``finetune_recalibrate_every``).
        representative_data: for ``"int8"`` (and ``bound``), required: raw
            pixel images as the model takes them, shape ``(N, H, W, C)``, or
            an iterable of such batches (or of ``(images, labels)`` pairs). A
            couple of hundred training images is enough. Ignored otherwise.
        int8_output: for ``"int8"``, int8 logits.
        calibration: for ``"int8"``, ``"percentile"`` (default) or
            ``"minmax"`` (the converter's own ranges).
        percentile: for ``calibration="percentile"``, the percentile ``p``
            of the activation ranges (default 99.99).
        fold: rewrite the polynomial layers with `fold_polynomial_layers`
            before converting; default: for ``"int8"`` or ``bound`` only.
        bound: ``None``, or the percentile of the clipping ranges.
        metadata: ``None``, or a JSON-serializable dict to store in the file.
        finetune_data: ``None``, or training images for `finetune_for_int8`.
        finetune_epochs, finetune_learning_rate, finetune_recalibrate_every:
            its ``epochs``, ``learning_rate`` and ``recalibrate_every``.
        overwrite: replace an existing ``path``; otherwise an existing path
            raises ``FileExistsError`` before any work.

    Returns:
        ``path``. The file is written under a temporary name beside it and
        renamed into place: a failure leaves nothing at ``path``.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: a bad argument, a file that is not a Keras model, a
            model that does not take raw pixels, or representative data of
            the wrong shape (naming the expected and the received shape).
        TFLiteConversionError: the model needs ops that TFLite does not have
            as builtins, or (``"int8"``) ops without an int8 kernel; the
            message names the ops and the layers they come from.
    """
    if settings is None:
        settings = TFLiteSettings.from_arguments(quantization, finetune_data, **options)
    elif options:
        raise ValueError(f"Pass either settings or {sorted(options)}, not both.")
    exporter = TFLiteExporter(model, settings, representative_data, finetune_data, metadata)
    _io.check_overwrite(path, overwrite, folder=False)
    return exporter.export(path, overwrite)


def check_tflite_arguments(
    quantization,
    int8_output=False,
    calibration="percentile",
    percentile=DEFAULT_PERCENTILE,
    bound=None,
    finetune_data=None,
    finetune_epochs=1,
    finetune_learning_rate=1e-5,
    finetune_recalibrate_every=0,
):
    """Raises ``ValueError`` for a bad combination of `export_tflite`'s arguments."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"Argument `quantization` must be one of {QUANTIZATIONS}. "
            f"Received: quantization={quantization!r}"
        )
    if int8_output and quantization != "int8":
        raise ValueError(
            f"int8_output=True needs quantization='int8'. Received: quantization={quantization!r}"
        )
    check_calibration(calibration, percentile)
    if bound is not None and (
        isinstance(bound, bool) or not isinstance(bound, (int, float)) or not 50 < bound <= 100
    ):
        raise ValueError(
            f"Argument `bound` must be None or a percentile in (50, 100]. Received: bound={bound!r}"
        )
    if finetune_data is not None:
        if quantization != "int8":
            raise ValueError(
                "`finetune_data` fine-tunes the model for int8 rounding: it needs "
                f"quantization='int8'. Received: quantization={quantization!r}"
            )
        integer = isinstance(finetune_epochs, int) and not isinstance(finetune_epochs, bool)
        if not integer or finetune_epochs < 1:
            raise ValueError(
                f"Argument `finetune_epochs` must be a positive int. Received: {finetune_epochs!r}"
            )
        rate = finetune_learning_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
            raise ValueError(
                "Argument `finetune_learning_rate` must be a number in (0, 1). "
                f"Received: {finetune_learning_rate!r}"
            )
        check_recalibrate_every(finetune_recalibrate_every, "finetune_recalibrate_every")


def convert_to_tflite(
    model,
    quantization="float32",
    representative_data=None,
    int8_output=False,
    calibration="percentile",
    percentile=DEFAULT_PERCENTILE,
    fold=None,
    bound=None,
    metadata=None,
    workdir=None,
    finetune_data=None,
    settings: TFLiteSettings | None = None,
    **finetune,
):
    """The bytes of the ``.tflite`` file `export_tflite` writes (same arguments).

    ``workdir``: the folder for the intermediate SavedModel, created and
    removed here (default: a new folder in the system's temporary folder);
    `export_tflite` puts it beside the target, under a name that
    `pinet_keras._io.remove_leftovers` recognizes after a SIGKILL.
    """
    if settings is None:
        settings = TFLiteSettings.from_arguments(
            quantization,
            finetune_data,
            int8_output=int8_output,
            calibration=calibration,
            percentile=percentile,
            fold=fold,
            bound=bound,
            **finetune,
        )
    exporter = TFLiteExporter(model, settings, representative_data, finetune_data, metadata)
    return exporter.run(workdir)


def pixel_range(model):
    """``(min, max)`` of the `PixelRange` layer a raw-pixel model starts with."""
    from pinet_keras.models.preprocessing import preprocessing_config

    return tuple(preprocessing_config(model)["pixel_range"])


def representative_images(data, example_shape):
    """Validates ``representative_data`` and returns it as one float32 array ``(N, H, W, C)``."""
    expected = "(batch, " + ", ".join(str(d) for d in example_shape) + ")"
    if data is None:
        raise ValueError(
            "quantization='int8' (and `bound`) needs `representative_data`: a few hundred "
            f"training images as raw pixels, of shape {expected}."
        )
    if (
        hasattr(data, "shape")
        and hasattr(data, "ndim")
        or isinstance(data, (list, tuple))
        and (len(data) and np.ndim(data[0]) == len(example_shape))
    ):
        batches = [data]
    else:
        batches = data
    images = []
    for batch in batches:
        if (
            isinstance(batch, (tuple, list))
            and len(batch)
            and np.ndim(batch[0]) > len(example_shape)
        ):
            batch = batch[0]  # (images, labels) pairs
        elif isinstance(batch, dict) and len(batch) == 1:
            batch = next(iter(batch.values()))
        batch = np.asarray(batch)
        if batch.ndim != len(example_shape) + 1 or tuple(batch.shape[1:]) != tuple(example_shape):
            raise ValueError(
                f"`representative_data` must have the model's input shape {expected}; "
                f"received a batch of shape {tuple(batch.shape)}."
            )
        if not (np.issubdtype(batch.dtype, np.number) or batch.dtype == bool):
            raise ValueError(
                f"`representative_data` must be numeric images; received dtype {batch.dtype}."
            )
        batch = batch.astype("float32")
        if not np.isfinite(batch).all():
            raise ValueError("`representative_data` contains NaN or infinite values.")
        images.append(batch)
    if not images or sum(len(b) for b in images) == 0:
        raise ValueError(f"`representative_data` is empty; expected images of shape {expected}.")
    return np.concatenate(images)


def check_builtin_ops(content, model=None, quantization="float32"):
    """Raises `TFLiteConversionError` if a converted model has Flex or custom ops."""
    bad = sorted(non_builtin_ops(tflite_ops(content)))
    if bad:
        name = f"model {model.name!r}" if model is not None else "the model"
        raise TFLiteConversionError(
            f"The TFLite conversion of {name} (quantization={quantization!r}) uses "
            f"non-builtin ops {bad}; only TFLite builtin ops are allowed.",
            ops=bad,
        )


def check_fully_quantized(content, model=None):
    """Raises `TFLiteConversionError` naming the ops (and layers) an int8 model runs in float.

    The converter keeps an op that has no int8 kernel in float, between a
    DEQUANTIZE and a QUANTIZE, instead of failing; a full-integer model must
    not have any (they would fail on int8-only hardware such as an Edge TPU
    or a microcontroller).
    """
    interpreter = TFLiteRunner(content).interpreter
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    floating = []
    for op in ops_details(interpreter):
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE"):
            continue  # the float input and output of a model with float io
        for index in op["outputs"]:
            tensor = tensors.get(index)
            if tensor is not None and np.issubdtype(np.dtype(tensor["dtype"]), np.floating):
                floating.append((op["op_name"], tensor["name"]))
                break
    if floating:
        layers = _unique(_layer_of(tensor, model) for _, tensor in floating)
        ops = _unique(name for name, _ in floating)
        where = ", ".join(
            f"{name} ({_layer_of(tensor, model) or tensor})" for name, tensor in floating
        )
        name = f"Model {model.name!r}" if model is not None else "The model"
        raise TFLiteConversionError(
            f"{name} cannot be fully quantized to int8: "
            + (f"layer(s) {layers} use " if layers else "")
            + f"op(s) {ops} without an int8 TFLite kernel, which would run in float "
            f"({where}). Replace these layers, or export with quantization='dynamic' or "
            "'float16'.",
            ops=ops,
            layers=layers,
        )


def _unique(items):
    seen = []
    for item in items:
        if item and item not in seen:
            seen.append(item)
    return seen


def _layer_of(scope, model):
    """The top-level layer of ``model`` a TensorFlow name scope belongs to, or None."""
    if model is None:
        return None
    return layer_of_scope(scope, {layer.name for layer in model.layers})


def _conversion_error(error, model, quantization):
    """A `TFLiteConversionError` naming the TensorFlow ops and layers the converter rejected."""
    ops, scopes, messages = converter_error_details(error)
    layers = _unique(_layer_of(scope, model) for scope in scopes)
    ops = _unique(ops)
    detail = "; ".join(_unique(messages)) or str(error).strip().splitlines()[0][:500]
    if ops:
        what = (
            (f"layer(s) {layers} use " if layers else "the model uses ")
            + f"TensorFlow op(s) {ops}, which have no TFLite builtin kernel"
            + (" (int8)" if quantization == "int8" else "")
        )
    else:
        what = "the converter failed"
    return TFLiteConversionError(
        f"Cannot convert model {model.name!r} to TFLite (quantization={quantization!r}) "
        f"with TFLite builtin ops only: {what}. Flex (SELECT_TF_OPS) and custom ops are "
        f"not allowed; replace these ops. Converter: {detail}",
        ops=ops,
        layers=layers,
    )
