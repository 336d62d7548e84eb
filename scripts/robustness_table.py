"""README's robustness table from `examples/robustness.py` reports: one row per model and format.

    python scripts/robustness_table.py MNIST=results/mnist_polynet_bn/robustness.json \
        Fashion-MNIST=results/fashion_mnist_polynet_bn/robustness.json \
        CIFAR-10=results/cifar10/pi_resnet_small_50ep/robustness.json
"""

import json
import sys

HEADER = (
    "| model | format | test: max \\|logit\\| | noise, extremes, patterns, other data: "
    "max \\|logit\\| | gradient search: max \\|logit\\| | non-finite (all probes) | "
    "agreement with Keras (test) |\n|---|---|---|---|---|---|---|"
)
PROBES = ("gaussian", "uniform", "extremes", "patterns", "other")


def number(value):
    """Three significant digits; a NaN (written as null in the JSON) as ``nan``."""
    return "nan" if value is None else f"{value:.3g}"


def rows(label, report):
    for name, probes in report["formats"].items():
        values = [probes[p]["max_abs_logit"] for p in PROBES if p in probes]
        probe_max = max((v for v in values if v is not None), default=None)
        yield (
            f"| {label} | {name} | {number(probes['test']['max_abs_logit'])} | "
            f"{number(probe_max)} | {number(probes['gradient']['max_abs_logit'])} | "
            f"{probes['all']['non_finite']} | {100 * probes['test']['top1_agreement']:.2f}% |"
        )


def main(argv):
    if not argv or any("=" not in arg for arg in argv):
        sys.exit(f"usage: {__doc__.strip().splitlines()[-3].strip()} ...: LABEL=report.json")
    print(HEADER)
    for arg in argv:
        label, path = arg.split("=", 1)
        with open(path) as f:
            print("\n".join(rows(label, json.load(f))))


if __name__ == "__main__":
    main(sys.argv[1:])
