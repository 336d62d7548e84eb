"""Which layers of an int8 file cost its agreement: each layer kept in float32, or alone in int8.

The int8 file of a deep product disagrees with its Keras model on a few
percent of the images (README, "int8 of a deep product"). If one or two
layers caused most of it, leaving them in float32 (a mixed file: int8
everywhere else, a dequantize and a quantize around them) would be the cure.
This script measures it on the run's validation split, never the test
split: the model is folded, bounded and calibrated as `examples/export.py`
does by default (200 representative images, percentile 99.99, no int8
fine-tuning), then converted once with every layer in int8, once per layer
with that layer in float32, and once per layer with only that layer in int8.
Each file's top-1 agreement with the Keras model is printed, and written to
``--output`` as JSON.

    python benchmarks/int8_sensitivity.py --pretrained=pi_resnet_cifar10 \
        --data_dir=../shared/data/cifar10 --output=benchmarks/results/int8_sensitivity_cifar10.json
"""

import os
import shutil
import tempfile
import time
import types

from absl import app
from absl import flags

from pinet_keras import _compat
from pinet_keras import _io
from pinet_keras import export
from pinet_keras import pretrained
from pinet_keras.data import load_arrays
from pinet_keras.data import split_validation
from pinet_keras.export.calibration import DEFAULT_PERCENTILE
from pinet_keras.export.calibration import choose_representative
from pinet_keras.export.calibration import set_ranges
from pinet_keras.export.files import training_run
from pinet_keras.export.fold import fold_polynomial_layers
from pinet_keras.export.precision import as_float32
from pinet_keras.export.saved_model import write_saved_model
from pinet_keras.export.tflite import pixel_range

FLAGS = flags.FLAGS
flags.DEFINE_string("pretrained", None, "A pretrained model's name, e.g. pi_resnet_cifar10.")
flags.DEFINE_string("model", None, "Or a trained .keras file (its metrics.json names the data).")
flags.DEFINE_string("data_dir", None, "Local data folder of the model's data set.")
flags.DEFINE_integer("num_representative", 200, "Calibration images, from the training part.")
flags.DEFINE_integer("bound", 100, "Percentile of the export's bound (0: unbounded).")
flags.DEFINE_string("output", None, "Optional JSON file for the numbers.")
flags.mark_flags_as_mutual_exclusive(["pretrained", "model"], required=True)


def load():
    """The float32 Keras model, its data set name and its training configuration."""
    if FLAGS.pretrained:
        card = pretrained.card(FLAGS.pretrained)
        model = pretrained.load(FLAGS.pretrained, bounded=False)
        return model, card["dataset"], card["training"]["config"]
    dataset, training = training_run(FLAGS.model, None)
    return export.load_keras_model(FLAGS.model), dataset, training.get("config", {})


def validation_data():
    """The float32 model and its data, split as its training run split them.

    Returns a namespace: ``model``, ``dataset``, ``train_images`` and
    ``train_labels`` (the part it trained on), ``images`` (float32) and
    ``labels`` (its validation split), ``representative`` (calibration
    images from the training part).
    """
    model, dataset, config = load()
    (x_train, y_train), _ = load_arrays(dataset, data_dir=FLAGS.data_dir)
    train, validation = split_validation(
        len(x_train), config.get("validation_split", 0.1), config.get("seed", 0)
    )
    return types.SimpleNamespace(
        model=as_float32(model),
        dataset=dataset,
        train_images=x_train[train],
        train_labels=y_train[train],
        images=x_train[validation].astype("float32"),
        labels=y_train[validation],
        representative=choose_representative(x_train[train], FLAGS.num_representative, 0),
    )


def layer_of(tensor_name):
    """The Keras layer an op of the converted model comes from (``model/layer/...``)."""
    parts = tensor_name.split(";")[0].split("/")
    return parts[1] if len(parts) > 2 else "output"


def main(_):
    import tensorflow as tf

    data = validation_data()
    model, dataset, images = data.model, data.dataset, data.images
    representative = data.representative.astype("float32")
    reference = model.predict(images, batch_size=250, verbose=0).argmax(1)

    # The export's path up to the quantizer: fold, bound, calibrate, percentile ranges.
    folded = fold_polynomial_layers(model, representative, bound=FLAGS.bound or None)
    folder = tempfile.mkdtemp(prefix="int8_sensitivity_")
    try:
        write_saved_model(folded, os.path.join(folder, "saved_model"))
        converter = tf.lite.TFLiteConverter.from_saved_model(os.path.join(folder, "saved_model"))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.representative_dataset = lambda: ([x[None]] for x in representative)
        calibrated = _compat.calibrate_only(converter)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    calibrated = set_ranges(calibrated, representative, DEFAULT_PERCENTILE, pixel_range(model))

    # The ops of the calibrated model, grouped by the Keras layer they come from.
    runner = export.TFLiteRunner(calibrated)
    names = {t["index"]: t["name"] for t in runner.interpreter.get_tensor_details()}
    layers = {}
    for op in _compat.ops_details(runner.interpreter):
        if op["op_name"] != "DELEGATE" and op["outputs"]:
            name = names[op["outputs"][0]]
            layers.setdefault(layer_of(name), []).append(name)
    every_op = [name for ops in layers.values() for name in ops]

    def agreement(float_nodes):
        content = _compat.quantize_calibrated(calibrated, tf.uint8, tf.float32, float_nodes)
        logits = export.TFLiteRunner(content).predict(images)
        return float((logits.argmax(1) == reference).mean())

    start = time.time()
    result = {
        "model": FLAGS.pretrained or FLAGS.model,
        "dataset": dataset,
        "split": f"validation ({len(images)} images)",
        "settings": {
            "num_representative": FLAGS.num_representative,
            "percentile": DEFAULT_PERCENTILE,
            "bound": FLAGS.bound,
            "int8_finetune_epochs": 0,
        },
        "agreement_all_int8": agreement(None),
        "agreement_all_float32": agreement(every_op),
        "layers": {},
    }
    print(
        f"all int8: {result['agreement_all_int8']:.2%}  all float32: "
        f"{result['agreement_all_float32']:.2%}"
    )
    print(f"{'layer':36} {'ops':>4} {'it in float32':>14} {'only it in int8':>16}")
    for layer, ops in layers.items():
        others = [name for name in every_op if name not in ops]
        row = {"ops": len(ops), "float32": agreement(ops), "only_int8": agreement(others)}
        result["layers"][layer] = row
        print(f"{layer:36} {row['ops']:>4} {row['float32']:>14.2%} {row['only_int8']:>16.2%}")
    result["seconds"] = time.time() - start
    if FLAGS.output:
        _io.write_json(FLAGS.output, result, overwrite=True)


if __name__ == "__main__":
    app.run(main)
