"""Why an int8 file disagrees with its Keras model: small top-2 margins against the int8 error.

For each test image: the Keras model's margin between its two largest
logits, and the int8 file's logit error (int8 minus Keras). Prints the
error's spread, the share of images under a few margins, and which share
of the int8 file's disagreements they hold; with ``--output``, the same as
JSON.

    python benchmarks/int8_margins.py --model=runs/cifar10_pi_resnet_small/model.keras \
        --tflite=runs/cifar10_pi_resnet_small/export/model_int8.tflite \
        --data_dir=../shared/data/cifar10
"""

import json

import numpy as np
from absl import app
from absl import flags

from pinet_keras import _io
from pinet_keras import export
from pinet_keras.data import load_arrays
from pinet_keras.export.files import training_run
from pinet_keras.export.precision import as_float32

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The trained .keras file (its metrics.json names the data).")
flags.DEFINE_string("tflite", None, "Its int8 .tflite file.")
flags.DEFINE_string("data_dir", None, "Local data folder of the model's data set.")
flags.DEFINE_string("output", None, "Optional JSON file for the numbers.")
flags.mark_flags_as_required(["model", "tflite"])
MARGINS = (0.1, 0.25, 0.5, 1.0, 2.0)


def main(_):
    dataset, _ = training_run(FLAGS.model, None)
    _, (images, _) = load_arrays(dataset, data_dir=FLAGS.data_dir)
    images = images.astype("float32")
    model = as_float32(export.load_keras_model(FLAGS.model))
    reference = model.predict(images, batch_size=250, verbose=0)
    int8 = export.run_tflite(FLAGS.tflite, images, batch_size=250)
    top2 = np.sort(reference, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    disagree = int8.argmax(1) != reference.argmax(1)
    # The rare images a degree-128 polynomial sends far out would dominate the spread.
    ordinary = np.abs(reference).max(1) < 100
    error = (int8 - reference)[ordinary]
    result = {
        "images": int(len(images)),
        "disagreement": float(disagree.mean()),
        "logit_error_std": float(error.std()),
        "median_max_abs_logit_error": float(np.median(np.abs(error).max(1))),
        "margins": {
            str(m): {
                "share_of_images": float((margin < m).mean()),
                "disagreement_among_them": float(disagree[margin < m].mean()),
                "share_of_disagreements": float(
                    disagree[margin < m].sum() / max(disagree.sum(), 1)
                ),
            }
            for m in MARGINS
        },
    }
    print(json.dumps(result, indent=1))
    if FLAGS.output:
        _io.write_json(FLAGS.output, result, overwrite=True)


if __name__ == "__main__":
    app.run(main)
