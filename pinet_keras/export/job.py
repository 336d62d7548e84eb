"""`export(ExportConfig(...))`: a trained ``.keras`` file to every deployable format, checked.

The job of ``pinet-keras export``: one settings object, checked once
(`ExportConfig.validate`), then the model is exported as a SavedModel and
``.tflite`` files, each run on the test split (or the training run's
validation split) and compared with the Keras model, and the whole set is
moved into ``output_dir`` at the end with ``labels.txt`` and ``report.json``.

Example:

>>> from pinet_keras.export import ExportConfig, Int8Settings, export
>>> config = ExportConfig(model="runs/mine/model.keras", output_dir="runs/mine/export",
...                       formats=("int8",), int8=Int8Settings(num_representative=100))
>>> report = export(config)  # doctest: +SKIP
>>> report["formats"]["int8"]["accuracy"]  # doctest: +SKIP
0.97
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from pinet_keras import _io
from pinet_keras._run import release_lock
from pinet_keras._run import take_lock
from pinet_keras.export.calibration import CALIBRATIONS
from pinet_keras.export.calibration import DEFAULT_PERCENTILE
from pinet_keras.export.calibration import check_calibration
from pinet_keras.export.calibration import choose_representative
from pinet_keras.export.files import load_keras_model
from pinet_keras.export.files import training_run
from pinet_keras.export.metadata import model_metadata
from pinet_keras.export.pixels import add_pixel_preprocessing
from pinet_keras.export.pixels import legacy_standardization
from pinet_keras.export.precision import as_float32
from pinet_keras.export.report import compare_logits
from pinet_keras.export.report import evaluate_saved_model
from pinet_keras.export.report import evaluate_tflite
from pinet_keras.export.saved_model import export_saved_model
from pinet_keras.export.tflite import QUANTIZATIONS
from pinet_keras.export.tflite import TFLiteSettings
from pinet_keras.export.tflite import export_tflite

FORMATS = ("saved_model", *QUANTIZATIONS)
SPLITS = ("test", "validation")


@dataclasses.dataclass(frozen=True)
class Int8Settings:
    """How the int8 file is calibrated (and optionally fine-tuned).

    Attributes:
        calibration: activation ranges, one of `CALIBRATIONS`.
        percentile: the percentile of ``calibration="percentile"``.
        fold: fold each polynomial layer to one product plus a constant first.
        num_representative: training images that calibrate the ranges (and the bound).
        int8_output: int8 logits (with scale and zero point) instead of float32.
        finetune_epochs: epochs of fine-tuning with int8 rounding simulated (0: none).
        finetune_learning_rate: Adam's learning rate of that fine-tuning.
        finetune_recalibrate_every: calibrate the simulated ranges again every N steps (0: once).
    """

    calibration: str = "percentile"
    percentile: float = DEFAULT_PERCENTILE
    fold: bool = True
    num_representative: int = 200
    int8_output: bool = False
    finetune_epochs: int = 0
    finetune_learning_rate: float = 1e-5
    finetune_recalibrate_every: int = 0

    def tflite_settings(self, quantization: str, bound: float | None = None) -> TFLiteSettings:
        """The `TFLiteSettings` of a file in ``quantization`` (the int8 ones apply to int8 only)."""
        if quantization != "int8":
            return TFLiteSettings(quantization, bound=bound)
        return TFLiteSettings(
            quantization,
            int8_output=self.int8_output,
            calibration=self.calibration,
            percentile=self.percentile,
            fold=self.fold,
            bound=bound,
            finetune_epochs=self.finetune_epochs,
            finetune_learning_rate=self.finetune_learning_rate,
            finetune_recalibrate_every=self.finetune_recalibrate_every,
        )

    def validate(self) -> None:
        """Raises `ValueError`, naming the flag, for settings the export cannot use."""
        if self.calibration not in CALIBRATIONS:
            raise ValueError(
                f"--calibration {self.calibration!r}: pass one of {', '.join(CALIBRATIONS)}"
            )
        check_calibration(self.calibration, self.percentile)
        if self.calibration == "minmax" and self.percentile != DEFAULT_PERCENTILE:
            raise ValueError(
                f"--percentile={self.percentile} is a setting of --calibration=percentile, "
                "and --calibration=minmax would ignore it; drop --percentile, or pass "
                "--calibration=percentile"
            )
        if self.num_representative < 1:
            raise ValueError(
                f"--num_representative must be at least 1, got {self.num_representative}"
            )
        if self.finetune_epochs < 0:
            raise ValueError(
                f"--int8_finetune_epochs must be 0 (off) or more, got {self.finetune_epochs}"
            )
        if self.finetune_epochs and not self.fold:
            raise ValueError("--int8_finetune_epochs fine-tunes the folded model; drop --nofold")
        if not 0 < self.finetune_learning_rate < 1:
            raise ValueError(
                "--int8_finetune_learning_rate must be in (0, 1), like 1e-5; got "
                f"{self.finetune_learning_rate}"
            )
        if self.finetune_recalibrate_every < 0:
            raise ValueError(
                "--int8_finetune_recalibrate_every must be 0 (once) or more, got "
                f"{self.finetune_recalibrate_every}"
            )
        default = Int8Settings()
        for name in ("finetune_learning_rate", "finetune_recalibrate_every"):
            if getattr(self, name) != getattr(default, name) and not self.finetune_epochs:
                raise ValueError(
                    f"--int8_{name} is a setting of --int8_finetune_epochs=N; pass that too"
                )


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Everything an export depends on; ``pinet-keras export`` maps its flags here.

    Attributes:
        model: the trained ``.keras`` file.
        output_dir: the folder the files are written to (whole, at the end).
        formats: any of `FORMATS`.
        dataset: the model's data set (default: its run's ``metrics.json``).
        data_dir: where the data set is (default: the run's, else the loader's own).
        input_normalization: only for a 0.1.0 model without ``metrics.json``.
        split: ``"test"``, or ``"validation"`` (the run's validation split) to
            choose settings without looking at the test split.
        max_test_examples: images for the checks (0: all).
        bound: clip every polynomial layer's output to this percentile range of
            its values on the representative images (100: min and max; 0: off).
        int8: `Int8Settings`.
        latency_runs: runs at batch 1 for the mean latency.
        overwrite: replace an earlier export in ``output_dir``.
        seed: seeds the choice of the representative images.
        allow_dataset_mismatch: export even when ``dataset`` is not the one
            the model's run recorded (no ``metrics.json``, or one naming
            another data set) and the model scores near chance on it: by
            default that is refused, as the files would carry another data
            set's class names.
    """

    model: str
    output_dir: str
    formats: tuple = FORMATS
    dataset: str | None = None
    data_dir: str | None = None
    input_normalization: str | None = None
    split: str = "test"
    max_test_examples: int = 0
    bound: float = 100.0
    int8: Int8Settings = dataclasses.field(default_factory=Int8Settings)
    latency_runs: int = 50
    overwrite: bool = False
    seed: int = 0
    allow_dataset_mismatch: bool = False

    def __post_init__(self):
        formats = self.formats
        if isinstance(formats, str):
            formats = formats.split(",")
        object.__setattr__(self, "formats", tuple(f.strip() for f in formats if f.strip()))
        if isinstance(self.int8, dict):
            object.__setattr__(self, "int8", Int8Settings(**self.int8))

    def to_dict(self) -> dict:
        """The settings as JSON-serializable data (`from_dict` reads them back)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ExportConfig:
        return cls(**data)

    def validate(self) -> None:
        """Raises `ValueError` (naming the flag) for settings the export cannot use.

        Checked once, before any file is read or written.
        """
        unknown = sorted(set(self.formats) - set(FORMATS))
        if not self.formats or unknown:
            raise ValueError(
                f"--formats: unknown {unknown or 'none given'}; choose from {', '.join(FORMATS)}"
            )
        if self.split not in SPLITS:
            raise ValueError(f"--split {self.split!r}: pass one of {', '.join(SPLITS)}")
        if self.input_normalization not in (None, "unit", "standardize"):
            raise ValueError(
                f"--input_normalization {self.input_normalization!r}: pass unit or standardize"
            )
        self.int8.validate()
        if self.max_test_examples < 0:
            raise ValueError(
                f"--max_test_examples must be 0 (all) or more, got {self.max_test_examples}"
            )
        if self.latency_runs < 0:
            raise ValueError(f"--latency_runs must be 0 or more, got {self.latency_runs}")
        if self.bound and not 50 < self.bound <= 100:
            raise ValueError(
                f"--bound must be 0 (off) or a percentile in (50, 100], got {self.bound}"
            )
        if not self.int8.fold and self.bound:
            raise ValueError(
                "--nofold: the bound clips the folded layers; pass --bound=0 with --nofold"
            )
        if self.int8.int8_output and "int8" not in self.formats:
            raise ValueError("--int8_output needs int8 in --formats")
        if self.int8.finetune_epochs and "int8" not in self.formats:
            raise ValueError(
                "--int8_finetune_epochs fine-tunes the int8 file: add int8 to --formats"
            )
        _io.check_writable_folder(self.output_dir)
        # Without overwrite nothing is replaced; with it, only an earlier export.
        _io.check_overwrite(
            self.output_dir, self.overwrite, folder=True, owns=is_export_output, flag="--output_dir"
        )


def output_name(name: str) -> str:
    """The file (or folder) of format ``name`` in the output folder."""
    return "saved_model" if name == "saved_model" else f"model_{name}.tflite"


def is_export_output(name: str) -> bool:
    """Whether an export writes a file or folder of this name (what ``overwrite`` may replace)."""
    model_file = name.startswith("model_") and name.endswith(".tflite")
    return model_file or name in ("saved_model", "labels.txt", "report.json")


def _load_model(config, training):
    """The float32 Keras model, taking raw pixels (0.1.0 models get their preprocessing)."""
    from pinet_keras.models import has_pixel_preprocessing

    model = as_float32(load_keras_model(config.model))
    if has_pixel_preprocessing(model):
        if config.input_normalization:
            raise ValueError(
                f"--input_normalization: {config.model} carries its own preprocessing; "
                "drop the flag"
            )
        return model
    # A model of pinet_keras 0.1.0: it took normalized images.
    input_normalization = config.input_normalization or training.get("normalization")
    if input_normalization not in ("unit", "standardize"):
        raise ValueError(
            f"{config.model} takes normalized images (a model of pinet_keras 0.1.0) and no "
            "metrics.json beside it says which; pass --input_normalization=unit or standardize"
        )
    mean = variance = None
    if input_normalization == "standardize":
        mean, variance = legacy_standardization(config.dataset or training["dataset"])
    print(
        f"{config.model} takes normalized images ({input_normalization}): adding its preprocessing."
    )
    return add_pixel_preprocessing(model, input_normalization, mean=mean, variance=variance)


def _data(config, dataset, training):
    """``(info, (x_train, y_train), (x_test, y_test))``: the run's data set, its splits."""
    from pinet_keras.data import dataset_info
    from pinet_keras.data import load_arrays
    from pinet_keras.data import split_validation

    run = training.get("config", {})
    data_dir = config.data_dir
    image_size = None
    if dataset == "folder":
        # Your own images: the run's folder and size, unless another folder is given.
        data_dir = data_dir or run.get("data_dir")
        image_size = run.get("image_size")
    info = dataset_info(dataset, data_dir, image_size)
    (x_train, y_train), (x_test, y_test) = load_arrays(dataset, data_dir, image_size)
    if config.split == "validation":
        train_indices, validation_indices = split_validation(
            len(x_train), run.get("validation_split", 0.1), run.get("seed", 0)
        )
        x_test, y_test = x_train[validation_indices], y_train[validation_indices]
        x_train, y_train = x_train[train_indices], y_train[train_indices]
    if config.max_test_examples:
        x_test, y_test = x_test[: config.max_test_examples], y_test[: config.max_test_examples]
    return info, (x_train, y_train), (x_test, y_test)


def near_chance(accuracy: float, num_classes: int) -> bool:
    """Whether ``accuracy`` is within a tenth of the way from chance to perfect.

    >>> near_chance(0.06, 10), near_chance(0.5, 10), near_chance(0.52, 2)
    (True, False, True)
    """
    chance = 1.0 / max(int(num_classes), 1)
    return bool(np.isfinite(accuracy)) and accuracy < chance + 0.1 * (1.0 - chance)


def check_dataset(config, dataset, training, accuracy, num_classes):
    """Refuses a ``--dataset`` the run did not record on which the model scores near chance.

    Its labels would be the class names of a data set the model was not
    trained on; ``config.allow_dataset_mismatch`` exports anyway.
    """
    recorded = training.get("dataset")
    if not config.dataset or recorded == config.dataset or config.allow_dataset_mismatch:
        return
    if not near_chance(accuracy, num_classes):
        return
    if recorded:
        run = f"its run recorded {recorded} (metrics.json)"
    else:
        run = f"its run recorded no data set (no metrics.json beside {config.model})"
    raise ValueError(
        f"--dataset={dataset}: the model scores {accuracy:.1%} on {dataset}'s {config.split} "
        f"split, near chance ({1 / num_classes:.1%}), and {run}: the files would name "
        f"{dataset}'s classes for a model trained on other data; pass the data set it was "
        "trained on, or --allow_dataset_mismatch to export anyway"
    )


def export_lock_path(output_dir: str) -> str:
    """The lock file of an export into ``output_dir``: beside it, as the folder is moved whole."""
    output_dir = os.path.abspath(output_dir)
    return os.path.join(os.path.dirname(output_dir), f".{os.path.basename(output_dir)}.lock")


def export(config: ExportConfig) -> dict:
    """Exports ``config.model`` in ``config.formats`` into ``config.output_dir``; checks each.

    Returns the report (also written to ``report.json``): the Keras model's
    accuracy, and for each format its agreement with Keras, accuracy, size,
    ops and latency. Nothing is written unless every step succeeds.

    One export at a time writes into a folder: a second one is refused at
    once (`pinet_keras._run.RunLocked`, naming the holder's pid), before any
    conversion. The Keras model is measured on the test split first; a
    ``dataset`` its run did not record on which it scores near chance is
    refused (see `ExportConfig.allow_dataset_mismatch`).
    """
    config.validate()
    lock_path = export_lock_path(config.output_dir)
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    lock = take_lock(
        lock_path,
        os.path.abspath(config.output_dir),
        "another export is writing there; wait for it to finish, or choose another --output_dir",
    )
    try:
        return _export(config)
    finally:
        release_lock(lock, lock_path)


def _export(config):
    import keras

    # What an export killed outright (SIGKILL) left beside output_dir.
    _io.remove_leftovers(os.path.dirname(os.path.abspath(config.output_dir)), recursive=False)
    dataset, training = training_run(config.model, config.dataset)
    model = _load_model(config, training)
    info, (x_train, _), (x_test, y_test) = _data(config, dataset, training)
    if tuple(model.input_shape[1:]) != tuple(info.input_shape):
        raise ValueError(
            f"--dataset: the model takes {tuple(model.input_shape[1:])} images but {dataset} has "
            f"{tuple(info.input_shape)}"
        )
    if model.output_shape[-1] != info.num_classes:
        raise ValueError(
            f"--dataset: the model has {model.output_shape[-1]} outputs but {dataset} has "
            f"{info.num_classes} classes"
        )
    int8 = config.int8
    representative = choose_representative(x_train, int8.num_representative, config.seed)
    x_test = x_test.astype("float32")
    reference = model.predict(x_test, batch_size=256, verbose=0)
    keras_result = compare_logits(reference, labels=y_test)
    check_dataset(config, dataset, training, keras_result["accuracy"], info.num_classes)

    bound = config.bound or None
    metadata = model_metadata(
        model,
        dataset=dataset,
        class_names=info.class_names,
        source={
            "model_file": os.path.basename(config.model),
            "training": {
                k: training[k]
                for k in ("model", "params", "epochs", "test_accuracy")
                if k in training
            },
        },
    )

    # Every file goes to a staging folder, moved into place whole at the end.
    results = {}
    with _io.atomic_output(config.output_dir, config.overwrite, owns=is_export_output) as staging:
        os.makedirs(staging)
        for name in config.formats:
            path = os.path.join(staging, output_name(name))
            print(f"Exporting {name}")
            if name == "saved_model":
                export_saved_model(
                    model, path, metadata=metadata, representative_data=representative, bound=bound
                )
                results[name] = evaluate_saved_model(path, x_test, y_test, reference)
                continue
            export_tflite(
                model,
                path,
                representative_data=representative,
                metadata=metadata,
                finetune_data=x_train if name == "int8" and int8.finetune_epochs else None,
                settings=int8.tflite_settings(name, bound),
            )
            results[name] = evaluate_tflite(
                path, x_test, y_test, reference, latency_runs=config.latency_runs
            )
        # labels.txt for an app, report.json for people.
        _io.write_text(os.path.join(staging, "labels.txt"), "\n".join(info.class_names) + "\n")
        report = {
            "model": os.path.abspath(config.model),
            "dataset": dataset,
            "input": metadata["input"],
            "split": config.split,
            "test_examples": int(len(x_test)),
            "representative_examples": int(len(representative)),
            "int8_output": int8.int8_output,
            "int8_calibration": {
                "method": int8.calibration,
                "percentile": int8.percentile,
                "fold": int8.fold,
                "finetune_epochs": int8.finetune_epochs,
                "finetune_learning_rate": int8.finetune_learning_rate,
                "finetune_recalibrate_every": int8.finetune_recalibrate_every,
            },
            "bound": bound,
            "keras": {
                **keras_result,
                "backend": keras.backend.backend(),
                # A high-degree polynomial can give a rare image enormous logits.
                "max_abs_logit_percentiles": dict(
                    zip(
                        ["50", "99", "99.9", "100"],
                        np.percentile(np.abs(reference).max(-1), [50, 99, 99.9, 100]).tolist(),
                    )
                ),
            },
            "formats": {
                name: {"file": output_name(name), **result} for name, result in results.items()
            },
        }
        _io.write_text(os.path.join(staging, "report.json"), json.dumps(report, indent=2) + "\n")
    return report
