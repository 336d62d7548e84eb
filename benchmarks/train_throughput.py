"""Training throughput, the roofline, inference latency and peak memory of the PolyNet.

It measures three networks in one run on one machine, each in its own
subprocess (clean memory numbers, thread settings applied before the
framework is imported):

  keras     pinet_keras.PolyNet() (five blocks, width 16, 28x28x1, 10 classes,
            1,220,362 parameters) on the Keras backend in use;
  torch     the same network in PyTorch as the original experiment wrote it
            (throughput/torch_polynet.py: two nn.Conv2d per block, multiplied,
            NCHW, Adam 1e-3, cross-entropy); null columns if torch is missing;
  relu_cnn  a Keras CNN of the same shape with one Conv2D(relu) per block.

For each network and precision (fp32, bf16): training images/s at steady
state (`model.fit` on in-memory synthetic data; the first epoch is the
warm-up), the cores kept busy (CPU time over wall time), the roofline (FLOPs
per training image counted from the layers, the GFLOP/s achieved, and their
share of the GEMM peak measured in the same run), inference latency at batch
1 and 256, and peak memory (RSS high-water mark, import included, on CPU; the
framework's peak allocation on GPU). The parts live in `throughput/`;
experiments that README rejected live in `experiments/`.

    python benchmarks/train_throughput.py --rounds=3 --output=benchmarks/results/cpu.json
    python benchmarks/train_throughput.py --quick            # smoke test
    KERAS_BACKEND=jax python benchmarks/train_throughput.py --output=benchmarks/results/gpu.json

See benchmarks/README.md for what each number means and what was tried.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from throughput import report as reporting  # noqa: E402
from throughput.common import cpu_count  # noqa: E402
from throughput.common import cpu_name  # noqa: E402
from throughput.common import loadavg  # noqa: E402

PRECISIONS = ("fp32", "bf16")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--networks",
        default=",".join(reporting.NETWORKS),
        help="Comma-separated subset of: " + ", ".join(reporting.NETWORKS),
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
        "so that a busy machine slows all networks alike; samples are pooled, and "
        "the keras/torch ratio of each round is kept.",
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
        default=cpu_count(),
        help="TensorFlow inter-op threads; the default is TensorFlow's own (the usable "
        "cores), what pinet_keras.training runs with (torch's eager loop has none).",
    )
    p.add_argument(
        "--omp_wait_policy",
        default="unset",
        choices=["unset", "passive", "active"],
        help="OMP_WAIT_POLICY of the torch subprocess. 'unset': the library "
        "default (spinning; fastest on an idle machine, collapses when other "
        "processes share the cores); 'passive': threads sleep at barriers.",
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
        "--no_gemm_peak",
        dest="gemm_peak",
        action="store_false",
        help="Skip the GEMM peak (the roofline's ceiling) at the end of each subprocess.",
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
        if name not in reporting.NETWORKS:
            p.error(f"unknown network {name!r}; choose from {reporting.NETWORKS}")
    for name in args.precisions:
        if name not in PRECISIONS:
            p.error(f"unknown precision {name!r}; choose from {PRECISIONS}")
    for name in ("steps", "repeats", "rounds", "batch_size", "threads", "inter_op_threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    if args.output and os.path.isdir(args.output):
        p.error(
            f"--output={args.output} is a folder; give a file name, e.g. {args.output}/cpu.json"
        )
    return args


def run_worker(args):
    """In the subprocess: measure one network at one precision, write its JSON."""
    if args._worker == "torch":
        from throughput import torch_worker as worker
    else:
        from throughput import keras_worker as worker
    with open(args._worker_output, "w") as f:
        json.dump(worker.run(args), f)


def torch_available():
    import importlib.util

    return importlib.util.find_spec("torch") is not None


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
    skip = {"networks", "precisions", "output", "quick", "rounds", "timeout"}
    skip |= {"_worker", "_worker_output", "_precision"}
    for key, value in vars(args).items():
        if key in skip:
            continue
        if key == "gemm_peak":
            if not value:
                cmd.append("--no_gemm_peak")
        elif isinstance(value, bool):
            if value:
                cmd.append(f"--{key}")
        else:
            cmd.append(f"--{key}={value}")
    cmd += [f"--_worker={network}", f"--_worker_output={output}", f"--_precision={precision}"]
    return cmd


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


def versions(backend):
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    out = {}
    for module in ("keras", "tensorflow", "jax", "jaxlib", "torch", "numpy"):
        if module == "tensorflow" and backend != "tensorflow":
            continue  # no TensorFlow on the JAX GPU machine: do not even look
        try:
            out[module] = version(module)
        except PackageNotFoundError:
            out[module] = None
    return out


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
            shift = round_index % len(networks)
            for network in networks[shift:] + networks[:shift]:
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
    settings = {
        key: getattr(args, key)
        for key in (
            "batch_size",
            "steps",
            "repeats",
            "rounds",
            "threads",
            "inter_op_threads",
            "omp_wait_policy",
            "steps_per_execution",
            "jit_compile",
            "metrics",
            "gemm_peak",
            "precisions",
            "quick",
        )
    }
    settings["tf_enable_onednn_opts"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    report = {
        "device": device,
        "backend": backend,
        "versions": versions(backend),
        "settings": settings,
        "machine_state": {
            "loadavg_start": load_start,
            "loadavg_end": loadavg(),
            "note": "1-minute load average above the core count means other work shared "
            "the cores: compare the ratios, not the absolute numbers.",
        },
        "notes": notes,
    }
    for precision in args.precisions:
        per_network = {
            n: reporting.summarize(runs[precision].get(n), args.batch_size)
            for n in reporting.NETWORKS
        }
        report[precision] = reporting.flatten_precision(per_network, runs[precision])
    reporting.print_table(report)
    if args.output:
        directory = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".json.tmp", dir=directory)
        with os.fdopen(fd, "w") as f:
            json.dump(report, f, indent=1)
        os.replace(tmp, args.output)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
