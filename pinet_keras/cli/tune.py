"""Search a Π-net's (PolyNet's) hyperparameters with KerasTuner.

Searches width, number of blocks (degree 2**n), skip term, product
normalization, dropout, optimizer, learning rate, weight decay and batch
size (`pinet_keras.tuning.PolyNetHyperModel`) with a random, Hyperband or
Bayesian tuner. Trials are scored on validation accuracy, on a split carved
from the training data; the best model is measured once on the test split,
at the end.

    # Quick start: no network, no files (scikit-learn's bundled digits).
    pinet-keras tune --dataset=digits --max_trials=6 --epochs=3 --output_dir=runs/tune_digits

    # Fashion-MNIST from the raw IDX files, on a 10,000-example subset.
    pinet-keras tune --dataset=fashion_mnist --data_dir=../shared/data/fashion_mnist \
        --tuner=bayesian --max_trials=12 --epochs=2 --max_train_examples=10000 \
        --output_dir=runs/tune_fashion

    # Search the optimizer only, for the original architecture.
    pinet-keras tune --dataset=digits --fix=width=16 --fix=num_blocks=5 \
        --fix=use_skip=false --fix=batch_norm=false --fix=dropout=0 --output_dir=runs/tune_opt

Outputs in --output_dir: best_hyperparameters.json, best_model.keras,
trials.csv (one row per trial), trials.png, metrics.json (test accuracy of
the best model), search/ (KerasTuner's state). Run the same command again to
resume an interrupted search; raise --max_trials to add trials to it.
"""

import json

from absl import flags

from pinet_keras.cli import boundary
from pinet_keras.data import DATASETS
from pinet_keras.models import INPUT_NORMALIZATIONS
from pinet_keras.tuning import TUNERS
from pinet_keras.tuning import TuneConfig

FLAGS = boundary.command_flags()

# One flag per TuneConfig field (its name, type and default), the data set's
# as in pinet-keras train.
CONFIG_FLAGS = boundary.define_config_flags(
    TuneConfig,
    {
        "validation_split": "Fraction of the training split held out to score the trials.",
        "max_train_examples": (
            "Train every trial on this many training examples (a fixed random subset)."
        ),
        "tuner": "Search algorithm.",
        "max_trials": "Trials in all, counting those of a resumed search.",
        "epochs": "Epochs per trial (Hyperband: the most epochs of one model).",
        "seed": "Random seed (validation split, subset, tuner, initialization).",
        "output_dir": "Where the search writes its files.",
        "overwrite": (
            "Start the search in --output_dir again "
            "(the old one is deleted once a new trial completes)."
        ),
    },
    choices={"dataset": DATASETS, "input_normalization": INPUT_NORMALIZATIONS, "tuner": TUNERS},
    skip=("fixed", "verbose"),
    flag_values=FLAGS,
)
flags.DEFINE_multi_string(
    "fix",
    [],
    "Fix a hyperparameter instead of searching it, name=value (repeatable), e.g. --fix=width=16.",
    flag_values=FLAGS,
)


def main(argv):
    del argv
    from pinet_keras.tuning import parse_fixed
    from pinet_keras.tuning import tune

    config = boundary.config_from_flags(
        TuneConfig, CONFIG_FLAGS, FLAGS, fixed=parse_fixed(FLAGS.fix)
    )
    metrics = tune(config)
    keys = (
        "dataset",
        "tuner",
        "trials_completed",
        "best_val_accuracy",
        "test_accuracy",
        "test_loss",
        "params",
    )
    summary = {k: metrics[k] for k in keys}
    summary["best_hyperparameters"] = metrics["best_hyperparameters"]
    print(json.dumps(summary))
    return 0


def run(argv=None):
    """Runs the command with ``argv`` (``[program, flags...]``); returns the exit status."""
    return boundary.run(main, argv, doc=__doc__, module=__name__, flag_values=FLAGS)
