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

    pinet-keras export --model=runs/polynet/model.keras \
        --data_dir=../shared/data/fashion_mnist --output_dir=runs/polynet/export

The data set is the one of the training run (`metrics.json` beside the
`.keras` file), or `--dataset`; with neither, the script stops. A
`--dataset` the run did not record on which the model scores near chance
is refused, naming both data sets (`--allow_dataset_mismatch` insists).
A second export into a folder another one is writing is refused at once. The LiteRT
interpreter comes from `ai-edge-litert` (`pip install "pinet_keras[litert]"`);
without it the deprecated `tf.lite.Interpreter` runs the checks. Then
classify your own images as an app would:

    pinet-keras predict --model=runs/polynet/export/model_int8.tflite shoe.png
"""

from absl import flags
from absl import logging

from pinet_keras import export
from pinet_keras.cli import boundary
from pinet_keras.export.report import format_table

FORMATS = export.FORMATS

FLAGS = boundary.command_flags()
flags.DEFINE_string("model", None, "The trained `.keras` model.", required=True, flag_values=FLAGS)
flags.DEFINE_string(
    "output_dir", None, "Folder for the exported files.", required=True, flag_values=FLAGS
)
flags.DEFINE_list(
    "formats",
    list(FORMATS),
    "Formats to export: saved_model and/or TFLite quantizations.",
    flag_values=FLAGS,
)
boundary.define_model_data_flags(FLAGS)
flags.DEFINE_enum(
    "input_normalization",
    None,
    ["unit", "standardize"],
    "Only for a `.keras` model of pinet_keras 0.1.0 (which takes normalized images) without its "
    "metrics.json: what it was trained on.",
    flag_values=FLAGS,
)
flags.DEFINE_bool(
    "int8_output",
    False,
    "int8 logits (with scale and zero point) in the int8 model.",
    flag_values=FLAGS,
)
flags.DEFINE_enum(
    "split",
    "test",
    ["test", "validation"],
    "Images for the checks: the test split, or the training run's validation split (to choose "
    "export settings without looking at the test split; the int8 model is then calibrated on "
    "images of the training part only).",
    flag_values=FLAGS,
)
flags.DEFINE_integer("max_test_examples", 0, "Images for the checks (0: all).", flag_values=FLAGS)
flags.DEFINE_integer(
    "num_representative", 200, "Training images to calibrate the int8 model.", flag_values=FLAGS
)
flags.DEFINE_enum(
    "calibration",
    "percentile",
    list(export.CALIBRATIONS),
    "int8 activation ranges.",
    flag_values=FLAGS,
)
flags.DEFINE_bool(
    "fold",
    True,
    "Fold each polynomial layer to one product plus a constant before int8 conversion.",
    flag_values=FLAGS,
)
flags.DEFINE_float(
    "percentile",
    export.DEFAULT_PERCENTILE,
    "Percentile of the ranges for --calibration=percentile.",
    flag_values=FLAGS,
)
flags.DEFINE_float(
    "bound",
    100.0,
    "Clip every polynomial layer's output, in every format, to this percentile range of its "
    "values on the representative images (100: their min and max; 0: no clipping).",
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "int8_finetune_epochs",
    0,
    "Epochs of quantization-aware fine-tuning of the int8 file on the training images (0: "
    "none): the folded model is trained, with int8 rounding simulated, to give the Keras "
    "model's probabilities, so that the int8 file agrees with it on more images.",
    flag_values=FLAGS,
)
flags.DEFINE_float(
    "int8_finetune_learning_rate",
    1e-5,
    "Adam's learning rate (cosine decay) of that fine-tuning.",
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "int8_finetune_recalibrate_every",
    0,
    "Calibrate the simulated int8 ranges again every N fine-tuning steps, as the weights move "
    "(0: once, before it).",
    flag_values=FLAGS,
)
flags.DEFINE_integer("latency_runs", 50, "Runs at batch 1 for the mean latency.", flag_values=FLAGS)
flags.DEFINE_bool(
    "overwrite",
    False,
    "Replace an earlier export in --output_dir (all of it, at the end); "
    "a folder holding other files is refused.",
    flag_values=FLAGS,
)
flags.DEFINE_integer("seed", 0, "Seed for the choice of representative images.", flag_values=FLAGS)
flags.DEFINE_bool(
    "allow_dataset_mismatch",
    False,
    "Export even when --dataset is not the data set the model's run recorded (no metrics.json, "
    "or one naming another) and the model scores near chance on it (refused by default: the "
    "files would carry that data set's class names).",
    flag_values=FLAGS,
)


def config_from_flags():
    """The `ExportConfig` of the command line."""
    return export.ExportConfig(
        model=FLAGS.model,
        output_dir=FLAGS.output_dir,
        formats=tuple(FLAGS.formats),
        dataset=FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        input_normalization=FLAGS.input_normalization,
        split=FLAGS.split,
        max_test_examples=FLAGS.max_test_examples,
        bound=FLAGS.bound,
        int8=export.Int8Settings(
            calibration=FLAGS.calibration,
            percentile=FLAGS.percentile,
            fold=FLAGS.fold,
            num_representative=FLAGS.num_representative,
            int8_output=FLAGS.int8_output,
            finetune_epochs=FLAGS.int8_finetune_epochs,
            finetune_learning_rate=FLAGS.int8_finetune_learning_rate,
            finetune_recalibrate_every=FLAGS.int8_finetune_recalibrate_every,
        ),
        latency_runs=FLAGS.latency_runs,
        overwrite=FLAGS.overwrite,
        seed=FLAGS.seed,
        allow_dataset_mismatch=FLAGS.allow_dataset_mismatch,
    )


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments {argv[1:]}; this command takes flags only")
    logging.set_verbosity(logging.WARNING)  # TensorFlow's SavedModel chatter
    report = export.export(config_from_flags())
    results = report["formats"]
    print(format_table(results, keras_accuracy=report["keras"]["accuracy"]))
    print(f"Wrote {FLAGS.output_dir}")


def run(argv=None):
    """Runs the command with ``argv`` (``[program, flags...]``); returns the exit status."""
    return boundary.run(main, argv, doc=__doc__, module=__name__, flag_values=FLAGS)
