"""Classify image files with a `.tflite` model, as a mobile app does, in Python.

For each PNG or JPEG file: read it, convert it to the model's input (size,
grayscale for one channel, RGB for three; 16-bit grey scaled to 8 bits,
transparent pixels white, as a viewer shows them), run the LiteRT interpreter on the
raw pixels, and print the top-k labels with their probabilities (the
softmax of the logits).

    python examples/predict_tflite.py --model=export/model_int8.tflite shoe.png shirt.jpg

    shoe.png   Ankle boot 0.912  Sneaker 0.071  Sandal 0.013

Nothing about the model needs to be given: a file written by
`examples/export.py` takes raw pixels (0..255; uint8 for int8 files) and
carries its class names and input description (`pinet_keras` metadata,
`pinet_keras.export.read_tflite_metadata`). `--labels` (one class name per
line) overrides the class names.
"""

import os

import numpy as np
from absl import flags
from PIL import Image

from pinet_keras import _cli
from pinet_keras.data.image_folder import image_pixels
from pinet_keras.export import TFLiteRunner
from pinet_keras.export import read_tflite_metadata

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The `.tflite` model.", required=True)
flags.DEFINE_string("labels", None, "Class names, one per line (default: the model's own).")
flags.DEFINE_integer("top_k", 3, "How many classes to print per image.")


def main(argv):
    files = argv[1:]
    if not files:
        raise ValueError("no image files given; pass one or more PNG or JPEG files after the flags")
    if FLAGS.top_k < 1:
        raise ValueError(f"--top_k must be at least 1, got {FLAGS.top_k}")
    metadata = read_metadata(FLAGS.model)
    runner = TFLiteRunner(FLAGS.model)
    labels = read_labels(FLAGS.labels) if FLAGS.labels else metadata.get("class_names")
    height, width, channels = runner.example_shape
    if labels is not None and len(labels) != runner.num_classes:
        raise ValueError(
            f"--labels: {len(labels)} class names for a model with {runner.num_classes} outputs"
        )

    images = np.stack([read_image(path, height, width, channels) for path in files])
    logits = runner.predict(images, batch_size=1)  # raw pixels; uint8 for an int8 model
    probabilities = softmax(logits)

    name_width = max(len(path) for path in files)
    for path, p in zip(files, probabilities):
        top = np.argsort(-p)[: FLAGS.top_k]
        classes = "  ".join(f"{label_of(i, labels)} {p[i]:.3f}" for i in top)
        print(f"{path.ljust(name_width)}  {classes}")


def read_metadata(path):
    """The model's metadata; a file without it was not made to take raw pixels."""
    if os.path.isdir(path):
        names = sorted(name for name in os.listdir(path) if name.endswith(".tflite"))
        found = f" ({', '.join(names)})" if names else ""
        raise ValueError(f"--model: {path} is a folder; pass one of its .tflite files{found}")
    if not os.path.isfile(path):
        raise FileNotFoundError(2, "No such file", path)
    try:
        metadata = read_tflite_metadata(path)
    except ValueError as error:
        raise ValueError(f"--model: {path} is {error}; pass a .tflite file") from error
    if not metadata:
        raise ValueError(
            f"--model: {path} has no pinet_keras metadata, so what input it takes is unknown "
            "(a file of pinet_keras 0.1.0 took normalized images); export it again with "
            "examples/export.py"
        )
    return metadata


def read_image(path, height, width, channels):
    """A uint8 array (height, width, channels) of raw pixels from a PNG or JPEG file."""
    if channels not in (1, 3):
        raise ValueError(
            f"Only models with 1 or 3 input channels take images; this one has {channels}."
        )
    require_file(path, "", "pass PNG or JPEG files")
    try:
        with Image.open(path) as image:
            # 16-bit grey scaled to 8 bits, transparency over white (see image_pixels).
            return image_pixels(image, channels, size=(height, width))
    except (OSError, SyntaxError) as error:  # PIL's errors for files that are not images
        raise ValueError(
            f"{path} is not a readable image ({error}); pass PNG or JPEG files"
        ) from error


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


def label_of(index, labels):
    return labels[index] if labels and index < len(labels) else f"class {index}"


def softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


if __name__ == "__main__":
    _cli.run(main)
