"""Does `pinet-keras predict`, given nothing but the file, agree with the Keras model on real PNGs?

Writes `--num_images` test images of the model's data set as PNG files (a
lossless copy of their pixels) into a temporary folder, runs
`pinet-keras predict --model=<file> <pngs>` as a user would (no other
flag), reads its top-1 labels, and compares them with the Keras model's
predictions on the same pixels and with the true labels.

    python tools/check_predict_pngs.py --model=runs/mnist/model.keras \
        --tflite=runs/mnist/export/model_int8.tflite --data_dir=../shared/data/mnist
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
from absl import flags
from PIL import Image

from pinet_keras import export
from pinet_keras.cli import boundary
from pinet_keras.data import dataset_info
from pinet_keras.data import load_arrays
from pinet_keras.export.files import training_run

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The trained `.keras` model.", required=True)
flags.DEFINE_list(
    "tflite", None, "The `.tflite` file(s) to run through `pinet-keras predict`.", required=True
)
boundary.define_model_data_flags()
flags.DEFINE_integer("num_images", 50, "Test images to write as PNG.")


def main(_):
    if FLAGS.num_images < 1:
        raise ValueError(f"--num_images must be at least 1, got {FLAGS.num_images}")
    dataset, _ = training_run(FLAGS.model, FLAGS.dataset)
    for tflite in FLAGS.tflite:  # before the data and the model are read
        if not os.path.isfile(tflite):
            what = "a folder" if os.path.isdir(tflite) else "not a file"
            raise ValueError(f"--tflite: {tflite} is {what}; pass .tflite files")
        try:
            exported_from = export.read_tflite_metadata(tflite).get("dataset")
        except ValueError as error:
            raise ValueError(f"--tflite: {tflite} is {error}; pass .tflite files") from error
        if exported_from not in (None, dataset):
            raise ValueError(
                f"--tflite: {tflite} was exported from a {exported_from} model (its metadata), "
                f"but --model is a {dataset} model; pass the files of its export"
            )
    class_names = dataset_info(dataset).class_names
    _, (x_test, y_test) = load_arrays(dataset, FLAGS.data_dir)
    x_test, y_test = x_test[: FLAGS.num_images], y_test[: FLAGS.num_images]
    model = export.load_keras_model(FLAGS.model)
    keras_top1 = model.predict(x_test, verbose=0).argmax(-1)

    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, image in enumerate(x_test):
            path = os.path.join(folder, f"{i:04d}.png")
            Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
            paths.append(path)
        for tflite in FLAGS.tflite:
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pinet_keras",
                    "predict",
                    f"--model={tflite}",
                    "--top_k=1",
                    *paths,
                ],
                capture_output=True,
                text=True,
            )
            if result.returncode:
                errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
                why = errors[-1][len("error: ") :] if errors else result.stderr.strip()[-500:]
                raise RuntimeError(f"pinet-keras predict failed on --tflite={tflite}: {why}")
            names = [
                line.split(None, 1)[1].rsplit(" ", 1)[0]
                for line in result.stdout.splitlines()
                if line.strip()
            ]
            top1 = np.array([class_names.index(name) for name in names])
            agree = int((top1 == keras_top1).sum())
            print(
                f"{tflite}: agrees with Keras on {agree} of {len(paths)} PNGs; "
                f"right on {int((top1 == y_test).sum())} "
                f"(Keras: {int((keras_top1 == y_test).sum())})"
            )


if __name__ == "__main__":
    boundary.run(main)
