"""Builds the pretrained models shipped in `pinet_keras/pretrained/files` from training runs.

For each model: the run's ``model.keras`` (float32 weights, raw pixels in)
is stored as its configuration and compact weights (the first of
``--storages`` whose full-test-split accuracy is within
``--max_change_points`` percentage points of the float32 original's and
whose top-1 agreement with it is at least ``--min_agreement``) with the
ranges that bound it (``bound.json``: each polynomial layer's output range
on 200 training images, which `pinet_keras.pretrained.load` clips to), the
run's int8 ``.tflite`` (made by ``pinet-keras export``) is copied beside
it, the float32 ``.tflite`` that `pinet_keras.pretrained.tflite_path`
converts on request is converted here too, and every one of them is
evaluated on the whole test split and on the check subset the tests use
(``test[::10]``, 1,000 images). The card (``card.json``, ``CARD.md``)
holds those measured numbers with the run's provenance.

    python tools/make_pretrained.py --runs_dir=runs --data_dir=../shared/data --overwrite

Each model's folder is written under a temporary name and moved into place
whole; the size limits of the package data (no file over 3 MB, all of them
at most 8 MB) are checked at the end.
"""

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np
from absl import flags

import pinet_keras
from pinet_keras import _io
from pinet_keras import export
from pinet_keras import pretrained
from pinet_keras.cli import boundary
from pinet_keras.data import dataset_info
from pinet_keras.data import load_arrays
from pinet_keras.export.calibration import choose_representative
from pinet_keras.export.files import training_run
from pinet_keras.export.fold import FoldedPolynomial
from pinet_keras.export.precision import as_float32
from pinet_keras.models import polynomial_degree
from pinet_keras.pretrained import storage

FLAGS = flags.FLAGS
flags.DEFINE_string("runs_dir", "runs", "Folder holding the training runs named in SPECS.")
flags.DEFINE_string("data_dir", "../shared/data", "Folder with mnist/, fashion_mnist/, cifar10/.")
flags.DEFINE_string("output_dir", pretrained.FILES_DIR, "Where the models' folders go.")
flags.DEFINE_list("models", list(pretrained.NAMES), "Which models to build.")
flags.DEFINE_list("storages", ["int8", "float16", "float32"], "Weight storages to try, in order.")
flags.DEFINE_float(
    "max_change_points",
    0.05,
    "Largest change of the full-test-split accuracy (percentage points) the storage may cause.",
)
flags.DEFINE_float(
    "min_agreement",
    0.999,
    "Smallest top-1 agreement of the stored model with the original on the test split.",
)
flags.DEFINE_bool("overwrite", False, "Replace existing model folders.")

MB = 1_000_000
MAX_FILE_BYTES = 3 * MB
MAX_TOTAL_BYTES = 8 * MB
BOUND_IMAGES = 200
CHECK_STEP = 10  # the check subset: test[::10], 1,000 images of a 10,000-image test split

# The runs (version 0.3.0, 2026-11-28) were trained from the working tree of commit 4cb4140 with
# the uncommitted changes then committed as d48afba: their pinet_keras/ and examples/train.py
# are d48afba's.
TRAINING_COMMIT = {
    "base": "4cb4140905a342617d79943e890258e29762212d",
    "first_commit_with_the_changes": "d48afba",
    "note": (
        "trained from the working tree of commit 4cb4140 with uncommitted changes (the output "
        "ranges of version 0.3.0), committed as d48afba; pinet_keras/ and examples/train.py "
        "are exactly d48afba's"
    ),
}

SPECS = {
    "polynet_mnist": {
        "run": "mnist_polynet_bn",
        "dataset": "mnist",
        "title": "PolyNet (polynet_bn: 5 blocks, batch normalization, skips) on MNIST",
        "command": (
            "python examples/train.py --dataset=mnist --data_dir=../shared/data/mnist "
            "--model=polynet_bn --augment --optimizer=adamw --learning_rate=2e-3 "
            "--lr_schedule=cosine --warmup_epochs=1 --weight_decay=0.05 --label_smoothing=0.1 "
            "--epochs=15 --output_dir=runs/mnist_polynet_bn"
        ),
        "results": "results/mnist_polynet_bn",
        "export_flags": "",
    },
    "polynet_fashion_mnist": {
        "run": "fashion_mnist_polynet_bn",
        "dataset": "fashion_mnist",
        "title": "PolyNet (polynet_bn, dropout 0.1) on Fashion-MNIST, trained in bf16",
        "command": (
            "python examples/train.py --dataset=fashion_mnist "
            "--data_dir=../shared/data/fashion_mnist --model=polynet_bn --dropout=0.1 --augment "
            "--optimizer=adamw --learning_rate=2e-3 --lr_schedule=cosine --warmup_epochs=1 "
            "--weight_decay=0.01 --label_smoothing=0.1 --mixed_precision=bf16 --epochs=30 "
            "--output_dir=runs/fashion_mnist_polynet_bn"
        ),
        "results": "results/fashion_mnist_polynet_bn",
        "export_flags": " --int8_finetune_epochs=1",
    },
    "pi_resnet_cifar10": {
        "run": "cifar10_pi_resnet_small",
        "dataset": "cifar10",
        "title": "PiResNet (pi_resnet_small, 16-32-64) on CIFAR-10",
        "command": (
            "python examples/train.py --dataset=cifar10 --data_dir=../shared/data/cifar10 "
            "--preset=cifar10_cpu_small --output_dir=runs/cifar10_pi_resnet_small"
        ),
        "results": "results/cifar10/pi_resnet_small_50ep",
        "export_flags": " --int8_finetune_epochs=1",
    },
}
EXPORT_COMMAND = (
    "python examples/export.py --model=runs/{run}/model.keras --data_dir=../shared/data/{data} "
    "--output_dir=runs/{run}/export{flags} --overwrite"
)


def check_flags():
    unknown = [name for name in FLAGS.models if name not in SPECS]
    if unknown:
        raise ValueError(f"--models: unknown {unknown}; available: {', '.join(SPECS)}")
    bad = [s for s in FLAGS.storages if s not in storage.STORAGES]
    if bad or not FLAGS.storages:
        raise ValueError(f"--storages: {bad or 'none'}; choose among {', '.join(storage.STORAGES)}")
    if not 0 <= FLAGS.min_agreement <= 1:
        raise ValueError(f"--min_agreement must be in [0, 1], got {FLAGS.min_agreement}")
    if FLAGS.max_change_points < 0:
        raise ValueError(f"--max_change_points must be >= 0, got {FLAGS.max_change_points}")


def check_run(name):
    """Raises, naming the file and the command to make it, if the run of ``name`` lacks one."""
    run_dir = os.path.join(FLAGS.runs_dir, SPECS[name]["run"])
    needed = {
        os.path.join(run_dir, "model.keras"): SPECS[name]["command"],
        os.path.join(run_dir, "metrics.json"): SPECS[name]["command"],
        os.path.join(
            run_dir, "export", pretrained._tflite_file_name("int8")
        ): EXPORT_COMMAND.format(
            run=SPECS[name]["run"], data=SPECS[name]["dataset"], flags=SPECS[name]["export_flags"]
        ),
    }
    for path, command in needed.items():
        if not os.path.isfile(path):
            raise FileNotFoundError(
                2, f"--runs_dir: {name} needs this file; make it with `{command}`", path
            )


def git_commit():
    """The repository's HEAD (with ``-dirty`` if the tree has changes), or None."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty else "")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def accuracy(logits, labels, reference=None):
    """Accuracy (and top-1 agreement with ``reference``) on the whole split and the check subset."""
    result = {}
    for part, rows in (("test", slice(None)), ("check", slice(None, None, CHECK_STEP))):
        numbers = export.compare_logits(
            logits[rows], None if reference is None else reference[rows], labels[rows]
        )
        result[part] = {"accuracy": numbers["accuracy"]}
        if reference is not None:
            result[part]["top1_agreement"] = numbers["top1_agreement"]
            result[part]["max_abs_diff"] = numbers["max_abs_diff"]
    return result


def predict(model, images):
    return model.predict(images, batch_size=250, verbose=0)


def choose_storage(original, reference, images, labels, staging):
    """Stores the model in the first storage within the limit; returns its report and logits."""
    base = accuracy(reference, labels)["test"]["accuracy"]
    tried = []
    for kind in FLAGS.storages:
        config = os.path.join(staging, pretrained.CONFIG_FILE)
        weights = os.path.join(staging, pretrained.WEIGHTS_FILE)
        storage.save(original, config, weights, kind, overwrite=True)
        stored = storage.load(config, weights)
        logits = predict(stored, images)
        result = accuracy(logits, labels, reference)
        change = 100 * (result["test"]["accuracy"] - base)
        tried.append(
            {
                "weights": kind,
                "change_points": round(change, 4),
                **result,
                "weights_bytes": os.path.getsize(weights),
            }
        )
        print(
            f"  storage {kind}: {result['test']['accuracy']:.4f} ({change:+.2f} points), "
            f"agreement {result['test']['top1_agreement']:.4f}, {os.path.getsize(weights)} bytes"
        )
        agreement = result["test"]["top1_agreement"]
        if abs(change) <= FLAGS.max_change_points + 1e-9 and agreement >= FLAGS.min_agreement:
            return stored, logits, {"weights": kind, "tried": tried}
    raise ValueError(
        f"no storage among {FLAGS.storages} keeps the accuracy within {FLAGS.max_change_points} "
        f"points and the top-1 agreement at {FLAGS.min_agreement} or more"
    )


def write_bound(stored, representative, images, staging):
    """Writes the bound file of ``stored``; returns the bounded model (as `load`) and its logits."""
    folded = export.bound_model(stored, representative, percentile=100.0)
    ranges = {
        layer.name: list(layer.output_range)
        for layer in folded.layers
        if isinstance(layer, FoldedPolynomial)
    }
    _io.write_json(
        os.path.join(staging, pretrained.BOUND_FILE), {"percentile": 100.0, "ranges": ranges}
    )
    bounded = pretrained._bounded(stored, staging)
    return bounded, predict(bounded, images)


def evaluate_file(path, images, labels, reference, original_reference):
    result = export.evaluate_tflite(path, images, labels, reference, latency_runs=20)
    logits = export.run_tflite(path, images, batch_size=250)
    summary = accuracy(logits, labels, reference)
    summary["vs_float32_original"] = accuracy(logits, labels, original_reference)["test"]
    keep = ("size_bytes", "input_dtype", "output_dtype", "latency_ms", "interpreter", "ops")
    return {**{k: result[k] for k in keep if k in result}, **summary}


def build(name, when, commit):
    spec = SPECS[name]
    run_dir = os.path.join(FLAGS.runs_dir, spec["run"])
    model_path = os.path.join(run_dir, "model.keras")
    dataset, metrics = training_run(model_path)
    info = dataset_info(dataset)
    int8_source = os.path.join(run_dir, "export", pretrained._tflite_file_name("int8"))
    print(f"{name}: {model_path}")
    started = time.time()
    original = as_float32(export.load_keras_model(model_path))
    (x_train, _), (x_test, y_test) = load_arrays(dataset, os.path.join(FLAGS.data_dir, dataset))
    reference = predict(original, x_test)
    # The bound's images: the 200 training images pinet-keras export calibrates on.
    representative = choose_representative(x_train, BOUND_IMAGES, seed=0)
    target = os.path.join(FLAGS.output_dir, name)
    with (
        _io.atomic_output(target, FLAGS.overwrite) as staging,
        tempfile.TemporaryDirectory() as scratch,
    ):
        os.makedirs(staging)
        stored, logits, storage_report = choose_storage(
            original, reference, x_test, y_test, staging
        )
        bounded, bounded_logits = write_bound(stored, representative, x_test, staging)
        int8_path = os.path.join(staging, pretrained._tflite_file_name("int8"))
        shutil.copyfile(int8_source, int8_path)
        float32_path = os.path.join(scratch, pretrained._tflite_file_name("float32"))
        card = {
            "name": name,
            "title": spec["title"],
            "dataset": dataset,
            "class_names": list(info.class_names),
            "input": {
                "shape": [None, *info.input_shape],
                "pixels": "raw, 0..255 (uint8 or float)",
                "preprocessing": "inside the model",
                "output": "logits",
            },
            "architecture": metrics.get("model"),
            "params": int(stored.count_params()),
            "degree": int(polynomial_degree(stored)),
            "package_version": pinet_keras.__version__,
            "date_packaged": when,
            "packaged_at_commit": commit,
            "packaged_by": "python tools/make_pretrained.py --runs_dir=runs "
            "--data_dir=../shared/data --overwrite",
            "training": {
                "command": spec["command"],
                "commit": TRAINING_COMMIT,
                "date": datetime.datetime.fromtimestamp(
                    os.path.getmtime(model_path), datetime.timezone.utc
                ).strftime("%Y-%m-%d"),
                "package_version": metrics.get("package_version"),
                "epochs": metrics.get("epochs"),
                "best_epoch": metrics.get("best_epoch"),
                "train_seconds": metrics.get("train_seconds"),
                "config": metrics.get("config"),
                "test_accuracy_reported": metrics.get("test_accuracy"),
                "results": spec["results"],
            },
            "check_subset": f"test[::{CHECK_STEP}] ({len(x_test[::CHECK_STEP])} images)",
            "test_examples": int(len(x_test)),
            "storage": storage_report,
            "accuracy": {
                "keras_float32_original": accuracy(reference, y_test),
                "keras_stored": accuracy(logits, y_test, reference),
                # What load() returns; agreement with the stored model.
                "keras_bounded": accuracy(bounded_logits, y_test, logits),
            },
            "bound": {
                "file": pretrained.BOUND_FILE,
                "percentile": 100.0,
                "images": f"{BOUND_IMAGES} training images, chosen as pinet-keras export "
                "chooses them (seed 0)",
                "max_abs_logit_test": float(np.abs(bounded_logits).max()),
            },
            "tflite": {},
        }
        card["storage"]["change_points"] = card["storage"]["tried"][-1]["change_points"]
        card["tflite"]["int8"] = {
            "file": pretrained._tflite_file_name("int8"),
            "shipped": True,
            "made_by": EXPORT_COMMAND.format(
                run=spec["run"], data=dataset, flags=spec["export_flags"]
            ),
            "from": "the float32 original (folded, "
            + ("fine-tuned for int8 rounding, " if spec["export_flags"] else "")
            + "percentile-calibrated on 200 training images, bounded); agreement below is "
            "with the stored Keras model",
            **evaluate_file(int8_path, x_test, y_test, logits, reference),
        }
        print(f"  int8: {card['tflite']['int8']['test']}")
        pretrained._export(bounded, card, float32_path, "float32")
        card["tflite"]["float32"] = {
            "file": None,
            "shipped": False,
            "made_by": f"pinet_keras.pretrained.tflite_path({name!r}, 'float32'): converted from "
            "the bounded Keras model (load()) on first request, into the cache folder",
            **evaluate_file(float32_path, x_test, y_test, logits, reference),
        }
        print(f"  float32: {card['tflite']['float32']['test']}")
        card["files"] = {
            f: os.path.getsize(os.path.join(staging, f)) for f in sorted(os.listdir(staging))
        }
        card["sha256"] = {f: sha256(os.path.join(staging, f)) for f in card["files"]}
        _io.write_json(os.path.join(staging, pretrained.CARD_FILE), card)
        _io.write_text(os.path.join(staging, pretrained.CARD_MARKDOWN), markdown(card))
    print(f"  wrote {target} in {time.time() - started:.0f} s")
    return card


def pretrained_package_version():
    import pinet_keras

    return pinet_keras.__version__


def _pct(value):
    return f"{100 * value:.2f}%"


def markdown(card):
    acc = card["accuracy"]
    lines = [
        f"# {card['name']}: {card['title']}",
        "",
        f"- Data set: {card['dataset']} ({card['test_examples']:,} test images); "
        f"classes: {', '.join(card['class_names'])}",
        f"- Input: {card['input']['shape']} raw pixels 0..255, preprocessing inside; "
        "output: logits",
        f"- Parameters: {card['params']:,}; degree (as a polynomial of its input): "
        f"{card['degree']:,}",
        f"- Trained on {card['training']['date']} by: `{card['training']['command']}`",
        f"- Training code: {card['training']['commit']['note']}",
        f"- Packaged on {card['date_packaged']} (pinet_keras {card['package_version']}, commit "
        f"{card['packaged_at_commit']}) by `{card['packaged_by']}`",
        f"- Weights stored in {card['storage']['weights']} "
        f"({card['storage']['change_points']:+.2f} points on the test split)",
        "",
        f"| model | test accuracy | on {card['check_subset']} | top-1 agreement | size |",
        "|---|---|---|---|---|",
        f"| Keras, float32 original | {_pct(acc['keras_float32_original']['test']['accuracy'])} | "
        f"{_pct(acc['keras_float32_original']['check']['accuracy'])} | | |",
        f"| Keras, stored weights ({card['storage']['weights']}) | "
        f"{_pct(acc['keras_stored']['test']['accuracy'])} | "
        f"{_pct(acc['keras_stored']['check']['accuracy'])} | "
        f"{_pct(acc['keras_stored']['test']['top1_agreement'])} with the original | "
        f"{card['files'][pretrained.WEIGHTS_FILE]:,} B |",
        f"| Keras, bounded (what `load()` returns) | "
        f"{_pct(acc['keras_bounded']['test']['accuracy'])} | "
        f"{_pct(acc['keras_bounded']['check']['accuracy'])} | "
        f"{_pct(acc['keras_bounded']['test']['top1_agreement'])} with the stored model | |",
    ]
    for fmt, result in card["tflite"].items():
        where = "shipped" if result["shipped"] else "converted on request"
        lines.append(
            f"| TFLite {fmt} ({where}) | {_pct(result['test']['accuracy'])} | "
            f"{_pct(result['check']['accuracy'])} | "
            f"{_pct(result['test']['top1_agreement'])} with the stored model | "
            f"{result['size_bytes']:,} B |"
        )
    lines += [
        "",
        "The numbers are measured by `tools/make_pretrained.py`; `card.json` has "
        "them all, with the full training configuration.",
        "",
    ]
    return "\n".join(lines)


def check_sizes(folder):
    """Raises if a file is over 3 MB or all of them over 8 MB; returns the total."""
    total = 0
    for root, _, names in os.walk(folder):
        for file_name in names:
            size = os.path.getsize(os.path.join(root, file_name))
            if size > MAX_FILE_BYTES:
                raise ValueError(f"{os.path.join(root, file_name)} has {size} bytes, over 3 MB")
            total += size
    if total > MAX_TOTAL_BYTES:
        raise ValueError(f"{folder} holds {total} bytes, over 8 MB")
    return total


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments {argv[1:]}; this script takes flags only")
    check_flags()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    commit = git_commit()
    for name in FLAGS.models:
        check_run(name)
        _io.check_overwrite(
            os.path.join(FLAGS.output_dir, name), FLAGS.overwrite, folder=True, flag="--output_dir"
        )
    summary = {}
    for name in FLAGS.models:
        card = build(name, when, commit)
        summary[name] = {
            "storage": card["storage"]["weights"],
            "keras": card["accuracy"]["keras_stored"]["test"]["accuracy"],
            **{fmt: r["test"]["accuracy"] for fmt, r in card["tflite"].items()},
        }
    total = check_sizes(FLAGS.output_dir)
    print(json.dumps(summary, indent=1))
    print(f"{FLAGS.output_dir}: {total:,} bytes in all")


if __name__ == "__main__":
    boundary.run(main)
