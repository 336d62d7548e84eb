"""Named model presets, for scripts and the tuner: ``get_model("polynet_bn", ...)``."""

import types

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
        # parameters, degree 2**7; the "cifar10_cpu" recipe trains it in under
        # an hour on 2 CPU cores.
        "pi_resnet_small": (
            PiResNet,
            {"stage_widths": (16, 32, 64), "blocks_per_stage": (1, 1, 1), "product_scale": 0.1},
        ),
    }
)
# The preset names, for `get_model` and the scripts' --model flag.
MODELS = tuple(_PRESETS)


def get_model(name, input_shape, num_classes, **overrides):
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
    kwargs = {**defaults, **{k: v for k, v in overrides.items() if v is not None}}
    return builder(input_shape=tuple(input_shape), num_classes=num_classes, **kwargs)
