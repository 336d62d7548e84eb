"""Export a trained Π-net to SavedModel and TFLite (LiteRT), and check every file.

The model is exported as a SavedModel (signature `serving_default`: input
`images`, float32 raw pixels `(None, H, W, C)`, output `logits`) and as
`.tflite` files in four quantizations, all on TFLite builtin ops only:

| format | weights | activations | input | needs |
|---|---|---|---|---|
| `float32` | float32 | float32 | float32 pixels 0..255 | - |
| `float16` | float16 | float32 (float16 on GPU) | float32 pixels 0..255 | - |
| `dynamic` | int8 | float32, quantized on the fly | float32 pixels 0..255 | - |
| `int8` | int8 | int8 | uint8 pixels | ~200 representative training images |

Every file takes raw pixels: the model's own preprocessing (the `PixelRange`
guard, then its rescaling or standardization) is inside it. A `.keras` file
of pinet_keras 0.1.0, which took normalized images, gets that preprocessing
added from its run's `metrics.json` (or `--input_normalization`). Every file
also carries its labels and provenance (data set, class names, input shape
and pixel range, package version; `pinet_keras.export.read_tflite_metadata`).

For `int8`, each polynomial layer is first folded to one product plus a
constant (its batch normalizations and skip folded into the branches,
exactly), and the activation ranges are the 99.99th percentiles of the
representative images' activations (`--calibration=minmax` for the
converter's own min/max ranges, `--percentile` to change it, `--nofold` to
quantize the layers as they are). Every file is bounded: each polynomial
layer's output is clipped to the [100 - P, P] percentiles of its values on
the representative images (`--bound=P`, default 100: their min and max;
`--bound=0` exports the layers unclipped), so that no input, however far
from the training images, makes the polynomial explode.
`--int8_finetune_epochs=N` fine-tunes the int8 file's weights first, with
int8 rounding simulated, to give the Keras model's answers on the training
images (`pinet_keras.export.finetune_for_int8`; its learning rate and how
often its ranges are calibrated again: `--int8_finetune_learning_rate`,
`--int8_finetune_recalibrate_every`): more agreement with Keras, at the cost
of N training epochs.

Each file is then run on the test split (`--split=validation`: the training
run's validation split, for choosing settings) in the LiteRT interpreter and
compared with the Keras model: accuracy, max |Δ logits|, top-1 agreement,
non-finite outputs, size, ops, latency per image at batch 1. All outputs are
written to a staging folder beside `--output_dir` and moved into place
together at the end (with `--overwrite`, replacing the previous set whole):

    saved_model/             model_float32.tflite   model_float16.tflite
    model_dynamic.tflite     model_int8.tflite      labels.txt   report.json

    python examples/export.py --model=runs/polynet/model.keras \
        --data_dir=../shared/data/fashion_mnist --output_dir=runs/polynet/export

The data set is the one of the training run (`metrics.json` beside the
`.keras` file), or `--dataset`; with neither, the script stops. The LiteRT
interpreter comes from `ai-edge-litert` (`pip install -e ".[litert]"`);
without it the deprecated `tf.lite.Interpreter` runs the checks. Then
classify your own images as an app would:

    python examples/predict_tflite.py --model=runs/polynet/export/model_int8.tflite shoe.png
"""

import json
import os

import keras
import numpy as np
from absl import flags
from absl import logging

from pinet_keras import _cli
from pinet_keras import _io
from pinet_keras import export
from pinet_keras._io import atomic_output
from pinet_keras.data import dataset_info
from pinet_keras.data import load_arrays
from pinet_keras.data import split_validation
from pinet_keras.export.calibration import check_calibration
from pinet_keras.export.calibration import choose_representative
from pinet_keras.export.files import training_run
from pinet_keras.export.precision import as_float32
from pinet_keras.export.report import format_table
from pinet_keras.models import has_pixel_preprocessing

FORMATS = ("saved_model", *export.QUANTIZATIONS)

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The trained `.keras` model.", required=True)
flags.DEFINE_string("output_dir", None, "Folder for the exported files.", required=True)
flags.DEFINE_list(
    "formats", list(FORMATS), "Formats to export: saved_model and/or TFLite quantizations."
)
_cli.define_model_data_flags()
flags.DEFINE_enum(
    "input_normalization",
    None,
    ["unit", "standardize"],
    "Only for a `.keras` model of pinet_keras 0.1.0 (which takes normalized images) without its "
    "metrics.json: what it was trained on.",
)
flags.DEFINE_bool(
    "int8_output", False, "int8 logits (with scale and zero point) in the int8 model."
)
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
flags.DEFINE_enum("calibration", "percentile", list(export.CALIBRATIONS), "int8 activation ranges.")
flags.DEFINE_bool(
    "fold",
    True,
    "Fold each polynomial layer to one product plus a constant before int8 conversion.",
)
flags.DEFINE_float(
    "percentile",
    export.DEFAULT_PERCENTILE,
    "Percentile of the ranges for --calibration=percentile.",
)
flags.DEFINE_float(
    "bound",
    100.0,
    "Clip every polynomial layer's output, in every format, to this percentile range of its "
    "values on the representative images (100: their min and max; 0: no clipping).",
)
flags.DEFINE_integer(
    "int8_finetune_epochs",
    0,
    "Epochs of quantization-aware fine-tuning of the int8 file on the training images (0: "
    "none): the folded model is trained, with int8 rounding simulated, to give the Keras "
    "model's probabilities, so that the int8 file agrees with it on more images.",
)
flags.DEFINE_float(
    "int8_finetune_learning_rate", 1e-5, "Adam's learning rate (cosine decay) of that fine-tuning."
)
flags.DEFINE_integer(
    "int8_finetune_recalibrate_every",
    0,
    "Calibrate the simulated int8 ranges again every N fine-tuning steps, as the weights move "
    "(0: once, before it).",
)
flags.DEFINE_integer("latency_runs", 50, "Runs at batch 1 for the mean latency.")
flags.DEFINE_bool(
    "overwrite",
    False,
    "Replace an earlier export in --output_dir (all of it, at the end); "
    "a folder holding other files is refused.",
)
flags.DEFINE_integer("seed", 0, "Seed for the choice of representative images.")


def check_flags():
    """Every flag, before any work."""
    formats = [f.strip() for f in FLAGS.formats if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if not formats or unknown:
        raise ValueError(
            f"--formats: unknown {unknown or 'none given'}; choose from {', '.join(FORMATS)}"
        )
    check_calibration(FLAGS.calibration, FLAGS.percentile)
    if FLAGS.num_representative < 1:
        raise ValueError(f"--num_representative must be at least 1, got {FLAGS.num_representative}")
    if FLAGS.max_test_examples < 0:
        raise ValueError(
            f"--max_test_examples must be 0 (all) or more, got {FLAGS.max_test_examples}"
        )
    if FLAGS.latency_runs < 0:
        raise ValueError(f"--latency_runs must be 0 or more, got {FLAGS.latency_runs}")
    if FLAGS.bound and not 50 < FLAGS.bound <= 100:
        raise ValueError(f"--bound must be 0 (off) or a percentile in (50, 100], got {FLAGS.bound}")
    if not FLAGS.fold and FLAGS.bound:
        raise ValueError(
            "--nofold: the bound clips the folded layers; pass --bound=0 with --nofold"
        )
    if FLAGS.int8_finetune_epochs < 0:
        raise ValueError(
            f"--int8_finetune_epochs must be 0 (off) or more, got {FLAGS.int8_finetune_epochs}"
        )
    if FLAGS.int8_finetune_epochs and not FLAGS.fold:
        raise ValueError("--int8_finetune_epochs fine-tunes the folded model; drop --nofold")
    if not 0 < FLAGS.int8_finetune_learning_rate < 1:
        raise ValueError(
            "--int8_finetune_learning_rate must be in (0, 1), like 1e-5; got "
            f"{FLAGS.int8_finetune_learning_rate}"
        )
    if FLAGS.int8_finetune_recalibrate_every < 0:
        raise ValueError(
            "--int8_finetune_recalibrate_every must be 0 (once) or more, got "
            f"{FLAGS.int8_finetune_recalibrate_every}"
        )
    if FLAGS.int8_output and "int8" not in formats:
        raise ValueError("--int8_output needs int8 in --formats")
    if FLAGS.int8_finetune_epochs and "int8" not in formats:
        raise ValueError("--int8_finetune_epochs fine-tunes the int8 file: add int8 to --formats")
    for name in ("int8_finetune_learning_rate", "int8_finetune_recalibrate_every"):
        if FLAGS[name].present and not FLAGS.int8_finetune_epochs:
            raise ValueError(f"--{name} is a setting of --int8_finetune_epochs=N; pass that too")
    _io.check_writable_folder(FLAGS.output_dir)
    # Without --overwrite nothing is replaced; with it, only an earlier export.
    _io.check_overwrite(
        FLAGS.output_dir, FLAGS.overwrite, folder=True, owns=is_export_output, flag="--output_dir"
    )
    return formats


def load_model(training):
    """The float32 Keras model, taking raw pixels (0.1.0 models get their preprocessing)."""
    model = as_float32(export.load_keras_model(FLAGS.model))
    if has_pixel_preprocessing(model):
        if FLAGS.input_normalization:
            raise ValueError(
                f"--input_normalization: {FLAGS.model} carries its own preprocessing; drop the flag"
            )
        return model
    # A model of pinet_keras 0.1.0: it took normalized images.
    input_normalization = FLAGS.input_normalization or training.get("normalization")  # 0.1.0's key
    if input_normalization not in ("unit", "standardize"):
        raise ValueError(
            f"{FLAGS.model} takes normalized images (a model of pinet_keras 0.1.0) and no "
            "metrics.json beside it says which; pass --input_normalization=unit or standardize"
        )
    mean = variance = None
    if input_normalization == "standardize":
        mean, variance = export.legacy_standardization(FLAGS.dataset or training["dataset"])
    print(
        f"{FLAGS.model} takes normalized images ({input_normalization}): adding its preprocessing."
    )
    return export.add_pixel_preprocessing(model, input_normalization, mean=mean, variance=variance)


def main(_):
    logging.set_verbosity(logging.WARNING)  # TensorFlow's SavedModel chatter
    formats = check_flags()
    # What an export killed outright (SIGKILL) left beside --output_dir.
    _io.remove_leftovers(os.path.dirname(os.path.abspath(FLAGS.output_dir)), recursive=False)
    dataset, training = training_run(FLAGS.model, FLAGS.dataset)
    info = dataset_info(dataset)
    model = load_model(training)
    if tuple(model.input_shape[1:]) != tuple(info.input_shape):
        raise ValueError(
            f"--dataset: the model takes {tuple(model.input_shape[1:])} images but {dataset} has "
            f"{tuple(info.input_shape)}"
        )
    if model.output_shape[-1] != info.num_classes:
        raise ValueError(
            f"--dataset: the model has {model.output_shape[-1]} outputs but {dataset} has "
            f"{info.num_classes} classes"
        )

    # The data, raw pixels: a few training images to calibrate int8 (and the
    # bound), the test split (or the run's validation split) to check.
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
    representative = choose_representative(x_train, FLAGS.num_representative, FLAGS.seed)
    x_test = x_test.astype("float32")
    reference = model.predict(x_test, batch_size=256, verbose=0)
    keras_result = export.compare_logits(reference, labels=y_test)

    bound = FLAGS.bound or None
    metadata = export.model_metadata(
        model,
        dataset=dataset,
        class_names=info.class_names,
        source={
            "model_file": os.path.basename(FLAGS.model),
            "training": {
                k: training[k]
                for k in ("model", "params", "epochs", "test_accuracy")
                if k in training
            },
        },
    )

    finetune = {}
    if FLAGS.int8_finetune_epochs:
        finetune = {
            "finetune_data": x_train,
            "finetune_epochs": FLAGS.int8_finetune_epochs,
            "finetune_learning_rate": FLAGS.int8_finetune_learning_rate,
            "finetune_recalibrate_every": FLAGS.int8_finetune_recalibrate_every,
        }

    # Every file goes to a staging folder, moved into place whole at the end.
    results = {}
    with atomic_output(FLAGS.output_dir, FLAGS.overwrite, owns=is_export_output) as staging:
        os.makedirs(staging)
        for name in formats:
            path = os.path.join(staging, output_name(name))
            print(f"Exporting {name}")
            if name == "saved_model":
                export.export_saved_model(
                    model, path, metadata=metadata, representative_data=representative, bound=bound
                )
                results[name] = export.evaluate_saved_model(path, x_test, y_test, reference)
            else:
                export.export_tflite(
                    model,
                    path,
                    quantization=name,
                    representative_data=representative,
                    int8_output=FLAGS.int8_output and name == "int8",
                    calibration=FLAGS.calibration,
                    percentile=FLAGS.percentile,
                    fold=FLAGS.fold if name == "int8" else None,
                    bound=bound,
                    metadata=metadata,
                    **finetune if name == "int8" else {},
                )
                results[name] = export.evaluate_tflite(
                    path, x_test, y_test, reference, latency_runs=FLAGS.latency_runs
                )
        # labels.txt for an app, report.json for people.
        with open(os.path.join(staging, "labels.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(info.class_names) + "\n")
        report = {
            "model": os.path.abspath(FLAGS.model),
            "dataset": dataset,
            "input": metadata["input"],
            "split": FLAGS.split,
            "test_examples": int(len(x_test)),
            "representative_examples": int(len(representative)),
            "int8_output": FLAGS.int8_output,
            "int8_calibration": {
                "method": FLAGS.calibration,
                "percentile": FLAGS.percentile,
                "fold": FLAGS.fold,
                "finetune_epochs": FLAGS.int8_finetune_epochs,
                "finetune_learning_rate": FLAGS.int8_finetune_learning_rate,
                "finetune_recalibrate_every": FLAGS.int8_finetune_recalibrate_every,
            },
            "bound": bound,
            "keras": {
                **keras_result,
                "backend": keras.backend.backend(),
                # A high-degree polynomial can give a rare image enormous logits.
                "max_abs_logit_percentiles": dict(
                    zip(
                        ["50", "99", "99.9", "100"],
                        np.percentile(np.abs(reference).max(-1), [50, 99, 99.9, 100]).tolist(),
                    )
                ),
            },
            "formats": {
                name: {"file": output_name(name), **result} for name, result in results.items()
            },
        }
        with open(os.path.join(staging, "report.json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(report, indent=2) + "\n")
    print(format_table(results, keras_accuracy=keras_result["accuracy"]))
    print(f"Wrote {FLAGS.output_dir}")


def output_name(name):
    return "saved_model" if name == "saved_model" else f"model_{name}.tflite"


def is_export_output(name):
    """Whether this script writes a file or folder of this name (what --overwrite may replace)."""
    model_file = name.startswith("model_") and name.endswith(".tflite")
    return model_file or name in ("saved_model", "labels.txt", "report.json")


if __name__ == "__main__":
    _cli.run(main)
