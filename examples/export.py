"""Export a trained Π-net to SavedModel and TFLite (LiteRT), and check every file.

The model is exported as a SavedModel (signature `serving_default`: input
`images`, float32 `(None, H, W, C)`, output `logits`) and as `.tflite` files
in four quantizations, all on TFLite builtin ops only:

| format | weights | activations | needs |
|---|---|---|---|
| `float32` | float32 | float32 | - |
| `float16` | float16 | float32 (float16 on GPU) | - |
| `dynamic` | int8 | float32, quantized on the fly | - |
| `int8` | int8 | int8 | ~200 representative training images |

For `int8`, each polynomial layer is first folded to one product plus a
constant (its batch normalizations and skip folded into the branches,
exactly), and the activation ranges are the 99.99th percentiles of the
representative images' activations (`--calibration=minmax` for the
converter's own min/max ranges, `--percentile` to change it, `--nofold` to
quantize the layers as they are).

Each file is then run on the test split (`--split=validation`: the training
run's validation split, for choosing settings) in the LiteRT interpreter and
compared with the Keras model: accuracy, max |Δ logits|, top-1 agreement,
size, ops, latency per image at batch 1. Everything goes to `--output_dir`:

    saved_model/             model_float32.tflite   model_float16.tflite
    model_dynamic.tflite     model_int8.tflite      labels.txt   report.json

    python examples/export.py --model=runs/polynet/model.keras \
        --dataset=fashion_mnist --data_dir=../shared/data/fashion_mnist \
        --output_dir=runs/polynet/export

The images are normalized as at training time: the `normalization` key of the
`metrics.json` beside the `.keras` file when there is one, else "unit"
(pixels / 255). The LiteRT interpreter comes from `ai-edge-litert`
(`pip install -e ".[litert]"`); without it the deprecated `tf.lite.Interpreter`
runs the checks. Then classify your own images as an app would:

    python examples/predict_tflite.py --model=runs/polynet/export/model_int8.tflite \
        --labels=runs/polynet/export/labels.txt shoe.png shirt.jpg
"""

import json
import os

from absl import app
from absl import flags

import keras
import numpy as np

from pinet_keras import export
from pinet_keras.data import dataset_info
from pinet_keras.data import load_arrays
from pinet_keras.data import normalize
from pinet_keras.data import split_validation

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The trained `.keras` model.", required=True)
flags.DEFINE_string("output_dir", None, "Folder for the exported files.", required=True)
flags.DEFINE_list(
    "formats",
    ["saved_model", "float32", "float16", "dynamic", "int8"],
    "Formats to export: saved_model and/or TFLite quantizations.",
)
flags.DEFINE_string(
    "dataset", None, "Data set the model was trained on (default: metrics.json, else fashion_mnist)."
)
flags.DEFINE_string("data_dir", None, "Where the data set is (default: the loader's own).")
flags.DEFINE_bool("int8_io", False, "int8 input and output tensors for the int8 model.")
flags.DEFINE_enum(
    "split",
    "test",
    ["test", "validation"],
    "Images for the checks: the test split, or the training run's validation split (to choose "
    "export settings without looking at the test split; the int8 model is then calibrated on "
    "images of the training part only).",
)
flags.DEFINE_integer("max_test_examples", 0, "Images for the checks (0: all).")
flags.DEFINE_integer("num_representative", 200, "Training images to calibrate the int8 model.")
flags.DEFINE_enum(
    "calibration", "percentile", list(export.CALIBRATIONS), "int8 activation ranges."
)
flags.DEFINE_bool(
    "fold", True, "Fold each polynomial layer to one product plus a constant before int8 conversion."
)
flags.DEFINE_float(
    "percentile", export.DEFAULT_PERCENTILE, "Percentile of the ranges for --calibration=percentile."
)
flags.DEFINE_integer("latency_runs", 50, "Runs at batch 1 for the mean latency.")
flags.DEFINE_bool("overwrite", False, "Replace existing outputs.")
flags.DEFINE_integer("seed", 0, "Seed for the choice of representative images.")


def main(_):
    formats = [f.strip() for f in FLAGS.formats if f.strip()]
    unknown = sorted(set(formats) - {"saved_model", *export.QUANTIZATIONS})
    if unknown:
        raise app.UsageError(f"Unknown formats {unknown}; choose from saved_model, {export.QUANTIZATIONS}.")
    try:
        export.check_calibration(FLAGS.calibration, FLAGS.percentile)
    except ValueError as error:
        raise app.UsageError(str(error)) from error

    # Every output is checked before any work: nothing is replaced without --overwrite.
    paths = {f: os.path.join(FLAGS.output_dir, output_name(f)) for f in formats}
    labels_path = os.path.join(FLAGS.output_dir, "labels.txt")
    report_path = os.path.join(FLAGS.output_dir, "report.json")
    for path in [*paths.values(), labels_path, report_path]:
        export.check_overwrite(path, FLAGS.overwrite)

    # The model, exported in float32 even if trained in mixed precision.
    model = export.as_float32(export.load_keras_model(FLAGS.model))
    training = export.read_training_metadata(FLAGS.model)
    dataset = FLAGS.dataset or training.get("dataset") or "fashion_mnist"
    normalization = training.get("normalization", "unit")
    info = dataset_info(dataset)
    if tuple(model.input_shape[1:]) != tuple(info.input_shape):
        raise app.UsageError(
            f"The model takes {tuple(model.input_shape[1:])} images but {dataset} has "
            f"{tuple(info.input_shape)}."
        )
    if model.output_shape[-1] != info.num_classes:
        raise app.UsageError(
            f"The model has {model.output_shape[-1]} outputs but {dataset} has {info.num_classes} classes."
        )

    # The data: a few training images to calibrate int8, the test split (or the
    # run's validation split) to check.
    (x_train, y_train), (x_test, y_test) = load_arrays(dataset, data_dir=FLAGS.data_dir)
    if FLAGS.split == "validation":
        run = training.get("config", {})
        train_indices, validation_indices = split_validation(
            len(x_train), run.get("validation_split", 0.1), run.get("seed", 0)
        )
        x_test, y_test = x_train[validation_indices], y_train[validation_indices]
        x_train = x_train[train_indices]
    if FLAGS.max_test_examples:
        x_test, y_test = x_test[: FLAGS.max_test_examples], y_test[: FLAGS.max_test_examples]
    rng = np.random.default_rng(FLAGS.seed)
    chosen = rng.choice(len(x_train), min(FLAGS.num_representative, len(x_train)), replace=False)
    representative = normalize(x_train[np.sort(chosen)], dataset, normalization=normalization)
    x_test = normalize(x_test, dataset, normalization=normalization)
    reference = model.predict(x_test, batch_size=256, verbose=0)
    keras_accuracy = export.compare_logits(reference, labels=y_test)["accuracy"]

    # Export and check each format.
    results = {}
    for name in formats:
        print(f"Exporting {name} to {paths[name]}")
        if name == "saved_model":
            export.export_saved_model(model, paths[name], overwrite=FLAGS.overwrite)
            results[name] = export.evaluate_saved_model(paths[name], x_test, y_test, reference)
        else:
            export.export_tflite(
                model,
                paths[name],
                quantization=name,
                representative_data=representative if name == "int8" else None,
                int8_io=FLAGS.int8_io and name == "int8",
                calibration=FLAGS.calibration,
                percentile=FLAGS.percentile,
                fold=FLAGS.fold if name == "int8" else None,
                overwrite=FLAGS.overwrite,
            )
            results[name] = export.evaluate_tflite(
                paths[name], x_test, y_test, reference, latency_runs=FLAGS.latency_runs
            )

    # labels.txt for an app, report.json for people.
    export.write_text(labels_path, "\n".join(info.class_names) + "\n", FLAGS.overwrite)
    report = {
        "model": os.path.abspath(FLAGS.model),
        "dataset": dataset,
        "normalization": normalization,
        "input": {"name": export.INPUT_NAME, "shape": [None, *model.input_shape[1:]]},
        "split": FLAGS.split,
        "test_examples": int(len(x_test)),
        "representative_examples": int(len(representative)),
        "int8_io": FLAGS.int8_io,
        "int8_calibration": {
            "method": FLAGS.calibration,
            "percentile": FLAGS.percentile,
            "fold": FLAGS.fold,
        },
        "keras": {
            "accuracy": keras_accuracy,
            "backend": keras.backend.backend(),
            # A high-degree polynomial can give a rare image enormous logits.
            "max_abs_logit_percentiles": dict(
                zip(["50", "99", "99.9", "100"], np.percentile(np.abs(reference).max(-1), [50, 99, 99.9, 100]).tolist())
            ),
        },
        "formats": {name: {"file": output_name(name), **result} for name, result in results.items()},
    }
    export.write_text(report_path, json.dumps(report, indent=2) + "\n", FLAGS.overwrite)
    print(export.format_table(results, keras_accuracy=keras_accuracy))
    print(f"Wrote {FLAGS.output_dir}")


def output_name(name):
    return "saved_model" if name == "saved_model" else f"model_{name}.tflite"


if __name__ == "__main__":
    app.run(main)
