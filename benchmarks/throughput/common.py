"""What every worker of the benchmark shares: data, timers, memory and machine readings."""

import os
import platform
import resource
import sys
import time

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def cpu_count():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def cpu_times():
    """The machine's CPU time counters (Linux ``/proc/stat``: user, nice, system, idle,
    iowait, irq, softirq, steal, ...), or None elsewhere."""
    try:
        with open("/proc/stat") as f:
            return [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def steal_share(before, after):
    """Share of the CPU time between two `cpu_times` readings that the host gave to other
    machines (steal), or None where it is not counted."""
    if before is None or after is None or len(before) < 8 or len(after) < 8:
        return None
    total = sum(after[:8]) - sum(before[:8])
    return (after[7] - before[7]) / total if total > 0 else 0.0


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


def record_epochs(result, steps, epoch_times, epoch_cpu):
    """Per-step wall and CPU ms of the timed epochs (the first epoch is the warm-up)."""
    result["warmup_epoch_s"] = epoch_times[0]
    result["step_ms"] = [t / steps * 1e3 for t in epoch_times[1:]]
    # Process CPU time (every thread): robust to other processes on the cores,
    # but at threads > 1 it also counts the frameworks' spin-waiting.
    result["step_cpu_ms"] = [t / steps * 1e3 for t in epoch_cpu[1:]]
    result["peak_rss_after_train_mb"] = peak_rss_mb()


def synthetic_data(seed, n, channels_first=False):
    """``n`` images with pixels uniform in [0, 1) and random labels (NHWC, or NCHW)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.random((n,) + IMAGE_SHAPE, dtype=np.float32)
    if channels_first:
        x = np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))
    y = rng.integers(0, NUM_CLASSES, size=(n,)).astype(np.int32)
    return x, y
