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

import keras
import numpy as np
from keras import ops

from pinet_keras.data import augmentation_policy
from pinet_keras.data import make_datasets
from pinet_keras.training.evaluation import shifted


def view_probabilities(model, dataset, translate):
    """``{view: class probabilities}`` of each single view, and the labels, of a split."""
    names = ("image", "up", "down")
    probabilities, labels = {}, []
    for batch in dataset:
        images = np.asarray(batch[0])
        labels.append(np.asarray(batch[1]).reshape(-1))
        moved = (
            images,
            shifted(images, translate, translate),
            shifted(images, -translate, -translate),
        )
        for name, view in zip(names, moved):
            for flipped, pixels in ((False, view), (True, view[:, :, ::-1])):
                logits = ops.convert_to_tensor(model.predict_on_batch(pixels), "float32")
                p = ops.convert_to_numpy(ops.softmax(logits, axis=-1))
                probabilities.setdefault((name, flipped), []).append(p)
    return {k: np.concatenate(v) for k, v in probabilities.items()}, np.concatenate(labels)


def accuracy(probabilities, labels, views):
    """Top-1 accuracy of the averaged probabilities of ``views``; non-finite counts as wrong."""
    average = sum(probabilities[view] for view in views)
    finite = np.isfinite(average).all(axis=-1)
    predicted = np.argmax(np.nan_to_num(average, nan=-1.0), axis=-1)
    return float(np.mean(finite & (predicted == labels)))


def evaluate(run_dir, data_dir, translate):
    with open(os.path.join(run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    config = metrics["config"]
    data = make_datasets(
        config["dataset"],
        data_dir=data_dir or config["data_dir"],
        batch_size=500,
        validation_split=config["validation_split"],
        seed=config["seed"],
        shuffle=False,
        image_size=config.get("image_size"),
    )
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    flip = augmentation_policy(config["dataset"], metrics["input_shape"]).flip
    moves = {"none": ("image",), "translate": ("image", "up", "down")}
    views = {name: [(m, False) for m in moved] for name, moved in moves.items()}
    if flip:
        for name, moved in moves.items():
            both = [(m, f) for m in moved for f in (False, True)]
            views["flip" if name == "none" else "flip_translate"] = both
    result = {"translate": translate, "views": {name: {} for name in views}}
    for split, dataset in (("val", data.validation), ("test", data.test)):
        if dataset is None:
            continue
        probabilities, labels = view_probabilities(model, dataset, translate)
        for name, chosen in views.items():
            result["views"][name][split] = accuracy(probabilities, labels, chosen)
    print(run_dir, json.dumps(result["views"]), flush=True)
    path = os.path.join(run_dir, "tta.json")
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=2)
    os.replace(path + ".tmp", path)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", help="finished runs of `pinet-keras train`")
    parser.add_argument("--data_dir", help="the data set's folder (default: the run's)")
    parser.add_argument("--translate", type=int, default=1, help="pixels of the translations")
    args = parser.parse_args()
    if args.translate < 1:
        parser.error(f"--translate must be an int >= 1, got {args.translate}.")
    for run_dir in args.run_dirs:
        if not os.path.isfile(os.path.join(run_dir, "metrics.json")):
            parser.error(f"{run_dir} has no metrics.json: pass the folder of a finished run.")
        evaluate(run_dir, args.data_dir, args.translate)


if __name__ == "__main__":
    main()
