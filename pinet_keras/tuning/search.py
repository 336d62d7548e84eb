"""`tune`: one hyperparameter search, from a dataset name to the files of its output folder."""

from __future__ import annotations

import dataclasses
import os
import time
import warnings

import keras

from pinet_keras import _io
from pinet_keras import _run
from pinet_keras.data import augmentation_policy
from pinet_keras.training.settings import RunSettings
from pinet_keras.training.settings import verbosity
from pinet_keras.training.settings import write_json
from pinet_keras.tuning.data import VALIDATION_SPLIT_RULE
from pinet_keras.tuning.data import search_datasets
from pinet_keras.tuning.hypermodel import PolyNetHyperModel
from pinet_keras.tuning.results import plot_trials
from pinet_keras.tuning.results import trial_rows
from pinet_keras.tuning.results import write_trials_csv
from pinet_keras.tuning.tuners import TUNERS
from pinet_keras.tuning.tuners import make_tuner

PROJECT = "search"  # KerasTuner's state, in output_dir/search
CONFIG_FILE = "search_config.json"
OUTPUTS = (
    "best_hyperparameters.json",
    "best_model.keras",
    "trials.csv",
    "trials.png",
    "metrics.json",
)
# Settings a resumed search must share with the search it resumes: the
# trials already run are only comparable with new ones under the same ones.
# `max_trials` may grow; `data_dir`, `output_dir`, `verbose` may change.
_SEARCH_SETTINGS = (
    "dataset",
    "image_size",
    "tuner",
    "epochs",
    "validation_split",
    "max_train_examples",
    "augment",
    "input_normalization",
    "fixed",
    "seed",
)


@dataclasses.dataclass
class TuneConfig(RunSettings):
    """Everything a search depends on; `pinet-keras tune` maps its flags here.

    The data and run-folder fields are `RunSettings`'; the rest say how the
    search runs. Trials are scored on the validation split, never the test split.
    """

    tuner: str = "random"
    max_trials: int = 10
    epochs: int = 3
    fixed: dict = dataclasses.field(default_factory=dict)
    output_dir: str = "runs/tune"

    VALIDATION_RULE = VALIDATION_SPLIT_RULE

    def validate(self):
        """Raises `ValueError` naming the field and its flag, before anything is read."""
        if self.tuner not in TUNERS:
            raise ValueError(
                f"Unknown tuner {self.tuner!r} (--tuner); pass one of {', '.join(TUNERS)}."
            )
        self.validate_run()
        for name in ("max_trials", "epochs"):
            _run.check_count(self, name)


def _settings(config):
    return {name: getattr(config, name) for name in _SEARCH_SETTINGS}


def _prepare_output_dir(config):
    """Checks and locks ``config.output_dir`` before anything is read or changed: a `RunFolder`.

    Without ``overwrite``, a search found there must have the same settings
    (`_SEARCH_SETTINGS`), else `SettingsMismatch` (a `ValueError`) lists the
    differences.
    """
    names = {"input_normalization": "--input_normalization", "fixed": "--fix"}
    run = _run.RunFolder(
        config.output_dir,
        OUTPUTS + (PROJECT,),
        CONFIG_FILE,
        finished="metrics.json",
        finished_is_final=False,
        what="search",
        names=names,
    )
    return run.open(_settings(config), config.overwrite)


def tune(config: TuneConfig) -> dict:
    """Searches PolyNet's hyperparameters on ``config.dataset``; writes into ``config.output_dir``:

    - ``best_hyperparameters.json``: the values of the best trial (by
      validation accuracy);
    - ``best_model.keras``: that trial's model, at its best epoch;
    - ``trials.csv``: one row per trial (`trial_rows`): id, status,
      val_accuracy, seconds, hyperparameters;
    - ``trials.png``: validation accuracy per trial;
    - ``metrics.json``: test accuracy and loss of ``best_model.keras``,
      measured once at the end (the search itself only ever sees the
      training and validation splits), and a summary of the search;
    - ``search/``: KerasTuner's state; ``search_config.json``: the settings.

    Called again with the same ``output_dir``, the search resumes: finished
    trials are kept and only the missing ones run (a larger ``max_trials``
    adds trials, the same one adds none; the outputs are written again).
    Other search settings must not change, unless ``overwrite`` starts over.

    As for `pinet_keras.training.train`, nothing changes in ``output_dir``
    before the settings, the folder and the data were checked; the folder is
    locked while the search runs; ``overwrite`` sets the previous search
    aside and deletes it only when a trial of the new one has completed.

    Returns the dict written to ``metrics.json``.

    Example:

    >>> config = TuneConfig(dataset="digits", max_trials=3, epochs=2, output_dir="/tmp/search")
    >>> metrics = tune(config)  # doctest: +SKIP
    """
    config.validate()
    _run.check_data_dir(config.data_dir, config.dataset)
    with _prepare_output_dir(config) as run:
        return _tune(config, run)


def _tune(config, run):
    output_dir = config.output_dir
    keras.utils.set_random_seed(config.seed)
    data = search_datasets(
        config.dataset,
        data_dir=config.data_dir,
        validation_split=config.validation_split,
        seed=config.seed,
        max_train_examples=config.max_train_examples,
        image_size=config.image_size,
    )
    info = data.info
    # Each trial's model takes raw pixels, as a trained model does.
    hypermodel = PolyNetHyperModel(
        info.input_shape,
        info.num_classes,
        fixed=config.fixed,
        input_normalization=config.input_normalization,
        pixel_mean=info.pixel_mean,
        pixel_variance=info.pixel_variance,
        augmentation=augmentation_policy(config.dataset, info.input_shape)
        if config.augment
        else None,
        seed=config.seed,
    )
    # The settings and the data are checked: from here on the folder changes.
    resume = not config.overwrite and os.path.isdir(os.path.join(output_dir, PROJECT))
    run.begin(_settings(config), resume=resume)
    tuner = make_tuner(
        config.tuner,
        hypermodel,
        directory=output_dir,
        project_name=PROJECT,
        max_trials=config.max_trials,
        epochs=config.epochs,
        seed=config.seed,
        overwrite=False,  # `run.begin` set a previous search aside
    )
    # The first completed trial is the new search's first checkpoint.
    tuner.trial_end_hook = lambda trial: (
        run.commit() if trial.status == "COMPLETED" and not run.committed else None
    )
    ended_before = len(tuner.oracle.end_order)
    start = time.time()
    tuner.search(
        data.train,
        validation_data=data.validation,
        epochs=config.epochs,
        verbose=verbosity(config.verbose),
    )
    search_seconds = time.time() - start

    rows = trial_rows(tuner)
    paths = {name: os.path.join(output_dir, name) for name in OUTPUTS}
    write_trials_csv(rows, paths["trials.csv"])
    plot_trials(rows, paths["trials.png"], title=f"{config.tuner} search on {config.dataset}")
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    if not completed:
        raise RuntimeError(f"No trial completed; see the error column of {paths['trials.csv']}.")
    best_trial = tuner.oracle.get_best_trials(1)[0]
    # Hyperband's bookkeeping (tuner/epochs...) stays in trials.csv.
    best_values = {
        k: v for k, v in best_trial.hyperparameters.values.items() if not k.startswith("tuner/")
    }
    write_json(paths["best_hyperparameters.json"], best_values)
    with warnings.catch_warnings():
        # The checkpoint holds the trial's optimizer state too; the best
        # model is rebuilt with a fresh optimizer and only needs the weights.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        best_model = tuner.get_best_models(1)[0]
    # Weights only came from the checkpoint: give the optimizer its (fresh)
    # variables so that best_model.keras loads without a mismatch warning.
    best_model.optimizer.build(best_model.trainable_variables)
    _io.save_model_atomic(best_model, paths["best_model.keras"])

    # The only time the test split is read.
    test_loss, test_accuracy = best_model.evaluate(data.test, verbose=0)
    metrics = {
        "dataset": config.dataset,
        "tuner": config.tuner,
        "max_trials": config.max_trials,
        "trials_completed": len(completed),
        "trials_run_now": len(tuner.oracle.end_order) - ended_before,
        "epochs": config.epochs,
        "best_trial_id": best_trial.trial_id,
        "best_val_accuracy": float(best_trial.score),
        "best_hyperparameters": best_values,
        "params": int(best_model.count_params()),
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        # Time of this invocation only: a resumed search reports its last part.
        "search_seconds": round(search_seconds, 1),
        "trial_seconds": round(sum(r["seconds"] or 0.0 for r in rows), 1),
        "num_train": info.num_train,
        "num_validation": info.num_validation,
        "num_test": info.num_test,
        "backend": keras.backend.backend(),
        "config": dataclasses.asdict(config),
    }
    write_json(paths["metrics.json"], metrics)
    return metrics
