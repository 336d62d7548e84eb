"""Train a Π-net (PolyNet) with Keras.

Trains one of the package's model presets on MNIST, Fashion-MNIST, CIFAR-10
or scikit-learn's 8x8 digits, keeps the best epoch on a validation split
carved from the training data, and measures it once on the test split.

    # Quick start: no network, no files (scikit-learn's bundled digits).
    pinet-keras train --dataset=digits --epochs=20 --output_dir=runs/digits

    # MNIST from the raw IDX files in a local folder.
    pinet-keras train --dataset=mnist --data_dir=../shared/data/mnist \
        --model=polynet_bn --epochs=30 --augment --output_dir=runs/mnist

    # A recipe (pinet_keras.training.presets): it sets every option whose
    # flag is not given; flags given on the command line win.
    pinet-keras train --dataset=cifar10 --data_dir=../shared/data/cifar10 \
        --preset=cifar10_cpu --output_dir=runs/cifar10_cpu

Outputs in --output_dir: model.keras (best on validation), history.csv,
curves.png, metrics.json, logs/ (TensorBoard, with TensorFlow installed).
Run the same command again after an interruption and it resumes from the
last completed epoch; other flags are refused, listing the differences.
Nothing in --output_dir changes before the flags, the data and the model
were checked; --overwrite keeps the previous run until the new one has
finished its first epoch. An error prints one line and exits with status 2
(--debug shows the traceback).

Without TensorFlow (e.g. KERAS_BACKEND=jax with only JAX installed) the data
pipelines are NumPy ones and --strategy must stay default.
"""

import json

from absl import flags

from pinet_keras.cli import boundary
from pinet_keras.data import DATASETS
from pinet_keras.data.pipeline import PIPELINES
from pinet_keras.models import INPUT_NORMALIZATIONS
from pinet_keras.models import MODELS
from pinet_keras.training import TrainConfig
from pinet_keras.training.distribute import STRATEGIES
from pinet_keras.training.optimizers import OPTIMIZERS
from pinet_keras.training.optimizers import SCHEDULES
from pinet_keras.training.trainer import MIXED_PRECISION

FLAGS = boundary.command_flags()

# One flag per TrainConfig field (its name, type and default), then the model
# preset's overrides and the flags that are not part of the configuration.
HELP = {
    "model": f"Model preset: {', '.join(MODELS)} (polynet: the original network).",
    "batch_size": "Global batch size.",
    "optimizer": "Optimizer.",
    "nesterov": "Nesterov momentum for --optimizer=sgd (momentum 0.9 either way).",
    "mixup": "MixUp alpha (0: off); with --cutmix too, batches alternate.",
    "cutmix": "CutMix factor, the Beta parameter of the pasted area (0: off).",
    "tta_flip": "Also report the test accuracy averaged over each image and its mirror.",
    "tta_translate": "Also report the validation and test accuracies averaged over the images "
    "moved by +-N pixels diagonally (and their mirrors with --tta_flip); 0: off.",
    "max_train_examples": "Train on a seeded subset of this many examples (quick runs).",
    "learning_rate": "Peak learning rate.",
    "lr_schedule": "Learning-rate schedule.",
    "warmup_epochs": "Linear warm-up, with --lr_schedule=cosine.",
    "weight_decay": "Decoupled weight decay (not on biases and norms).",
    "label_smoothing": "Label smoothing.",
    "translate": "With --augment: random translations by up to this many pixels (default: the "
    "data set's, 4 for cifar10, 2 for mnist and fashion_mnist).",
    "clipnorm": "Clip each gradient to this norm.",
    "mixed_precision": "Mixed precision policy.",
    "steps_per_execution": "Training steps per compiled call.",
    "strategy": "Multi-device training: tf.distribute strategies, or data_parallel "
    "(keras.distribution.DataParallel, JAX backend).",
    "pipeline": "Input pipeline: auto (tf.data if TensorFlow is installed, else numpy), or "
    "device (the arrays in the accelerator's memory, batches gathered there).",
    "overwrite": "Train again from scratch over the run (finished or not) in --output_dir.",
}
CONFIG_FLAGS = boundary.define_config_flags(
    TrainConfig,
    HELP,
    choices={
        "dataset": DATASETS,
        "input_normalization": INPUT_NORMALIZATIONS,
        "optimizer": OPTIMIZERS,
        "lr_schedule": SCHEDULES,
        "mixed_precision": MIXED_PRECISION,
        "strategy": STRATEGIES,
        "pipeline": PIPELINES,
    },
    skip=("model_overrides", "verbose", "tensorboard"),
    flag_values=FLAGS,
)
MODEL_OVERRIDES = ("width", "num_blocks", "dropout", "block", "stochastic_depth", "dropblock")
flags.DEFINE_integer(
    "width", None, "Filters of the first block (preset's default if unset).", flag_values=FLAGS
)
flags.DEFINE_integer(
    "num_blocks",
    None,
    "Number of polynomial blocks; the degree is 2**num_blocks.",
    flag_values=FLAGS,
)
flags.DEFINE_float(
    "dropout", None, "Dropout before the head (preset's default if unset).", flag_values=FLAGS
)
flags.DEFINE_enum(
    "block",
    None,
    ["polynomial", "relu"],
    "PiResNet and FastNet models: polynomial blocks, or relu for the ReLU twin (same widths, "
    "one convolution and a ReLU where each polynomial layer is; FastNet: max pooling too).",
    flag_values=FLAGS,
)
flags.DEFINE_float(
    "stochastic_depth",
    None,
    "PiResNet models: drop rate of the last residual branch.",
    flag_values=FLAGS,
)
flags.DEFINE_float(
    "dropblock", None, "PiResNet models: DropBlock rate after stages 1 and 2.", flag_values=FLAGS
)
flags.DEFINE_integer(
    "cpu_devices",
    0,
    "Split the CPU into this many logical devices (--strategy=mirrored, no GPU).",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "preset",
    None,
    "A training recipe from pinet_keras.training.presets: mnist_cpu (under 30 minutes on 2 "
    "CPU cores), cifar10 (GPU: pi_resnet, 200 epochs), cifar10_fast (GPU, JAX, minutes), "
    "cifar10_cpu (under an hour on 2 CPU cores with bf16 instructions; cifar10_cpu_plain "
    "without its regularizers), "
    "cifar10_cpu_fast and cifar10_cpu_relu (FastNet, an hour on 2 CPU cores), cifar10_authors "
    "(the R-PolyNets authors' recipe), cifar10_cpu_small. It sets every option whose flag is "
    "not given on the command line; the flags given win.",
    flag_values=FLAGS,
)

# The TrainConfig field each flag sets, to tell which ones --preset may fill.
FLAG_FIELDS = {name: name for name in CONFIG_FLAGS}
FLAG_FIELDS.update(dict.fromkeys(MODEL_OVERRIDES, "model_overrides"))


def explicit_fields():
    """The TrainConfig fields whose flags were given on the command line."""
    return sorted({field for flag, field in FLAG_FIELDS.items() if FLAGS[flag].present})


def main(argv):
    del argv
    from pinet_keras.training import train
    from pinet_keras.training.distribute import split_cpu

    if FLAGS.cpu_devices:
        split_cpu(FLAGS.cpu_devices)

    config = boundary.config_from_flags(
        TrainConfig,
        CONFIG_FLAGS,
        FLAGS,
        model_overrides={name: FLAGS[name].value for name in MODEL_OVERRIDES},
    )
    if FLAGS.preset:
        from pinet_keras.training.presets import apply_preset

        config = apply_preset(config, FLAGS.preset, explicit=explicit_fields())
    # Errors (bad flags, files, a locked or different run, divergence) are
    # reported in one line by `boundary.run`.
    metrics = train(config)
    summary = {
        k: metrics[k]
        for k in ("dataset", "model", "params", "epochs", "test_accuracy", "test_loss")
    }
    print(json.dumps(summary))
    return 0


def run(argv=None):
    """Runs the command with ``argv`` (``[program, flags...]``); returns the exit status."""
    return boundary.run(main, argv, doc=__doc__, module=__name__, flag_values=FLAGS)
