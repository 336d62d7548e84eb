"""The private TensorFlow / LiteRT interfaces the package relies on, in one place.

Each function wraps one interface that has no public equivalent in
TensorFlow 2.21 / ai-edge-litert 2.x; `tests/test_compat.py` calls every one
of them, so an upgrade that changes them fails there, loudly, and not in a
user's export.

- `calibrate_only`, `quantize_calibrated`: the two halves of the TFLite
  converter's full-integer conversion (``converter._experimental_calibrate_only``
  and ``tensorflow.lite.python.convert.mlir_quantize``), the calls
  ``tf.lite.experimental.QuantizationDebugger`` makes, so that the
  calibrated activation ranges can be edited in between (percentile
  calibration, the raw-pixel input range). The maintained public tool for
  this, ``litert-quantizer`` (ai-edge-quantizer), is not used: see README,
  "int8 of a deep product".
- `tflite_schema`, `flatbuffer_from_bytes`, `flatbuffer_to_bytes`: the TFLite
  flatbuffer schema's generated Python code (shipped by ai-edge-litert as
  ``ai_edge_litert.schema_py_generated``, and by TensorFlow), to read and
  edit a ``.tflite`` file.
- `ops_details`: the interpreter's ``_get_ops_details()``, the operators of a
  model with their input and output tensors.
"""

import numpy as np


def calibrate_only(converter):
    """Runs the converter's calibration only; returns a float model carrying min/max ranges."""
    converter._experimental_calibrate_only = True
    try:
        return converter.convert()
    finally:
        converter._experimental_calibrate_only = False


def quantize_calibrated(calibrated, input_type, output_type):
    """Quantizes a model from `calibrate_only` to int8, with the given input/output dtypes."""
    from tensorflow.lite.python.convert import mlir_quantize

    return mlir_quantize(calibrated, input_data_type=input_type, output_data_type=output_type)


def tflite_schema():
    """The generated TFLite schema module (``Model``, ``ModelT``...), or None."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        try:
            from tensorflow.lite.python import schema_py_generated
        except ImportError:  # pragma: no cover - both ship it
            return None
    return schema_py_generated


def flatbuffer_from_bytes(content):
    """A mutable ``ModelT`` object of a ``.tflite`` file's bytes."""
    schema = tflite_schema()
    return schema.ModelT.InitFromPackedBuf(bytearray(content), 0)


def flatbuffer_to_bytes(model):
    """The bytes of a ``ModelT`` object (identifier ``TFL3``)."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def ops_details(interpreter):
    """The interpreter's operators: dicts with ``op_name``, ``inputs``, ``outputs`` (tensor indices)."""
    return [
        {
            "op_name": op["op_name"],
            "inputs": np.asarray(op["inputs"]).tolist(),
            "outputs": np.asarray(op["outputs"]).tolist(),
        }
        for op in interpreter._get_ops_details()
    ]


# -- Keras: argument standardization of its layers, and its layer test case ------------
# No public equivalent in Keras 3.15; `tests/test_polynomial_layers.py` calls each.


def standardize_tuple(value, n, name):
    """Keras' ``standardize_tuple``: an int or ``n`` ints as a tuple of ``n`` positive ints."""
    from keras.src.utils.argument_validation import standardize_tuple as standardize

    return standardize(value, n, name)


def standardize_data_format(data_format):
    """Keras' ``standardize_data_format``: None gives ``keras.config.image_data_format()``."""
    from keras.src.backend.config import standardize_data_format as standardize

    return standardize(data_format)


def layer_test_case():
    """``keras.src.testing.TestCase``, whose ``run_layer_test`` is Keras' own layer test."""
    from keras.src.testing import TestCase

    return TestCase
