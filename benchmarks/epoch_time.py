"""Seconds per training epoch of the training recipes, and epochs in a time budget.

Each recipe's network is built as `pinet-keras train` builds it (its preset:
model, width, augmentation inside the model, optimizer, schedule, loss, batch
size, precision) and trained by `model.fit` on synthetic raw pixels in memory:
``--rounds`` passes over at least ``--images`` images in whole batches after
``--warmup_steps`` untimed steps; the median pass is reported. The input
pipeline and the validation passes are left out: an estimate of a real
epoch, within about 20% on the recipes measured (benchmarks/README.md). The
seconds per epoch are for the recipe's training split (45,000 images for
CIFAR-10, 54,000 for the 28x28 sets), and the epochs per
``--budget_minutes`` follow from them.

``airbench94_network`` is the network of the fastest published ReLU recipe at
its widths (`FastNet` 64-256-256 with ``block="relu"``, batch 1024): about ten
epochs give it 94% on one GPU.

    python benchmarks/epoch_time.py --output=benchmarks/results/epoch_time_cpu.json
    python benchmarks/epoch_time.py --recipes=mnist_cpu --images=1024   # one recipe, quick
"""

import argparse
import dataclasses
import json
import os
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from throughput.common import cpu_count  # noqa: E402
from throughput.common import cpu_name  # noqa: E402
from throughput.common import cpu_times  # noqa: E402
from throughput.common import loadavg  # noqa: E402
from throughput.common import steal_share  # noqa: E402

# name: (preset, model overrides, other TrainConfig fields)
RECIPES = {
    "airbench94_network": ("cifar10_cpu_relu", {"width": 64}, {"batch_size": 1024}),
    "cifar10_cpu_relu": ("cifar10_cpu_relu", {}, {}),
    "cifar10_cpu_fast": ("cifar10_cpu_fast", {}, {}),
    "cifar10_cpu_plain_float32": ("cifar10_cpu_plain", {}, {"mixed_precision": "none"}),
    "mnist_cpu": ("mnist_cpu", {}, {}),
}
TRAIN_IMAGES = {"cifar10": 45_000, "mnist": 54_000, "fashion_mnist": 54_000}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--recipes", default=",".join(RECIPES), help="Comma-separated subset.")
    p.add_argument("--images", type=int, default=5120, help="Timed images per recipe, at least.")
    p.add_argument("--warmup_steps", type=int, default=2, help="Untimed steps first.")
    p.add_argument("--rounds", type=int, default=3, help="Timed passes; the median is reported.")
    p.add_argument("--budget_minutes", type=float, default=60.0)
    p.add_argument("--output", default=None, help="JSON file for the results.")
    args = p.parse_args(argv)
    args.recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    unknown = [r for r in args.recipes if r not in RECIPES]
    if unknown or not args.recipes:
        p.error(f"--recipes: unknown {unknown or 'none'}; choose among {', '.join(RECIPES)}")
    folder = os.path.dirname(os.path.abspath(args.output or "."))
    if not os.path.isdir(folder):
        p.error(f"--output: no folder {folder}; make it first")
    if min(args.images, args.warmup_steps, args.rounds) < 1 or args.budget_minutes <= 0:
        p.error("--images, --warmup_steps and --rounds must be at least 1, --budget_minutes > 0")
    return args


def config_of(name):
    from pinet_keras.training import TrainConfig
    from pinet_keras.training.presets import apply_preset

    preset, overrides, fields = RECIPES[name]
    config = apply_preset(TrainConfig(), preset)
    model_overrides = {**config.model_overrides, **overrides}
    return dataclasses.replace(config, model_overrides=model_overrides, **fields)


def build(config):
    """The compiled model of ``config``, raw pixels in, as `pinet-keras train` builds it."""
    import keras
    import numpy as np

    from pinet_keras.data import dataset_info
    from pinet_keras.training import build_model

    known = dataset_info(config.dataset)
    info = types.SimpleNamespace(
        input_shape=known.input_shape,
        num_classes=known.num_classes,
        pixel_mean=255 * np.asarray(known.mean),
        pixel_variance=(255 * np.asarray(known.std)) ** 2,
    )
    keras.config.set_dtype_policy(
        "mixed_bfloat16" if config.mixed_precision == "bf16" else "float32"
    )
    images = np.random.default_rng(0).integers(0, 256, (512, *info.input_shape), dtype=np.uint8)
    steps_per_epoch = -(-TRAIN_IMAGES[config.dataset] // config.batch_size)
    return build_model(config, info, [(images,)], steps_per_epoch)


def measure(name, args):
    import numpy as np

    config = config_of(name)
    model = build(config)
    batch = config.batch_size
    shape = model.input_shape[1:]
    rng = np.random.default_rng(1)
    count = batch * -(-args.images // batch)
    x = rng.integers(0, 256, size=(count, *shape), dtype=np.uint8)
    y = rng.integers(0, 10, size=(count,))
    warm = batch * args.warmup_steps
    model.fit(x[:warm], y[:warm], batch_size=batch, epochs=1, verbose=0)
    rounds = []  # (images/s, cores busy, steal share) of each timed pass over x
    for _ in range(args.rounds):
        machine, cpu0, start = cpu_times(), time.process_time(), time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        seconds = time.perf_counter() - start
        busy = (time.process_time() - cpu0) / seconds
        rounds.append((len(x) / seconds, busy, steal_share(machine, cpu_times())))
    images_per_second, cores_busy, _ = sorted(rounds)[len(rounds) // 2]  # the median round
    epoch_seconds = TRAIN_IMAGES[config.dataset] / images_per_second
    return {
        "preset": RECIPES[name][0],
        "model": config.model,
        "model_overrides": config.model_overrides,
        "params": int(model.count_params()),
        "batch_size": batch,
        "mixed_precision": config.mixed_precision,
        "timed_images": len(x),
        "rounds_images_per_second": [round(r[0], 1) for r in rounds],
        # CPU time the host gave to other machines during each round (None: not counted).
        "rounds_steal_share": [None if r[2] is None else round(r[2], 3) for r in rounds],
        "images_per_second": round(images_per_second, 1),
        "cores_busy": round(cores_busy, 2),
        "train_images": TRAIN_IMAGES[config.dataset],
        "seconds_per_epoch": round(epoch_seconds, 1),
        "epochs_in_budget": round(60 * args.budget_minutes / epoch_seconds, 2),
    }


def main(argv=None):
    args = parse_args(argv)
    import keras

    results = {
        "cpu": cpu_name(),
        "cpu_count": cpu_count(),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "budget_minutes": args.budget_minutes,
        "loadavg_before": loadavg(),
        "recipes": {},
    }
    print(f"{results['cpu']}, {results['cpu_count']} cores, {results['backend']}")
    print(f"{'recipe':28s} {'params':>10s} {'batch':>5s} {'img/s':>7s} {'s/epoch':>8s} epochs")
    for name in args.recipes:
        r = measure(name, args)
        results["recipes"][name] = r
        print(
            f"{name:28s} {r['params']:>10,d} {r['batch_size']:>5d} {r['images_per_second']:>7.1f} "
            f"{r['seconds_per_epoch']:>8.0f} {r['epochs_in_budget']:>6.2f} "
            f"in {args.budget_minutes:g} min"
        )
        if args.output:  # after each recipe: an interrupted run keeps what it measured
            write(args.output, results)
    if args.output:
        print(f"wrote {args.output}")
    return results


def write(path, results):
    """Writes ``results`` to ``path`` whole (a temporary file beside it, then renamed)."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    os.replace(temporary, path)


if __name__ == "__main__":
    main()
