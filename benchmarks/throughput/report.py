"""Statistics over the subprocesses of a run, the JSON's flat keys, and the printed table."""

import statistics

from throughput.roofline import training_flops

NETWORKS = ("keras", "torch", "relu_cnn")
# The flat keys of each network, `<network>_<metric>`, in every precision.
METRICS = (
    "img_per_s",
    "img_per_s_median",
    "step_ms_min",
    "step_ms_median",
    "step_cpu_ms_min",
    "step_cpu_ms_median",
    "cores_used",
    "noise_pct",
    "training_gflop_per_image",
    "achieved_gflops",
    "achieved_gflops_median",
    "gemm_gflops",
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


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return min(values), statistics.median(values)


def ratio(a, b):
    return None if a is None or b is None else a / b


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
    # Cores kept busy: CPU time over wall time, epoch by epoch (median).
    out["cores_used"] = statistics.median(
        cpu / wall for r in network_runs for cpu, wall in zip(r["step_cpu_ms"], r["step_ms"])
    )
    # The roofline: FLOPs per training image, what the run achieved, the GEMM peak.
    flops = training_flops(network_runs[0]["training_flops_layers"])
    out["training_gflop_per_image"] = flops / 1e9
    out["achieved_gflops"] = flops * out["img_per_s"] / 1e9
    out["achieved_gflops_median"] = flops * out["img_per_s_median"] / 1e9
    out["gemm_gflops"] = max((r.get("gemm_gflops") or 0 for r in network_runs), default=0) or None
    # What the network and its training add to the framework's own footprint.
    deltas = [
        r["peak_rss_mb"] - r["rss_after_import_mb"]
        for r in network_runs
        if r.get("peak_rss_mb") is not None and r.get("rss_after_import_mb") is not None
    ]
    out["peak_rss_over_import_mb_min"], out["peak_rss_over_import_mb_median"] = stats(deltas)
    for key in ("latency_b1_ms", "latency_b256_ms"):
        out[f"{key}_min"], out[f"{key}_median"] = stats([t for r in network_runs for t in r[key]])
    for key in (
        "peak_rss_mb",
        "peak_rss_after_train_mb",
        "rss_after_import_mb",
        "peak_device_mem_mb",
    ):
        out[f"{key}_min"], out[f"{key}_median"] = stats([r.get(key) for r in network_runs])
    out["params"] = network_runs[0].get("params")
    out["final_loss"] = network_runs[-1].get("final_loss")
    out["runs"] = network_runs
    return out


def round_ratios(runs_by_network, numerator, denominator):
    """keras / torch images/s of each round (the fastest epoch of each subprocess)."""
    ratios = []
    for a, b in zip(runs_by_network.get(numerator) or (), runs_by_network.get(denominator) or ()):
        ratios.append(min(b["step_ms"]) / min(a["step_ms"]))
    return ratios


def flatten_precision(per_network, runs_by_network):
    """The flat keys of one precision: `<network>_<metric>`, the peak, then the ratios."""
    flat = {}
    for network in NETWORKS:
        summary = per_network.get(network)
        for metric in METRICS:
            flat[f"{network}_{metric}"] = None if summary is None else summary[metric]
    # The machine's peak at this precision: the best large matrix product of any framework.
    peaks = [flat[f"{n}_gemm_gflops"] for n in NETWORKS if flat[f"{n}_gemm_gflops"]]
    flat["gemm_peak_gflops"] = max(peaks) if peaks else None
    for network in NETWORKS:
        flat[f"{network}_peak_share"] = ratio(
            flat[f"{network}_achieved_gflops"], flat["gemm_peak_gflops"]
        )
    flat["ratio_vs_torch"] = ratio(flat["keras_img_per_s"], flat["torch_img_per_s"])
    flat["ratio_vs_relu_cnn"] = ratio(flat["keras_img_per_s"], flat["relu_cnn_img_per_s"])
    flat["ratio_vs_torch_median"] = ratio(
        flat["keras_img_per_s_median"], flat["torch_img_per_s_median"]
    )
    flat["ratio_vs_relu_cnn_median"] = ratio(
        flat["keras_img_per_s_median"], flat["relu_cnn_img_per_s_median"]
    )
    # One ratio per round (the rounds run interleaved), and their median.
    flat["ratio_vs_torch_rounds"] = round_ratios(runs_by_network, "keras", "torch")
    flat["ratio_vs_torch_rounds_median"] = (
        statistics.median(flat["ratio_vs_torch_rounds"]) if flat["ratio_vs_torch_rounds"] else None
    )
    # CPU time per step, other / keras: the ratio to read on a busy machine at --threads=1.
    flat["ratio_vs_torch_cpu"] = ratio(flat["torch_step_cpu_ms_min"], flat["keras_step_cpu_ms_min"])
    flat["ratio_vs_relu_cnn_cpu"] = ratio(
        flat["relu_cnn_step_cpu_ms_min"], flat["keras_step_cpu_ms_min"]
    )
    flat["details"] = per_network
    return flat


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
        f"{'cores':>5} {'GFLOP/s':>7} {'of peak':>7} "
        f"{'b1 ms min':>9} {'b256 ms min':>11} "
        f"{'RSS MB':>7} {'+model':>6} {'dev MB':>6} {'cpu ms/step':>11} {'noise%':>6}"
    )
    print(header)
    print("-" * len(header))
    for precision in report["settings"]["precisions"]:
        r = report[precision]
        for net in NETWORKS:
            share = r[f"{net}_peak_share"]
            print(
                f"{precision:9} {net:9} {fmt(r[f'{net}_img_per_s']):>10} "
                f"{fmt(r[f'{net}_img_per_s_median']):>10} "
                f"{fmt(r[f'{net}_cores_used'], '.2f'):>5} "
                f"{fmt(r[f'{net}_achieved_gflops'], '.0f'):>7} "
                f"{fmt(share and 100 * share, '.0f'):>6}% "
                f"{fmt(r[f'{net}_latency_b1_ms_min'], '.2f'):>9} "
                f"{fmt(r[f'{net}_latency_b256_ms_min'], '.1f'):>11} "
                f"{fmt(r[f'{net}_peak_rss_mb_min'], '.0f'):>7} "
                f"{fmt(r[f'{net}_peak_rss_over_import_mb_min'], '.0f'):>6} "
                f"{fmt(r[f'{net}_peak_device_mem_mb_min'], '.0f'):>6} "
                f"{fmt(r[f'{net}_step_cpu_ms_min'], '.1f'):>11} "
                f"{fmt(r[f'{net}_noise_pct'], '.0f'):>6}"
            )
        rounds = ", ".join(fmt(x, ".2f") for x in r["ratio_vs_torch_rounds"])
        print(
            f"{precision:9} keras/torch {fmt(r['ratio_vs_torch'], '.2f')} "
            f"(rounds {rounds or '-'}: median {fmt(r['ratio_vs_torch_rounds_median'], '.2f')}), "
            f"keras/relu_cnn {fmt(r['ratio_vs_relu_cnn'], '.2f')}; by CPU time "
            f"{fmt(r['ratio_vs_torch_cpu'], '.2f')}; GEMM peak "
            f"{fmt(r['gemm_peak_gflops'], '.0f')} GFLOP/s"
        )
    for note in report["notes"]:
        print("note:", note)
