"""Hyperparameter search for PolyNet with KerasTuner.

`PolyNetHyperModel` is PolyNet's search space (architecture, optimizer,
learning rate, weight decay, batch size; `SEARCH_SPACE`), `make_tuner`
builds a random, Hyperband or Bayesian tuner for it, and `tune` runs a whole
search as `pinet-keras tune` does:

>>> from pinet_keras.tuning import TuneConfig, tune  # doctest: +SKIP
>>> config = TuneConfig(dataset="digits", max_trials=4, output_dir="runs/tune")  # doctest: +SKIP
>>> metrics = tune(config)  # doctest: +SKIP

Or piece by piece:

>>> data = search_datasets("digits")  # doctest: +SKIP
>>> hypermodel = PolyNetHyperModel(data.info.input_shape, data.info.num_classes)  # doctest: +SKIP
>>> tuner = make_tuner(
...     "bayesian", hypermodel, "runs", "polynet", max_trials=10, epochs=3, seed=0
... )  # doctest: +SKIP
>>> tuner.search(data.train, validation_data=data.validation, epochs=3)  # doctest: +SKIP

Needs keras-tuner, tensorboard (KerasTuner imports it in every trial) and,
for the Bayesian tuner, scipy and scikit-learn: ``pip install "pinet_keras[tuning]"``.
The rest of `pinet_keras` does not import this package.
"""

from pinet_keras import _optional

_optional.require("keras_tuner", "pinet_keras.tuning")

from pinet_keras.tuning.data import search_datasets
from pinet_keras.tuning.hypermodel import PolyNetHyperModel
from pinet_keras.tuning.results import trial_rows
from pinet_keras.tuning.search import TuneConfig
from pinet_keras.tuning.search import tune
from pinet_keras.tuning.space import SEARCH_SPACE
from pinet_keras.tuning.space import parse_fixed
from pinet_keras.tuning.tuners import TUNERS
from pinet_keras.tuning.tuners import make_tuner

__all__ = [
    "PolyNetHyperModel",
    "SEARCH_SPACE",
    "TUNERS",
    "TuneConfig",
    "make_tuner",
    "parse_fixed",
    "search_datasets",
    "trial_rows",
    "tune",
]
