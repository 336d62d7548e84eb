"""Training runs: `train(TrainConfig(...))` and the pieces it is made of.

This part of the package uses `tf.data` pipelines (`pinet_keras.data`) where
TensorFlow is installed, NumPy ones otherwise, and `tf.distribute` for the
distributed strategies, which need TensorFlow; the layers and models do not.
"""

from pinet_keras._run import RunLocked
from pinet_keras._run import SettingsMismatch
from pinet_keras.training.callbacks import DivergenceGuard
from pinet_keras.training.callbacks import HistoryCSV
from pinet_keras.training.callbacks import TrainingDiverged
from pinet_keras.training.optimizers import build_optimizer
from pinet_keras.training.settings import RunSettings
from pinet_keras.training.trainer import TrainConfig
from pinet_keras.training.trainer import build_model
from pinet_keras.training.trainer import compile_model
from pinet_keras.training.trainer import train

__all__ = [
    "DivergenceGuard",
    "HistoryCSV",
    "RunLocked",
    "RunSettings",
    "SettingsMismatch",
    "TrainConfig",
    "TrainingDiverged",
    "build_model",
    "build_optimizer",
    "compile_model",
    "train",
]
