"""Test-time augmentation of a finished run: accuracy over views, on its validation and test splits.

Reads ``RUN_DIR/metrics.json`` (the data set, validation split and seed of
the run) and ``RUN_DIR/model.keras``, rebuilds the same splits and writes
``RUN_DIR/tta.json``: the accuracy with no test-time augmentation, with
flips (if the data set is flipped in training), and with translations by
``--translate`` pixels (and flips), on validation and test. The view to
report is chosen on validation.

    python scripts/tta_eval.py --data_dir=../shared/data/cifar10 runs/cifar10_cpu_fast_s0
"""

import argparse
import json
import os

import numpy as np

from pinet_keras.data import augmentation_policy
from pinet_keras.data import make_datasets
from pinet_keras.export import load_keras_model
from pinet_keras.training.evaluation import correct_predictions
from pinet_keras.training.evaluation import view_probabilities
from pinet_keras.training.settings import write_json

# The views of `view_probabilities(..., translate=N)`, in its order, that each
# reported combination averages over (the mirrors, 3 to 5, only with flip=True).
COMBINATIONS = {"none": (0,), "translate": (0, 1, 2), "flip": (0, 3), "flip_translate": range(6)}


def split_accuracies(model, dataset, translate, names, flip):
    """``{combination: accuracy}`` on one split, each view predicted once."""
    correct = dict.fromkeys(names, 0)
    total = 0
    for batch in dataset:
        images, labels = np.asarray(batch[0]), np.asarray(batch[1]).reshape(-1)
        views = view_probabilities(model, images, flip=flip, translate=translate)
        for name in names:
            averaged = sum(views[i] for i in COMBINATIONS[name])
            correct[name] += int(np.sum(correct_predictions(averaged, labels)))
        total += len(labels)
    return {name: count / max(total, 1) for name, count in correct.items()}


def evaluate(run_dir, data_dir, translate):
    with open(os.path.join(run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    config = metrics["config"]
    model = load_keras_model(os.path.join(run_dir, "model.keras"))
    data = make_datasets(
        config["dataset"],
        data_dir=data_dir or config["data_dir"],
        batch_size=config["batch_size"],  # the run's batches, as its own evaluation
        validation_split=config["validation_split"],
        seed=config["seed"],
        shuffle=False,
        image_size=config.get("image_size"),
    )
    # Flips only where training flips (not digits).
    flip = augmentation_policy(config["dataset"], metrics["input_shape"]).flip
    names = [name for name in COMBINATIONS if flip or "flip" not in name]
    result = {"translate": translate, "views": {name: {} for name in names}}
    for split, dataset in (("val", data.validation), ("test", data.test)):
        if dataset is None:
            continue
        for name, value in split_accuracies(model, dataset, translate, names, flip).items():
            result["views"][name][split] = value
    print(run_dir, json.dumps(result["views"]), flush=True)
    write_json(os.path.join(run_dir, "tta.json"), result)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", help="finished runs of `pinet-keras train`")
    parser.add_argument("--data_dir", help="the data set's folder (default: the run's)")
    parser.add_argument("--translate", type=int, default=1, help="pixels of the translations")
    args = parser.parse_args()
    if args.translate < 1:
        parser.error(f"--translate must be an int >= 1, got {args.translate}.")
    # Every folder checked before the first (minutes-long) evaluation.
    for run_dir in args.run_dirs:
        if not os.path.isfile(os.path.join(run_dir, "metrics.json")):
            parser.error(f"{run_dir} has no metrics.json: pass the folder of a finished run.")
    for run_dir in args.run_dirs:
        try:
            evaluate(run_dir, args.data_dir, args.translate)
        except (OSError, ValueError, KeyError) as error:
            detail = f"no {error} in metrics.json" if isinstance(error, KeyError) else error
            parser.exit(2, f"tta_eval.py: error: {run_dir}: {detail}\n")


if __name__ == "__main__":
    main()
