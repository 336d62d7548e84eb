"""Training throughput, inference latency and peak memory of the PolyNet.

It measures three networks in one run on one machine, each in its own
subprocess (clean memory numbers, thread settings applied before the
framework is imported):

  keras     pinet_keras.PolyNet() (five blocks, width 16, 28x28x1, 10 classes,
            1,220,362 parameters) on the Keras backend in use;
  torch     the same network in PyTorch as the original experiment wrote it
            (benchmarks/torch_polynet.py: two nn.Conv2d per block, multiplied,
            NCHW, Adam 1e-3, cross-entropy); null columns if torch is missing;
  relu_cnn  a Keras CNN of the same shape with one Conv2D(relu) per block.

For each network and precision (fp32, bf16) it reports training throughput
(images/s at steady state: `model.fit` on in-memory synthetic data, a fixed
number of steps per epoch, the first epoch is the warm-up and is not timed),
inference latency at batch 1 and batch 256 (`model.predict_on_batch`; PyTorch
under `torch.inference_mode()`) and peak memory (the subprocess's RSS
high-water mark on CPU, the framework's peak allocation on GPU).

    python benchmarks/train_throughput.py --output=benchmarks/results/cpu.json
    python benchmarks/train_throughput.py --quick            # smoke test
    KERAS_BACKEND=jax python benchmarks/train_throughput.py --output=benchmarks/results/gpu.json

See benchmarks/README.md for what each number means and what was tried.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NETWORKS = ("keras", "torch", "relu_cnn")
PRECISIONS = ("fp32", "bf16")
IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
# The ReLU CNN: the PolyNet's rows (filters, kernel, stride, padding), one branch.
RELU_CNN_BLOCKS = (
    (16, 3, 1, "same"),
    (32, 4, 2, "same"),
    (64, 4, 2, "same"),
    (128, 2, 1, "valid"),
    (256, 4, 2, "same"),
)


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--networks",
        default=",".join(NETWORKS),
        help="Comma-separated subset of: " + ", ".join(NETWORKS),
    )
    p.add_argument(
        "--precisions", default=",".join(PRECISIONS), help="Comma-separated subset of: fp32, bf16"
    )
    p.add_argument("--batch_size", type=int, default=128, help="Training batch size.")
    p.add_argument(
        "--steps", type=int, default=20, help="Training steps per timed epoch (steps_per_epoch)."
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="Timed epochs per subprocess (after one warm-up epoch); latency rounds likewise.",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="Subprocesses per network and precision, interleaved (A B C A B C ...) "
        "so that a busy machine slows all networks alike; samples are pooled.",
    )
    p.add_argument(
        "--latency_calls",
        type=int,
        default=30,
        help="Timed calls per latency repeat at batch 1 (batch 256: a fifth, >=3).",
    )
    p.add_argument(
        "--quick", action="store_true", help="Smoke test: 3 steps, 1 repeat, 3 latency calls."
    )
    p.add_argument(
        "--threads",
        type=int,
        default=cpu_count(),
        help="Intra-op threads of every framework; the default is the usable cores.",
    )
    p.add_argument(
        "--inter_op_threads",
        type=int,
        default=1,
        help="TensorFlow inter-op threads (torch's eager loop has no inter-op parallelism).",
    )
    p.add_argument(
        "--omp_wait_policy",
        default="unset",
        choices=["unset", "passive", "active"],
        help="OMP_WAIT_POLICY of the torch subprocess. 'unset': the library "
        "default (spinning; fastest on an idle machine, collapses when other "
        "processes share the cores); 'passive': threads sleep at barriers "
        "(robust on a shared machine, ~5-25%% slower on an idle one).",
    )
    p.add_argument(
        "--keras_loop",
        default="fit",
        choices=["fit", "train_on_batch"],
        help="How Keras trains: model.fit (how users train) or a Python loop of train_on_batch.",
    )
    p.add_argument(
        "--steps_per_execution", type=int, default=1, help="Keras compile(steps_per_execution=...)."
    )
    p.add_argument(
        "--jit_compile",
        default="auto",
        choices=["auto", "true", "false"],
        help="Keras compile(jit_compile=...); 'auto' is XLA on GPU/JAX, not on TF-CPU.",
    )
    p.add_argument(
        "--metrics",
        action="store_true",
        help="Compile Keras with metrics=['accuracy'] (off: loss only, like the torch loop).",
    )
    p.add_argument(
        "--polynet_variant",
        default="pinet",
        choices=["pinet", "fused", "fused_reshape", "patches_last"],
        help="Profiling only. 'pinet': pinet_keras.PolyNet (the package layer); "
        "'fused': one Conv2D with 2F filters, split, multiplied (Keras' default "
        "initializers: for speed only); "
        "'fused_reshape': 2F filters, reshape to (..., 2, F), multiply the "
        "halves; 'patches_last': PolyNet with implementation='patches' in its "
        "last block (needs the layer change proposed in benchmarks/README.md).",
    )
    p.add_argument(
        "--init",
        default="default",
        choices=["default", "torch", "keras"],
        help="Initialization of the Keras PolyNet's blocks (see "
        "examples/fashion_mnist_one_epoch.py). 'keras' (Glorot/zeros) makes "
        "the deep product underflow: a denormal-number test.",
    )
    p.add_argument(
        "--torch_flush_denormal",
        action="store_true",
        help="torch.set_flush_denormal(True) in the torch subprocess.",
    )
    p.add_argument(
        "--torch_device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="'auto': cuda if available.",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=None, help="Write the JSON results here.")
    p.add_argument(
        "--timeout", type=float, default=1800, help="Seconds before a subprocess is abandoned."
    )
    p.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_worker_output", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_precision", default="fp32", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.repeats, args.latency_calls = 3, 1, 3
    args.networks = [n for n in args.networks.split(",") if n]
    args.precisions = [n for n in args.precisions.split(",") if n]
    for name in args.networks:
        if name not in NETWORKS:
            p.error(f"unknown network {name!r}; choose from {NETWORKS}")
    for name in args.precisions:
        if name not in PRECISIONS:
            p.error(f"unknown precision {name!r}; choose from {PRECISIONS}")
    return args


# ---------------------------------------------------------------------------
# Helpers shared by the workers.
# ---------------------------------------------------------------------------
def rss_mb():
    """Current resident set size of this process (Linux), else None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb():
    """RSS high-water mark of this process (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def time_calls(fn, calls, repeats, warmup=3):
    """Per-call wall times in ms: `repeats` rounds of `calls` calls, after `warmup`."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        for _ in range(calls):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1e3)
    return times


def record_epochs(result, args, epoch_times, epoch_cpu):
    """Per-step wall and CPU ms of the timed epochs (the first epoch is the warm-up)."""
    result["warmup_epoch_s"] = epoch_times[0]
    result["step_ms"] = [t / args.steps * 1e3 for t in epoch_times[1:]]
    # Process CPU time (every thread): robust to other processes on the cores,
    # but at threads > 1 it also counts the frameworks' spin-waiting.
    result["step_cpu_ms"] = [t / args.steps * 1e3 for t in epoch_cpu[1:]]
    result["peak_rss_after_train_mb"] = peak_rss_mb()


def synthetic_data(args, n, channels_first=False):
    import numpy as np

    rng = np.random.default_rng(args.seed)
    x = rng.random((n,) + IMAGE_SHAPE, dtype=np.float32)  # pixels in [0, 1)
    if channels_first:
        x = np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))
    y = rng.integers(0, NUM_CLASSES, size=(n,)).astype(np.int32)
    return x, y


# ---------------------------------------------------------------------------
# Keras networks.
# ---------------------------------------------------------------------------
def keras_relu_cnn(keras):
    model = keras.Sequential(name="relu_cnn")
    model.add(keras.Input(IMAGE_SHAPE))
    for i, (filters, kernel, stride, padding) in enumerate(RELU_CNN_BLOCKS, start=1):
        model.add(
            keras.layers.Conv2D(
                filters,
                kernel,
                strides=stride,
                padding=padding,
                activation="relu",
                name=f"block{i}",
            )
        )
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(NUM_CLASSES, name="logits"))
    return model


def keras_fused_polynet(keras, reshape):
    """Profiling variant: each block is ONE Conv2D with 2F filters, then A * B."""
    from keras import ops

    from pinet_keras.models.polynet import DEFAULT_BLOCKS

    class FusedBlock(keras.layers.Layer):
        def __init__(self, filters, kernel, stride, padding, **kwargs):
            super().__init__(**kwargs)
            self.filters = filters
            self.conv = keras.layers.Conv2D(
                2 * filters,
                kernel,
                strides=stride,
                padding=padding,
                dtype=self.dtype_policy,
                name="conv",
            )

        def build(self, input_shape):
            self.conv.build(input_shape)

        def call(self, x):
            y = self.conv(x)
            if reshape:
                y = ops.reshape(y, (-1,) + tuple(y.shape[1:3]) + (2, self.filters))
                return y[..., 0, :] * y[..., 1, :]
            a, b = ops.split(y, 2, axis=-1)
            return a * b

        def compute_output_shape(self, s):
            return self.conv.compute_output_shape(s)[:-1] + (self.filters,)

    model = keras.Sequential(name="polynet_fused")
    model.add(keras.Input(IMAGE_SHAPE))
    for i, (mult, kernel, stride, padding) in enumerate(DEFAULT_BLOCKS, start=1):
        model.add(FusedBlock(16 * mult, kernel, stride, padding, name=f"block{i}"))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(NUM_CLASSES, name="logits"))
    return model


def polynet_patches_last(keras, pinet_keras):
    """PolyNet's layers, the last block with implementation="patches" (proposed option)."""
    import inspect

    from pinet_keras.models.polynet import DEFAULT_BLOCKS

    if "implementation" not in inspect.signature(pinet_keras.PolynomialConv2D).parameters:
        raise SystemExit(
            "--polynet_variant=patches_last: this pinet_keras has no "
            "PolynomialConv2D(implementation=...) (see benchmarks/README.md)"
        )
    model = keras.Sequential(name="polynet_patches_last")
    model.add(keras.Input(IMAGE_SHAPE))
    for i, (mult, kernel, stride, padding) in enumerate(DEFAULT_BLOCKS, start=1):
        model.add(
            pinet_keras.PolynomialConv2D(
                16 * mult,
                kernel,
                strides=stride,
                padding=padding,
                name=f"block{i}",
                implementation="patches" if i == len(DEFAULT_BLOCKS) else "conv",
            )
        )
    model.add(keras.layers.Flatten(name="flatten"))
    model.add(keras.layers.Dense(NUM_CLASSES, name="logits"))
    return model


def build_keras_model(args, keras):
    if args._worker == "relu_cnn":
        return keras_relu_cnn(keras)
    if args.polynet_variant in ("fused", "fused_reshape"):
        return keras_fused_polynet(keras, reshape=args.polynet_variant == "fused_reshape")
    import pinet_keras

    if args.polynet_variant == "patches_last":
        return polynet_patches_last(keras, pinet_keras)
    inits = {
        "default": {},
        "torch": dict(
            kernel_initializer=pinet_keras.BranchUniform(),
            bias_initializer=pinet_keras.BranchUniform(),
        ),
        "keras": dict(kernel_initializer="glorot_uniform", bias_initializer="zeros"),
    }
    return pinet_keras.PolyNet(input_shape=IMAGE_SHAPE, num_classes=NUM_CLASSES, **inits[args.init])


def keras_worker(args):
    result = {}
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    import keras

    result["backend"] = keras.backend.backend()
    result["rss_after_import_mb"] = rss_mb()
    if args._precision == "bf16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    keras.utils.set_random_seed(args.seed)
    model = build_keras_model(args, keras)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"] if args.metrics else None,
        steps_per_execution=args.steps_per_execution,
        jit_compile=jit,
    )
    result["params"] = int(model.count_params())
    result["jit_compile"] = bool(model.jit_compile) if hasattr(model, "jit_compile") else None
    device = keras_device(keras)
    result["device"] = device
    n = args.steps * args.batch_size
    x, y = synthetic_data(args, n)

    epoch_times, epoch_cpu = [], []
    if args.keras_loop == "fit":

        class EpochTimer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start, self.cpu = time.perf_counter(), time.process_time()

            def on_epoch_end(self, epoch, logs=None):
                # Wait for the device (JAX and GPUs dispatch asynchronously): the
                # loss and the last weight depend on every step of the epoch.
                if logs and "loss" in logs:
                    float(logs["loss"])
                keras.ops.convert_to_numpy(model.trainable_variables[-1])
                epoch_times.append(time.perf_counter() - self.start)
                epoch_cpu.append(time.process_time() - self.cpu)

        history = model.fit(
            x,
            y,
            batch_size=args.batch_size,
            epochs=1 + args.repeats,
            steps_per_epoch=args.steps,
            verbose=0,
            callbacks=[EpochTimer()],
        )
        result["final_loss"] = float(history.history["loss"][-1])
    else:
        batches = [
            (x[i : i + args.batch_size], y[i : i + args.batch_size])
            for i in range(0, n, args.batch_size)
        ]
        loss = None
        for _ in range(1 + args.repeats):
            start, cpu = time.perf_counter(), time.process_time()
            for xb, yb in batches:
                loss = model.train_on_batch(xb, yb)
            loss = float(loss if not isinstance(loss, (list, tuple)) else loss[0])
            epoch_times.append(time.perf_counter() - start)
            epoch_cpu.append(time.process_time() - cpu)
        result["final_loss"] = loss
    record_epochs(result, args, epoch_times, epoch_cpu)
    result["peak_device_mem_mb_train"] = keras_peak_device_mem(keras, device)

    x1, _ = synthetic_data(args, 1)
    x256, _ = synthetic_data(args, 256)
    result["latency_b1_ms"] = time_calls(
        lambda: model.predict_on_batch(x1), args.latency_calls, args.repeats
    )
    result["latency_b256_ms"] = time_calls(
        lambda: model.predict_on_batch(x256), max(3, args.latency_calls // 5), args.repeats
    )
    result["peak_rss_mb"] = peak_rss_mb()
    result["peak_device_mem_mb"] = keras_peak_device_mem(keras, device)
    return result


def keras_device(keras):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        if d.platform != "cpu":
            return {"type": "gpu", "name": getattr(d, "device_kind", str(d)), "index": 0}
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return {"type": "gpu", "name": details.get("device_name", gpus[0].name), "index": 0}
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return {"type": "gpu", "name": torch.cuda.get_device_name(0), "index": 0}
    return {"type": "cpu"}


def keras_peak_device_mem(keras, device):
    if device["type"] != "gpu":
        return None
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            peak = stats.get("peak_bytes_in_use")
        elif backend == "tensorflow":
            import tensorflow as tf

            peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
        else:
            import torch

            peak = torch.cuda.max_memory_allocated()
    except Exception:  # noqa: BLE001 - a statistic, never a failure
        return None
    return None if peak is None else peak / 2**20


# ---------------------------------------------------------------------------
# PyTorch reference.
# ---------------------------------------------------------------------------
def torch_worker(args):
    result = {}
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, HERE)
    from torch_polynet import TorchPolyNet
    from torch_polynet import count_params

    torch.set_num_threads(args.threads)
    if args.torch_flush_denormal:
        result["flush_denormal"] = bool(torch.set_flush_denormal(True))
    result["rss_after_import_mb"] = rss_mb()
    torch.manual_seed(args.seed)
    use_cuda = args.torch_device == "cuda" or (
        args.torch_device == "auto" and torch.cuda.is_available()
    )
    dev = torch.device("cuda" if use_cuda else "cpu")
    result["device"] = (
        {"type": "gpu", "name": torch.cuda.get_device_name(0), "index": 0}
        if use_cuda
        else {"type": "cpu"}
    )
    bf16 = args._precision == "bf16"

    def autocast():
        return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16)

    def sync():
        if use_cuda:
            torch.cuda.synchronize()

    model = TorchPolyNet(NUM_CLASSES).to(dev)
    result["params"] = count_params(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = args.steps * args.batch_size
    x_np, y_np = synthetic_data(args, n, channels_first=True)
    x = torch.from_numpy(x_np).to(dev)
    y = torch.from_numpy(y_np).long().to(dev)

    model.train()
    epoch_times, epoch_cpu = [], []
    loss = None
    for _ in range(1 + args.repeats):
        sync()
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(args.steps):
            xb = x[i * args.batch_size : (i + 1) * args.batch_size]
            yb = y[i * args.batch_size : (i + 1) * args.batch_size]
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
        loss_value = float(loss)  # like Keras' end-of-epoch logs: waits for the device
        sync()
        epoch_times.append(time.perf_counter() - start)
        epoch_cpu.append(time.process_time() - cpu)
    result["final_loss"] = loss_value
    record_epochs(result, args, epoch_times, epoch_cpu)
    result["peak_device_mem_mb_train"] = (
        torch.cuda.max_memory_allocated() / 2**20 if use_cuda else None
    )

    model.eval()
    x1 = torch.from_numpy(synthetic_data(args, 1, channels_first=True)[0]).to(dev)
    x256 = torch.from_numpy(synthetic_data(args, 256, channels_first=True)[0]).to(dev)

    def predict(xb):
        with torch.inference_mode(), autocast():
            return model(xb).float().cpu().numpy()  # like predict_on_batch: numpy on host

    result["latency_b1_ms"] = time_calls(lambda: predict(x1), args.latency_calls, args.repeats)
    result["latency_b256_ms"] = time_calls(
        lambda: predict(x256), max(3, args.latency_calls // 5), args.repeats
    )
    result["peak_rss_mb"] = peak_rss_mb()
    result["peak_device_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20 if use_cuda else None
    return result


def run_worker(args):
    if args._worker == "torch":
        result = torch_worker(args)
    else:
        result = keras_worker(args)
    with open(args._worker_output, "w") as f:
        json.dump(result, f)


# ---------------------------------------------------------------------------
# The parent: one subprocess per (round, precision, network), then statistics.
# ---------------------------------------------------------------------------
def torch_available():
    try:
        import importlib.util

        return importlib.util.find_spec("torch") is not None
    except Exception:  # noqa: BLE001
        return False


def child_env(args, network):
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    threads = str(args.threads)
    # Read at library load time: set before the framework is imported.
    env["OMP_NUM_THREADS"] = threads
    env["MKL_NUM_THREADS"] = threads
    if network == "torch":
        if args.omp_wait_policy != "unset":
            env["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    else:
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX GPU: honest peak memory
    return env


def worker_command(args, network, precision, output):
    cmd = [sys.executable, os.path.abspath(__file__)]
    skip = {
        "networks",
        "precisions",
        "output",
        "quick",
        "rounds",
        "_worker",
        "_worker_output",
        "_precision",
        "timeout",
    }
    for key, value in vars(args).items():
        if key in skip:
            continue
        if isinstance(value, bool):
            if value:
                cmd.append(f"--{key}")
        else:
            cmd.append(f"--{key}={value}")
    cmd += [f"--_worker={network}", f"--_worker_output={output}", f"--_precision={precision}"]
    return cmd


def loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def run_child(args, network, precision):
    fd, path = tempfile.mkstemp(suffix=".json", prefix=f"bench_{network}_")
    os.close(fd)
    try:
        start = time.time()
        before = loadavg()
        proc = subprocess.run(
            worker_command(args, network, precision, path),
            env=child_env(args, network),
            capture_output=True,
            text=True,
            timeout=args.timeout,
        )
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-3000:]
            raise RuntimeError(
                f"{network}/{precision} subprocess failed (exit {proc.returncode}):\n{tail}"
            )
        with open(path) as f:
            result = json.load(f)
        result["wall_s"] = time.time() - start
        result["loadavg_before"] = before
        result["loadavg_after"] = loadavg()
        return result
    finally:
        os.unlink(path)


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return min(values), statistics.median(values)


def summarize(network_runs, batch_size):
    """Pools the samples of every subprocess of one network at one precision."""
    if not network_runs:
        return None
    step_ms = [t for r in network_runs for t in r["step_ms"]]
    step_min, step_med = stats(step_ms)
    out = {
        "img_per_s": batch_size / step_min * 1e3,  # from the fastest epoch
        "img_per_s_median": batch_size / step_med * 1e3,  # from the median epoch
        "step_ms_min": step_min,
        "step_ms_median": step_med,
        "step_ms_max": max(step_ms),
        "epochs_timed": len(step_ms),
    }
    # How noisy the machine was: median epoch over fastest epoch, in percent.
    out["noise_pct"] = 100.0 * (step_med / step_min - 1.0)
    cpu_min, cpu_med = stats([t for r in network_runs for t in r["step_cpu_ms"]])
    out["step_cpu_ms_min"], out["step_cpu_ms_median"] = cpu_min, cpu_med
    # What the network and its training add to the framework's own footprint.
    deltas = [
        r["peak_rss_mb"] - r["rss_after_import_mb"]
        for r in network_runs
        if r.get("peak_rss_mb") is not None and r.get("rss_after_import_mb") is not None
    ]
    out["peak_rss_over_import_mb_min"], out["peak_rss_over_import_mb_median"] = stats(deltas)
    for key in ("latency_b1_ms", "latency_b256_ms"):
        lo, med = stats([t for r in network_runs for t in r[key]])
        out[f"{key}_min"], out[f"{key}_median"] = lo, med
    for key in (
        "peak_rss_mb",
        "peak_rss_after_train_mb",
        "rss_after_import_mb",
        "peak_device_mem_mb",
    ):
        lo, med = stats([r.get(key) for r in network_runs])
        out[f"{key}_min"], out[f"{key}_median"] = lo, med
    out["params"] = network_runs[0].get("params")
    out["final_loss"] = network_runs[-1].get("final_loss")
    out["runs"] = network_runs
    return out


def flatten_precision(per_network):
    """The flat keys of one precision: `<network>_<metric>`, then the ratios."""
    flat = {}
    metrics = (
        "img_per_s",
        "img_per_s_median",
        "step_ms_min",
        "step_ms_median",
        "step_cpu_ms_min",
        "step_cpu_ms_median",
        "noise_pct",
        "latency_b1_ms_min",
        "latency_b1_ms_median",
        "latency_b256_ms_min",
        "latency_b256_ms_median",
        "peak_rss_mb_min",
        "peak_rss_mb_median",
        "peak_rss_after_train_mb_min",
        "rss_after_import_mb_min",
        "peak_rss_over_import_mb_min",
        "peak_rss_over_import_mb_median",
        "peak_device_mem_mb_min",
        "peak_device_mem_mb_median",
    )
    for network in NETWORKS:
        summary = per_network.get(network)
        for metric in metrics:
            flat[f"{network}_{metric}"] = None if summary is None else summary[metric]

    def ratio(a, b):
        return None if a is None or b is None else a / b

    flat["ratio_vs_torch"] = ratio(flat["keras_img_per_s"], flat["torch_img_per_s"])
    flat["ratio_vs_relu_cnn"] = ratio(flat["keras_img_per_s"], flat["relu_cnn_img_per_s"])
    flat["ratio_vs_torch_median"] = ratio(
        flat["keras_img_per_s_median"], flat["torch_img_per_s_median"]
    )
    flat["ratio_vs_relu_cnn_median"] = ratio(
        flat["keras_img_per_s_median"], flat["relu_cnn_img_per_s_median"]
    )
    # CPU time per step, other / keras: the ratio to read on a busy machine at --threads=1.
    flat["ratio_vs_torch_cpu"] = ratio(flat["torch_step_cpu_ms_min"], flat["keras_step_cpu_ms_min"])
    flat["ratio_vs_relu_cnn_cpu"] = ratio(
        flat["relu_cnn_step_cpu_ms_min"], flat["keras_step_cpu_ms_min"]
    )
    flat["details"] = per_network
    return flat


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(backend):
    out = {"python": platform.python_version()}
    for module in ("keras", "tensorflow", "jax", "jaxlib", "torch", "numpy"):
        if module == "tensorflow" and backend != "tensorflow":
            continue  # no TensorFlow on the JAX GPU machine: do not even try
        try:
            from importlib.metadata import version

            out[module] = version(module)
        except Exception:  # noqa: BLE001
            out[module] = None
    return out


def fmt(value, spec=".1f"):
    return "-" if value is None else format(value, spec)


def print_table(report):
    load = report["machine_state"]
    print(
        f"\ndevice: {report['device']}   backend: {report['backend']}   "
        f"threads: {report['settings']['threads']}   load average at start/end: "
        f"{fmt(load['loadavg_start'] and load['loadavg_start'][0], '.2f')}/"
        f"{fmt(load['loadavg_end'] and load['loadavg_end'][0], '.2f')}"
    )
    header = (
        f"{'precision':9} {'network':9} {'img/s best':>10} {'img/s med':>10} "
        f"{'b1 ms min':>9} {'b1 ms med':>9} {'b256 ms min':>11} {'b256 ms med':>11} "
        f"{'RSS MB':>7} {'+model':>6} {'dev MB':>6} {'cpu ms/step':>11} {'noise%':>6}"
    )
    print(header)
    print("-" * len(header))
    for precision in report["settings"]["precisions"]:
        r = report[precision]
        for net in NETWORKS:
            print(
                f"{precision:9} {net:9} {fmt(r[f'{net}_img_per_s']):>10} "
                f"{fmt(r[f'{net}_img_per_s_median']):>10} "
                f"{fmt(r[f'{net}_latency_b1_ms_min'], '.2f'):>9} "
                f"{fmt(r[f'{net}_latency_b1_ms_median'], '.2f'):>9} "
                f"{fmt(r[f'{net}_latency_b256_ms_min'], '.1f'):>11} "
                f"{fmt(r[f'{net}_latency_b256_ms_median'], '.1f'):>11} "
                f"{fmt(r[f'{net}_peak_rss_mb_min'], '.0f'):>7} "
                f"{fmt(r[f'{net}_peak_rss_over_import_mb_min'], '.0f'):>6} "
                f"{fmt(r[f'{net}_peak_device_mem_mb_min'], '.0f'):>6} "
                f"{fmt(r[f'{net}_step_cpu_ms_min'], '.1f'):>11} "
                f"{fmt(r[f'{net}_noise_pct'], '.0f'):>6}"
            )
        print(
            f"{precision:9} ratio keras/torch {fmt(r['ratio_vs_torch'], '.2f')} "
            f"(median {fmt(r['ratio_vs_torch_median'], '.2f')}), keras/relu_cnn "
            f"{fmt(r['ratio_vs_relu_cnn'], '.2f')} "
            f"(median {fmt(r['ratio_vs_relu_cnn_median'], '.2f')}); by CPU time "
            f"{fmt(r['ratio_vs_torch_cpu'], '.2f')} and {fmt(r['ratio_vs_relu_cnn_cpu'], '.2f')}"
        )
    for note in report["notes"]:
        print("note:", note)


def main(argv=None):
    args = parse_args(argv)
    if args._worker:
        run_worker(args)
        return 0
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    notes = []
    networks = list(args.networks)
    if "torch" in networks and not torch_available():
        networks.remove("torch")
        notes.append("PyTorch is not importable: the torch columns are null.")
    if backend == "jax":
        notes.append("JAX: --threads reaches torch only; XLA sizes its own CPU thread pool.")
    if args.polynet_variant != "pinet" or args.init != "default":
        notes.append(
            f"profiling run: keras PolyNet variant={args.polynet_variant}, "
            f"init={args.init} (not the package default)"
        )
    load_start = loadavg()
    if load_start and load_start[0] > 0.5 * args.threads:
        notes.append(
            f"1-minute load average {load_start[0]:.2f} at start on {cpu_count()} cores: "
            "other processes share the cores. Wall-clock numbers are unreliable (torch's "
            "spinning OpenMP/oneDNN barriers suffer most); read the CPU-time ratios at "
            "--threads=1, or use --omp_wait_policy=passive and more --rounds."
        )
    runs = {p: {n: [] for n in networks} for p in args.precisions}
    for round_index in range(args.rounds):
        for precision in args.precisions:
            # Rotate the order each round so no network always runs first.
            order = (
                networks[round_index % len(networks) :] + networks[: round_index % len(networks)]
            )
            for network in order:
                print(
                    f"[round {round_index + 1}/{args.rounds}] {precision} {network} ...",
                    file=sys.stderr,
                    flush=True,
                )
                runs[precision][network].append(run_child(args, network, precision))
    devices = {
        r["device"].get("name", "cpu") for p in runs.values() for rs in p.values() for r in rs
    }
    gpu_names = sorted(d for d in devices if d != "cpu")
    device = (
        ", ".join(gpu_names) + f" (host: {cpu_name()}, {cpu_count()} cores)"
        if gpu_names
        else f"{cpu_name()}, {cpu_count()} cores"
    )
    report = {
        "device": device,
        "backend": backend,
        "versions": versions(backend),
        "settings": {
            "batch_size": args.batch_size,
            "steps_per_epoch": args.steps,
            "repeats": args.repeats,
            "rounds": args.rounds,
            "threads": args.threads,
            "inter_op_threads": args.inter_op_threads,
            "omp_wait_policy_torch": args.omp_wait_policy,
            "keras_loop": args.keras_loop,
            "steps_per_execution": args.steps_per_execution,
            "jit_compile": args.jit_compile,
            "metrics": args.metrics,
            "polynet_variant": args.polynet_variant,
            "init": args.init,
            "torch_flush_denormal": args.torch_flush_denormal,
            "precisions": args.precisions,
            "quick": args.quick,
            "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        },
        "machine_state": {
            "loadavg_start": load_start,
            "loadavg_end": loadavg(),
            "note": "1-minute load average above the core count means other work shared "
            "the cores: compare the ratios, not the absolute numbers.",
        },
        "notes": notes,
    }
    for precision in args.precisions:
        per_network = {n: summarize(runs[precision].get(n), args.batch_size) for n in NETWORKS}
        report[precision] = flatten_precision(per_network)
    print_table(report)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
