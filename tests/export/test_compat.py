"""Every private TensorFlow / LiteRT interface of `pinet_keras._compat`, on a real tiny model.

A TensorFlow or ai-edge-litert upgrade that changes one of these hooks fails
here, loudly, rather than in a user's export.
"""

import numpy as np
import pytest

from conftest import tensorflow_only
from pinet_keras import PolyNet
from pinet_keras import _compat
from pinet_keras import export
from pinet_keras.models import pixel_preprocessing

pytestmark = tensorflow_only

SHAPE = (8, 8, 1)


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(0)
    preprocessing = pixel_preprocessing(SHAPE)
    return PolyNet(input_shape=SHAPE, width=2, num_blocks=2, preprocessing=preprocessing)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (16, *SHAPE)).astype("float32")


@pytest.fixture(scope="module")
def calibrated(model, images, tmp_path_factory):
    import tensorflow as tf

    from pinet_keras.export.saved_model import write_saved_model

    path = str(tmp_path_factory.mktemp("compat") / "saved_model")
    write_saved_model(model, path)
    converter = tf.lite.TFLiteConverter.from_saved_model(path)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = lambda: ([image[None]] for image in images)
    content = _compat.calibrate_only(converter)
    assert converter._experimental_calibrate_only is False  # restored
    return content


def test_calibrate_only_records_ranges(calibrated):
    schema = _compat.tflite_schema()
    model = schema.Model.GetRootAs(calibrated, 0)
    subgraph = model.Subgraphs(0)
    ranged = [
        i
        for i in range(subgraph.TensorsLength())
        if subgraph.Tensors(i).Quantization() is not None
        and subgraph.Tensors(i).Quantization().MinLength() == 1
    ]
    assert len(ranged) >= 3  # the input and the activations carry min/max
    # Still a float model: it runs in float32.
    runner = export.TFLiteRunner(calibrated)
    assert runner.input_dtype == np.float32


def test_quantize_calibrated(model, calibrated, images):
    import tensorflow as tf

    content = _compat.quantize_calibrated(calibrated, tf.uint8, tf.float32)
    runner = export.TFLiteRunner(content)
    assert (runner.input_dtype, runner.output_dtype) == (np.uint8, np.float32)
    content = _compat.quantize_calibrated(calibrated, tf.int8, tf.int8)
    runner = export.TFLiteRunner(content)
    assert (runner.input_dtype, runner.output_dtype) == (np.int8, np.int8)
    logits = runner.predict(images)
    reference = model.predict(images, verbose=0)
    assert np.abs(logits - reference).max() <= 0.2 * np.abs(reference).max()


def test_quantize_calibrated_float_nodes(calibrated, images):
    import tensorflow as tf

    def op_types(content):
        interpreter = export.TFLiteRunner(content).interpreter
        return [op["op_name"] for op in _compat.ops_details(interpreter)]

    runner = export.TFLiteRunner(calibrated)
    details = _compat.ops_details(runner.interpreter)
    names = {t["index"]: t["name"] for t in runner.interpreter.get_tensor_details()}
    product = next(op for op in details if op["op_name"] == "MUL")
    all_int8 = _compat.quantize_calibrated(calibrated, tf.uint8, tf.float32)
    mixed = _compat.quantize_calibrated(
        calibrated, tf.uint8, tf.float32, float_nodes=[names[product["outputs"][0]]]
    )
    # The product left in float32: dequantized before it, quantized after it.
    assert op_types(mixed).count("DEQUANTIZE") > op_types(all_int8).count("DEQUANTIZE")
    assert op_types(mixed).count("QUANTIZE") > op_types(all_int8).count("QUANTIZE")
    mixed_runner = export.TFLiteRunner(mixed)
    assert mixed_runner.input_dtype == np.uint8
    dtypes = {t["index"]: t["dtype"] for t in mixed_runner.interpreter.get_tensor_details()}
    products = [
        dtypes[op["outputs"][0]]
        for op in _compat.ops_details(mixed_runner.interpreter)
        if op["op_name"] == "MUL"
    ]
    assert np.float32 in products and np.int8 in products
    assert np.isfinite(mixed_runner.predict(images)).all()


def test_tflite_schema():
    schema = _compat.tflite_schema()
    assert schema is not None
    for name in ("Model", "ModelT", "BufferT", "MetadataT", "BuiltinOperator"):
        assert hasattr(schema, name), name
    assert schema.BuiltinOperator.CONV_2D == 3


def test_flatbuffer_round_trip(model, images):
    content = export.convert_to_tflite(model)
    parsed = _compat.flatbuffer_from_bytes(content)
    assert len(parsed.subgraphs) == 1 and parsed.subgraphs[0].inputs is not None
    names = {tensor.name for tensor in parsed.subgraphs[0].tensors}
    assert any(b"images" in name if isinstance(name, bytes) else "images" in name for name in names)
    again = _compat.flatbuffer_to_bytes(parsed)
    assert again[4:8] == b"TFL3"
    np.testing.assert_array_equal(
        export.run_tflite(again, images), export.run_tflite(content, images)
    )
    # An edit survives the round trip.
    parsed.description = "edited"
    edited = _compat.flatbuffer_from_bytes(_compat.flatbuffer_to_bytes(parsed))
    assert edited.description in (b"edited", "edited")


def test_ops_details(model):
    runner = export.TFLiteRunner(export.convert_to_tflite(model))
    details = _compat.ops_details(runner.interpreter)
    assert details and {"CONV_2D", "MUL", "FULLY_CONNECTED"} <= {op["op_name"] for op in details}
    tensors = {t["index"] for t in runner.interpreter.get_tensor_details()}
    for op in details:
        assert set(op) == {"op_name", "inputs", "outputs"}
        assert all(isinstance(i, int) for i in op["inputs"] + op["outputs"])
        assert set(op["outputs"]) <= tensors


def test_multi_worker_fit_is_scoped(model, images):
    """The multi-worker workaround changes Keras for the ``with`` block only."""
    import keras
    import tensorflow as tf

    original = _compat.keras_reduce_per_replica()
    clone = keras.models.clone_model(model)
    clone.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    strategy = tf.distribute.get_strategy()
    labels = np.arange(len(images)) % 10
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    with _compat.multi_worker_fit(clone, strategy, dataset):
        assert _compat.keras_reduce_per_replica() is not original
        assert clone.built
        # Single-worker strategies go through Keras' own reduction.
        history = clone.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert _compat.keras_reduce_per_replica() is original
    assert clone.distribute_strategy is strategy
    with pytest.raises(RuntimeError), _compat.multi_worker_fit(clone, strategy, dataset):
        raise RuntimeError("a failed fit")
    assert _compat.keras_reduce_per_replica() is original  # restored after a failure too


def test_converter_error_details_and_layer_of_scope():
    """What the converter says about an op without a TFLite builtin kernel."""
    import keras
    import tensorflow as tf

    class InverseErf(keras.layers.Layer):
        def call(self, inputs):
            return tf.math.erfinv(inputs)

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), InverseErf(name="inverse_erf")], name="odd_net"
    )
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with pytest.raises(Exception) as info:
        converter.convert()
    ops, scopes, messages = _compat.converter_error_details(info.value)
    assert "Erfinv" in ops
    names = {layer.name for layer in model.layers}
    assert "inverse_erf" in {_compat.layer_of_scope(scope, names) for scope in scopes}
    scope = "polynet_1/block2_1/branch_a_1/convolution"
    assert _compat.layer_of_scope(scope, {"block2"}) == "block2"
    scope = "a;odd_net_1/dense_3/MatMul@__inference_f"
    assert _compat.layer_of_scope(scope, {"dense_3"}) == "dense_3"
    assert _compat.layer_of_scope("", {"x"}) is None


def test_sublayers_and_producer(model):
    import keras

    layers = _compat.sublayers(model)
    assert {layer.name for layer in model.layers} <= {layer.name for layer in layers}
    assert any(layer.name == "branch_a" for layer in layers)  # nested in a block
    operation, inputs = _compat.producer(model.outputs[0])
    assert operation is model.layers[-1] and len(inputs) == 1
    first, none = _compat.producer(model.inputs[0])
    assert isinstance(first, keras.layers.InputLayer) and none == []
