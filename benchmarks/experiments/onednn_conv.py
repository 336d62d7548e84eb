"""One convolution of the PolyNet in TensorFlow and in PyTorch: which oneDNN kernel, how long.

Runs the forward pass, the input gradient and the weight gradient of one
convolution (batch 128, one thread), in TensorFlow (NHWC, what Keras runs)
and in PyTorch (NCHW, bf16 through autocast, as `train_throughput.py` runs
it), each in its own subprocess with ``ONEDNN_VERBOSE=1``, and prints the
implementation oneDNN chose for each pass with its fastest time over the
calls (the first two calls, which create the primitives, are left out).

    PYTHONPATH=<torch> python benchmarks/experiments/onednn_conv.py --precision=bf16 --block=5

``--block``: one of the seed PolyNet's blocks 2 to 5 (28x28x1 in, width 16;
block 1 convolves one channel).
"""

import argparse
import importlib.util
import os
import subprocess
import sys

CALLS = 12
PASSES = ("forward_training", "backward_data", "backward_weights")


def block_shapes(width=16, size=28, channels=1):
    """``{block: (size, channels, filters, kernel, stride, padding)}``: each block's input."""
    from pinet_keras.models.polynet import ORIGINAL_BLOCKS

    shapes = {}
    for block, (multiplier, kernel, stride, padding) in enumerate(ORIGINAL_BLOCKS, start=1):
        shapes[block] = (size, channels, width * multiplier, kernel, stride, padding)
        size = (size + 2 * padding - kernel) // stride + 1
        channels = width * multiplier
    return shapes


def run_tensorflow(shape, bf16):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    size, channels, filters, kernel, stride, padding = shape
    dtype = tf.bfloat16 if bf16 else tf.float32
    x = tf.Variable(tf.random.normal((128, size, size, channels)))
    w = tf.Variable(tf.random.normal((kernel, kernel, channels, filters)) * 0.1)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            y = tf.nn.conv2d(
                tf.cast(x, dtype), tf.cast(w, dtype), stride, "SAME" if padding else "VALID"
            )
            loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
        return tape.gradient(loss, [x, w])

    for _ in range(CALLS):
        step()


def run_torch(shape, bf16):
    import torch

    torch.set_num_threads(1)
    size, channels, filters, kernel, stride, padding = shape
    x = torch.randn(128, channels, size, size, requires_grad=True)
    conv = torch.nn.Conv2d(channels, filters, kernel, stride, padding)
    for _ in range(CALLS):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = conv(x)
        (y.float() ** 2).sum().backward()


def kernels(stdout):
    """``{pass: (implementation, fastest ms)}`` from oneDNN's verbose lines."""
    calls = {}
    for line in stdout.splitlines():
        fields = line.split(",")
        if len(fields) < 8 or fields[2:6] != ["primitive", "exec", "cpu", "convolution"]:
            continue
        implementation, kind, ms = fields[6], fields[7], float(fields[-1])
        calls.setdefault(kind, []).append((implementation, ms))
    return {
        kind: min(runs[2:] or runs, key=lambda run: run[1])
        for kind, runs in calls.items()
        if kind in PASSES
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    parser.add_argument("--block", type=int, choices=[2, 3, 4, 5], default=5)
    parser.add_argument("--_framework", choices=["tensorflow", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--_shape", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._framework:
        run = run_tensorflow if args._framework == "tensorflow" else run_torch
        return run(tuple(map(int, args._shape.split(","))), args.precision == "bf16")

    if importlib.util.find_spec("torch") is None:
        sys.exit("error: PyTorch is not installed; pip install torch==2.13.0 (the CPU build)")
    shape = block_shapes()[args.block]
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    print(
        f"block {args.block} (size, channels, filters, kernel, stride, padding {shape}), "
        f"{args.precision}, 1 thread, batch 128"
    )
    for framework in ("tensorflow", "torch"):
        command = [sys.executable, __file__, f"--_framework={framework}"]
        command += [f"--precision={args.precision}", "--_shape=" + ",".join(map(str, shape))]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            last = result.stderr.strip().splitlines()[-1:] or ["no message"]
            sys.exit(f"error: the {framework} run failed: {last[0]}")
        found = kernels(result.stdout)
        for kind in PASSES:
            implementation, ms = found.get(kind, ("(none)", float("nan")))
            print(f"{framework:<11} {kind:<17} {implementation:<28} {ms:7.2f} ms")


if __name__ == "__main__":
    main()
