"""Train a Π-net (PolyNet) with Keras.

Trains one of the package's model presets on MNIST, Fashion-MNIST, CIFAR-10
or scikit-learn's 8x8 digits, keeps the best epoch on a validation split
carved from the training data, and measures it once on the test split.

    # Quick start: no network, no files (scikit-learn's bundled digits).
    python examples/train.py --dataset=digits --epochs=20 --output_dir=runs/digits

    # MNIST from the raw IDX files in a local folder.
    python examples/train.py --dataset=mnist --data_dir=../shared/data/mnist \
        --model=polynet_bn --epochs=30 --augment --output_dir=runs/mnist

    # A recipe (pinet_keras.training.presets): it sets every option whose
    # flag is not given; flags given on the command line win.
    python examples/train.py --dataset=cifar10 --data_dir=../shared/data/cifar10 \
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

from pinet_keras import _cli

FLAGS = flags.FLAGS

# Data.
flags.DEFINE_enum("dataset", "mnist", ["mnist", "fashion_mnist", "cifar10", "digits"], "Data set.")
flags.DEFINE_string(
    "data_dir",
    None,
    "A folder with the raw files (IDX .gz; CIFAR-10 class folders or their tar.gz), "
    "or a TFDS data_dir. Default: TFDS's own (TFDS_DATA_DIR).",
)
flags.DEFINE_float("validation_split", 0.1, "Fraction of the training split held out for validation.")
flags.DEFINE_bool("augment", False, "Random crops (and flips for CIFAR-10) during training.")
flags.DEFINE_enum("input_normalization", "unit", ["unit", "standardize"], "Pixels to [0, 1] or standardized.")

# Model.
flags.DEFINE_string("model", "polynet", "Model preset: polynet (the original), polynet_bn, ...")
flags.DEFINE_integer("width", None, "Filters of the first block (preset's default if unset).")
flags.DEFINE_integer("num_blocks", None, "Number of polynomial blocks; the degree is 2**num_blocks.")
flags.DEFINE_float("dropout", None, "Dropout before the head (preset's default if unset).")

# Optimization.
flags.DEFINE_integer("epochs", 10, "Epochs.")
flags.DEFINE_integer("batch_size", 128, "Global batch size.")
flags.DEFINE_enum("optimizer", "adam", ["adam", "adamw", "sgd", "rmsprop"], "Optimizer.")
flags.DEFINE_float("learning_rate", 1e-3, "Peak learning rate.")
flags.DEFINE_enum("lr_schedule", "constant", ["constant", "cosine", "step"], "Learning-rate schedule.")
flags.DEFINE_float("warmup_epochs", 0.0, "Linear warm-up, with --lr_schedule=cosine.")
flags.DEFINE_float("weight_decay", 0.0, "Decoupled weight decay (not on biases and norms).")
flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing.")
flags.DEFINE_float("clipnorm", None, "Clip each gradient to this norm.")
flags.DEFINE_enum("mixed_precision", "none", ["none", "bf16", "fp16"], "Mixed precision policy.")
flags.DEFINE_integer("steps_per_execution", 1, "Training steps per compiled call.")

# Running.
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"], "tf.distribute strategy.")
flags.DEFINE_integer("cpu_devices", 0, "Split the CPU into this many logical devices (for --strategy=mirrored without GPUs).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("output_dir", "runs/default", "Where the run writes its files.")
flags.DEFINE_bool(
    "overwrite", False, "Train again from scratch over the run (finished or not) in --output_dir."
)

# Recipe.
flags.DEFINE_string(
    "preset",
    None,
    "A training recipe from pinet_keras.training.presets: cifar10 (GPU: pi_resnet, 200 epochs), "
    "cifar10_cpu (pi_resnet_small, under an hour on 2 CPU cores). It sets every option whose "
    "flag is not given on the command line; the flags given win.",
)

# The TrainConfig field each flag sets, to tell which ones --preset may fill.
FLAG_FIELDS = {
    "dataset": "dataset",
    "data_dir": "data_dir",
    "validation_split": "validation_split",
    "augment": "augment",
    "input_normalization": "input_normalization",
    "model": "model",
    "width": "model_overrides",
    "num_blocks": "model_overrides",
    "dropout": "model_overrides",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "optimizer": "optimizer",
    "learning_rate": "learning_rate",
    "lr_schedule": "lr_schedule",
    "warmup_epochs": "warmup_epochs",
    "weight_decay": "weight_decay",
    "label_smoothing": "label_smoothing",
    "clipnorm": "clipnorm",
    "mixed_precision": "mixed_precision",
    "steps_per_execution": "steps_per_execution",
    "strategy": "strategy",
    "seed": "seed",
    "output_dir": "output_dir",
    "overwrite": "overwrite",
}


def explicit_fields():
    """The TrainConfig fields whose flags were given on the command line."""
    return sorted({field for flag, field in FLAG_FIELDS.items() if FLAGS[flag].present})


def main(argv):
    del argv
    from pinet_keras.training import TrainConfig
    from pinet_keras.training import train
    from pinet_keras.training.distribute import split_cpu

    if FLAGS.cpu_devices:
        split_cpu(FLAGS.cpu_devices)

    config = TrainConfig(
        dataset=FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        model=FLAGS.model,
        model_overrides=dict(width=FLAGS.width, num_blocks=FLAGS.num_blocks, dropout=FLAGS.dropout),
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        optimizer=FLAGS.optimizer,
        learning_rate=FLAGS.learning_rate,
        lr_schedule=FLAGS.lr_schedule,
        warmup_epochs=FLAGS.warmup_epochs,
        weight_decay=FLAGS.weight_decay,
        label_smoothing=FLAGS.label_smoothing,
        clipnorm=FLAGS.clipnorm,
        augment=FLAGS.augment,
        input_normalization=FLAGS.input_normalization,
        validation_split=FLAGS.validation_split,
        mixed_precision=FLAGS.mixed_precision,
        strategy=FLAGS.strategy,
        steps_per_execution=FLAGS.steps_per_execution,
        seed=FLAGS.seed,
        output_dir=FLAGS.output_dir,
        overwrite=FLAGS.overwrite,
    )
    if FLAGS.preset:
        from pinet_keras.training.presets import apply_preset

        config = apply_preset(config, FLAGS.preset, explicit=explicit_fields())
    # Errors (bad flags, files, a locked or different run, divergence) are
    # reported in one line by `_cli.run`.
    metrics = train(config)
    summary = {k: metrics[k] for k in ("dataset", "model", "params", "epochs", "test_accuracy", "test_loss")}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    _cli.run(main)
