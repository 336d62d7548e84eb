"""`make_tuner`: a random, Hyperband or Bayesian KerasTuner tuner that times its trials."""

import json
import os
import time

import keras_tuner

from pinet_keras import _io

TUNERS = ("random", "hyperband", "bayesian")
OBJECTIVE = keras_tuner.Objective("val_accuracy", direction="max")
SECONDS_FILE = "trial_seconds.json"


class _TimedTrials:
    """Records each trial's wall time in ``<project_dir>/trial_seconds.json``.

    The file lives next to KerasTuner's own state, so a resumed search keeps
    the times of the trials it did not run again. A trial run again (after
    an interruption) keeps the time of its last run.
    """

    # Called with each trial once it has ended and its state is saved.
    trial_end_hook = None

    def on_trial_begin(self, trial):
        self._trial_start = time.monotonic()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        seconds = read_trial_seconds(self.project_dir)
        seconds[trial.trial_id] = round(time.monotonic() - self._trial_start, 2)
        path = os.path.join(self.project_dir, SECONDS_FILE)
        _io.write_json(path, seconds, overwrite=True)
        super().on_trial_end(trial)
        if self.trial_end_hook is not None:
            self.trial_end_hook(trial)


class RandomSearch(_TimedTrials, keras_tuner.RandomSearch):
    """`keras_tuner.RandomSearch` that records the time of each trial."""


class BayesianOptimization(_TimedTrials, keras_tuner.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` that records the time of each trial."""


class Hyperband(_TimedTrials, keras_tuner.Hyperband):
    """`keras_tuner.Hyperband` that records the time of each trial."""


_CLASSES = {"random": RandomSearch, "hyperband": Hyperband, "bayesian": BayesianOptimization}


def read_trial_seconds(project_dir):
    """``{trial_id: seconds}`` recorded by a tuner of `make_tuner` in ``project_dir``."""
    path = os.path.join(project_dir, SECONDS_FILE)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def make_tuner(
    kind, hypermodel, directory, project_name, max_trials, epochs, seed, overwrite=False, **kwargs
):
    """Builds a tuner that maximizes ``val_accuracy``.

    The project lives in ``directory/project_name``; with ``overwrite=False``
    an existing project there is reloaded, so `search` runs only the trials
    still missing (KerasTuner also runs again a trial that was interrupted).

    Args:
        kind: ``"random"``, ``"hyperband"`` or ``"bayesian"``.
        hypermodel: a `keras_tuner.HyperModel`, e.g. `PolyNetHyperModel`.
        directory, project_name: where the search keeps its state.
        max_trials: trials in all, counting those of a reloaded project.
        epochs: for ``random`` and ``bayesian``, not used here (pass
            ``epochs`` to ``search``); for ``hyperband``, ``max_epochs``:
            the most epochs one model trains, rounds of successive halving
            train ``epochs / 3**k``. Hyperband's brackets repeat until
            ``max_trials`` trials have run (its trial count would otherwise
            follow from ``epochs`` alone).
        seed: seed of the tuner's sampling.
        overwrite: delete an existing project and start again.
        **kwargs: passed to the KerasTuner class (e.g. ``num_initial_points``
            for ``bayesian``, which defaults here to ``max(3, max_trials // 3)``
            random trials before the Gaussian process, instead of KerasTuner's
            three per hyperparameter).

    Returns:
        A `keras_tuner.Tuner` subclass instance that also records each
        trial's time (`read_trial_seconds`).
    """
    if kind not in _CLASSES:
        raise ValueError(f"Unknown tuner {kind!r}. Available: {', '.join(TUNERS)}.")
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise ValueError(f"`max_trials` must be a positive int. Received: {max_trials!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be a positive int. Received: {epochs!r}")
    common = dict(
        hypermodel=hypermodel,
        objective=OBJECTIVE,
        seed=seed,
        directory=directory,
        project_name=project_name,
        overwrite=overwrite,
    )
    if kind == "random":
        return RandomSearch(max_trials=max_trials, **common, **kwargs)
    if kind == "bayesian":
        kwargs.setdefault("num_initial_points", max(3, max_trials // 3))
        return BayesianOptimization(max_trials=max_trials, **common, **kwargs)
    iterations = kwargs.pop("hyperband_iterations", max_trials)
    tuner = Hyperband(max_epochs=epochs, hyperband_iterations=iterations, **common, **kwargs)
    # Set after construction: a reloaded project restores the oracle's saved
    # state, and a resumed search may raise `max_trials`. Every iteration of
    # the brackets runs at least one trial, so `max_trials` iterations never
    # stop the search before `max_trials` trials.
    tuner.oracle.max_trials = max_trials
    tuner.oracle.hyperband_iterations = iterations
    return tuner
