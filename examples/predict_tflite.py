"""Classify image files with a `.tflite` model, as a mobile app does, in Python.

For each PNG or JPEG file: read it, convert it to the model's input (size,
grayscale for one channel, RGB for three), normalize it as at training time,
quantize it if the model takes int8, run the LiteRT interpreter, and print
the top-k labels with their probabilities (the softmax of the logits).

    python examples/predict_tflite.py --model=export/model_int8.tflite \
        --labels=export/labels.txt shoe.png shirt.jpg

    shoe.png   Ankle boot 0.912  Sneaker 0.071  Sandal 0.013

`--labels` defaults to the `labels.txt` beside the model (written by
`examples/export.py`); without it the classes are printed by index.
"""

import os

from absl import app
from absl import flags

import numpy as np
from PIL import Image

from pinet_keras.export import TFLiteRunner

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The `.tflite` model.", required=True)
flags.DEFINE_string("labels", None, "Class names, one per line (default: labels.txt beside the model).")
flags.DEFINE_integer("top_k", 3, "How many classes to print per image.")
flags.DEFINE_string(
    "normalization",
    "unit",
    "As at training time: 'unit' (pixels / 255), 'none' (pixels 0-255), or a name "
    "that pinet_keras.data.normalize knows for --dataset.",
)
flags.DEFINE_string("dataset", None, "Data set for a --normalization other than unit/none.")


def main(argv):
    files = argv[1:]
    if not files:
        raise app.UsageError("Give one or more image files to classify.")
    runner = TFLiteRunner(FLAGS.model)
    labels = read_labels(FLAGS.labels or os.path.join(os.path.dirname(FLAGS.model), "labels.txt"))
    height, width, channels = runner.example_shape

    images = np.stack([read_image(path, height, width, channels) for path in files])
    images = normalize_images(images, FLAGS.normalization, FLAGS.dataset)
    logits = runner.predict(images, batch_size=1)  # quantizes the input for an int8 model
    probabilities = softmax(logits)

    name_width = max(len(path) for path in files)
    for path, p in zip(files, probabilities):
        top = np.argsort(-p)[: FLAGS.top_k]
        classes = "  ".join(f"{label_of(i, labels)} {p[i]:.3f}" for i in top)
        print(f"{path.ljust(name_width)}  {classes}")


def read_image(path, height, width, channels):
    """A uint8 array (height, width, channels) from a PNG or JPEG file."""
    if channels not in (1, 3):
        raise ValueError(f"Only models with 1 or 3 input channels take images; this one has {channels}.")
    with Image.open(path) as image:
        image = image.convert("L" if channels == 1 else "RGB")
        if image.size != (width, height):
            image = image.resize((width, height), Image.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
    return array.reshape(height, width, channels)


def normalize_images(images, normalization, dataset=None):
    if normalization == "unit":
        return images.astype("float32") / 255.0
    if normalization == "none":
        return images.astype("float32")
    if dataset is None:
        raise app.UsageError(f"--normalization={normalization} needs --dataset.")
    from pinet_keras.data import normalize

    return normalize(images, dataset, normalization=normalization)


def read_labels(path):
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def label_of(index, labels):
    return labels[index] if labels and index < len(labels) else f"class {index}"


def softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


if __name__ == "__main__":
    app.run(main)
