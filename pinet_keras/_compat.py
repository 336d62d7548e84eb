"""The private TensorFlow / LiteRT interfaces the package relies on, in one place.

Each function wraps one interface that has no public equivalent in
TensorFlow 2.21 / ai-edge-litert 2.x; `tests/export/test_compat.py` calls every one
of them, so an upgrade that changes them fails there, loudly, and not in a
user's export.

- `calibrate_only`, `quantize_calibrated`: the two halves of the TFLite
  converter's full-integer conversion (``converter._experimental_calibrate_only``
  and ``tensorflow.lite.python.convert.mlir_quantize``), the calls
  ``tf.lite.experimental.QuantizationDebugger`` makes, so that the
  calibrated activation ranges can be edited in between (percentile
  calibration, the raw-pixel input range), and some ops left in float
  (``benchmarks/int8_sensitivity.py``). The maintained public tool for
  this, ``litert-quantizer`` (ai-edge-quantizer), is not used: see the documentation,
  "The package's calibration against litert-quantizer" (results, int8).
- `tflite_schema`, `flatbuffer_from_bytes`, `flatbuffer_to_bytes`: the TFLite
  flatbuffer schema's generated Python code (shipped by ai-edge-litert as
  ``ai_edge_litert.schema_py_generated``, and by TensorFlow), to read and
  edit a ``.tflite`` file.
- `ops_details`: the interpreter's ``_get_ops_details()``, the operators of a
  model with their input and output tensors.
- `converter_error_details`, `layer_of_scope`: the TFLite converter's error
  records and messages, and TensorFlow's name scopes, read for the ops and
  layers a failed conversion names (formats TensorFlow does not document).
- `sublayers`, `producer`, `outbound_operations`, `inbound_node_count`: Keras'
  ``_flatten_layers``, the ``_keras_history`` of a functional model's tensors,
  and the ``_inbound_nodes`` and ``_outbound_nodes`` of its layers.
- `multi_worker_fit`: Keras' ``_symbolic_build``, ``_distribute_strategy`` and
  ``keras.src.backend.tensorflow.trainer.reduce_per_replica``, changed for the
  duration of one multi-worker ``fit`` (keras-team/keras#20585).

No other module of the package imports ``keras.src`` or
``tensorflow.lite.python``, or touches a private attribute of Keras or
TensorFlow.
"""

import contextlib
import numbers
import re

import keras
import numpy as np

from pinet_keras import _optional


def calibrate_only(converter):
    """Runs the converter's calibration only; returns a float model carrying min/max ranges."""
    converter._experimental_calibrate_only = True
    try:
        return converter.convert()
    finally:
        converter._experimental_calibrate_only = False


def quantize_calibrated(calibrated, input_type, output_type, float_nodes=None):
    """Quantizes a model from `calibrate_only` to int8, with the given input/output dtypes.

    ``float_nodes``: names of ops (their first output tensor's name in the
    calibrated model) to leave in float32, with a dequantize and a quantize
    around them (``denylisted_nodes``, as ``QuantizationDebugger`` uses it).
    """
    from tensorflow.lite.python.convert import mlir_quantize

    return mlir_quantize(
        calibrated,
        input_data_type=input_type,
        output_data_type=output_type,
        denylisted_nodes=list(float_nodes) if float_nodes else None,
    )


@contextlib.contextmanager
def multi_worker_fit(model, strategy, dataset):
    """Lets ``model.fit`` run under ``MultiWorkerMirroredStrategy``, for the ``with`` block only.

    Works around keras-team/keras#20585 (Keras 3 with the multi-worker
    strategy): ``fit`` builds the metrics by reducing a distributed batch
    eagerly, which that strategy cannot do, and averages each step's scalar
    logs with ``strategy.reduce("MEAN", v, axis=0)``, which fails on scalars.
    Inside the block the model is built from a local batch
    (``model._symbolic_build``), takes the strategy from the enclosing scope
    instead of the one recorded at compile time (``model._distribute_strategy``),
    and the scalar logs of a multi-worker strategy are reduced with
    ``axis=None`` (Keras' ``reduce_per_replica``, replaced in
    ``keras.src.backend.tensorflow.trainer``). On exit the model's strategy
    and Keras' function are put back: other runs in the process see stock
    Keras. Keras' distribution API (``keras.distribution``) covers multi-host
    training on JAX only; this workaround is for the TensorFlow backend.
    """
    tf = _optional.tensorflow("The multi-worker strategy")
    from keras.src.backend.tensorflow import trainer as tf_trainer

    with strategy.scope():
        model._symbolic_build(data_batch=next(iter(dataset)))
    recorded = model._distribute_strategy
    model._distribute_strategy = None
    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(
            strategy
        ):

            def mean(v):
                local = v._values[0] if isinstance(v, tf.distribute.DistributedValues) else v
                if isinstance(local, tf.Tensor) and local.shape.rank == 0:
                    return strategy.reduce("MEAN", v, axis=None)
                return original(v, strategy, reduction)

            return keras.tree.map_structure(mean, values)
        return original(values, strategy, reduction)

    tf_trainer.reduce_per_replica = reduce_per_replica
    try:
        yield model
    finally:
        tf_trainer.reduce_per_replica = original
        model._distribute_strategy = recorded


def keras_reduce_per_replica():
    """Keras' TensorFlow ``reduce_per_replica``, which `multi_worker_fit` replaces."""
    from keras.src.backend.tensorflow import trainer as tf_trainer

    return tf_trainer.reduce_per_replica


def sublayers(model):
    """Every layer inside ``model``, nested ones included (Keras' ``_flatten_layers``)."""
    return list(model._flatten_layers(include_self=False, recursive=True))


def producer(tensor):
    """``(operation, input tensors)`` of the call that made a functional model's ``tensor``.

    From Keras' ``tensor._keras_history`` and ``operation._inbound_nodes``;
    an ``InputLayer`` has no input tensors.
    """
    operation, node_index, _ = tensor._keras_history
    return operation, list(operation._inbound_nodes[node_index].input_tensors)


def converter_error_details(error):
    """``(ops, scopes, messages)`` of a TFLite converter error (``tf.lite`` ``ConverterError``).

    The rejected TensorFlow ops (``"Erfinv"``), the name scopes of their
    calls and the first line of each message: from the error's ``errors``
    records where it has them, else read from its message text
    (``'tf.Erfinv' op ...``, ``"odd_net_1/inverse_erf_1/Erfinv@__inference..."``),
    a format TensorFlow does not document.
    """
    ops, scopes, messages = [], [], []
    for data in getattr(error, "errors", None) or []:
        op = getattr(getattr(data, "operator", None), "name", "")
        if op:
            ops.append(op[3:] if op.startswith("tf.") else op)
        calls = getattr(getattr(data, "location", None), "call", None) or []
        scopes.extend(call.name for call in calls)
        if getattr(data, "error_message", ""):
            messages.append(data.error_message.splitlines()[0])
    text = str(error)
    if not ops:
        ops = re.findall(r"'tf\.(\w+)' op", text)
    if not scopes:
        scopes = re.findall(r'"([^"@]+)@__inference', text)
    return ops, scopes, messages


def layer_of_scope(scope, layer_names):
    """The name in ``layer_names`` that a TensorFlow name scope belongs to, or None.

    Tensor and op names look like ``"polynet_1/block2_1/branch_a_1/convolution"``
    (TensorFlow adds ``_<n>`` to a scope used more than once, and
    ``;``-separated fused names and ``@function`` suffixes occur).
    """
    if not scope:
        return None
    for part in re.split(r"[/;]", scope):
        part = part.split("@")[0]
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in layer_names:
                return candidate
    return None


def tflite_schema():
    """The generated TFLite schema module (``Model``, ``ModelT``...), LiteRT's or TensorFlow's."""
    if _optional.available("ai_edge_litert"):
        return _optional.require("ai_edge_litert.schema_py_generated")
    return _optional.require(
        "tensorflow.lite.python.schema_py_generated", "Reading a .tflite file without LiteRT"
    )


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
    """The interpreter's operators: dicts of ``op_name``, ``inputs``, ``outputs`` (tensors)."""
    return [
        {
            "op_name": op["op_name"],
            "inputs": np.asarray(op["inputs"]).tolist(),
            "outputs": np.asarray(op["outputs"]).tolist(),
        }
        for op in interpreter._get_ops_details()
    ]


# -- Keras: argument standardization of its layers, and its layer test case ------------
# No public equivalent in Keras 3.15; `tests/layers/test_polynomial_layers.py` calls each.


def standardize_tuple(value, n, name):
    """Keras' ``standardize_tuple``: an int or ``n`` ints as a tuple of ``n`` positive ints."""
    from keras.src.utils.argument_validation import standardize_tuple as standardize

    # NumPy integers (np.int64(3)) are ints too; Keras' check takes Python ints only.
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)
    elif isinstance(value, (list, tuple)):
        value = type(value)(
            int(v) if isinstance(v, numbers.Integral) and not isinstance(v, bool) else v
            for v in value
        )
    return standardize(value, n, name)


def standardize_data_format(data_format):
    """Keras' ``standardize_data_format``: None gives ``keras.config.image_data_format()``."""
    from keras.src.backend.config import standardize_data_format as standardize

    return standardize(data_format)


def layer_test_case():
    """``keras.src.testing.TestCase``, whose ``run_layer_test`` is Keras' own layer test."""
    from keras.src.testing import TestCase

    return TestCase


def outbound_operations(layer):
    """The operations (layers) that take ``layer``'s output in the models it was called in."""
    return [node.operation for node in layer._outbound_nodes]


def inbound_node_count(layer):
    """How many times ``layer`` was called on symbolic inputs (its inbound nodes)."""
    return len({id(node) for node in layer._inbound_nodes})
