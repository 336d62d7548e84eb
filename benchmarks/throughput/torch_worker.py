"""The PyTorch side: the original experiment's PolyNet (``torch_polynet``) in the usual loop."""

import time

from throughput.common import NUM_CLASSES
from throughput.common import peak_rss_mb
from throughput.common import record_epochs
from throughput.common import rss_mb
from throughput.common import synthetic_data
from throughput.common import time_calls
from throughput.roofline import gemm_gflops
from throughput.roofline import gemm_size
from throughput.roofline import torch_layer_flops


def gemm_peak(torch, dev, dtype):
    """GFLOP/s of one large matrix product in PyTorch, at ``dtype``."""
    size = gemm_size(dev.type == "cuda")
    generator = torch.Generator(device=dev).manual_seed(0)
    a = torch.rand(size, size, device=dev, generator=generator).to(dtype)
    b = torch.rand(size, size, device=dev, generator=generator).to(dtype)
    return gemm_gflops(
        lambda: float(torch.matmul(a, b)[0, 0]), size, 20 if dev.type == "cuda" else 5
    )


def run(args):
    result = {}
    import torch
    import torch.nn.functional as F

    from throughput.torch_polynet import TorchPolyNet
    from throughput.torch_polynet import count_params

    torch.set_num_threads(args.threads)
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
    x_np, y_np = synthetic_data(args.seed, args.steps * args.batch_size, channels_first=True)
    x = torch.from_numpy(x_np).to(dev)
    y = torch.from_numpy(y_np).long().to(dev)
    result["training_flops_layers"] = torch_layer_flops(model, x)

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
    record_epochs(result, args.steps, epoch_times, epoch_cpu)
    result["peak_device_mem_mb_train"] = (
        torch.cuda.max_memory_allocated() / 2**20 if use_cuda else None
    )

    model.eval()
    x1 = torch.from_numpy(synthetic_data(args.seed, 1, channels_first=True)[0]).to(dev)
    x256 = torch.from_numpy(synthetic_data(args.seed, 256, channels_first=True)[0]).to(dev)

    def predict(xb):
        with torch.inference_mode(), autocast():
            return model(xb).float().cpu().numpy()  # like predict_on_batch: numpy on host

    result["latency_b1_ms"] = time_calls(lambda: predict(x1), args.latency_calls, args.repeats)
    result["latency_b256_ms"] = time_calls(
        lambda: predict(x256), max(3, args.latency_calls // 5), args.repeats
    )
    result["peak_rss_mb"] = peak_rss_mb()
    result["peak_device_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20 if use_cuda else None
    if args.gemm_peak:
        result["gemm_gflops"] = gemm_peak(torch, dev, torch.bfloat16 if bf16 else torch.float32)
    return result
