"""The documentation's tables of results, made from the stored reports.

Every table of measured numbers in docs/ is a file of docs/results/tables/
that this script writes from the JSON reports in results/, benchmarks/results/
and the pretrained models' cards; the pages include them
(``--8<-- "docs/results/tables/<name>.md"``). Nothing in them is typed by hand.

    python scripts/results_tables.py           # writes docs/results/tables/*.md
    python scripts/results_tables.py --check   # fails if a table is not up to date
    python scripts/results_tables.py --list    # which table comes from which reports

It reads JSON only (no TensorFlow, no Keras): it runs in a second.
"""

import csv
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "results", "tables")
PRETRAINED = os.path.join(ROOT, "pinet_keras", "pretrained", "files")

# The three models of the README recipes, their export and robustness reports.
MODELS = {
    "MNIST": "results/mnist_polynet_bn",
    "Fashion-MNIST": "results/fashion_mnist_polynet_bn",
    "CIFAR-10": "results/cifar10/pi_resnet_small_50ep",
}

# What each CIFAR-10 run is, and the flags after
# `pinet-keras train --dataset=cifar10 --data_dir=DIR` that made it.
CIFAR10_RUNS = {
    "pi_resnet_w32_regularized_30ep": (
        "`PiResNet` 32-64-128, instance-batch norm, max pooling, DropBlock 0.1 "
        "(activation-free, not a polynomial)",
        "`--preset=cifar10_cpu`",
    ),
    "pi_resnet_w32_30ep": ("`PiResNet` 32-64-128, degree 2^7", "`--preset=cifar10_cpu_plain`"),
    "relu_twin_w32_30ep": (
        "its ReLU twin: one convolution + BN + ReLU per polynomial layer",
        "`--preset=cifar10_cpu_plain --block=relu`",
    ),
    "pi_resnet_small_50ep": ("`PiResNet` 16-32-64, degree 2^7", "`--preset=cifar10_cpu_small`"),
    "pi_resnet_small_15ep": (
        "`PiResNet` 16-32-64, degree 2^7",
        "`--preset=cifar10_cpu_small --epochs=15 --warmup_epochs=1`",
    ),
    "polynet_bn_15ep": (
        "five-block PolyNet, BN + skip, degree 32",
        "`--preset=cifar10_cpu_small --epochs=15 --warmup_epochs=1 --model=polynet_bn "
        "--optimizer=adamw --learning_rate=1e-3 --weight_decay=0.05`",
    ),
    "polynet_15ep": (
        "five-block PolyNet (the original), degree 32",
        "`--preset=cifar10_cpu_small --epochs=15 --warmup_epochs=1 --model=polynet "
        "--optimizer=adamw --learning_rate=1e-3 --weight_decay=0.05`",
    ),
}
# The one-hour CPU recipes (FastNet), Π-net and ReLU reference: run, what,
# the flags after `pinet-keras train --dataset=cifar10 --data_dir=DIR`.
CIFAR10_HOUR_RUNS = {
    "fast_net_w32_s0": (
        "`FastNet` 32-128-128, polynomial, degree 64, learning rate 0.1, translations 4",
        "`--preset=cifar10_cpu_fast --learning_rate=0.1 --translate=4 --seed=0`",
    ),
    "fast_net_w32_lr02_s0": (
        "`FastNet` 32-128-128, polynomial, degree 64, translations 4",
        "`--preset=cifar10_cpu_fast --translate=4 --seed=0`",
    ),
    "fast_net_w32_lr02_t2_s0": (
        "`FastNet` 32-128-128, polynomial, degree 64",
        "`--preset=cifar10_cpu_fast --seed=0`",
    ),
    "fast_net_w32_lr02_t2_s1": (
        "`FastNet` 32-128-128, polynomial, degree 64",
        "`--preset=cifar10_cpu_fast --seed=1`",
    ),
    "fast_net_relu_w48_s0": (
        "`FastNet` 48-192-192 with ReLUs and max pooling (the reference), translations 4",
        "`--preset=cifar10_cpu_relu --seed=0`",
    ),
}
# The 30-minute CPU recipes of the 28x28 data sets: run folder under results/,
# data set, the flags after `pinet-keras train --data_dir=DIR`.
DIGITS_CPU_RUNS = {
    "mnist_cpu_s0": ("MNIST", "`--dataset=mnist --preset=mnist_cpu --seed=0`"),
    "fashion_mnist_cpu_s0": (
        "Fashion-MNIST",
        "`--dataset=fashion_mnist --preset=fashion_mnist_cpu --seed=0`",
    ),
}
# Training minutes at which the one-hour runs' validation accuracy is read.
HOUR_MARKS = (15, 30, 60)
ABLATION = {
    "baseline": "—",
    "no_label_smoothing": "`--label_smoothing=0`",
    "mixup": "`--mixup=0.2`",
    "cutmix": "`--cutmix=1.0`",
    "stochastic_depth": "`--stochastic_depth=0.1`",
    "dropblock": "`--dropblock=0.1`",
}
LABEL_SMOOTHING = {
    "ls_fashion_0": "Fashion-MNIST",
    "ls_fashion_0.1": "Fashion-MNIST",
    "ls_mnist_0": "MNIST",
    "ls_mnist_0.1": "MNIST",
}
DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
PROBES = ("gaussian", "uniform", "extremes", "patterns", "other")


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return json.load(f)


def pct(value, digits=2):
    return f"{100 * value:.{digits}f}%"


def number(value, digits=3):
    """``digits`` significant digits; a NaN (written as null in the JSON) as ``nan``."""
    return "nan" if value is None else f"{value:.{digits}g}"


def minutes(seconds):
    return f"{seconds / 60:.1f} min"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def source_note(*paths):
    return (
        "\n<small>Made by `scripts/results_tables.py` from "
        + ", ".join(f"`{p}`" for p in paths)
        + ".</small>\n"
    )


# Each table: (name, the reports it reads, the function that makes it).


def recipes():
    rows, paths = [], []
    for label, run in MODELS.items():
        if label == "CIFAR-10":
            continue
        path = f"{run}/metrics.json"
        m = read(path)
        c = m["config"]
        precision = c.get("mixed_precision", "none")
        rows.append(
            [
                label,
                f"`{m['model']}`"
                + (
                    f", dropout {c['model_overrides']['dropout']}"
                    if c.get("model_overrides", {}).get("dropout")
                    else ""
                ),
                f"{m['params']:,}",
                m["epochs"],
                "float32" if precision == "none" else precision,
                minutes(m["train_seconds"]),
                f"**{pct(m['test_accuracy'])}**",
            ]
        )
        paths.append(path)
    header = ["data set", "model", "params", "epochs", "precision", "training", "test accuracy"]
    return table(header, rows) + source_note(*paths)


def export_rows(label, report):
    finetuned = report.get("int8_calibration", {}).get("finetune_epochs", 0) > 0
    keras = report["keras"]
    yield [label, "Keras", "", pct(keras["accuracy"]), "", "", keras["non_finite"], ""]
    for name, row in report["formats"].items():
        name = "int8, fine-tuned" if name == "int8" and finetuned else name
        size = f"{row['size_bytes'] / 1e6:.2f} MB" if "size_bytes" in row else ""
        latency = f"{row['latency_ms']:.2f}" if row.get("latency_ms") is not None else ""
        yield [
            label,
            name,
            size,
            pct(row["accuracy"]),
            number(row.get("max_abs_diff", row.get("reload_max_abs_diff")), 2),
            pct(row["top1_agreement"]),
            row["non_finite"],
            latency,
        ]


def export():
    header = [
        "model",
        "format",
        "size",
        "test accuracy",
        "max \\|Δ logits\\|",
        "top-1 agreement",
        "non-finite",
        "ms / image",
    ]
    rows, paths = [], []
    for label, run in MODELS.items():
        path = f"{run}/export_report.json"
        rows += export_rows(label, read(path))
        paths.append(path)
    return table(header, rows) + source_note(*paths)


def robustness():
    header = [
        "model",
        "format",
        "test: max \\|logit\\|",
        "noise, extremes, patterns, other data: max \\|logit\\|",
        "gradient search: max \\|logit\\|",
        "non-finite (all probes)",
        "agreement with Keras (test)",
    ]
    rows, paths = [], []
    for label, run in MODELS.items():
        path = f"{run}/robustness.json"
        for name, probes in read(path)["formats"].items():
            values = [probes[p]["max_abs_logit"] for p in PROBES if p in probes]
            probe_max = max((v for v in values if v is not None), default=None)
            rows.append(
                [
                    label,
                    name,
                    number(probes["test"]["max_abs_logit"]),
                    number(probe_max),
                    number(probes["gradient"]["max_abs_logit"]),
                    probes["all"]["non_finite"],
                    pct(probes["test"]["top1_agreement"]),
                ]
            )
        paths.append(path)
    return table(header, rows) + source_note(*paths)


def int8_of(run):
    path = os.path.join(ROOT, "results", "cifar10", run, "export_report.json")
    if not os.path.exists(path):
        return ""
    report = read(os.path.relpath(path, ROOT))
    keras = report["keras"]["accuracy"]
    cells = []
    for name in ("int8", "int16x8"):
        if name in report["formats"]:
            accuracy = report["formats"][name]["accuracy"]
            cells.append(f"{name} {pct(accuracy)} ({100 * (accuracy - keras):+.2f})")
    return "; ".join(cells)


def accuracy_cells(m):
    """The test accuracy (bold) and flip-averaged test accuracy ("" if not measured) of a run."""
    tta = m.get("test_accuracy_tta_flip")
    return [f"**{pct(m['test_accuracy'])}**", "" if tta is None else pct(tta)]


def tta_cell(folder):
    """The test accuracy of the test-time views chosen on validation (`scripts/tta_eval.py`)."""
    if not os.path.exists(os.path.join(ROOT, folder, "tta.json")):
        return "—"
    views = read(f"{folder}/tta.json")["views"]
    name, best = max(views.items(), key=lambda item: item[1]["val"])
    return f"{pct(best['test'])} ({name.replace('_', '+')}; val {pct(best['val'])})"


def cifar10():
    header = [
        "run (`results/cifar10/`)",
        "model",
        "params",
        "epochs",
        "flags",
        "precision",
        "training",
        "test accuracy",
        "TTA flip",
        "TFLite (change)",
    ]
    rows = []
    for run, (model, flags) in CIFAR10_RUNS.items():
        m = read(f"results/cifar10/{run}/metrics.json")
        precision = m["config"].get("mixed_precision", "none")
        rows.append(
            [
                f"`{run}`",
                model,
                f"{m['params']:,}",
                m["epochs"],
                flags,
                "float32" if precision == "none" else precision,
                minutes(m["train_seconds"]),
                *accuracy_cells(m),
                int8_of(run),
            ]
        )
    return table(header, rows) + source_note(
        "results/cifar10/<run>/metrics.json", "results/cifar10/<run>/export_report.json"
    )


def accuracy_by(rows, seconds):
    """The best validation accuracy of the epochs ended within ``seconds`` of training."""
    if not rows or "seconds" not in rows[0]:
        return None
    done = [float(r["val_accuracy"]) for r in rows if float(r["seconds"]) <= seconds]
    return max(done) if done else float("nan")


def cifar10_hour():
    header = [
        "run (`results/cifar10/`)",
        "model",
        "params",
        "epochs",
        "flags",
        "CPU",
        *(f"validation, {m} min" for m in HOUR_MARKS),
        "training",
        "test accuracy",
        "TTA flip",
        "TTA chosen on validation",
    ]
    rows = []
    for run, (model, flags) in CIFAR10_HOUR_RUNS.items():
        path = f"results/cifar10/{run}"
        m = read(f"{path}/metrics.json")
        history = history_rows(f"{path}/history.csv")
        marks = [accuracy_by(history, 60 * mark) for mark in HOUR_MARKS]
        rows.append(
            [
                f"`{run}`",
                model,
                f"{m['params']:,}",
                m["epochs"],
                flags,
                m.get("cpu", "—"),
                *("—" if a is None or a != a else pct(a) for a in marks),
                minutes(m["train_seconds"]),
                *accuracy_cells(m),
                tta_cell(path),
            ]
        )
    return table(header, rows) + source_note(
        "results/cifar10/<run>/metrics.json",
        "results/cifar10/<run>/history.csv",
        "results/cifar10/<run>/tta.json",
    )


def ablation():
    header = [
        "row (`results/cifar10/ablation/`)",
        "flag added",
        "best val",
        "test",
        "test, TTA flip",
        "training",
    ]
    base = read("results/cifar10/ablation/baseline/metrics.json")["test_accuracy"]
    rows = []
    for run, flag in ABLATION.items():
        m = read(f"results/cifar10/ablation/{run}/metrics.json")
        change = "" if run == "baseline" else f" ({100 * (m['test_accuracy'] - base):+.2f})"
        rows.append(
            [
                f"`{run}`",
                flag,
                pct(m["val_accuracy"]),
                pct(m["test_accuracy"]) + change,
                pct(m["test_accuracy_tta_flip"]),
                f"{m['train_seconds']:.0f} s",
            ]
        )
    return table(header, rows) + source_note("results/cifar10/ablation/<row>/metrics.json")


def label_smoothing():
    header = ["data set", "`--label_smoothing`", "best val", "test"]
    rows, base = [], {}
    for run, label in LABEL_SMOOTHING.items():
        m = read(f"results/label_smoothing/{run}/metrics.json")
        value = m["config"]["label_smoothing"]
        change = f" ({100 * (m['test_accuracy'] - base[label]):+.2f})" if label in base else ""
        base.setdefault(label, m["test_accuracy"])
        rows.append([label, value, pct(m["val_accuracy"]), pct(m["test_accuracy"]) + change])
    return table(header, rows) + source_note("results/label_smoothing/<row>/metrics.json")


def forms_table(path):
    runs = read(path)
    cells, params = {}, {}
    for run in runs:
        cells.setdefault((run["form"], run["degree"]), []).append(
            (run["seed"], run["test_accuracy"])
        )
        params[(run["form"], run["degree"])] = run["params"]
    forms = list(dict.fromkeys(run["form"] for run in runs))
    degrees = sorted({run["degree"] for run in runs})
    rows = []
    for form in forms:
        row = [f"`{form}`"]
        for degree in degrees:
            seeds = sorted(cells.get((form, degree), []))
            if not seeds:
                row.append("")
                continue
            mean = sum(a for _, a in seeds) / len(seeds)
            row.append(f"**{mean:.3f}** ({', '.join(f'{a:.3f}' for _, a in seeds)})")
        rows.append(row)
    header = ["form"] + [f"degree {d}" for d in degrees]
    param_rows = [
        [f"`{form}`"] + [f"{params[(form, d)]:,}" if (form, d) in params else "" for d in degrees]
        for form in forms
    ]
    return (
        table(header, rows)
        + "\nParameters of each network:\n\n"
        + table(header, param_rows)
        + source_note(path)
    )


def forms():
    return forms_table("results/fashion_mnist_forms.json")


def forms_first_init():
    return forms_table("results/fashion_mnist_forms_first_init.json")


def tuning():
    header = ["run", "hyperparameters", "params", "val accuracy", "test accuracy", "search"]
    rows = []
    for run, label in (
        ("tune_fashion_mnist", "best of the random search"),
        ("tune_fashion_mnist_default", "untuned default (`--fix` of every default)"),
    ):
        m = read(f"results/{run}/metrics.json")
        hp = m["best_hyperparameters"]
        text = ", ".join(
            f"{k} {number(v) if isinstance(v, float) else v}" for k, v in sorted(hp.items())
        )
        rows.append(
            [
                f"{label}, {m['trials_completed']} trial(s) of {m['epochs']} epochs",
                text,
                f"{m['params']:,}",
                pct(m["best_val_accuracy"]),
                pct(m["test_accuracy"]),
                minutes(m["search_seconds"]),
            ]
        )
    return table(header, rows) + source_note("results/tune_fashion_mnist*/metrics.json")


def pretrained():
    header = [
        "name",
        "data set",
        "model",
        "params",
        "degree",
        "float32 original",
        "stored weights (Keras)",
        "bounded, `load()` (agreement)",
        "int8 TFLite (agreement)",
        "files",
    ]
    rows = []
    for folder in sorted(glob.glob(os.path.join(PRETRAINED, "*", "card.json"))):
        with open(folder, encoding="utf-8") as f:
            card = json.load(f)
        acc = card["accuracy"]
        int8 = card["tflite"]["int8"]["test"]
        bounded = acc["keras_bounded"]["test"]
        files = card["files"]
        rows.append(
            [
                f"`{card['name']}`",
                DATASET_NAMES.get(card["dataset"], card["dataset"]),
                f"`{card['architecture']}`",
                f"{card['params']:,}",
                card["degree"],
                pct(acc["keras_float32_original"]["test"]["accuracy"]),
                f"{card['storage']['weights']} {pct(acc['keras_stored']['test']['accuracy'])}",
                f"{pct(bounded['accuracy'])} ({pct(bounded['top1_agreement'])})",
                f"{pct(int8['accuracy'])} ({pct(int8['top1_agreement'])})",
                f"{files['weights.npz'] / 1e6:.2f} + {files['model_int8.tflite'] / 1e6:.2f} MB",
            ]
        )
    # The order of the README recipes: MNIST, Fashion-MNIST, CIFAR-10.
    order = list(DATASET_NAMES.values())
    rows.sort(key=lambda row: order.index(row[1]) if row[1] in order else len(order))
    return table(header, rows) + source_note("pinet_keras/pretrained/files/<name>/card.json")


def litert_quantizer():
    data = read("benchmarks/results/int8_litert_quantizer.json")
    labels = {
        "pinet_keras_int8_percentile": "pinet_keras (folded, percentile ranges)",
        "litert_quantizer_minmax_unfolded": "litert-quantizer, min/max, unfolded model",
        "litert_quantizer_minmax_folded": "litert-quantizer, min/max, folded model",
        "litert_quantizer_percentile_folded": "litert-quantizer, folded, our percentile ranges",
    }
    datasets = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
    rows = []
    for key, label in labels.items():
        rows.append(
            [label]
            + [
                f"{pct(data[d][key]['accuracy'])} ({pct(data[d][key]['top1_agreement'])})"
                for d in datasets
            ]
        )
    header = ["int8 file: accuracy (top-1 agreement with Keras)", *datasets.values()]
    return table(header, rows) + source_note("benchmarks/results/int8_litert_quantizer.json")


def int8_finetune():
    rows = []
    paths = [
        "benchmarks/results/int8_finetune_cifar10.json",
        "benchmarks/results/int8_finetune_cifar10_more.json",
        "benchmarks/results/int8_finetune_cifar10_recalibrated.json",
    ]
    settings = [s for path in paths for s in read(path)["settings"]]
    settings.sort(key=lambda s: (s["epochs"], s["learning_rate"], s["recalibrate_every"]))
    for s in settings:
        if s["epochs"] == 0:
            what = "not fine-tuned"
        else:
            what = f"{s['epochs']} epoch{'s' * (s['epochs'] > 1)}, Adam {s['learning_rate']:g}"
            if s["recalibrate_every"]:
                what += f", ranges recalibrated every {s['recalibrate_every']} steps"
        rows.append([what, pct(s["agreement"]), pct(s["accuracy"]), pct(s["keras_accuracy"])])
    joint = read("benchmarks/results/int8_joint_cifar10.json")
    last = joint["epochs"][-1]
    rows.append(
        [
            f"Keras model trained with its int8 simulation, {joint['settings']['epochs']} epochs "
            f"(`int8_joint.py`; simulation agreement {pct(last['simulated_int8_agreement'])})",
            pct(joint["int8_file"]["top1_agreement"]),
            pct(joint["int8_file"]["accuracy"]),
            pct(last["float32_accuracy"]),
        ]
    )
    header = [
        "int8 file of `pi_resnet_cifar10`, validation split",
        "top-1 agreement",
        "int8 accuracy",
        "Keras accuracy",
    ]
    return table(header, rows) + source_note(*paths, "benchmarks/results/int8_joint_cifar10.json")


def int8_sensitivity():
    data = read("benchmarks/results/int8_sensitivity_cifar10.json")
    rows = [
        [f"`{name}`", layer["ops"], pct(layer["float32"]), pct(layer["only_int8"])]
        for name, layer in sorted(data["layers"].items(), key=lambda item: -item[1]["float32"])
    ]
    header = [
        "layer",
        "ops",
        "agreement, this layer in float32 (rest int8)",
        "agreement, this layer alone in int8",
    ]
    intro = (
        f"Every layer in int8: {pct(data['agreement_all_int8'])} agreement; every layer in "
        f"float32 (the converter's float file): {pct(data['agreement_all_float32'])}; "
        f"{data['split']}.\n\n"
    )
    return (
        intro
        + table(header, rows)
        + source_note("benchmarks/results/int8_sensitivity_cifar10.json")
    )


def int8_margins():
    data = read("benchmarks/results/int8_margins_cifar10.json")
    rows = [
        [
            f"under {margin}",
            pct(m["share_of_images"]),
            pct(m["disagreement_among_them"], 1),
            pct(m["share_of_disagreements"], 0),
        ]
        for margin, m in sorted(data["margins"].items(), key=lambda item: float(item[0]))
    ]
    header = [
        "Keras top-2 logit margin",
        "share of the images",
        "int8 disagrees on",
        "share of all disagreements",
    ]
    intro = (
        f"{data['images']:,} test images; int8 disagrees with Keras on "
        f"{pct(data['disagreement'])} of them; the standard deviation of the int8 file's "
        f"logit error is {data['logit_error_std']:.2f}.\n\n"
    )
    return intro + table(header, rows) + source_note("benchmarks/results/int8_margins_cifar10.json")


def throughput_table(path):
    data = read(path)
    header = [
        "precision",
        "pinet_keras img/s",
        "PyTorch img/s",
        "ReLU CNN img/s",
        "pinet_keras / PyTorch, per round (median)",
        "cores: Keras, PyTorch",
        "of peak: Keras, PyTorch",
        "batch-1 latency: Keras, PyTorch",
    ]
    rows = []
    for precision in ("fp32", "bf16"):
        p = data.get(precision)
        if not p:
            continue
        rounds = p.get("ratio_vs_torch_rounds") or [p["ratio_vs_torch"]]
        median = p.get("ratio_vs_torch_rounds_median", p["ratio_vs_torch"])
        rows.append(
            [
                precision,
                f"{p['keras_img_per_s']:,.0f} ({p['keras_img_per_s_median']:,.0f})",
                f"{p['torch_img_per_s']:,.0f} ({p['torch_img_per_s_median']:,.0f})",
                f"{p['relu_cnn_img_per_s']:,.0f} ({p['relu_cnn_img_per_s_median']:,.0f})",
                ", ".join(f"{r:.2f}" for r in rounds) + f" (**{median:.2f}**)",
                f"{p['keras_cores_used']:.2f}, {p['torch_cores_used']:.2f}",
                f"{100 * p['keras_achieved_gflops'] / p['gemm_peak_gflops']:.0f}%, "
                f"{100 * p['torch_peak_share']:.0f}%",
                f"{p['keras_latency_b1_ms_min']:.2f}, {p['torch_latency_b1_ms_min']:.2f} ms",
            ]
        )
    versions = ", ".join(f"{k} {v}" for k, v in data["versions"].items())
    intro = (
        f"{data['device']}; {data['settings']['rounds']} rounds, batch "
        f"{data['settings']['batch_size']}, {data['settings']['threads']} threads; {versions}. "
        "Images/s of the fastest epoch, median in brackets.\n\n"
    )
    return intro + table(header, rows) + source_note(path)


def throughput_epyc():
    return throughput_table("benchmarks/results/cpu_tensorflow_3rounds.json")


def throughput_xeon():
    return throughput_table("benchmarks/results/cpu_xeon_tensorflow_3rounds.json")


def digits_cpu():
    header = [
        "run (`results/`)",
        "data set",
        "flags",
        "params",
        "epochs",
        "CPU",
        "training",
        "validation",
        "test accuracy",
        "TTA flip",
        "TTA chosen on validation",
    ]
    rows = []
    for run, (dataset, flags) in DIGITS_CPU_RUNS.items():
        m = read(f"results/{run}/metrics.json")
        rows.append(
            [
                f"`{run}`",
                dataset,
                flags,
                f"{m['params']:,}",
                m["epochs"],
                m.get("cpu", "—"),
                minutes(m["train_seconds"]),
                pct(m["val_accuracy"]),
                *accuracy_cells(m),
                tta_cell(f"results/{run}"),
            ]
        )
    return table(header, rows) + source_note("results/<run>/metrics.json", "results/<run>/tta.json")


def history_rows(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return list(csv.DictReader(f))


TABLES = {
    "recipes": recipes,
    "export": export,
    "robustness": robustness,
    "cifar10": cifar10,
    "cifar10_hour": cifar10_hour,
    "digits_cpu": digits_cpu,
    "ablation": ablation,
    "label_smoothing": label_smoothing,
    "forms": forms,
    "forms_first_init": forms_first_init,
    "tuning": tuning,
    "pretrained": pretrained,
    "litert_quantizer": litert_quantizer,
    "int8_finetune": int8_finetune,
    "int8_sensitivity": int8_sensitivity,
    "int8_margins": int8_margins,
    "throughput_epyc": throughput_epyc,
    "throughput_xeon": throughput_xeon,
}


def render():
    """{file name: text} of every table."""
    return {f"{name}.md": make() for name, make in TABLES.items()}


def main(argv):
    tables = render()
    if "--list" in argv:
        for name, make in TABLES.items():
            print(f"docs/results/tables/{name}.md  <-  {make.__name__}()")
        return 0
    if "--check" in argv:
        stale = []
        for name, text in tables.items():
            path = os.path.join(OUT, name)
            if not os.path.exists(path) or open(path, encoding="utf-8").read() != text:
                stale.append(name)
        extra = sorted(set(os.listdir(OUT)) - set(tables)) if os.path.isdir(OUT) else []
        if stale or extra:
            print(
                "error: docs/results/tables is not up to date "
                f"(stale: {stale}, not made by this script: {extra}); "
                "run python scripts/results_tables.py",
                file=sys.stderr,
            )
            return 1
        print(f"{len(tables)} tables up to date")
        return 0
    os.makedirs(OUT, exist_ok=True)
    for name, text in tables.items():
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            f.write(text)
    print(f"wrote {len(tables)} tables to docs/results/tables/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
