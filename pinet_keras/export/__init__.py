"""Export: SavedModel and TFLite (LiteRT), checked against the Keras model.

Needs the TensorFlow backend (a ``.keras`` file saved under JAX or PyTorch
loads and exports here too). Only this package imports TensorFlow; the rest
of `pinet_keras` does not need it.

- `export_saved_model`: a SavedModel with the signature ``serving_default``,
  input ``images`` (float32, ``(None, H, W, C)``), output ``logits``.
- `export_tflite`: a ``.tflite`` file in ``"float32"``, ``"float16"``,
  ``"dynamic"`` (dynamic-range) or ``"int8"`` (full integer, float or int8
  input/output), TFLite builtin ops only (no Flex), resizable batch. For
  int8 the polynomial layers are folded first (`fold_polynomial_layers`) and
  the activation ranges calibrated on percentiles (`CALIBRATIONS`).
- `TFLiteRunner` / `run_tflite` / `latency_ms` / `tflite_ops`: run and inspect
  a ``.tflite`` file in the LiteRT interpreter (``ai-edge-litert``; falls back
  to the deprecated ``tf.lite.Interpreter``).
- `evaluate_tflite` / `evaluate_saved_model`: agreement with the Keras
  logits, accuracy, size, ops, latency (what `examples/export.py` reports).

Outputs are never overwritten unless ``overwrite=True``, and are written
under a temporary name then renamed, so a failure leaves nothing behind.
A mixed-precision model is exported in float32 with the same weights.

Example:

>>> from pinet_keras.export import export_tflite, run_tflite
>>> export_tflite("model.keras", "model_int8.tflite", "int8",
...               representative_data=x_train[:200])  # doctest: +SKIP
>>> run_tflite("model_int8.tflite", x_test).argmax(-1)  # doctest: +SKIP
"""

from pinet_keras.export.calibration import CALIBRATIONS
from pinet_keras.export.calibration import DEFAULT_PERCENTILE
from pinet_keras.export.calibration import check_calibration
from pinet_keras.export.files import check_overwrite
from pinet_keras.export.files import load_keras_model
from pinet_keras.export.files import read_training_metadata
from pinet_keras.export.files import write_text
from pinet_keras.export.fold import fold_polynomial_layers
from pinet_keras.export.precision import as_float32
from pinet_keras.export.report import compare_logits
from pinet_keras.export.report import evaluate_saved_model
from pinet_keras.export.report import evaluate_tflite
from pinet_keras.export.report import format_table
from pinet_keras.export.runtime import TFLiteRunner
from pinet_keras.export.runtime import interpreter_class
from pinet_keras.export.runtime import latency_ms
from pinet_keras.export.runtime import run_tflite
from pinet_keras.export.runtime import tflite_ops
from pinet_keras.export.saved_model import INPUT_NAME
from pinet_keras.export.saved_model import OUTPUT_NAME
from pinet_keras.export.saved_model import SIGNATURE_KEY
from pinet_keras.export.saved_model import export_saved_model
from pinet_keras.export.saved_model import load_saved_model
from pinet_keras.export.saved_model import predict_saved_model
from pinet_keras.export.tflite import QUANTIZATIONS
from pinet_keras.export.tflite import TFLiteConversionError
from pinet_keras.export.tflite import convert_to_tflite
from pinet_keras.export.tflite import export_tflite

__all__ = [
    "CALIBRATIONS",
    "DEFAULT_PERCENTILE",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "QUANTIZATIONS",
    "SIGNATURE_KEY",
    "TFLiteConversionError",
    "TFLiteRunner",
    "as_float32",
    "check_calibration",
    "check_overwrite",
    "compare_logits",
    "convert_to_tflite",
    "evaluate_saved_model",
    "evaluate_tflite",
    "export_saved_model",
    "export_tflite",
    "fold_polynomial_layers",
    "format_table",
    "interpreter_class",
    "latency_ms",
    "load_keras_model",
    "load_saved_model",
    "predict_saved_model",
    "read_training_metadata",
    "run_tflite",
    "tflite_ops",
]
