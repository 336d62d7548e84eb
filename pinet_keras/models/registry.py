"""Named model presets, for scripts and the tuner: ``get_model("polynet_bn", ...)``."""

from __future__ import annotations

import inspect
import types

import keras

from pinet_keras.models.fast_net import FastNet
from pinet_keras.models.pi_resnet import PiResNet
from pinet_keras.models.polynet import PolyNet

# Each preset is a builder and its default arguments; any argument can be
# overridden by the caller. Read-only: a model of one's own is built directly.
_PRESETS = types.MappingProxyType(
    {
        # The original five-block network, exactly.
        "polynet": (PolyNet, {}),
        # Batch-normalized product and first-order skip in every block, dropout
        # before the head: the regularized variant for long training runs.
        "polynet_bn": (PolyNet, {"normalization": "batch", "use_skip": True, "dropout": 0.3}),
        # Activation-free ResNet-18 analogue (each 3x3 convolution a polynomial
        # one): 22.2M parameters, degree 2**17 on 32x32x3. The GPU recipe
        # (`pinet_keras.training.presets`, "cifar10").
        "pi_resnet": (
            PiResNet,
            {
                "stage_widths": (64, 128, 256, 512),
                "blocks_per_stage": (2, 2, 2, 2),
                "product_scale": 0.1,
            },
        ),
        # Its small CPU version (ResNet-8-like: one block per stage): 154,554
        # parameters, degree 2**7; the "cifar10_cpu_small" recipe trains it in under
        # an hour on 2 CPU cores.
        "pi_resnet_small": (
            PiResNet,
            {"stage_widths": (16, 32, 64), "blocks_per_stage": (1, 1, 1), "product_scale": 0.1},
        ),
        # pi_resnet narrowed to PiNet-18's parameter count (11.7M; R-PolyNets
        # 11.9M) for comparisons with the published CIFAR-10 results:
        # 11,478,712 parameters, degree 2**17.
        "pi_resnet18_matched": (
            PiResNet,
            {
                "stage_widths": (46, 92, 184, 368),
                "blocks_per_stage": (2, 2, 2, 2),
                "product_scale": 0.1,
            },
        ),
        # The same with the R-PolyNets authors' CIFAR regularizers: instance-
        # batch normalization, 3x3 max pooling after stages 1-3, DropBlock
        # (0.1, block 7) after stages 1-2 (the "cifar10_authors" recipe).
        "pi_resnet18_authors": (
            PiResNet,
            {
                "stage_widths": (46, 92, 184, 368),
                "blocks_per_stage": (2, 2, 2, 2),
                "product_scale": 0.1,
                "normalization": "instance_batch",
                "max_pooling": True,
                "dropblock": 0.1,
            },
        ),
        # The fast CIFAR network (whitened first layer, three groups of two 3x3
        # convolutions, 2x2 average pooling), every convolution polynomial:
        # degree 2**6 at inference. `--block=relu` is its ReLU reference.
        "fast_net": (FastNet, {}),
    }
)
# The preset names, for `get_model` and the scripts' --model flag.
MODELS = tuple(_PRESETS)


def get_model(name: str, input_shape, num_classes: int, **overrides) -> keras.Model:
    """Builds the preset ``name`` for ``input_shape`` and ``num_classes``.

    Arguments whose value is ``None`` in ``overrides`` are ignored, so that
    unset command-line flags keep the preset's value.

    Example:

    >>> model = get_model("polynet_bn", (28, 28, 1), 10, width=8)
    >>> model.get_layer("block1").normalization
    'batch'
    """
    if name not in _PRESETS:
        raise ValueError(f"Unknown model {name!r}. Available: {', '.join(MODELS)}.")
    builder, defaults = _PRESETS[name]
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(inspect.signature(builder).parameters))
    if unknown:
        raise ValueError(
            f"Model {name!r} ({builder.__name__}) has no option {', '.join(unknown)}; "
            "leave it unset or choose a PiResNet model."
        )
    kwargs = {**defaults, **given}
    return builder(input_shape=tuple(input_shape), num_classes=num_classes, **kwargs)
