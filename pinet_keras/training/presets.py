"""Training recipes by name: ``apply_preset(config, "cifar10")``, ``--preset=cifar10``.

A preset is a dict of `TrainConfig` fields. `apply_preset` fills a config
with it, except the fields the caller set explicitly (on the command line of
`pinet-keras train`, the flags that were given), so that

    pinet-keras train --preset=cifar10_cpu --epochs=5

is the CPU recipe for 5 epochs.

The package's own recipes (``cifar10``, ``cifar10_cpu``,
``cifar10_cpu_plain``, ``cifar10_cpu_small``; ``cifar10_cpu_fast`` and
``cifar10_fast`` below differ) train the activation-free
`PiResNet` (batch-normalized products with identity skips and a small
learnable scale on the product term; no max pooling but in ``cifar10_cpu``)
with label smoothing 0.1, random crops (padding 4)
and horizontal flips, standardized inputs, SGD with Nesterov momentum 0.9,
decoupled weight decay (not on biases, batch-norm parameters or product
scales) and a cosine schedule after a linear warm-up. They are this
package's choices, not the Π-nets authors'.

``"cifar10_authors"`` is the R-PolyNets authors' own CIFAR-10 recipe
(``configs/R_PolyNets_no_activation_functions_cifar10.yml`` and
``models/R_PolyNets.py`` of github.com/grigorisg9gr/regularized_polynomials):
SGD at 0.1 with (plain) momentum 0.9, batch 128, 120 epochs with the
learning rate divided by 10 at epochs 40, 60, 80 and 100, weight decay 5e-4,
label smoothing 0.1, instance-batch normalization (ratio 0.8) in the blocks
of the first three stages, 3×3 max pooling (stride 1) after stages 1-3 and
DropBlock (rate 0.1, block 7) after stages 1-2, on the PiNet-18-sized
``pi_resnet18_authors`` (11.5M parameters; their blocks differ in detail:
see `PiResNet`).

Weight decay: the presets give Keras' decoupled decay
(``w -= lr * weight_decay * w`` at each step, outside the momentum). The
PyTorch recipes' ``weight_decay=5e-4`` adds ``5e-4 * w`` to the gradient,
which momentum 0.9 then amplifies tenfold: Keras' 5e-3 is that strength, and
is what ``"cifar10_authors"`` uses for the authors' 5e-4.

``"mnist_cpu"``
    MNIST in under 30 minutes on 2 CPU cores: ``polynet_bn`` (the seed
    PolyNet with batch normalization and skips, 1,222,346 parameters,
    degree 32), 9 epochs of batch 256, AdamW at 3e-3 (weight decay 0.05, one
    warm-up epoch, cosine), label smoothing 0.1, random translations by up
    to 2 pixels (no flips: a mirrored digit is not a digit), float32.

``"fashion_mnist_cpu"``
    The same for Fashion-MNIST, with dropout 0.1 before the head, weight
    decay 0.01, horizontal flips and test-time flip averaging reported.

``"cifar10"``
    The long GPU recipe: ``pi_resnet`` (the ResNet-18 analogue, widths
    64-128-256-512, 2 blocks per stage, 22.2M parameters, degree 2**17),
    200 epochs, 5 warm-up epochs, bfloat16 mixed precision.

``"cifar10_fast"``
    The short GPU recipe, for one GPU in minutes on the JAX backend: the
    fast recipes' tricks of ``"cifar10_cpu_fast"`` at the widths of the
    fastest published ReLU recipe, ``fast_net`` at width 64 (`FastNet`
    64-256-256: whitened, frozen first convolution, polynomial, batch
    normalization without learned scale; a polynomial of degree 64), 40
    epochs of batch 1024 at 0.4 (2 warm-up epochs), label smoothing 0.2,
    bfloat16, the data in the GPU's memory (``pipeline="device"``: the
    training step gathers each batch there and the model's own layers
    augment it; no per-step host pipeline), test-time flip averaging
    reported. Needs no TensorFlow.

``"cifar10_cpu"``
    The CPU recipe: ``pi_resnet_small`` at width 32 (widths 32-64-128, one
    block per stage, 608,978 parameters; not a polynomial: see `PiResNet`)
    with the R-PolyNets authors' regularizers (instance-batch normalization in stages 1-2, 3×3
    max pooling of stride 1 after stages 1-2, DropBlock 0.1 after stages
    1-2), 30 epochs with 2 warm-up epochs, bfloat16 mixed precision,
    test-time flip averaging reported; sized to train in under an hour on 2
    CPU cores with bf16 instructions (about six hours in float32 on 2 cores
    without; the documentation's CIFAR-10 results give the measured accuracy and time).

``"cifar10_cpu_plain"``
    The same network and schedule without those regularizers (609,130
    parameters, degree 2**7; the recipe of the ReLU-twin comparison (CIFAR-10 results),
    ``--block=relu``).

``"cifar10_cpu_fast"``
    The one-hour CPU recipe of the fast family: ``fast_net`` (`FastNet`:
    a whitened, frozen 2×2 first convolution, three groups of two 3×3
    polynomial convolutions with 2×2 average pooling, batch normalization
    without learned scale; widths 32-128-128, a polynomial of degree 64),
    8 epochs of batch 256 at 0.2 (1 warm-up epoch), label smoothing 0.2,
    random translations by up to 2 pixels (as the fast recipes; the other
    CIFAR-10 recipes translate by 4) and flips, float32, test-time flip
    averaging reported. Chosen on the validation split over 0.1 and over
    4-pixel translations (the one-hour table of the CIFAR-10 results).

``"cifar10_cpu_relu"``
    Its ReLU reference (the anchor it is measured against): ``fast_net``
    with ``block="relu"`` (ReLUs, max pooling) at widths 48-192-192, which
    trains at about the same speed, 10 epochs at 0.2, otherwise the same
    but for 4-pixel translations (what it was measured with).

``"cifar10_cpu_small"``
    The earlier CPU recipe: ``pi_resnet_small`` (widths 16-32-64, 154,554
    parameters), 50 epochs, float32; the pretrained ``pi_resnet_cifar10``.

    pinet-keras train --dataset=cifar10 --data_dir=../shared/data/cifar10 \\
        --preset=cifar10_cpu --output_dir=runs/cifar10_cpu
    KERAS_BACKEND=jax pinet-keras train --dataset=cifar10 \\
        --data_dir=../shared/data/cifar10 --preset=cifar10_fast --output_dir=runs/cifar10_fast
"""

import dataclasses

from pinet_keras import _run

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

# The CPU recipe without the authors' regularizers; "cifar10_cpu" adds them.
_CIFAR10_CPU_PLAIN = dict(
    _CIFAR10_COMMON,
    model="pi_resnet_small",
    model_overrides=dict(width=32),
    epochs=30,
    warmup_epochs=2.0,
    mixed_precision="bf16",
)

# The short CPU recipes: FastNet (whitened first layer, three groups of two
# 3x3 convolutions) with the fast recipes' label smoothing 0.2, sized to
# train in an hour on 2 CPU cores in float32.
_CIFAR10_CPU_FAST = dict(
    _CIFAR10_COMMON,
    model="fast_net",
    batch_size=256,
    learning_rate=0.2,
    label_smoothing=0.2,
    translate=2,
    warmup_epochs=1.0,
    mixed_precision="none",
    tta_flip=True,
)

# The 28x28 recipes: the seed network with batch normalization and skips
# (`polynet_bn`, 1,222,346 parameters, degree 32), AdamW with a cosine
# schedule, label smoothing 0.1, random translations by up to 2 pixels; sized
# to train in under 30 minutes on 2 CPU cores in float32.
_DIGITS_CPU = dict(
    model="polynet_bn",
    batch_size=256,
    optimizer="adamw",
    learning_rate=3e-3,
    lr_schedule="cosine",
    warmup_epochs=1.0,
    weight_decay=0.05,
    label_smoothing=0.1,
    augment=True,
    input_normalization="unit",
    validation_split=0.1,
    mixed_precision="none",
    epochs=9,
)

PRESETS = {
    "mnist_cpu": dict(_DIGITS_CPU, dataset="mnist"),
    "fashion_mnist_cpu": dict(
        _DIGITS_CPU,
        dataset="fashion_mnist",
        model_overrides=dict(dropout=0.1),
        weight_decay=0.01,
        tta_flip=True,
    ),
    "cifar10": dict(
        _CIFAR10_COMMON,
        model="pi_resnet",
        epochs=200,
        warmup_epochs=5.0,
        mixed_precision="bf16",
    ),
    "cifar10_fast": dict(
        _CIFAR10_CPU_FAST,
        model_overrides=dict(width=64),
        batch_size=1024,
        learning_rate=0.4,
        epochs=40,
        warmup_epochs=2.0,
        mixed_precision="bf16",
        pipeline="device",
    ),
    "cifar10_cpu": dict(
        _CIFAR10_CPU_PLAIN,
        model_overrides=dict(
            _CIFAR10_CPU_PLAIN["model_overrides"],
            normalization="instance_batch",
            max_pooling=True,
            dropblock=0.1,
        ),
        tta_flip=True,
    ),
    "cifar10_cpu_plain": _CIFAR10_CPU_PLAIN,
    "cifar10_cpu_fast": dict(_CIFAR10_CPU_FAST, model_overrides=dict(width=32), epochs=8),
    # Measured with the 4-pixel translations of the other CIFAR-10 recipes.
    "cifar10_cpu_relu": dict(
        _CIFAR10_CPU_FAST, model_overrides=dict(width=48, block="relu"), translate=4, epochs=10
    ),
    "cifar10_cpu_small": dict(
        _CIFAR10_COMMON,
        model="pi_resnet_small",
        epochs=50,
        warmup_epochs=2.0,
        mixed_precision="none",
    ),
    "cifar10_authors": dict(
        _CIFAR10_COMMON,
        model="pi_resnet18_authors",
        nesterov=False,
        lr_schedule="multistep",
        epochs=120,
        mixed_precision="bf16",
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
    new = dataclasses.replace(config, **changes)
    try:
        new.validate()
    except _run.InvalidSetting as error:
        # A value the caller did not give (e.g. the preset's warm-up against a
        # shorter --epochs): say where it came from.
        if error.field not in changes:
            raise
        raise ValueError(
            f"{error} (preset {name!r} sets {error.field}={changes[error.field]!r})"
        ) from None
    return new
