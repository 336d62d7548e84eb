"""A/B of PolyNet variants that benchmarks/README.md measured and rejected.

Builds the package's PolyNet and the variants named, then alternates their
timed epochs in one process (A B A B ...: a busy machine slows all alike) and
prints the CPU and wall milliseconds per training step of each (min and
median). Variants:

  pinet           pinet_keras.PolyNet(), the reference
  fused           one Conv2D with 2F filters per block, split, multiplied
                  (Keras' default initializers: for speed only)
  fused_reshape   2F filters, reshape to (..., 2, F), multiply the halves
  init_torch      PolyNet with PyTorch's initialization (BranchUniform)
  init_keras      PolyNet with Glorot/zeros: the deep product underflows
                  (a denormal-number test)
  patches_last    PolyNet whose last block, in training, computes both
                  branches as one matmul over TensorFlow's
                  tf.image.extract_patches (same weights; TensorFlow only)
  slices_last     the same matmul over patches cut with keras.ops slices
                  (one strided slice per kernel tap)
  s2d_last        the same over a space-to-depth of the input (kernel a
                  multiple of the stride: 4 slices instead of 16)
  halves_last     PolyNet whose last block, in training, convolves the two
                  halves of the batch separately (independent weight
                  gradients that TensorFlow's inter-op threads can run side
                  by side)
  float32_last    PolyNet whose last block computes in float32 under the
                  bf16 policy (oneDNN's float32 weight gradient of that block
                  is faster than its bf16 one)

    python benchmarks/experiments/polynet_variants.py --variants=pinet,fused --precision=bf16
    python benchmarks/experiments/polynet_variants.py --precision=bf16 --threads=1 \
        --variants=pinet,patches_last,slices_last,s2d_last --steps=20 --rounds=5
"""

import json
import statistics
import time

import keras
import numpy as np
from absl import app
from absl import flags
from keras import ops
from last_block import HalvesBlock
from last_block import PatchesBlock

import pinet_keras
from pinet_keras.models.polynet import DEFAULT_BLOCKS

PATCHES = {"patches_last": "tf", "slices_last": "slices", "s2d_last": "s2d"}
VARIANTS = (
    "pinet",
    "fused",
    "fused_reshape",
    "init_torch",
    "init_keras",
    *PATCHES,
    "halves_last",
    "float32_last",
)
IMAGE_SHAPE = (28, 28, 1)

FLAGS = flags.FLAGS
flags.DEFINE_list("variants", ["pinet", "fused"], f"Variants to compare: {', '.join(VARIANTS)}.")
flags.DEFINE_enum("precision", "fp32", ["fp32", "bf16"], "Training precision.")
flags.DEFINE_integer("steps", 8, "Training steps per timed epoch.")
flags.DEFINE_integer("rounds", 4, "Timed epochs of each variant (alternating).")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer(
    "threads", 0, "TensorFlow's intra-op and inter-op threads (0: TensorFlow's defaults)."
)


class FusedBlock(keras.layers.Layer):
    """One Conv2D with 2F filters, then the product of its two halves."""

    def __init__(self, filters, kernel, stride, padding, reshape=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.reshape = reshape
        self.conv = keras.layers.Conv2D(
            2 * filters, kernel, strides=stride, padding=padding, dtype=self.dtype_policy
        )

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, x):
        y = self.conv(x)
        if self.reshape:
            y = ops.reshape(y, (-1,) + tuple(y.shape[1:3]) + (2, self.filters))
            return y[..., 0, :] * y[..., 1, :]
        a, b = ops.split(y, 2, axis=-1)
        return a * b

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)[:-1] + (self.filters,)


def sequential(blocks, name):
    model = keras.Sequential(name=name)
    model.add(keras.Input(IMAGE_SHAPE))
    for block in blocks:
        model.add(block)
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(10, name="logits"))
    return model


def build(variant):
    if variant in ("fused", "fused_reshape"):
        blocks = [
            FusedBlock(16 * m, k, s, p, reshape=variant == "fused_reshape")
            for m, k, s, p in DEFAULT_BLOCKS
        ]
        return sequential(blocks, variant)
    if variant == "float32_last":
        model = pinet_keras.PolyNet()
        blocks = [
            type(layer).from_config(
                {**layer.get_config(), **({"dtype": "float32"} if i == len(DEFAULT_BLOCKS) else {})}
            )
            for i, layer in enumerate(model.layers[: len(DEFAULT_BLOCKS)], start=1)
        ]
        return sequential(blocks, variant)
    if variant == "halves_last":
        last = len(DEFAULT_BLOCKS)
        blocks = [
            (HalvesBlock if i == last else pinet_keras.PolynomialConv2D)(
                16 * m, k, strides=s, padding=p
            )
            for i, (m, k, s, p) in enumerate(DEFAULT_BLOCKS, start=1)
        ]
        return sequential(blocks, variant)
    if variant in PATCHES:
        last = len(DEFAULT_BLOCKS)
        blocks = [
            (PatchesBlock if i == last else pinet_keras.PolynomialConv2D)(
                16 * m,
                k,
                strides=s,
                padding=p,
                **({"method": PATCHES[variant]} if i == last else {}),
            )
            for i, (m, k, s, p) in enumerate(DEFAULT_BLOCKS, start=1)
        ]
        return sequential(blocks, variant)
    inits = {
        "pinet": {},
        "init_torch": dict(
            kernel_initializer=pinet_keras.BranchUniform(),
            bias_initializer=pinet_keras.BranchUniform(),
        ),
        "init_keras": dict(kernel_initializer="glorot_uniform", bias_initializer="zeros"),
    }
    return pinet_keras.PolyNet(**inits[variant])


def main(_):
    unknown = sorted(set(FLAGS.variants) - set(VARIANTS))
    if unknown:
        raise app.UsageError(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    if FLAGS.threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    if FLAGS.precision == "bf16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    rng = np.random.default_rng(0)
    x = rng.random((FLAGS.steps * FLAGS.batch_size,) + IMAGE_SHAPE, dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    models = {}
    for variant in FLAGS.variants:
        keras.utils.set_random_seed(0)
        model = build(variant)
        model.compile(
            optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        model.fit(x, y, batch_size=FLAGS.batch_size, epochs=1, verbose=0)  # warm-up
        models[variant] = model
    wall = {v: [] for v in models}
    cpu = {v: [] for v in models}
    for _ in range(FLAGS.rounds):
        for variant, model in models.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            model.fit(x, y, batch_size=FLAGS.batch_size, epochs=1, verbose=0)
            wall[variant].append((time.perf_counter() - start) / FLAGS.steps * 1e3)
            cpu[variant].append((time.process_time() - cpu_start) / FLAGS.steps * 1e3)
    for variant in models:
        row = {"variant": variant, "precision": FLAGS.precision, "threads": FLAGS.threads}
        row.update(
            wall_ms_min=round(min(wall[variant]), 1),
            wall_ms_median=round(statistics.median(wall[variant]), 1),
            cpu_ms_min=round(min(cpu[variant]), 1),
            cpu_ms_median=round(statistics.median(cpu[variant]), 1),
        )
        print(json.dumps(row))


if __name__ == "__main__":
    app.run(main)
