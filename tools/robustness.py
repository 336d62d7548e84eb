"""Robustness sweep: no input a user can give makes a model or its files explode.

Runs a trained model and every file `pinet-keras export` wrote for it on:
the test split; Gaussian and uniform noise within the pixel range; brightness
and contrast extremes; black-and-white checkerboards and stripes; another
data set's images (`--other_dataset`, resized and converted to the model's
input); and a projected-gradient search for the largest |logit| within the
pixel box (`--gradient_steps` steps from `--gradient_starts` starts). Per
format and probe: the largest |logit|, the outputs that are not finite, and
the top-1 agreement with the Keras model.

Formats: `keras` (the trained model as `pinet-keras train` wrote it, float32,
the reference; bounded by its layers' output ranges since version 0.3.0,
`pinet_keras.models.set_output_ranges`), `keras_float16`
(the same weights computing in float16, as a mobile GPU delegate does),
`keras_bounded` and `keras_bounded_float16` (the model with each polynomial
layer clipped to its range on training images, `pinet_keras.export.bound_model`,
what `--bound` exports), then each `.tflite` file and the SavedModel found
in `--export_dir`.

    python tools/robustness.py --model=runs/mnist/model.keras --export_dir=runs/mnist/export \
        --data_dir=../shared/data/mnist --other_dataset=fashion_mnist \
        --other_data_dir=../shared/data/fashion_mnist --output=runs/mnist/robustness.json
"""

import glob
import json
import os
import time

import numpy as np
from absl import flags

from pinet_keras import _io
from pinet_keras import export
from pinet_keras._io import check_overwrite
from pinet_keras._io import write_text
from pinet_keras.cli import boundary
from pinet_keras.data import load_arrays
from pinet_keras.export import robustness
from pinet_keras.export.files import training_run
from pinet_keras.export.precision import as_float32
from pinet_keras.export.precision import with_float_dtype

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The trained `.keras` model (raw pixels in).", required=True)
flags.DEFINE_string("export_dir", None, "Folder of the files pinet-keras export wrote (optional).")
boundary.define_model_data_flags()
flags.DEFINE_string("other_dataset", None, "Another data set, for out-of-distribution images.")
flags.DEFINE_string("other_data_dir", None, "Where the other data set is.")
flags.DEFINE_integer("max_test_examples", 0, "Test images (0: all).")
flags.DEFINE_integer("noise_examples", 1000, "Images per noise set and per transformation.")
flags.DEFINE_integer("gradient_starts", 8, "Starts of the gradient search.")
flags.DEFINE_integer("gradient_steps", 200, "Steps of the gradient search.")
flags.DEFINE_integer("num_representative", 200, "Training images for the bounded Keras model.")
flags.DEFINE_float("bound", 100.0, "Percentile of the bounded Keras model's ranges.")
flags.DEFINE_integer("seed", 0, "Seeds the noise, the starts and the representative images.")
flags.DEFINE_string("output", None, "JSON file for the results.", required=True)
flags.DEFINE_bool("overwrite", False, "Replace an existing --output.")


def main(_):
    for name in (
        "max_test_examples",
        "noise_examples",
        "gradient_starts",
        "gradient_steps",
        "num_representative",
    ):
        minimum = 0 if name == "max_test_examples" else 1
        if FLAGS[name].value < minimum:
            raise ValueError(f"--{name} must be at least {minimum}, got {FLAGS[name].value}")
    if FLAGS.export_dir is not None and not FLAGS.export_dir.strip():
        raise ValueError(
            "--export_dir is empty; pass the folder pinet-keras export wrote, or leave the flag out"
        )
    dataset, _ = training_run(FLAGS.model, FLAGS.dataset)
    check_output(FLAGS.output, FLAGS.overwrite)
    _io.check_writable_folder(os.path.dirname(os.path.abspath(FLAGS.output)), "--output")
    if FLAGS.export_dir and not os.path.isdir(FLAGS.export_dir):
        raise FileNotFoundError(2, "No such folder", FLAGS.export_dir)
    model = as_float32(export.load_keras_model(FLAGS.model))
    export.pixels.require_pixel_preprocessing(model)
    shape = tuple(model.input_shape[1:])
    runners = export_runners(FLAGS.export_dir, shape)  # checked before any work

    (x_train, _), (x_test, _) = load_arrays(dataset, FLAGS.data_dir)
    if FLAGS.max_test_examples:
        x_test = x_test[: FLAGS.max_test_examples]
    other = None
    if FLAGS.other_dataset:
        other = load_arrays(FLAGS.other_dataset, FLAGS.other_data_dir)[1][0][: FLAGS.noise_examples]
        other = robustness.to_input_shape(other, shape)
    sets = robustness.probe_sets(x_test, other, seed=FLAGS.seed, size=FLAGS.noise_examples)
    rng = np.random.default_rng(FLAGS.seed)
    representative = x_train[rng.choice(len(x_train), FLAGS.num_representative, replace=False)]

    bounded = export.bound_model(model, representative, FLAGS.bound)
    keras_models = {
        "keras": model,
        "keras_float16": with_float_dtype(model, "float16"),
        "keras_bounded": bounded,
        "keras_bounded_float16": with_float_dtype(bounded, "float16"),
    }

    # The gradient search, on the Keras model, from noise, test images and grey.
    k = FLAGS.gradient_starts
    starts = np.concatenate(
        [
            rng.uniform(0, 255, (k - 2 * (k // 3), *shape)),
            x_test[rng.choice(len(x_test), k // 3, replace=False)],
            np.clip(rng.normal(127.5, 32, (k // 3, *shape)), 0, 255),
        ]
    ).astype("float32")
    start = time.time()
    found, values = robustness.gradient_search(model, starts, steps=FLAGS.gradient_steps)
    print(f"Gradient search: largest |logit| {np.max(values):.3g} ({time.time() - start:.0f} s)")
    sets["gradient"] = found

    predictors = {
        name: (lambda m: lambda x: m.predict(x, batch_size=256, verbose=0))(m)
        for name, m in keras_models.items()
    }
    for name, runner in runners.items():
        predictors[name] = (lambda r: lambda x: r.predict(x, batch_size=64))(runner)
    saved_model = os.path.join(FLAGS.export_dir or "", "saved_model")
    if FLAGS.export_dir and os.path.isdir(saved_model):
        predictors["saved_model"] = lambda x: export.predict_saved_model(saved_model, x)

    results = robustness.sweep(predictors, sets)
    report = {
        "model": os.path.abspath(FLAGS.model),
        "export_dir": os.path.abspath(FLAGS.export_dir) if FLAGS.export_dir else None,
        "dataset": dataset,
        "other_dataset": FLAGS.other_dataset,
        "probes": {name: int(len(images)) for name, images in sets.items()},
        "gradient_search": {
            "starts": k,
            "steps": FLAGS.gradient_steps,
            "max_abs_logit_keras": float(np.max(values)),
        },
        "bound_percentile": FLAGS.bound,
        "formats": results,
    }
    write_text(FLAGS.output, json.dumps(report, indent=2) + "\n", FLAGS.overwrite)
    print(f"{'format':<26} {'max |logit|':>12} {'non-finite':>10} {'agreement':>9}   (all probes)")
    for name, result in results.items():
        total = result["all"]
        largest = "-" if total["max_abs_logit"] is None else f"{total['max_abs_logit']:.3g}"
        print(f"{name:<26} {largest:>12} {total['non_finite']:>10} {total['top1_agreement']:>9.2%}")
    print(f"Wrote {FLAGS.output}")


def export_runners(export_dir, shape):
    """``{file name: TFLiteRunner}`` for the `.tflite` files of ``export_dir``, of this model."""
    runners = {}
    for path in sorted(glob.glob(os.path.join(export_dir, "*.tflite"))) if export_dir else []:
        try:
            runner = export.TFLiteRunner(path)
        except ValueError as error:
            message = str(error)
            raise ValueError(
                f"--export_dir: {message if path in message else f'{path}: {message}'}"
            ) from error
        if tuple(runner.example_shape) != shape:
            raise ValueError(
                f"--export_dir: {path} takes {tuple(runner.example_shape)} images but the model "
                f"takes {shape}; pass the export of this model"
            )
        runners[os.path.basename(path)] = runner
    return runners


def check_output(path, overwrite):
    """--output is a new .json file, or with --overwrite an earlier report of this script."""
    check_overwrite(path, overwrite, folder=False, flag="--output")
    if not path.endswith(".json"):
        raise ValueError(f"--output: {path} does not end in .json; pass a .json file name")
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as f:
                previous = json.load(f)
        except (OSError, UnicodeDecodeError, ValueError):
            previous = None
        if not (isinstance(previous, dict) and {"probes", "gradient_search"} <= set(previous)):
            raise FileExistsError(
                f"{path} is not a report of this script, and --overwrite replaces only one; "
                "choose another --output"
            )


if __name__ == "__main__":
    boundary.run(main)
