"""The table of forms: one epoch of PolyNet on Fashion-MNIST per form, degree and seed.

(docs/results/forms.md.) Runs `tools/fashion_mnist_one_epoch.py` once per (form, degree, seed),
each in its own process, and writes every result as it comes to one JSON
file (a list of the runs' JSON lines). Runs already in the file are skipped,
so an interrupted table resumes where it stopped (a file this script did not
write is refused, never overwritten). Every flag is checked before the first
run; a run that fails stops the script with the run's own error. At the end
it prints the Markdown table of the results in the file.

    python tools/fashion_mnist_forms.py --data_dir=../shared/data/fashion_mnist \\
        --output=results/fashion_mnist_forms.json
"""

import json
import os
import subprocess
import sys

from absl import flags

from pinet_keras import _io
from pinet_keras import _run
from pinet_keras.cli import boundary
from pinet_keras.layers import FORMS

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", "../shared/data/fashion_mnist", "Folder with the four IDX files.")
flags.DEFINE_string(
    "output",
    "results/fashion_mnist_forms.json",
    "JSON file of the results (a file of this script's is resumed: its runs are skipped).",
)
flags.DEFINE_list("forms", ["product", "ccp", "ncp"], f"Forms, of {', '.join(FORMS)}.")
flags.DEFINE_list("degrees", ["2", "3", "4"], "Degrees (integers >= 2).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (integers).")

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion_mnist_one_epoch.py")
RUN_KEYS = {"form", "degree", "seed", "test_accuracy"}


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments {argv[1:]}; this script takes flags only")
    forms, degrees, seeds = check_flags()
    results = read_results(FLAGS.output)
    done = {(r["form"], r["degree"], r["seed"]) for r in results}
    for seed in seeds:
        for degree in degrees:
            for form in forms:
                if (form, degree, seed) not in done:
                    results.append(run_one(form, degree, seed))
                    print(json.dumps(results[-1]), flush=True)
                    _io.write_text(FLAGS.output, json.dumps(results, indent=1), overwrite=True)
    print(markdown_table(results))


def check_flags():
    """The forms, degrees and seeds asked for; every flag checked before any run."""
    unknown = [form for form in FLAGS.forms if form not in FORMS]
    if unknown or not FLAGS.forms:
        raise ValueError(
            f"--forms: unknown {unknown or 'none given'}; choose from {', '.join(FORMS)}"
        )
    degrees, seeds = integers("degrees", minimum=2), integers("seeds", minimum=0)
    _run.check_data_dir(FLAGS.data_dir, "fashion_mnist")
    if not FLAGS.output.endswith(".json"):
        raise ValueError(f"--output: {FLAGS.output} does not end in .json; pass a .json file")
    _io.check_writable_folder(os.path.dirname(os.path.abspath(FLAGS.output)), "--output")
    return list(FLAGS.forms), degrees, seeds


def integers(name, minimum):
    values = FLAGS[name].value
    if not values or not all(v.isdigit() and int(v) >= minimum for v in values):
        raise ValueError(f"--{name}: {','.join(values)}; pass integers >= {minimum}")
    return [int(v) for v in values]


def read_results(path):
    """The runs already in ``path`` (a file this script wrote), or none."""
    if not os.path.exists(path):
        return []
    try:
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
    except (UnicodeDecodeError, ValueError):
        results = None
    if not (isinstance(results, list) and all(isinstance(r, dict) for r in results)) or not all(
        RUN_KEYS <= set(r) for r in results
    ):
        raise ValueError(
            f"--output: {path} is not a results file of this script (a JSON list of runs), so "
            "it cannot be resumed; choose another --output"
        )
    return results


def run_one(form, degree, seed):
    """One epoch in its own process; its error, if any, as this script's error."""
    command = [
        sys.executable,
        SCRIPT,
        f"--data_dir={FLAGS.data_dir}",
        f"--form={form}",
        f"--degree={degree}",
        f"--seed={seed}",
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
        reason = errors[-1][len("error: ") :] if errors else f"exit status {run.returncode}"
        raise RuntimeError(
            f"the run --form={form} --degree={degree} --seed={seed} failed ({reason}); "
            f"the runs before it are in {FLAGS.output}, rerun to go on"
        )
    return json.loads(run.stdout.strip().splitlines()[-1])


def markdown_table(results):
    """Test accuracy per form (rows) and degree (columns): mean and each seed's."""
    degrees = sorted({r["degree"] for r in results})
    lines = [
        "| form | " + " | ".join(f"degree {d}" for d in degrees) + " |",
        "|---|" + "---|" * len(degrees),
    ]
    for form in ("product", "ccp", "ncp"):
        cells = []
        for degree in degrees:
            runs = sorted(
                (r for r in results if r["form"] == form and r["degree"] == degree),
                key=lambda r: r["seed"],
            )
            accuracies = [r["test_accuracy"] for r in runs]
            if not accuracies:
                cells.append("not run")
                continue
            each = ", ".join(f"{a:.3f}" for a in accuracies)
            cells.append(f"**{sum(accuracies) / len(accuracies):.3f}** ({each})")
        lines.append(f"| `{form}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    boundary.run(main)
