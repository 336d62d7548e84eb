"""Training step time of the CPU recipe's PiResNet under two TensorFlow thread settings.

``default``: TensorFlow's own pools (intra-op and inter-op threads = cores);
``branches``: one thread per op, as many ops at a time as cores (what wins
for the PolyNet's fastest epochs in `threads.sh`). One setting per process
(TensorFlow fixes its pools at start): run it once per setting.

    python benchmarks/experiments/pi_resnet_threads.py default
    python benchmarks/experiments/pi_resnet_threads.py branches
    python benchmarks/experiments/pi_resnet_threads.py default --relu     # the ReLU twin
    python benchmarks/experiments/pi_resnet_threads.py default --float32  # not bf16

Prints wall and CPU milliseconds per step (batch 128, bf16 unless --float32,
15 steps per timed epoch, 3 timed epochs after a warm-up epoch) as one JSON line.
"""

import json
import os
import sys
import time

MODES = ("default", "branches")


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    relu, float32 = "--relu" in argv, "--float32" in argv
    unknown = [a for a in argv if a.startswith("--") and a not in ("--relu", "--float32")]
    if len(args) != 1 or args[0] not in MODES or unknown:
        sys.exit(f"usage: pi_resnet_threads.py {{{','.join(MODES)}}} [--relu] [--float32]")
    import tensorflow as tf

    if args[0] == "branches":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(len(os.sched_getaffinity(0)))
    import keras
    import numpy as np

    from pinet_keras.models import get_model
    from pinet_keras.training.presets import PRESETS

    policy = "float32" if float32 else "mixed_bfloat16"
    keras.config.set_dtype_policy(policy)
    options = dict(PRESETS["cifar10_cpu"]["model_overrides"])
    if relu:
        options = {"width": 32, "block": "relu"}
    model = get_model("pi_resnet_small", (32, 32, 3), 10, **options)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    x = rng.random((128 * 15, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)  # warm-up
    wall, cpu = [], []
    for _ in range(3):
        start, cpu_start = time.perf_counter(), time.process_time()
        model.fit(x, y, batch_size=128, epochs=1, verbose=0)
        wall.append(round((time.perf_counter() - start) / 15 * 1e3, 1))
        cpu.append(round((time.process_time() - cpu_start) / 15 * 1e3, 1))
    result = {"mode": args[0], "relu_twin": relu, "policy": policy, "step_ms": wall, "cpu_ms": cpu}
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
