"""Export: SavedModel and TFLite (LiteRT), checked against the Keras model.

Needs TensorFlow installed (a ``.keras`` file saved under JAX or PyTorch
loads and exports here too). ``__all__`` is the public API; the submodules
are internal.

Every exported file takes **raw pixels** (``0..255``; the model's own
`PixelRange`, normalization and guard are inside it) and carries its
labels and provenance (`model_metadata`).

- `export(ExportConfig(...))`: the job of ``pinet-keras export``: every
  format, each checked against the Keras model, written whole at the end.
- `export_saved_model`: a SavedModel with the signature ``serving_default``,
  input ``images`` (float32 raw pixels, ``(None, H, W, C)``), output
  ``logits``, and the signature ``metadata``.
- `export_tflite`: a ``.tflite`` file in ``"float32"``, ``"float16"``,
  ``"dynamic"`` (dynamic-range) or ``"int8"`` (full integer, uint8 input),
  TFLite builtin ops only (no Flex), resizable batch. For int8 the
  polynomial layers are folded first (`fold_polynomial_layers`) and the
  activation ranges calibrated on percentiles (`CALIBRATIONS`); ``bound``
  clips every polynomial layer to its calibrated range in any format.
- `add_pixel_preprocessing`: puts the preprocessing in front of a model that
  takes normalized images (a model of pinet_keras 0.1.0).
- `read_tflite_metadata` / `read_saved_model_metadata`: what a file says.
- `TFLiteRunner` / `run_tflite`: run a ``.tflite`` file in the LiteRT
  interpreter (``ai-edge-litert``; falls back to the deprecated
  ``tf.lite.Interpreter``); ``TFLiteRunner(path).latency_ms(images)``.
- `predict_saved_model`: the logits of an exported SavedModel.
- `fold_polynomial_layers` / `bound_model`: the Keras models that int8 and
  ``bound`` export; `finetune_for_int8`: their weights fine-tuned with int8
  rounding simulated (``export_tflite(..., finetune_data=...)``).
- `load_keras_model`: a ``.keras`` file, with a message that says what is
  wrong with a file that is not one; `legacy_standardization`: the
  statistics a 0.1.0 model standardized with, for `add_pixel_preprocessing`.
- `evaluate_tflite` / `evaluate_saved_model`: agreement with the Keras
  logits, accuracy, size, ops, latency (what `pinet-keras export` reports).

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
from pinet_keras.export.files import load_keras_model
from pinet_keras.export.finetune import finetune_for_int8
from pinet_keras.export.fold import bound_model
from pinet_keras.export.fold import fold_polynomial_layers
from pinet_keras.export.job import FORMATS
from pinet_keras.export.job import ExportConfig
from pinet_keras.export.job import Int8Settings
from pinet_keras.export.job import export
from pinet_keras.export.metadata import model_metadata
from pinet_keras.export.metadata import read_tflite_metadata
from pinet_keras.export.pixels import add_pixel_preprocessing
from pinet_keras.export.pixels import legacy_standardization
from pinet_keras.export.report import compare_logits
from pinet_keras.export.report import evaluate_saved_model
from pinet_keras.export.report import evaluate_tflite
from pinet_keras.export.runtime import TFLiteRunner
from pinet_keras.export.runtime import run_tflite
from pinet_keras.export.saved_model import export_saved_model
from pinet_keras.export.saved_model import predict_saved_model
from pinet_keras.export.saved_model import read_saved_model_metadata
from pinet_keras.export.tflite import QUANTIZATIONS
from pinet_keras.export.tflite import TFLiteConversionError
from pinet_keras.export.tflite import TFLiteExporter
from pinet_keras.export.tflite import TFLiteSettings
from pinet_keras.export.tflite import convert_to_tflite
from pinet_keras.export.tflite import export_tflite

__all__ = [
    "CALIBRATIONS",
    "DEFAULT_PERCENTILE",
    "ExportConfig",
    "FORMATS",
    "Int8Settings",
    "QUANTIZATIONS",
    "TFLiteConversionError",
    "TFLiteExporter",
    "TFLiteRunner",
    "TFLiteSettings",
    "add_pixel_preprocessing",
    "bound_model",
    "compare_logits",
    "convert_to_tflite",
    "evaluate_saved_model",
    "evaluate_tflite",
    "export",
    "export_saved_model",
    "export_tflite",
    "finetune_for_int8",
    "fold_polynomial_layers",
    "legacy_standardization",
    "load_keras_model",
    "model_metadata",
    "predict_saved_model",
    "read_saved_model_metadata",
    "read_tflite_metadata",
    "run_tflite",
]
