"""README's table of forms: one epoch of PolyNet on Fashion-MNIST per form, degree and seed.

Runs `examples/fashion_mnist_one_epoch.py` once per (form, degree, seed),
each in its own process, and writes every result as it comes to one JSON
file (a list of the runs' JSON lines). Runs already in the file are skipped,
so an interrupted table resumes where it stopped. At the end it prints
README's Markdown table of the results in the file.

    python examples/fashion_mnist_forms.py --data_dir=../shared/data/fashion_mnist \\
        --output=results/fashion_mnist_forms.json
"""

import json
import os
import subprocess
import sys

from absl import flags

from pinet_keras import _cli

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", "../shared/data/fashion_mnist", "Folder with the four IDX files.")
flags.DEFINE_string("output", "results/fashion_mnist_forms.json", "JSON file of the results.")
flags.DEFINE_list("forms", ["product", "ccp", "ncp"], "Forms.")
flags.DEFINE_list("degrees", ["2", "3", "4"], "Degrees.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion_mnist_one_epoch.py")


def main(_):
    results = []
    if os.path.exists(FLAGS.output):
        with open(FLAGS.output) as f:
            results = json.load(f)
    done = {(r["form"], r["degree"], r["seed"]) for r in results}
    for seed in (int(s) for s in FLAGS.seeds):
        for degree in (int(d) for d in FLAGS.degrees):
            for form in FLAGS.forms:
                if (form, degree, seed) in done:
                    continue
                command = [
                    sys.executable,
                    SCRIPT,
                    f"--data_dir={FLAGS.data_dir}",
                    f"--form={form}",
                    f"--degree={degree}",
                    f"--seed={seed}",
                ]
                run = subprocess.run(command, capture_output=True, text=True, check=True)
                results.append(json.loads(run.stdout.strip().splitlines()[-1]))
                print(json.dumps(results[-1]), flush=True)
                with open(FLAGS.output + ".tmp", "w") as f:
                    json.dump(results, f, indent=1)
                os.replace(FLAGS.output + ".tmp", FLAGS.output)
    print(markdown_table(results))


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
    _cli.run(main)
