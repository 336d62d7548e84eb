"""How far int8 fine-tuning takes an int8 file's agreement: epochs, learning rate, recalibration.

`pinet_keras.export.finetune_for_int8` trains the folded model with int8
rounding simulated to give the Keras model's answers (README, "Fine-tuning
for int8"). This script measures, on the run's validation split (never the
test split), the top-1 agreement with the Keras model of the int8 file made
after each setting ``epochs:learning_rate:recalibrate_every`` of
``--settings`` (``0:0:0``: no fine-tuning), each from the same folded,
bounded model and 200 representative images, as `examples/export.py` makes
it. It prints a row per setting and writes them to ``--output`` as JSON.

    python benchmarks/int8_finetune.py --pretrained=pi_resnet_cifar10 \
        --data_dir=../shared/data/cifar10 --output=benchmarks/results/int8_finetune_cifar10.json
"""

import time

from absl import app
from absl import flags

# The same model, data and calibration flags (--pretrained or --model,
# --data_dir, --num_representative, --bound, --output) and the same loading.
from int8_sensitivity import validation_data

from pinet_keras import _io
from pinet_keras import export
from pinet_keras.export.calibration import DEFAULT_PERCENTILE
from pinet_keras.export.fold import fold_polynomial_layers

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "settings",
    ["0:0:0", "1:1e-5:0", "2:1e-4:0", "2:3e-5:50"],
    "epochs:learning_rate:recalibrate_every for each int8 file (0:0:0, no fine-tuning).",
)


def parse_settings(settings):
    """``[(epochs, learning_rate, recalibrate_every)]``, or one clear error."""
    parsed = []
    for setting in settings:
        try:
            epochs, learning_rate, every = setting.split(":")
            parsed.append((int(epochs), float(learning_rate), int(every)))
        except ValueError:
            raise app.UsageError(
                f"--settings: {setting!r} is not epochs:learning_rate:recalibrate_every; "
                "pass e.g. 1:1e-5:0"
            ) from None
    return parsed


def main(_):
    settings = parse_settings(FLAGS.settings)
    data = validation_data()
    model, images, labels = data.model, data.images, data.labels
    representative = data.representative
    reference = model.predict(images, batch_size=250, verbose=0).argmax(1)
    bound = FLAGS.bound or None

    rows = []
    print(f"{'epochs':>6} {'learning rate':>13} {'recalibrate':>11} {'agreement':>9} {'s':>5}")
    for epochs, learning_rate, every in settings:
        start = time.time()
        folded = fold_polynomial_layers(model, representative, bound=bound)
        if epochs:
            folded = export.finetune_for_int8(
                model,
                folded,
                data.train_images,
                representative,
                epochs=epochs,
                learning_rate=learning_rate,
                percentile=DEFAULT_PERCENTILE,
                recalibrate_every=every,
            )
        content = export.convert_to_tflite(folded, "int8", representative, bound=bound)
        logits = export.TFLiteRunner(content).predict(images)
        row = {
            "epochs": epochs,
            "learning_rate": learning_rate,
            "recalibrate_every": every,
            "agreement": float((logits.argmax(1) == reference).mean()),
            "accuracy": float((logits.argmax(1) == labels).mean()),
            "keras_accuracy": float((reference == labels).mean()),
            "seconds": time.time() - start,
        }
        rows.append(row)
        print(
            f"{epochs:>6} {learning_rate:>13g} {every:>11} {row['agreement']:>9.2%} "
            f"{row['seconds']:>5.0f}",
            flush=True,
        )
        if FLAGS.output:  # after each row: a long sweep keeps what it measured
            result = {
                "model": FLAGS.pretrained or FLAGS.model,
                "dataset": data.dataset,
                "split": f"validation ({len(images)} images)",
                "num_representative": FLAGS.num_representative,
                "bound": FLAGS.bound,
                "percentile": DEFAULT_PERCENTILE,
                "settings": rows,
            }
            _io.write_json(FLAGS.output, result, overwrite=True)


if __name__ == "__main__":
    app.run(main)
