"""`train`: one training run, from a dataset name to the files of its output folder."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import time

import keras

import pinet_keras
from pinet_keras import _compat
from pinet_keras import _io
from pinet_keras import _optional
from pinet_keras import _run
from pinet_keras.data import augmentation_policy
from pinet_keras.data.mixing import mix_batches
from pinet_keras.data.pipeline import PIPELINES
from pinet_keras.layers import PatchWhitening
from pinet_keras.losses import Accuracy
from pinet_keras.losses import LabelSmoothingCrossentropy
from pinet_keras.models import adapt_whitening
from pinet_keras.models import get_model
from pinet_keras.models import pixel_preprocessing
from pinet_keras.models.bounds import polynomial_layers
from pinet_keras.models.bounds import set_output_ranges
from pinet_keras.training.callbacks import AtomicBackupAndRestore
from pinet_keras.training.callbacks import BestModelCheckpoint
from pinet_keras.training.callbacks import DivergenceGuard
from pinet_keras.training.callbacks import HistoryCSV
from pinet_keras.training.evaluation import flip_averaged_accuracy
from pinet_keras.training.evaluation import tta_accuracy
from pinet_keras.training.optimizers import OPTIMIZERS
from pinet_keras.training.optimizers import SCHEDULES
from pinet_keras.training.optimizers import build_optimizer
from pinet_keras.training.settings import RunSettings
from pinet_keras.training.settings import verbosity
from pinet_keras.training.settings import write_json

MIXED_PRECISION = {"none": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
# Linux's list of the CPU's features, and the flags that mean bf16 instructions
# (x86: AVX512-BF16, AMX-BF16; Arm: BF16).
CPUINFO = "/proc/cpuinfo"
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
# Training images whose outputs set each polynomial layer's output range.
OUTPUT_RANGE_IMAGES = 2000
# Training images a whitened first layer (`PatchWhitening`) is adapted to.
WHITENING_IMAGES = 5000
OUTPUTS = ("model.keras", "history.csv", "curves.png", "metrics.json", "logs", "backup")
RUN_CONFIG = "run_config.json"
# Fields a resumed run may change: where the data and the run are, how much it prints.
_FREE_FIELDS = ("data_dir", "output_dir", "overwrite", "verbose", "tensorboard")
# The flag of `pinet-keras train` that sets a field, where the names differ.
_FLAGS = {
    "model_overrides.width": "width",
    "model_overrides.num_blocks": "num_blocks",
    "model_overrides.dropout": "dropout",
    "model_overrides.block": "block",
    "model_overrides.stochastic_depth": "stochastic_depth",
    "model_overrides.dropblock": "dropblock",
}


@dataclasses.dataclass
class TrainConfig(RunSettings):
    """Everything a training run depends on; `pinet-keras train` maps its flags here.

    The data and run-folder fields are `RunSettings`'; the rest say what is
    trained and how.
    """

    model: str = "polynet"
    model_overrides: dict = dataclasses.field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    nesterov: bool = True
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    translate: int | None = None
    clipnorm: float = None
    mixup: float = 0.0
    cutmix: float = 0.0
    tta_flip: bool = False
    tta_translate: int = 0
    pipeline: str = "auto"
    mixed_precision: str = "none"
    strategy: str = "default"
    steps_per_execution: int = 1
    tensorboard: bool = True

    def validate(self):
        """Raises `ValueError`, naming the field and its flag, for a value training cannot use.

        Catches before any work the values that would only show later as
        a diverged loss (a non-finite or negative learning rate...).
        """
        self.validate_run()
        for name in ("epochs", "batch_size", "steps_per_execution"):
            _run.check_count(self, name)
        _run.check_number(
            self, "learning_rate", "must be a finite number > 0, e.g. 1e-3", lambda v: v > 0
        )
        _run.check_number(self, "weight_decay", "must be a finite number >= 0", lambda v: v >= 0)
        _run.check_number(self, "label_smoothing", "must be in [0, 1)", lambda v: 0 <= v < 1)
        for name in ("mixup", "cutmix"):
            _run.check_number(self, name, "must be a finite number >= 0 (0: off)", lambda v: v >= 0)
        _run.check_number(
            self,
            "warmup_epochs",
            f"must be in [0, epochs={self.epochs})",
            lambda v: 0 <= v < self.epochs,
        )
        if self.translate is not None:
            _run.check_number(
                self,
                "translate",
                "must be an int >= 0 (or unset)",
                lambda v: isinstance(v, int) and v >= 0,
            )
        _run.check_number(
            self,
            "tta_translate",
            "must be an int >= 0 (0: off)",
            lambda v: isinstance(v, int) and v >= 0,
        )
        if self.clipnorm is not None:
            _run.check_number(
                self, "clipnorm", "must be a finite number > 0 (or unset)", lambda v: v > 0
            )
        for name, what, choices in (
            ("optimizer", "optimizer", OPTIMIZERS),
            ("lr_schedule", "schedule", SCHEDULES),
            ("mixed_precision", "mixed precision policy", tuple(MIXED_PRECISION)),
            ("pipeline", "input pipeline", PIPELINES),
        ):
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(
                    f"Unknown {what} {value!r} (--{name}); pass one of {', '.join(choices)}."
                )

    def settings(self):
        """The fields a resumed run must share with the run it resumes (`RUN_CONFIG`)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in _FREE_FIELDS}


def _prepare_output_dir(output_dir, config):
    """Checks and locks ``output_dir`` before anything is read or changed: a `RunFolder`.

    Raises before any change: `OSError` if the folder cannot be written,
    `RunLocked` if another process trains there, `FileExistsError` for a
    finished run and `SettingsMismatch` for an unfinished run of other
    settings (unless ``config.overwrite``).
    """
    names = {k: f"--{v}" for k, v in _FLAGS.items()}
    names.update({k: f"--{k}" for k in dataclasses.asdict(config) if k not in _FLAGS})
    run = _run.RunFolder(
        output_dir, OUTPUTS, RUN_CONFIG, finished="metrics.json", what="run", names=names
    )
    return run.open(config.settings(), config.overwrite)


def _epochs_done(backup_dir):
    """Epochs completed by an interrupted run, from BackupAndRestore's record."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return int(json.load(f)["epoch"])


class _CommitRun(keras.callbacks.Callback):
    """Commits the `RunFolder` at the end of the first epoch trained."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        if not self.run.committed:
            self.run.commit()


def _devices(name, strategy):
    """How many devices trained the model."""
    if name == "data_parallel":
        return len(keras.distribution.distribution().device_mesh.devices.ravel())
    return int(getattr(strategy, "num_replicas_in_sync", 1))


def compile_model(model, config, steps_per_epoch):
    """Compiles ``model`` with the optimizer, schedule and loss of ``config``."""
    optimizer = build_optimizer(
        config.optimizer,
        config.learning_rate,
        config.lr_schedule,
        total_steps=steps_per_epoch * config.epochs,
        warmup_steps=int(config.warmup_epochs * steps_per_epoch),
        weight_decay=config.weight_decay,
        clipnorm=config.clipnorm,
        nesterov=config.nesterov,
    )
    model.compile(
        optimizer=optimizer,
        loss=LabelSmoothingCrossentropy(from_logits=True, label_smoothing=config.label_smoothing),
        metrics=[Accuracy()],
        steps_per_execution=config.steps_per_execution,
    )
    return model


def train(config: TrainConfig) -> dict:
    """Trains ``config.model`` on ``config.dataset`` and writes into ``config.output_dir``:

    - ``model.keras``: the model of the best epoch on the validation split,
      bounded: each polynomial layer clips its output, at inference, to its
      range on ``OUTPUT_RANGE_IMAGES`` training images
      (`pinet_keras.models.set_output_ranges`; outputs on ordinary images
      unchanged, finite on any input in float32 and float16);
    - ``history.csv``: one row per epoch (train and validation loss/accuracy,
      learning rate);
    - ``curves.png``: accuracy and loss per epoch, train and validation
      (with matplotlib installed);
    - ``metrics.json``: test accuracy and loss of ``model.keras`` (measured
      once, at the end), epochs, dataset, parameters, time, configuration;
    - ``logs/``: TensorBoard logs (with TensorFlow installed).

    A run interrupted mid-epoch resumes from its last completed epoch when
    called again with the same ``output_dir`` and the same configuration
    (``backup/`` holds that state and is removed when the run finishes;
    ``run_config.json`` the configuration; another configuration raises
    `SettingsMismatch`, listing the differences). A finished run is not
    trained over unless ``overwrite``.

    Nothing in ``output_dir`` changes before the configuration, the output
    folder, the data and the model were checked. ``overwrite`` sets the
    previous outputs aside and deletes them only once the new run wrote its
    first checkpoint; a failure before that puts them back. One process at a
    time: ``output_dir/.lock`` makes a second one raise `RunLocked`. Every
    file is written all at once (temporary file, rename).

    A NaN or infinite loss raises `TrainingDiverged`, naming the epoch and
    batch, and keeps the last good checkpoint. bf16 on a CPU without bf16
    instructions prints a note (`bf16_note`): it trains slower than float32 there.

    Returns the dict written to ``metrics.json``.

    Example:

    >>> config = TrainConfig(dataset="digits", epochs=2, output_dir="/tmp/run")
    >>> metrics = train(config)  # doctest: +SKIP
    """
    from pinet_keras.training.distribute import get_strategy

    config.validate()
    _run.check_data_dir(config.data_dir, config.dataset)
    strategy, is_chief = get_strategy(config.strategy)
    output_dir = config.output_dir
    if not is_chief:
        # Workers other than the chief train in lockstep but write elsewhere.
        output_dir = tempfile.mkdtemp(prefix="pinet_worker_")
    run = _prepare_output_dir(output_dir, config)
    keras.utils.set_random_seed(config.seed)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(MIXED_PRECISION[config.mixed_precision])
    if config.mixed_precision == "bf16" and is_chief:
        note = bf16_note(keras.distribution.list_devices(), cpu_flags())
        if note:
            print(note, flush=True)
    try:
        with run:
            return _train(config, strategy, is_chief, output_dir, run)
    finally:
        keras.config.set_dtype_policy(previous_policy)
        if config.strategy == "data_parallel":
            keras.distribution.set_distribution(None)


def cpu_name(path=None):
    """The CPU's model name and the cores this process may use, e.g. ``"AMD EPYC, 2 cores"``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    name = "unknown CPU"
    try:
        with open(path or CPUINFO) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    name = value.strip()
                    break
    except OSError:
        pass
    return f"{name}, {cores} cores"


def cpu_flags(path=None):
    """The CPU's feature flags from ``path`` (``/proc/cpuinfo``), or None where unknown."""
    try:
        with open(path or CPUINFO) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):  # x86, Arm
                    return set(value.split())
    except OSError:
        pass
    return None


def bf16_note(devices, flags):
    """The line to print when bf16 training runs on a CPU without bf16 instructions.

    There TensorFlow and PyTorch emulate bf16, and it trains at half the speed
    of float32 (benchmarks/README.md, the Intel Xeon runs). None where the CPU
    has them, where the devices include an accelerator or the flags are unknown.
    """
    if flags is None or flags & set(BF16_CPU_FLAGS):
        return None
    if not devices or any(not str(d).lower().startswith("cpu") for d in devices):
        return None
    return (
        "Note: this CPU has no bf16 instructions (none of "
        f"{', '.join(BF16_CPU_FLAGS)} in {CPUINFO}): --mixed_precision=bf16 is emulated "
        "and trains at about half the speed of --mixed_precision=none here."
    )


def _first_images(dataset, count):
    """The first ``count`` images of a batched pipeline (tf.data or `PyDataset`), as NumPy."""
    import numpy as np

    if isinstance(dataset, keras.utils.PyDataset):
        batches = (dataset[index] for index in range(len(dataset)))
    else:
        batches = iter(dataset)
    images, total = [], 0
    for batch in batches:
        images.append(np.asarray(batch[0]))
        total += len(images[-1])
        if total >= count:
            break
    return np.concatenate(images)[:count]


def _train(config, strategy, is_chief, output_dir, run):
    """The run itself, once its folder is locked: build, fit, finish."""
    data, model, steps_per_epoch = _build(config, strategy)
    paths = {name: os.path.join(output_dir, name) for name in OUTPUTS}
    train_seconds = _fit(config, strategy, is_chief, output_dir, run, data, model, paths)
    return _finish(config, strategy, is_chief, output_dir, data, model, paths, train_seconds)


def _build(config, strategy):
    """The data pipelines and the compiled model (raw pixels in): ``(data, model, steps)``."""
    from pinet_keras.data import make_datasets

    pipeline, multiple = config.pipeline, 1
    if config.strategy == "data_parallel":
        # Batches split evenly over the devices; Keras' distribution takes
        # NumPy (or device) batches, not tf.data.
        pipeline = "numpy" if pipeline == "auto" else pipeline
        multiple = _devices(config.strategy, strategy)
    data = make_datasets(
        config.dataset,
        data_dir=config.data_dir,
        batch_size=config.batch_size,
        validation_split=config.validation_split,
        seed=config.seed,
        max_train_examples=config.max_train_examples,
        pipeline=pipeline,
        batch_multiple=multiple,
        image_size=config.image_size,
    )
    steps_per_epoch = -(-data.info.num_train // config.batch_size)
    with strategy.scope():
        model = build_model(config, data.info, data.train, steps_per_epoch)
    return data, model, steps_per_epoch


def build_model(config, info, train, steps_per_epoch):
    """The compiled model of ``config``, raw pixels in, as `train` builds it.

    The pixel guard, the augmentation and the normalization are its first
    layers; a whitened first layer (`FastNet`) is adapted to the first
    training images of ``train``, which is read only then.

    Args:
        config: a `TrainConfig`.
        info: the data's ``input_shape``, ``num_classes`` and per-channel
            ``pixel_mean`` and ``pixel_variance`` of the raw training pixels
            (the ``info`` of `pinet_keras.data.make_datasets`).
        train: batches ``(images, labels, ...)`` of raw training pixels.
        steps_per_epoch: for the learning-rate schedule.
    """
    preprocessing = pixel_preprocessing(
        info.input_shape,
        config.input_normalization,
        mean=info.pixel_mean,
        variance=info.pixel_variance,
        augmentation=augmentation_policy(config.dataset, info.input_shape, padding=config.translate)
        if config.augment
        else None,
        seed=config.seed,
    )
    model = get_model(
        config.model,
        info.input_shape,
        info.num_classes,
        preprocessing=preprocessing,
        **config.model_overrides,
    )
    if any(isinstance(layer, PatchWhitening) for layer in model.layers):
        adapt_whitening(model, _first_images(train, WHITENING_IMAGES))
    return compile_model(model, config, steps_per_epoch)


def _fit(config, strategy, is_chief, output_dir, run, data, model, paths):
    """Trains ``model`` (resuming an interrupted run), the best epoch kept; its seconds."""
    info = data.info
    train_data = mix_batches(
        data.train, info.num_classes, mixup=config.mixup, cutmix=config.cutmix, seed=config.seed
    )
    backup_dir = os.path.join(paths["backup"], "chief" if is_chief else "worker")
    # The data and the model are checked: from here on the folder changes.
    run.begin(config.settings(), resume=not config.overwrite and _epochs_done(backup_dir) > 0)
    history = HistoryCSV(paths["history.csv"])
    done = _epochs_done(backup_dir)
    if done and not os.path.exists(paths["model.keras"]):
        raise FileNotFoundError(
            f"{paths['model.keras']} is missing from an unfinished run ({done} epochs done); "
            "pass --overwrite to train again from scratch."
        )
    rows = history.truncate(done)
    best = max((r["val_accuracy"] for r in rows), default=None)
    if done:
        print(f"Resuming {output_dir} after epoch {done} of {config.epochs}.", flush=True)
    callbacks = [
        DivergenceGuard(checkpoint=paths["model.keras"]),
        # Order matters at the end of an epoch: the history row and the best
        # model are on disk before the backup records the epoch as done.
        history,
        BestModelCheckpoint(paths["model.keras"], monitor="val_accuracy", mode="max", best=best),
        AtomicBackupAndRestore(backup_dir, double_checkpoint=True, delete_checkpoint=False),
        # Last: the first checkpoint is on disk, the previous run can go.
        _CommitRun(run),
    ]
    if config.tensorboard:
        if _optional.available("tensorflow"):
            callbacks.append(keras.callbacks.TensorBoard(paths["logs"]))
        else:
            print("Skipping TensorBoard logs: TensorFlow is not installed.", flush=True)

    if config.strategy == "multi_worker":
        fitting = _compat.multi_worker_fit(model, strategy, data.train)
    else:
        fitting = contextlib.nullcontext()
    start = time.time()
    with fitting, strategy.scope():
        model.fit(
            train_data,
            validation_data=data.validation,
            epochs=config.epochs,
            callbacks=callbacks,
            verbose=verbosity(config.verbose),
            shuffle=False,  # the data pipeline shuffles its examples itself
        )
    train_seconds = time.time() - start
    return train_seconds


def _finish(config, strategy, is_chief, output_dir, data, model, paths, train_seconds):
    """Bounds the best model, measures it once on the test split, writes metrics.json."""
    info = data.info
    best_model = keras.saving.load_model(paths["model.keras"])
    range_images = 0
    if polynomial_layers(best_model):
        # The model that leaves the trainer is bounded on every input: each
        # polynomial layer clips its output, at inference, to its range on
        # training images.
        images = _first_images(data.train, OUTPUT_RANGE_IMAGES)
        set_output_ranges(best_model, images)
        range_images = len(images)
        if is_chief:
            _io.save_model_atomic(best_model, paths["model.keras"])
    best_model.compile(loss=model.loss, metrics=[Accuracy()])
    test_loss, test_accuracy = best_model.evaluate(data.test, verbose=0)
    if config.tta_flip:
        test_tta = flip_averaged_accuracy(best_model, data.test)
    translated = {}
    if config.tta_translate:
        # Flips too if --tta_flip; on the validation split as well, to choose by.
        for split, dataset in (("val", data.validation), ("test", data.test)):
            if dataset is None:  # --validation_split=0
                continue
            translated[f"{split}_accuracy_tta_translate"] = tta_accuracy(
                best_model, dataset, flip=config.tta_flip, translate=config.tta_translate
            )
    rows = HistoryCSV.read(paths["history.csv"])
    best_row = max(rows, key=lambda r: r["val_accuracy"])
    metrics = {
        "dataset": config.dataset,
        "model": config.model,
        "params": int(model.count_params()),
        "epochs": len(rows),
        "best_epoch": int(best_row["epoch"]),
        "val_accuracy": best_row["val_accuracy"],
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "output_range_images": range_images,
        **({"test_accuracy_tta_flip": test_tta} if config.tta_flip else {}),
        **translated,
        # Time of this invocation only: a resumed run reports its last part.
        "train_seconds": round(train_seconds, 1),
        "num_train": info.num_train,
        "num_validation": info.num_validation,
        "num_test": info.num_test,
        "input_normalization": config.input_normalization,
        "input_shape": list(info.input_shape),
        "pixel_range": [0, 255],
        "class_names": list(info.class_names),
        "package_version": pinet_keras.__version__,
        "backend": keras.backend.backend(),
        "devices": _devices(config.strategy, strategy),
        # What train_seconds was measured on.
        "cpu": cpu_name(),
        "config": dataclasses.asdict(config),
    }
    if is_chief:
        from pinet_keras.training.plots import plot_history

        if not _optional.available("matplotlib"):
            print("Skipping curves.png: matplotlib is not installed.", flush=True)
        else:
            plot_history(
                rows,
                os.path.join(output_dir, "curves.png"),
                title=f"{config.model} on {config.dataset}",
            )
        write_json(paths["metrics.json"], metrics)
    shutil.rmtree(paths["backup"], ignore_errors=True)
    if not is_chief:
        shutil.rmtree(output_dir, ignore_errors=True)
    return metrics
