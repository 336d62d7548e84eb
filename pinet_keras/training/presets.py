"""Training recipes by name: ``apply_preset(config, "cifar10")``, ``--preset=cifar10``.

A preset is a dict of `TrainConfig` fields. `apply_preset` fills a config
with it, except the fields the caller set explicitly (on the command line of
`examples/train.py`, the flags that were given), so that

    python examples/train.py --preset=cifar10_cpu --epochs=5

is the CPU recipe for 5 epochs. The recipes train the activation-free
`PiResNet` (no activation function, no max pooling; see its docstring) on
CIFAR-10 with what the Π-nets authors use for their activation-free
ResNet-style networks: batch-normalized products with identity skips and a
small learnable scale on the product term (in the model), label smoothing
0.1, random crops (padding 4) and horizontal flips, standardized inputs,
SGD with Nesterov momentum 0.9 at 0.1 (batch 128), weight decay (not on
biases, batch-norm parameters or product scales), and a cosine schedule
after a linear warm-up.

Weight decay is 5e-3, not the 5e-4 of the PyTorch CIFAR recipes, on
purpose: Keras' decay is decoupled (``w -= lr * weight_decay * w`` at each
step, outside the momentum), while PyTorch's SGD adds ``5e-4 * w`` to the
gradient, which momentum 0.9 then amplifies about tenfold. Keras' 5e-3 is
about the strength of PyTorch's 5e-4.

``"cifar10"``
    The GPU recipe for the ≥92% target: ``pi_resnet`` (the ResNet-18
    analogue, widths 64-128-256-512, 2 blocks per stage, 22.2M parameters,
    degree 2**17), 200 epochs, 5 warm-up epochs, bfloat16 mixed precision
    (pass ``--mixed_precision=none`` on a GPU without bfloat16). It runs
    without TensorFlow (Keras on JAX, the `NumpyDataset` pipeline); README
    says what has been measured.

``"cifar10_cpu"``
    The CPU recipe: ``pi_resnet_small`` (widths 16-32-64, one block per
    stage, 154,554 parameters, degree 2**7), 50 epochs with 2 warm-up
    epochs, float32, sized to train in under an hour on 2 idle CPU cores
    (README has the measured accuracy and time).

    python examples/train.py --dataset=cifar10 --data_dir=../shared/data/cifar10 \\
        --preset=cifar10 --output_dir=runs/cifar10_pi_resnet
    python examples/train.py --dataset=cifar10 --data_dir=../shared/data/cifar10 \\
        --preset=cifar10_cpu --output_dir=runs/cifar10_pi_resnet_small
"""

import dataclasses

_CIFAR10_COMMON = dict(
    dataset="cifar10",
    batch_size=128,
    optimizer="sgd",
    learning_rate=0.1,
    lr_schedule="cosine",
    weight_decay=5e-3,
    label_smoothing=0.1,
    augment=True,
    input_normalization="standardize",
    validation_split=0.1,
)

PRESETS = {
    "cifar10": dict(
        _CIFAR10_COMMON,
        model="pi_resnet",
        epochs=200,
        warmup_epochs=5.0,
        mixed_precision="bf16",
    ),
    "cifar10_cpu": dict(
        _CIFAR10_COMMON,
        model="pi_resnet_small",
        epochs=50,
        warmup_epochs=2.0,
        mixed_precision="none",
    ),
}


def apply_preset(config, name, explicit=()):
    """Returns a copy of ``config`` with the fields of preset ``name``.

    Fields named in ``explicit`` keep their value in ``config`` (the flags
    given on the command line win over the preset). ``model_overrides`` are
    merged: the preset's, then the config's that are not ``None``.

    Args:
        config: a `TrainConfig`; it is not modified.
        name: a key of `PRESETS`.
        explicit: names of `TrainConfig` fields set explicitly.

    Returns:
        A new `TrainConfig`.

    Example:

    >>> from pinet_keras.training import TrainConfig
    >>> config = apply_preset(TrainConfig(epochs=3), "cifar10_cpu", explicit=["epochs"])
    >>> config.model, config.epochs, config.optimizer, config.label_smoothing
    ('pi_resnet_small', 3, 'sgd', 0.1)
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Available: {', '.join(sorted(PRESETS))}.")
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(explicit) - fields)
    if unknown:
        raise ValueError(f"Not fields of {type(config).__name__}: {', '.join(unknown)}.")
    preset = dict(PRESETS[name])
    unknown = sorted(set(preset) - fields)
    if unknown:
        raise ValueError(f"Preset {name!r} sets unknown fields: {', '.join(unknown)}.")
    changes = {k: v for k, v in preset.items() if k not in explicit}
    if "model_overrides" in preset:
        given = {k: v for k, v in (config.model_overrides or {}).items() if v is not None}
        changes["model_overrides"] = {**preset["model_overrides"], **given}
    return dataclasses.replace(config, **changes)
