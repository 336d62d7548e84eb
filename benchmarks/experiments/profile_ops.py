"""Where a training step's time goes, per TensorFlow op: a profiler trace of `model.fit`.

Builds one variant of `polynet_variants.py`, trains it for a warm-up epoch,
then traces one epoch with `tf.profiler.experimental` and reads the trace
(`.xplane.pb`) back: the time of each op on TensorFlow's executor threads,
in ms per training step, largest first. At more than one thread an op's
time is its wall time, so an op that takes as long at two threads as at one
is an op that does not split its work.

    python benchmarks/experiments/profile_ops.py --precision=bf16 --threads=1
    python benchmarks/experiments/profile_ops.py --precision=bf16 --threads=2 --top=12
"""

import collections
import glob
import os
import tempfile

import keras
import numpy as np
from absl import app
from absl import flags

# Its flags too: --precision, --threads (intra-op; inter-op is 1 here), --steps, --batch_size.
from polynet_variants import VARIANTS
from polynet_variants import build

FLAGS = flags.FLAGS
flags.DEFINE_enum("variant", "pinet", VARIANTS, "The variant of polynet_variants.py to trace.")
flags.DEFINE_integer("top", 20, "Ops listed.")


def op_times(logdir):
    """{op name: total ms} over the executor threads of the trace in ``logdir``."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    (path,) = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    totals = collections.Counter()
    for plane in space.planes:
        names = {key: value.name for key, value in plane.event_metadata.items()}
        for line in plane.lines:
            if "tf_Compute" not in line.name and "Eigen" not in line.name:
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "?")
                if name != "ExecutorState::Process":  # the envelope of the ops below it
                    totals[name] += event.duration_ps / 1e9
    return totals


def main(_):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads or 1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if FLAGS.precision == "bf16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    rng = np.random.default_rng(0)
    x = rng.random((FLAGS.steps * FLAGS.batch_size, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    model = build(FLAGS.variant)
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(x, y, batch_size=FLAGS.batch_size, epochs=1, verbose=0)  # warm-up
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        model.fit(x, y, batch_size=FLAGS.batch_size, epochs=1, verbose=0)
        tf.profiler.experimental.stop()
        totals = op_times(logdir)
    threads = FLAGS.threads or 1
    print(f"{FLAGS.variant}, {FLAGS.precision}, {threads} intra-op thread(s): ms per step")
    for name, ms in totals.most_common(FLAGS.top):
        # "…/block5_1/branch_a_1/convolution/Conv2DBackpropFilter:_MklNative…" -> short
        print(f"{ms / FLAGS.steps:8.2f}  {name.replace('StatefulPartitionedCall/', '')[:110]}")


if __name__ == "__main__":
    app.run(main)
