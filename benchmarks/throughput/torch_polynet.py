"""The PyTorch reference: the five-block PolyNet as the original experiment wrote it.

Each block is two ``nn.Conv2d`` with bias over the same input, multiplied
elementwise; then flatten and ``nn.Linear(256 * 3 * 3, 10)``. PyTorch's own
initialization, NCHW tensors, Adam 1e-3 and cross-entropy on the logits.
1,220,362 parameters, the same count as ``pinet_keras.PolyNet()``.

Used by ``benchmarks/train_throughput.py`` (``throughput/torch_worker.py``); importing
this module imports torch.
"""

import torch
from torch import nn

# (in_channels, out_channels, kernel, stride, padding) of the original network.
BLOCKS = (
    (1, 16, 3, 1, 1),
    (16, 32, 4, 2, 1),
    (32, 64, 4, 2, 1),
    (64, 128, 2, 1, 0),
    (128, 256, 4, 2, 1),
)


class PolyBlock(nn.Module):
    """``conv_a(x) * conv_b(x)``: degree 2 in ``x``."""

    def __init__(self, in_channels, out_channels, kernel, stride, padding):
        super().__init__()
        self.conv_a = nn.Conv2d(in_channels, out_channels, kernel, stride, padding)
        self.conv_b = nn.Conv2d(in_channels, out_channels, kernel, stride, padding)

    def forward(self, x):
        return self.conv_a(x) * self.conv_b(x)


class TorchPolyNet(nn.Module):
    """Five `PolyBlock`s, flatten, linear head (logits). Input ``(N, 1, 28, 28)``."""

    def __init__(self, num_classes=10, blocks=BLOCKS):
        super().__init__()
        self.blocks = nn.Sequential(*(PolyBlock(*row) for row in blocks))
        self.head = nn.Linear(256 * 3 * 3, num_classes)

    def forward(self, x):
        return self.head(torch.flatten(self.blocks(x), 1))


def count_params(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    net = TorchPolyNet()
    print(count_params(net), net(torch.zeros(2, 1, 28, 28)).shape)
