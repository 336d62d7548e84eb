"""Time to the first prediction of one image with a shipped int8 file, with and without TensorFlow.

Each run is a new Python process that imports what it needs, reads the
``.tflite`` file, decodes one PNG and prints its class: wall clock from
starting the process to its exit, the median of ``--runs``. Two paths:

- ``lite``: ``pinet_lite`` (lite/; numpy, ai-edge-litert and Pillow only).
  The process checks that neither TensorFlow nor Keras was imported.
- ``tensorflow``: ``pinet_keras.export`` (``read_tflite_metadata``,
  ``run_tflite``) and ``pinet_keras.data.image_folder.image_pixels``, which
  import TensorFlow and Keras.

    python benchmarks/first_prediction.py --runs=5
    python benchmarks/first_prediction.py --lite_python=/path/to/venv/bin/python

``--lite_python`` runs the lite path in another environment (one with only
``pip install ./lite``); by default both paths use this interpreter, with
lite/src on the path for pinet_lite.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "pinet_keras", "pretrained", "files", "{}", "model_int8.tflite")

LITE = """
import sys
import pinet_lite
top = pinet_lite.Classifier(sys.argv[1]).predict([sys.argv[2]], top_k=1)[0][0]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
assert not heavy, heavy
print(top.name)
"""

TENSORFLOW = """
import sys
import numpy as np
from PIL import Image
from pinet_keras.data.image_folder import image_pixels
from pinet_keras.export import read_tflite_metadata, run_tflite
metadata = read_tflite_metadata(sys.argv[1])
height, width, channels = metadata["input"]["shape"][1:]
with Image.open(sys.argv[2]) as image:
    pixels = image_pixels(image, channels, (height, width))
logits = run_tflite(sys.argv[1], pixels[None])
print(metadata["class_names"][int(np.argmax(logits[0]))])
"""


def time_run(python, code, model, image, env):
    start = time.perf_counter()
    result = subprocess.run(
        [python, "-c", code, model, image], capture_output=True, text=True, env=env, timeout=300
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"the run failed:\n{result.stderr[-2000:]}")
    return seconds, result.stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="polynet_mnist", help="a pretrained model's name")
    parser.add_argument("--runs", type=int, default=5, help="runs of each path (median)")
    parser.add_argument("--lite_python", default=sys.executable, help="Python of the lite path")
    parser.add_argument("--skip_tensorflow", action="store_true", help="time the lite path only")
    parser.add_argument("--output", help="optional JSON file for the numbers")
    args = parser.parse_args()

    model = MODEL.format(args.model)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    lite_env = dict(env)
    if os.path.realpath(args.lite_python) == os.path.realpath(sys.executable):
        lite_env["PYTHONPATH"] = os.path.join(ROOT, "lite", "src")
    tf_env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))}
    paths = [("lite", args.lite_python, LITE, lite_env)]
    if not args.skip_tensorflow:
        paths.append(("tensorflow", sys.executable, TENSORFLOW, tf_env))

    from PIL import Image

    results = {"model": args.model, "runs": args.runs, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as folder:
        image = os.path.join(folder, "image.png")
        shape = (28, 28) if "mnist" in args.model else (32, 32, 3)
        pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        Image.fromarray(pixels).save(image)
        for name, python, code, path_env in paths:
            time_run(python, code, model, image, path_env)  # warm the file cache
            times, classes = [], set()
            for _ in range(args.runs):
                seconds, label = time_run(python, code, model, image, path_env)
                times.append(seconds)
                classes.add(label)
            results[name] = {
                "median_s": statistics.median(times),
                "min_s": min(times),
                "max_s": max(times),
                "class": sorted(classes),
            }
            print(
                f"{name:>10}: first prediction in {statistics.median(times):.2f} s "
                f"(median of {args.runs}; {min(times):.2f} to {max(times):.2f} s), "
                f"class {', '.join(sorted(classes))}",
                flush=True,
            )
    if "tensorflow" in results:
        ratio = results["tensorflow"]["median_s"] / results["lite"]["median_s"]
        print(f"{'':>10}  lite is {ratio:.0f}x faster to the first prediction")
        if results["tensorflow"]["class"] != results["lite"]["class"]:
            raise SystemExit("the two paths named different classes")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
