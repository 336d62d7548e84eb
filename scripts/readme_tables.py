"""README's export and robustness tables, from the reports of pinet-keras export and
tools/robustness.py.

`export`: one row per model and format of `pinet-keras export`'s `report.json`
(`results/<run>/export_report.json`); `robustness`: one row per model and
format of `tools/robustness.py`'s report (`results/<run>/robustness.json`).

    python scripts/readme_tables.py export MNIST=results/mnist_polynet_bn/export_report.json ...
    python scripts/readme_tables.py robustness MNIST=results/mnist_polynet_bn/robustness.json ...
"""

import json
import sys

EXPORT_HEADER = (
    "| model | format | size | test accuracy | max \\|Δ logits\\| | top-1 agreement | "
    "non-finite | ms / image |\n|---|---|---|---|---|---|---|---|"
)
ROBUSTNESS_HEADER = (
    "| model | format | test: max \\|logit\\| | noise, extremes, patterns, other data: "
    "max \\|logit\\| | gradient search: max \\|logit\\| | non-finite (all probes) | "
    "agreement with Keras (test) |\n|---|---|---|---|---|---|---|"
)
PROBES = ("gaussian", "uniform", "extremes", "patterns", "other")


def number(value, digits=3):
    """``digits`` significant digits; a NaN (written as null in the JSON) as ``nan``."""
    return "nan" if value is None else f"{value:.{digits}g}"


def export_rows(label, report):
    finetuned = report.get("int8_calibration", {}).get("finetune_epochs", 0) > 0
    keras = report["keras"]
    yield f"| {label} | Keras | | {100 * keras['accuracy']:.2f}% | | | {keras['non_finite']} | |"
    for name, row in report["formats"].items():
        name = "int8, fine-tuned" if name == "int8" and finetuned else name
        size = f"{row['size_bytes'] / 1e6:.2f} MB" if "size_bytes" in row else ""
        latency = f"{row['latency_ms']:.2f}" if row.get("latency_ms") is not None else ""
        yield (
            f"| {label} | {name} | {size} | {100 * row['accuracy']:.2f}% | "
            f"{number(row.get('max_abs_diff', row.get('reload_max_abs_diff')), 2)} | "
            f"{100 * row['top1_agreement']:.2f}% | "
            f"{row['non_finite']} | {latency} |"
        )


def robustness_rows(label, report):
    for name, probes in report["formats"].items():
        values = [probes[p]["max_abs_logit"] for p in PROBES if p in probes]
        probe_max = max((v for v in values if v is not None), default=None)
        yield (
            f"| {label} | {name} | {number(probes['test']['max_abs_logit'])} | "
            f"{number(probe_max)} | {number(probes['gradient']['max_abs_logit'])} | "
            f"{probes['all']['non_finite']} | {100 * probes['test']['top1_agreement']:.2f}% |"
        )


TABLES = {
    "export": (EXPORT_HEADER, export_rows),
    "robustness": (ROBUSTNESS_HEADER, robustness_rows),
}


def main(argv):
    if len(argv) < 2 or argv[0] not in TABLES or any("=" not in arg for arg in argv[1:]):
        sys.exit("usage: python scripts/readme_tables.py export|robustness LABEL=report.json ...")
    header, rows = TABLES[argv[0]]
    print(header)
    for arg in argv[1:]:
        label, path = arg.split("=", 1)
        with open(path) as f:
            print("\n".join(rows(label, json.load(f))))


if __name__ == "__main__":
    main(sys.argv[1:])
