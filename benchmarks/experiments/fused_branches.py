"""Times a training step of PolyNet with the N branches of each block fused or separate.

Fused: one convolution with N·F filters per block, split afterwards;
separate: N convolutions of F filters. Prints milliseconds per step (batch
128, 28×28×1, median of the timed steps) for degrees 2 to 4, both ways.

    python benchmarks/experiments/fused_branches.py --steps=10
"""

import json
import time

import keras
import numpy as np
from absl import app
from absl import flags

import pinet_keras
from pinet_keras.layers import PolynomialBase

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 10, "Timed training steps per configuration.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_list("degrees", ["2", "3", "4"], "Degrees of the blocks.")


def step_milliseconds(degree, fused):
    PolynomialBase.fuse_branches = fused
    keras.utils.set_random_seed(0)
    model = pinet_keras.PolyNet(degree=degree)
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(FLAGS.batch_size, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, FLAGS.batch_size)
    model.train_on_batch(x, y)  # compiles
    times = []
    for _ in range(FLAGS.steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main(_):
    default = PolynomialBase.fuse_branches
    try:
        for degree in (int(d) for d in FLAGS.degrees):
            fused, separate = step_milliseconds(degree, True), step_milliseconds(degree, False)
            result = {"degree": degree, "fused_ms": round(fused, 1)}
            result.update(separate_ms=round(separate, 1), backend=keras.backend.backend())
            print(json.dumps(result))
    finally:
        PolynomialBase.fuse_branches = default


if __name__ == "__main__":
    app.run(main)
