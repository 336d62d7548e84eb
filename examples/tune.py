"""Search a Π-net's (PolyNet's) hyperparameters with KerasTuner.

Searches width, number of blocks (degree 2**n), skip term, product
normalization, dropout, optimizer, learning rate, weight decay and batch
size (`pinet_keras.tuning.PolyNetHyperModel`) with a random, Hyperband or
Bayesian tuner. Trials are scored on validation accuracy, on a split carved
from the training data; the best model is measured once on the test split,
at the end.

    # Quick start: no network, no files (scikit-learn's bundled digits).
    python examples/tune.py --dataset=digits --max_trials=6 --epochs=3 --output_dir=runs/tune_digits

    # Fashion-MNIST from the raw IDX files, on a 10,000-example subset.
    python examples/tune.py --dataset=fashion_mnist --data_dir=../shared/data/fashion_mnist \
        --tuner=bayesian --max_trials=12 --epochs=2 --max_train_examples=10000 \
        --output_dir=runs/tune_fashion

    # Search the optimizer only, for the original architecture.
    python examples/tune.py --dataset=digits --fix=width=16 --fix=num_blocks=5 \
        --fix=use_skip=false --fix=normalization=none --fix=dropout=0 --output_dir=runs/tune_opt

Outputs in --output_dir: best_hyperparameters.json, best_model.keras,
trials.csv (one row per trial), trials.png, metrics.json (test accuracy of
the best model), search/ (KerasTuner's state). Run the same command again to
resume an interrupted search; raise --max_trials to add trials to it.
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
flags.DEFINE_float("validation_split", 0.1, "Fraction of the training split held out to score the trials.")
flags.DEFINE_integer(
    "max_train_examples", None, "Train every trial on this many training examples (a fixed random subset)."
)
flags.DEFINE_bool("augment", False, "Random crops (and flips for CIFAR-10) during training.")
flags.DEFINE_enum("input_normalization", "unit", ["unit", "standardize"], "Pixels to [0, 1] or standardized.")

# Search.
flags.DEFINE_enum("tuner", "random", ["random", "hyperband", "bayesian"], "Search algorithm.")
flags.DEFINE_integer("max_trials", 10, "Trials in all, counting those of a resumed search.")
flags.DEFINE_integer("epochs", 3, "Epochs per trial (Hyperband: the most epochs of one model).")
flags.DEFINE_multi_string(
    "fix", [], "Fix a hyperparameter instead of searching it, name=value (repeatable), e.g. --fix=width=16."
)

# Running.
flags.DEFINE_integer("seed", 0, "Random seed (validation split, subset, tuner, initialization).")
flags.DEFINE_string("output_dir", "runs/tune", "Where the search writes its files.")
flags.DEFINE_bool(
    "overwrite", False, "Start the search in --output_dir again (the old one is deleted once a new trial completes)."
)


def main(argv):
    del argv
    from pinet_keras.tuning import TuneConfig
    from pinet_keras.tuning import parse_fixed
    from pinet_keras.tuning import tune

    config = TuneConfig(
        dataset=FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        tuner=FLAGS.tuner,
        max_trials=FLAGS.max_trials,
        epochs=FLAGS.epochs,
        validation_split=FLAGS.validation_split,
        max_train_examples=FLAGS.max_train_examples,
        augment=FLAGS.augment,
        input_normalization=FLAGS.input_normalization,
        fixed=parse_fixed(FLAGS.fix),
        seed=FLAGS.seed,
        output_dir=FLAGS.output_dir,
        overwrite=FLAGS.overwrite,
    )
    metrics = tune(config)
    keys = ("dataset", "tuner", "trials_completed", "best_val_accuracy", "test_accuracy", "test_loss", "params")
    summary = {k: metrics[k] for k in keys}
    summary["best_hyperparameters"] = metrics["best_hyperparameters"]
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    _cli.run(main)
