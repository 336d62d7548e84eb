"""The roofline's two numbers: FLOPs per training image and the measured GEMM peak.

FLOPs count the multiply-adds of convolutions and matrix products (2 FLOPs
each); elementwise products, biases, normalization and the optimizer are left
out (a few percent of a PolyNet step). A training step does each layer's
forward product, its weight gradient (the same count) and its input gradient
(the same count, except for the layers that read the images, whose input
needs no gradient):

    training FLOPs per image = 3 × forward − forward of the layers on the input

The peak is what one large matrix product reaches in the framework, at the
precision of the run, on the threads of the run: an honest ceiling for
convolutions, which oneDNN and cuDNN run as matrix products.
"""

import math
import time


def training_flops(layers):
    """Training FLOPs per image from ``(forward FLOPs, needs input gradient)`` per layer."""
    return sum(3 * flops if needs_grad else 2 * flops for flops, needs_grad in layers)


def keras_layer_flops(model):
    """``(forward FLOPs per image, needs input gradient)`` of each layer of a Keras model.

    Every kernel of a layer (its own or its sublayers': a polynomial layer's
    branches) counts: a rank-2+k kernel ``(k1, ..., kk, c_in, c_out)`` costs
    ``prod(kernel) × prod(spatial output of the layer)`` multiply-adds, a
    ``(c_in, c_out)`` kernel of a `Dense` layer ``c_in × c_out`` per output
    position. The first layer with a kernel needs no input gradient (the
    models here are chains: layers without weights before it).
    """
    layers = []
    for layer in model.layers:
        kernels = [w for w in layer.weights if w.path.split("/")[-1].endswith("kernel")]
        if not kernels:
            continue
        spatial = math.prod(layer.output.shape[1:-1])
        layers.append((sum(2 * math.prod(k.shape) * spatial for k in kernels), bool(layers)))
    return layers


def torch_layer_flops(model, example):
    """``(forward FLOPs per image, needs input gradient)`` of each `nn.Conv2d`/`nn.Linear`.

    A layer needs an input gradient when its input depends on a parameter
    (``requires_grad`` in a forward pass of one image, ``example[:1]``).
    """
    from torch import nn

    layers, hooks = [], []

    def hook(module, inputs, output):
        per_output = math.prod(module.weight.shape[1:])  # c_in/groups × kernel (or c_in)
        layers.append((2 * per_output * output[0].numel(), bool(inputs[0].requires_grad)))

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            hooks.append(module.register_forward_hook(hook))
    try:
        model(example[:1])
    finally:
        for h in hooks:
            h.remove()
    return layers


def gemm_gflops(matmul, size, repeats):
    """Best GFLOP/s of ``matmul()`` (a ``size``×``size`` by ``size``×``size`` product).

    ``matmul`` must return only when the product is done (copy a scalar of
    it to the host on asynchronous devices).
    """
    matmul()  # warm-up: kernel selection, allocation
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        matmul()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def gemm_size(on_gpu):
    """Matrix size of the peak: large enough to saturate the device, quick to run."""
    return 8192 if on_gpu else 2048
