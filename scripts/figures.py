"""The documentation's figures (docs/img/*.png), made from the stored results.

    python scripts/figures.py           # writes docs/img/*.png
    python scripts/figures.py --check   # makes them again in a temporary folder and
                                        # fails if a committed figure differs

| figure | made from |
|---|---|
| `training_curves.png` | `history.csv` of the README recipes (MNIST, Fashion-MNIST, CIFAR-10) |
| `cifar10_accuracy_time.png` | `results/cifar10/<run>/metrics.json` (Π-nets and the ReLU twin) |
| `cifar10_hour.png` | `results/cifar10/<run>/history.csv` and `metrics.json` of the one-hour runs |
| `int8_agreement.png` | the export reports, `results/<run>/export_report.json` |
| `polynomial_degrees.png` | the package's own `PolynomialDense` on a 2-D grid (degree 2, 3, 4) |
| `browser.png` | a copy of `web/screenshot.png` (made by `web/screenshot.py`) |

Needs matplotlib, and Keras for `polynomial_degrees.png` (any backend).
"""

import csv
import itertools
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from results_tables import CIFAR10_HOUR_RUNS  # noqa: E402
from results_tables import CIFAR10_RUNS  # noqa: E402
from results_tables import HOUR_MARKS  # noqa: E402
from results_tables import MODELS  # noqa: E402

OUT = os.path.join(ROOT, "docs", "img")
DPI = 100
# PNG metadata without the matplotlib version: the same picture gives the same file.
METADATA = {"Software": None}


def _read_json(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return json.load(f)


def _history(run):
    with open(os.path.join(ROOT, run, "history.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([float(row[key]) for row in rows]) for key in rows[0]}


def _save(fig, folder, name):
    fig.savefig(os.path.join(folder, name), dpi=DPI, metadata=METADATA)
    plt.close(fig)


def training_curves(folder):
    runs = dict(MODELS)
    runs["CIFAR-10, cifar10_cpu preset"] = "results/cifar10/pi_resnet_w32_regularized_30ep"
    fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs), 3.2), constrained_layout=True)
    for ax, (label, run) in zip(axes, runs.items()):
        h = _history(run)
        test = _read_json(f"{run}/metrics.json")["test_accuracy"]
        ax.plot(h["epoch"], 100 * h["accuracy"], label="training (augmented)")
        ax.plot(h["epoch"], 100 * h["val_accuracy"], label="validation")
        ax.axhline(100 * test, color="grey", ls=":", label=f"test {100 * test:.2f}%")
        top = max(h["accuracy"].max(), h["val_accuracy"].max(), test)
        ax.set_ylim(max(0, 100 * top - 25), 100 * top + 1.5)
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    axes[0].set_ylabel("accuracy (%)")
    _save(fig, folder, "training_curves.png")


def cifar10_accuracy_time(folder):
    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    for run in CIFAR10_RUNS:
        m = _read_json(f"results/cifar10/{run}/metrics.json")
        relu = m["config"].get("model_overrides", {}).get("block") == "relu"
        x, y = m["train_seconds"] / 60, 100 * m["test_accuracy"]
        ax.scatter(
            x,
            y,
            marker="s" if relu else "o",
            color="tab:red" if relu else "tab:blue",
            s=20 + m["params"] / 2e4,
        )
        ax.annotate(
            f"{run} ({m['epochs']} ep.)",
            (x, y),
            textcoords="offset points",
            xytext=(6, 4 if relu else -3),
            fontsize=7,
        )
    ax.scatter([], [], marker="o", color="tab:blue", label="Π-net (no activation)")
    ax.scatter([], [], marker="s", color="tab:red", label="ReLU twin")
    ax.set_xlabel("training time, model.fit (min)")
    ax.set_ylabel("CIFAR-10 test accuracy (%)")
    ax.set_xlim(0, ax.get_xlim()[1] * 1.3)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, title="marker area ~ parameters", title_fontsize=7)
    _save(fig, folder, "cifar10_accuracy_time.png")


def cifar10_hour(folder):
    """Validation accuracy against training time of the one-hour runs; a star at the test."""
    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    # Polynomial runs in blues, the later (the preset's) darker.
    blues = itertools.cycle(plt.cm.Blues([0.4, 0.55, 0.75, 0.9, 1.0]))
    for run in CIFAR10_HOUR_RUNS:
        path = f"results/cifar10/{run}"
        m = _read_json(f"{path}/metrics.json")
        relu = m["config"].get("model_overrides", {}).get("block") == "relu"
        color = "tab:red" if relu else next(blues)
        label = "ReLU reference" if relu else "Π-net (polynomial)"
        h = _history(path)
        if "seconds" in h:
            ax.plot(h["seconds"] / 60, 100 * h["val_accuracy"], "o-", color=color, ms=3)
        ax.scatter(
            m["train_seconds"] / 60,
            100 * m["test_accuracy"],
            marker="*",
            s=120,
            color=color,
            label=f"{label}: {run}, test {100 * m['test_accuracy']:.2f}%",
        )
    for mark in HOUR_MARKS:
        ax.axvline(mark, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("training time, model.fit (min)")
    ax.set_ylabel("CIFAR-10 accuracy (%): validation per epoch, test ★")
    ax.set_xlim(0, 65)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, folder, "cifar10_hour.png")


def int8_agreement(folder):
    formats = ["saved_model", "float32", "float16", "dynamic", "int16x8", "int8"]
    fig, ax = plt.subplots(figsize=(8, 3.8), constrained_layout=True)
    width = 0.8 / len(MODELS)
    for i, (label, run) in enumerate(MODELS.items()):
        report = _read_json(f"{run}/export_report.json")["formats"]
        values = [100 * report[f]["top1_agreement"] if f in report else np.nan for f in formats]
        xs = np.arange(len(formats)) + (i - (len(MODELS) - 1) / 2) * width
        bars = ax.bar(xs, values, width, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=6, rotation=90, padding=2)
    ax.set_xticks(np.arange(len(formats)), formats)
    ax.set_ylim(94, 101)
    ax.set_ylabel("top-1 agreement with Keras (%)")
    ax.set_title("Exported files against their Keras model, whole test split")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    _save(fig, folder, "int8_agreement.png")


def polynomial_degrees(folder):
    import keras

    from pinet_keras import PolynomialDense

    grid = np.linspace(-1.5, 1.5, 121)
    xx, yy = np.meshgrid(grid, grid)
    points = np.stack([xx.ravel(), yy.ravel()], axis=1).astype("float32")
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), constrained_layout=True)
    for ax, degree in zip(axes, (2, 3, 4)):
        layer = PolynomialDense(
            1,
            degree=degree,
            kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=degree),
            bias_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=10 + degree),
        )
        z = keras.ops.convert_to_numpy(layer(points)).reshape(xx.shape)
        limit = np.abs(z).max()
        image = ax.contourf(xx, yy, z, levels=21, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.contour(xx, yy, z, levels=[0.0], colors="black", linewidths=1)
        ax.set_title(f"degree={degree}")
        ax.set_xlabel("x₁")
        ax.set_aspect("equal")
        fig.colorbar(image, ax=ax, shrink=0.8)
    axes[0].set_ylabel("x₂")
    fig.suptitle(
        "PolynomialDense(1, degree=N) on (x₁, x₂): y = (a₁·x + b₁) ⊙ … ⊙ (a_N·x + b_N), "
        "its zero set (black) N lines",
        fontsize=10,
    )
    _save(fig, folder, "polynomial_degrees.png")


def browser(folder):
    shutil.copyfile(
        os.path.join(ROOT, "web", "screenshot.png"), os.path.join(folder, "browser.png")
    )


FIGURES = {
    "training_curves.png": training_curves,
    "cifar10_accuracy_time.png": cifar10_accuracy_time,
    "cifar10_hour.png": cifar10_hour,
    "int8_agreement.png": int8_agreement,
    "polynomial_degrees.png": polynomial_degrees,
    "browser.png": browser,
}


def _same(a, b):
    """The two PNGs show the same picture (pixels within 2/255; the files may differ)."""
    image_a, image_b = plt.imread(a), plt.imread(b)
    return image_a.shape == image_b.shape and np.abs(image_a - image_b).max() <= 2 / 255


def main(argv):
    if "--check" in argv:
        with tempfile.TemporaryDirectory() as folder:
            stale = []
            for name, make in FIGURES.items():
                make(folder)
                committed = os.path.join(OUT, name)
                if not os.path.exists(committed) or not _same(
                    committed, os.path.join(folder, name)
                ):
                    stale.append(name)
        if stale:
            print(
                f"error: docs/img is not up to date ({stale}); run python scripts/figures.py",
                file=sys.stderr,
            )
            return 1
        print(f"{len(FIGURES)} figures up to date")
        return 0
    os.makedirs(OUT, exist_ok=True)
    for name, make in FIGURES.items():
        make(OUT)
        print(f"wrote docs/img/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
