"""Name the classes of images with a trained model, as an app does.

    pinet-keras predict --model=runs/mine/export/model_int8.tflite shoe.png shirt.jpg
    shoe.png   Ankle boot 0.912  Sneaker 0.071  Sandal 0.013

The model is a `.tflite` file, a SavedModel folder (both written by
`pinet-keras export`) or a `.keras` file (written by `pinet-keras train`).
Images are files or folders of them (PNG, JPEG, ...), read as a viewer shows
them (16-bit grey scaled to 8 bits, transparent pixels white; 32-bit float
images, like a float TIFF, scaled from the range they state or from
`--float_range=low,high`, else refused), converted to the model's channels
and resized to its input; each line gives the top-k
classes with their probabilities (the softmax of the logits).

Nothing about the model needs to be given: an exported file takes raw pixels
(0..255; uint8 for int8 files) and carries its class names (`pinet_keras`
metadata); a `.keras` file's are in its run's metrics.json. `--labels` (one
class name per line) overrides them.
"""

import os

from absl import flags

from pinet_keras.cli import boundary
from pinet_keras.data.image_folder import value_range
from pinet_keras.inference import predict

FLAGS = boundary.command_flags()
flags.DEFINE_string(
    "model", None, "A .tflite file, SavedModel folder or .keras file.", flag_values=FLAGS
)
flags.DEFINE_string(
    "labels", None, "Class names, one per line (default: the model's own).", flag_values=FLAGS
)
flags.DEFINE_integer("top_k", 3, "How many classes to print per image.", flag_values=FLAGS)
flags.DEFINE_list(
    "float_range",
    None,
    "low,high: the values of black and white in floating-point images (a float TIFF) that "
    "state no range of their own, like 0,1 (default: such images are refused).",
    flag_values=FLAGS,
)


def float_range(values):
    """``(low, high)`` of ``--float_range`` (``None`` when not given)."""
    if values is None:
        return None
    checked = value_range(*values) if len(values) == 2 else None
    if checked is None:
        raise ValueError(
            f"--float_range={','.join(values)}: pass two finite numbers low,high with "
            "low < high, like --float_range=0,1"
        )
    return checked


def main(argv):
    if not FLAGS.model:
        raise ValueError("--model is missing; pass --model=<a .tflite, .keras or SavedModel>")
    files = argv[1:]
    if not files:
        raise ValueError("no image files given; pass one or more PNG or JPEG files after the flags")
    if FLAGS.top_k < 1:
        raise ValueError(f"--top_k must be at least 1, got {FLAGS.top_k}")
    labels = read_labels(FLAGS.labels) if FLAGS.labels else None
    results = predict(
        FLAGS.model,
        files,
        top_k=FLAGS.top_k,
        labels=labels,
        float_range=float_range(FLAGS.float_range),
    )
    name_width = max(len(result.source) for result in results)
    for result in results:
        classes = "  ".join(f"{name} {p:.3f}" for name, p in result.top)
        print(f"{result.source.ljust(name_width)}  {classes}")


def read_labels(path):
    require_file(path, "--labels: ", "pass a text file with one class name per line")
    try:
        with open(path, encoding="utf-8") as f:
            labels = [line.strip() for line in f if line.strip()]
    except UnicodeDecodeError as error:
        raise ValueError(
            f"--labels: {path} is not UTF-8 text ({error.reason} at byte {error.start}); "
            "pass a text file with one class name per line"
        ) from error
    if not labels:
        raise ValueError(f"--labels: {path} holds no class names; pass a file with one per line")
    return labels


def require_file(path, prefix, advice):
    """Raises `ValueError` for a folder or a missing path where a file goes."""
    if not os.path.isfile(path):
        what = "is a folder" if os.path.isdir(path) else "does not exist"
        raise ValueError(f"{prefix}{path} {what}; {advice}")


def run(argv=None):
    """Runs the command with ``argv`` (``[program, flags...]``); returns the exit status."""
    return boundary.run(main, argv, doc=__doc__, module=__name__, flag_values=FLAGS)
