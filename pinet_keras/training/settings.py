"""`RunSettings`: the data and run-folder settings that training and tuning share.

`pinet_keras.training.TrainConfig` and `pinet_keras.tuning.TuneConfig`
extend it: one definition of each shared field, one check (`validate_run`).
"""

from __future__ import annotations

import dataclasses
import sys

from pinet_keras import _io
from pinet_keras import _run
from pinet_keras.models.preprocessing import INPUT_NORMALIZATIONS


@dataclasses.dataclass
class RunSettings:
    """What a run reads (its data) and where it writes (its folder).

    Attributes:
        dataset: one of `pinet_keras.data.DATASETS` (``"folder"``: your images).
        data_dir: the data set's files (``None``: the loader's own).
        image_size: ``dataset="folder"`` only: the size images are resized to.
        validation_split: the fraction of the training split held out for validation.
        max_train_examples: a seeded subset of the training split (``None``: all).
        augment: random translations (and flips where they keep the class).
        input_normalization: ``"unit"`` (pixels / 255) or ``"standardize"``.
        seed: seeds the split, the subset, the shuffling and the initialization.
        output_dir: the run's folder.
        overwrite: start again from scratch over the run in ``output_dir``.
        verbose: Keras' verbosity, or ``"auto"`` (a progress bar on a terminal).
    """

    dataset: str = "mnist"
    data_dir: str | None = None
    image_size: str | None = None
    validation_split: float = 0.1
    max_train_examples: int | None = None
    augment: bool = False
    input_normalization: str = "unit"
    seed: int = 0
    output_dir: str = "runs/default"
    overwrite: bool = False
    verbose: str = "auto"

    # What the validation split is for, in the message of a bad value.
    VALIDATION_RULE = "must be in (0, 1): the best model is chosen on it"

    def validate_run(self) -> None:
        """Raises `ValueError`, naming the field and its flag, for a wrong shared setting."""
        _run.check_data(self)
        if self.max_train_examples is not None:
            _run.check_count(self, "max_train_examples")
        _run.check_number(self, "validation_split", self.VALIDATION_RULE, lambda v: 0 < v < 1)
        if self.input_normalization not in INPUT_NORMALIZATIONS:
            raise ValueError(
                f"Unknown input normalization {self.input_normalization!r} "
                f"(--input_normalization); pass one of {', '.join(INPUT_NORMALIZATIONS)}."
            )


def verbosity(setting: str) -> int:
    """Keras' ``verbose`` for a `RunSettings.verbose`: ``"auto"`` is a bar on a terminal, else 2."""
    if setting != "auto":
        return int(setting)
    return 1 if sys.stdout.isatty() else 2


def write_json(path: str, payload) -> None:
    """Writes ``payload`` to ``path`` whole (replacing what a resumed run wrote)."""
    _io.write_json(path, payload, overwrite=True)
