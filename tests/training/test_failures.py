"""Failures: runs and exports never lose, mix or half-write data; script errors are one line.

Each case asserts the message and that no file that existed before changed
(`snapshot` checksums every file of a folder, hidden ones included).
"""

import dataclasses
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from conftest import ROOT
from conftest import TRAIN
from conftest import TUNE
from conftest import tensorflow_only

pytestmark = tensorflow_only

TINY = ["--dataset=digits", "--width=2", "--num_blocks=2", "--batch_size=64", "--noaugment"]


# -- Helpers -------------------------------------------------------------------


def snapshot(folder):
    """``{relative path: sha256}`` of every file under ``folder`` (empty folders as ``"<dir>"``).

    Except the run folder's lock file, which holds the pid of its last holder.
    """
    result = {}
    for root, dirs, files in os.walk(folder):
        for name in files:
            if name == ".lock":
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                result[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
        if not dirs and not files:
            result[os.path.relpath(root, folder) + "/"] = "<dir>"
    return result


def temporary_files(folder):
    from pinet_keras import _io

    return [
        os.path.join(r, n) for r, ds, fs in os.walk(folder) for n in ds + fs if _io.is_temporary(n)
    ]


def _config(output_dir, **kwargs):
    from pinet_keras.training import TrainConfig

    defaults = dict(
        dataset="digits",
        model_overrides=dict(width=2, num_blocks=2),
        epochs=2,
        batch_size=64,
        output_dir=str(output_dir),
        verbose="0",
        tensorboard=False,
    )
    defaults.update(kwargs)
    return TrainConfig(**defaults)


def _env(**extra):
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT, **extra}


def _script(path, args, env=None, timeout=300):
    """Runs a command (a tuple such as `TRAIN`) or a tool script (a path)."""
    command = list(path) if isinstance(path, tuple) else [path]
    return subprocess.run(
        [sys.executable, *command, *args],
        capture_output=True,
        text=True,
        env=_env(**(env or {})),
        timeout=timeout,
    )


def _error_line(stderr):
    """The script's error line; asserts there is exactly one and no traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


class _StopAtEpoch(Exception):
    pass


def _interrupt_at_epoch(monkeypatch, epoch, error=KeyboardInterrupt):
    """Makes training raise ``error`` at the beginning of ``epoch`` (0-based)."""
    from pinet_keras.training.callbacks import DivergenceGuard

    original = DivergenceGuard.on_epoch_begin

    def on_epoch_begin(self, e, logs=None):
        if e == epoch:
            raise error("stopped by the test")
        return original(self, e, logs)

    monkeypatch.setattr(DivergenceGuard, "on_epoch_begin", on_epoch_begin)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished two-epoch run, trained once; tests copy it."""
    from pinet_keras.training import train

    folder = tmp_path_factory.mktemp("finished") / "run"
    train(_config(folder))
    return folder


@pytest.fixture(scope="module")
def unfinished_run(tmp_path_factory):
    """A run stopped after its first of two epochs, trained once; tests copy it."""
    from pinet_keras.training import train

    folder = tmp_path_factory.mktemp("unfinished") / "run"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _interrupt_at_epoch(monkeypatch, 1)
        with pytest.raises(KeyboardInterrupt):
            train(_config(folder))
    assert os.path.exists(folder / "backup" / "chief" / "training_metadata.json")
    return folder


@pytest.fixture
def finished(finished_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(finished_run, folder)
    return folder


@pytest.fixture
def unfinished(unfinished_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(unfinished_run, folder)
    return folder


# -- 1. Check before you touch: flags -------------------------------------------


BAD_FLAGS = [
    (dict(learning_rate=float("nan")), "--learning_rate"),
    (dict(learning_rate=float("inf")), "--learning_rate"),
    (dict(learning_rate=-0.1), "--learning_rate"),
    (dict(learning_rate=0.0), "--learning_rate"),
    (dict(clipnorm=0.0), "--clipnorm"),
    (dict(clipnorm=float("nan")), "--clipnorm"),
    (dict(weight_decay=-1e-4), "--weight_decay"),
    (dict(weight_decay=float("inf")), "--weight_decay"),
    (dict(label_smoothing=1.0), "--label_smoothing"),
    (dict(label_smoothing=-0.1), "--label_smoothing"),
    (dict(steps_per_execution=0), "--steps_per_execution"),
    (dict(warmup_epochs=-1.0), "--warmup_epochs"),
    (dict(warmup_epochs=2.0), "--warmup_epochs"),
    (dict(epochs=0), "--epochs"),
    (dict(batch_size=0), "--batch_size"),
    (dict(validation_split=1.0), "--validation_split"),
    (dict(optimizer="adamx"), "--optimizer"),
    (dict(lr_schedule="linear"), "--lr_schedule"),
    (dict(mixed_precision="fp8"), "--mixed_precision"),
]


@pytest.mark.parametrize(
    "changes, flag", BAD_FLAGS, ids=[f"{k}={v}" for (c, _) in BAD_FLAGS for k, v in c.items()]
)
def test_bad_flag_is_an_error_before_anything_changes(finished, changes, flag):
    from pinet_keras.training import train

    before = snapshot(finished)
    with pytest.raises(ValueError, match=flag) as info:
        train(_config(finished, overwrite=True, **changes))
    assert "\n" not in str(info.value)
    assert snapshot(finished) == before


# -- 1. Check before you touch: data, model, strategy, output path ---------------


def test_overwrite_with_a_missing_data_dir_keeps_the_run(finished, tmp_path):
    from pinet_keras.training import train

    before = snapshot(finished)
    with pytest.raises(FileNotFoundError, match=r"Data folder not found: .*nowhere \(--data_dir\)"):
        train(
            _config(finished, overwrite=True, dataset="mnist", data_dir=str(tmp_path / "nowhere"))
        )
    assert snapshot(finished) == before


def test_data_dir_that_is_a_file(finished, tmp_path):
    from pinet_keras.training import train

    a_file = tmp_path / "mnist.gz"
    a_file.write_bytes(b"x")
    before = snapshot(finished)
    with pytest.raises(FileNotFoundError, match="a file, not a folder.*--data_dir"):
        train(_config(finished, overwrite=True, dataset="mnist", data_dir=str(a_file)))
    assert snapshot(finished) == before


def test_overwrite_with_a_model_typo_keeps_the_run(finished):
    from pinet_keras.training import train

    before = snapshot(finished)
    with pytest.raises(ValueError, match="Unknown model 'polynett'"):
        train(_config(finished, overwrite=True, model="polynett"))
    assert snapshot(finished) == before


def test_overwrite_with_a_bad_model_setting_keeps_the_run(finished):
    from pinet_keras.training import train

    before = snapshot(finished)
    with pytest.raises(ValueError, match="width"):
        train(_config(finished, overwrite=True, model_overrides=dict(width=0, num_blocks=2)))
    assert snapshot(finished) == before


@pytest.mark.parametrize(
    "tf_config, message", [("{not json", "not valid JSON"), ("[1, 2]", "JSON object")]
)
def test_tf_config_that_is_not_a_json_object(finished, monkeypatch, tf_config, message):
    from pinet_keras.training import train

    monkeypatch.setenv("TF_CONFIG", tf_config)
    before = snapshot(finished)
    with pytest.raises(ValueError, match=f"TF_CONFIG environment variable .*{message}"):
        train(_config(finished, overwrite=True, strategy="multi_worker"))
    assert snapshot(finished) == before


def test_output_dir_below_a_file(tmp_path):
    from pinet_keras.training import train

    (tmp_path / "a_file").write_text("keep me")
    before = snapshot(tmp_path)
    with pytest.raises(NotADirectoryError, match="a_file is a file, not a folder.*--output_dir"):
        train(_config(tmp_path / "a_file" / "run"))
    with pytest.raises(NotADirectoryError, match="--output_dir"):
        train(_config(tmp_path / "a_file"))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "code, advice", [(errno.EROFS, "Read-only"), (errno.EACCES, "Permission denied")]
)
def test_output_dir_that_cannot_be_written(finished, monkeypatch, code, advice):
    """Read-only file systems and permissions are simulated: the tests may run as root."""
    from pinet_keras.cli import boundary as _cli
    from pinet_keras.training import train

    original = os.open

    def refusing_open(path, *args, **kwargs):
        if os.fspath(path).startswith(str(finished)):
            raise OSError(code, os.strerror(code), path)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    before = snapshot(finished)
    with pytest.raises(OSError) as info:
        train(_config(finished, overwrite=True))
    line = _cli.describe(info.value)
    assert advice in line and "--output_dir" in line and str(finished) in line
    monkeypatch.undo()
    assert snapshot(finished) == before


# -- 2. A run folder knows its run: lock ------------------------------------------


def test_second_process_on_a_locked_folder_fails_at_once_naming_the_pid(finished):
    from pinet_keras import _run
    from pinet_keras.training import train

    before = snapshot(finished)
    holder = _run.RunFolder(finished, ("model.keras",), "run_config.json", "metrics.json")
    holder.open({}, overwrite=True)
    try:
        start = time.monotonic()
        with pytest.raises(_run.RunLocked, match=rf"in use by another process \(pid {os.getpid()}"):
            train(_config(finished, overwrite=True))
        assert time.monotonic() - start < 5
    finally:
        holder.close()
    assert snapshot(finished) == before


def test_tune_on_a_locked_folder(tmp_path):
    from pinet_keras import _run
    from pinet_keras.tuning import TuneConfig
    from pinet_keras.tuning import tune

    folder = tmp_path / "search"
    holder = _run.RunFolder(folder, (), "search_config.json", "metrics.json").open(
        {}, overwrite=True
    )
    try:
        with pytest.raises(_run.RunLocked, match=f"pid {os.getpid()}"):
            tune(TuneConfig(dataset="digits", max_trials=1, epochs=1, output_dir=str(folder)))
    finally:
        holder.close()


# -- 2. A run folder knows its run: configuration ----------------------------------


def test_finished_run_is_kept_without_overwrite(finished):
    from pinet_keras.training import train

    before = snapshot(finished)
    with pytest.raises(FileExistsError, match="holds a finished run .*--overwrite"):
        train(_config(finished))
    assert snapshot(finished) == before
    assert json.loads((finished / "run_config.json").read_text())["epochs"] == 2


def test_resume_with_another_width_lists_the_difference(unfinished):
    from pinet_keras._run import SettingsMismatch
    from pinet_keras.training import train

    before = snapshot(unfinished)
    with pytest.raises(SettingsMismatch, match=r"--width: 2 -> 4") as info:
        train(_config(unfinished, model_overrides=dict(width=4, num_blocks=2)))
    assert "\n" not in str(info.value) and len(str(info.value)) < 400  # no weight arrays
    assert snapshot(unfinished) == before


def test_resume_with_several_differences_lists_them_all(unfinished):
    from pinet_keras._run import SettingsMismatch
    from pinet_keras.training import train

    before = snapshot(unfinished)
    with pytest.raises(SettingsMismatch) as info:
        train(_config(unfinished, learning_rate=0.01, input_normalization="standardize", seed=3))
    message = str(info.value)
    for part in (
        "--learning_rate: 0.001 -> 0.01",
        "--input_normalization: 'unit' -> 'standardize'",
        "--seed: 0 -> 3",
    ):
        assert part in message
    assert snapshot(unfinished) == before


def test_resume_with_the_same_configuration_finishes_the_run(unfinished, capsys):
    from pinet_keras.training import HistoryCSV
    from pinet_keras.training import train

    # data_dir, verbose and tensorboard may change on resume.
    metrics = train(_config(unfinished, verbose="2"))
    assert "Resuming" in capsys.readouterr().out
    assert metrics["epochs"] == 2
    assert [r["epoch"] for r in HistoryCSV.read(unfinished / "history.csv")] == [1.0, 2.0]


def test_overwrite_discards_an_unfinished_run(unfinished):
    from pinet_keras.training import train

    metrics = train(
        _config(unfinished, overwrite=True, epochs=1, model_overrides=dict(width=3, num_blocks=2))
    )
    assert metrics["epochs"] == 1
    assert json.loads((unfinished / "run_config.json").read_text())["model_overrides"]["width"] == 3
    assert not os.path.exists(unfinished / "backup")
    assert not [n for n in os.listdir(unfinished) if n.startswith((".previous", ".discard"))]


def test_corrupt_run_config_is_named(unfinished):
    from pinet_keras.training import train

    (unfinished / "run_config.json").write_text("{half")
    before = snapshot(unfinished)
    with pytest.raises(ValueError, match="run_config.json is not valid JSON"):
        train(_config(unfinished))
    assert snapshot(unfinished) == before


def test_unfinished_run_without_its_model_file(unfinished):
    from pinet_keras.training import train

    os.remove(unfinished / "model.keras")
    before = snapshot(unfinished)
    with pytest.raises(FileNotFoundError, match="model.keras is missing from an unfinished run"):
        train(_config(unfinished))
    assert snapshot(unfinished) == before


# -- 1. --overwrite: the previous run is kept until the first checkpoint ----------


@pytest.mark.parametrize("error", [KeyboardInterrupt, _StopAtEpoch])
def test_overwrite_failing_before_its_first_checkpoint_puts_the_run_back(
    finished, monkeypatch, error
):
    from pinet_keras.training import train

    before = snapshot(finished)
    _interrupt_at_epoch(monkeypatch, 0, error)
    with pytest.raises(error):
        train(_config(finished, overwrite=True, seed=5))
    assert snapshot(finished) == before
    assert temporary_files(finished) == []


def test_overwrite_diverging_in_its_first_epoch_puts_the_run_back(finished, monkeypatch):
    from pinet_keras.training import TrainingDiverged
    from pinet_keras.training import callbacks
    from pinet_keras.training import train

    def diverge(self, batch, logs=None):
        raise TrainingDiverged(self._epoch, batch, float("nan"), None)

    monkeypatch.setattr(callbacks.DivergenceGuard, "on_train_batch_end", diverge)
    before = snapshot(finished)
    with pytest.raises(TrainingDiverged, match="epoch 1, batch 1"):
        train(_config(finished, overwrite=True))
    assert snapshot(finished) == before


def test_overwrite_failing_after_its_first_checkpoint_keeps_the_new_run(finished, monkeypatch):
    from pinet_keras.training import train

    old_model = snapshot(finished)["model.keras"]
    _interrupt_at_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        train(_config(finished, overwrite=True, seed=7))
    names = os.listdir(finished)
    assert "metrics.json" not in names and "backup" in names
    assert not [n for n in names if n.startswith((".previous", ".discard"))]
    assert snapshot(finished)["model.keras"] != old_model
    assert json.loads((finished / "run_config.json").read_text())["seed"] == 7


def test_overwrite_killed_before_its_first_checkpoint_is_undone_by_the_next_run(finished):
    """The state a SIGKILL leaves: previous outputs set aside, new partial ones, the lock gone."""
    from pinet_keras import _run
    from pinet_keras.training import train
    from pinet_keras.training.trainer import OUTPUTS

    before = snapshot(finished)
    killed = _run.RunFolder(finished, OUTPUTS, "run_config.json", "metrics.json")
    killed.open({}, overwrite=True)
    killed.begin({}, resume=False)
    (finished / "history.csv").write_text("epoch,loss\n1,0.5\n")  # the killed run's partial output
    os.close(killed._lock_fd)  # killed: no cleanup ran
    with pytest.raises(FileExistsError, match="finished run"):
        train(_config(finished))
    assert snapshot(finished) == before


def test_failed_first_run_leaves_no_folder(tmp_path, monkeypatch):
    from pinet_keras.training import train

    _interrupt_at_epoch(monkeypatch, 0)
    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path / "new"))
    assert os.listdir(tmp_path) == []


# -- 4. No litter -------------------------------------------------------------------


def test_leftovers_of_a_killed_run_are_removed_and_the_run_resumes(unfinished):
    from pinet_keras import _io
    from pinet_keras.training import train

    dead_pid = 2**22 + 17  # above the default pid_max: never a live process
    leftovers = [
        unfinished / f".model.keras{_io.TEMP_MARK}{dead_pid}-0123456789ab.keras",
        unfinished
        / "backup"
        / "chief"
        / f".latest.weights.h5{_io.TEMP_MARK}{dead_pid}-0123456789ab.weights.h5",
    ]
    for path in leftovers:
        path.write_bytes(b"half")
    metrics = train(_config(unfinished))
    assert metrics["epochs"] == 2
    assert temporary_files(unfinished) == []


def test_leftovers_of_a_live_process_are_kept_without_a_lock(tmp_path):
    from pinet_keras import _io

    parent_pid = os.getppid()
    live = tmp_path / f".out.tflite{_io.TEMP_MARK}{parent_pid}-0123456789ab.tflite"
    dead = tmp_path / f".out.tflite{_io.TEMP_MARK}{2**22 + 17}-0123456789ab.tflite"
    live.write_bytes(b"x")
    dead.write_bytes(b"x")
    assert _io.remove_leftovers(tmp_path) == [str(dead)]
    assert live.exists()


def test_full_disk_while_writing_a_file_keeps_the_old_one(tmp_path, monkeypatch):
    from pinet_keras import _io

    target = tmp_path / "history.csv"
    target.write_text("old")
    before = snapshot(tmp_path)

    def full_fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_fsync)
    with pytest.raises(OSError, match="No space left"):
        _io.write_text(target, "new", overwrite=True)
    assert snapshot(tmp_path) == before


def test_failed_model_save_leaves_no_temporary_file(tmp_path):
    from pinet_keras import _io

    class Unsaveable:
        def save(self, path):
            with open(path, "wb") as f:
                f.write(b"half a zip")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    (tmp_path / "model.keras").write_bytes(b"the good one")
    before = snapshot(tmp_path)
    with pytest.raises(OSError):
        _io.save_model_atomic(Unsaveable(), tmp_path / "model.keras")
    assert snapshot(tmp_path) == before


def test_full_disk_during_the_backup_keeps_the_previous_backup(unfinished, monkeypatch):
    from pinet_keras.training import train

    backup = unfinished / "backup" / "chief"
    before = snapshot(backup)

    def full_disk(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filepath)

    monkeypatch.setattr(keras.Model, "save_weights", full_disk)
    with pytest.raises(OSError, match="No space left"):
        train(_config(unfinished))
    after = snapshot(backup)
    # The epoch-1 state is intact (the double checkpoint's copy may be added).
    for name in ("latest.weights.h5", "training_metadata.json"):
        assert after[name] == before[name]
    assert temporary_files(unfinished) == []


def test_interrupted_atomic_output_leaves_the_target_and_no_litter(tmp_path):
    from pinet_keras import _io

    (tmp_path / "best_model.keras").write_bytes(b"old")
    before = snapshot(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with _io.atomic_output(tmp_path / "best_model.keras", overwrite=True) as temporary:
            with open(temporary, "wb") as f:
                f.write(b"half")
            raise KeyboardInterrupt
    assert snapshot(tmp_path) == before


def test_overwrite_replaces_only_what_the_output_writes(tmp_path):
    from pinet_keras import _io

    run = tmp_path / "run"  # a training run where a file or an export folder would go
    run.mkdir()
    (run / "model.keras").write_bytes(b"weeks of training")
    document = tmp_path / "notes.txt"
    document.write_text("keep me\n")
    export = tmp_path / "export"
    export.mkdir()
    (export / "model_int8.tflite").write_bytes(b"old export")
    before = snapshot(tmp_path)
    with pytest.raises(FileExistsError, match="is a folder, not a file"):
        _io.write_text(run, "a report\n", overwrite=True)
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        with _io.atomic_output(document, overwrite=True) as temporary:
            os.makedirs(temporary)
    owns = lambda name: name.endswith(".tflite")  # noqa: E731
    with pytest.raises(FileExistsError, match=r"does not write \(model.keras\)"):
        with _io.atomic_output(run, overwrite=True, owns=owns) as temporary:
            pytest.fail("the check comes before any work")
    assert snapshot(tmp_path) == before and temporary_files(tmp_path) == []
    with pytest.raises(FileExistsError, match="--output_dir.*--overwrite"):
        _io.check_overwrite(run, overwrite=False, flag="--output_dir")
    with _io.atomic_output(export, overwrite=True, owns=owns) as temporary:  # an export: replaced
        os.makedirs(temporary)
        (Path(temporary) / "model_float32.tflite").write_bytes(b"new export")
    assert os.listdir(export) == ["model_float32.tflite"]


@pytest.mark.parametrize("marker", ["search_config.json", "report.json"])
def test_a_run_never_writes_into_a_search_or_an_export(finished, tmp_path, marker):
    from pinet_keras.training import train

    other = tmp_path / "other"
    other.mkdir()
    (other / marker).write_text("{}\n")
    (other / "metrics.json").write_text("{}\n")
    before = snapshot(other)
    kind = "a hyperparameter search" if marker == "search_config.json" else "an export"
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match=f"holds {kind} \\({marker}\\), not a training"):
            train(_config(other, overwrite=overwrite))
    assert snapshot(other) == before


def test_a_run_never_replaces_files_that_no_run_wrote(tmp_path):
    # `--output_dir=.` in a project that has a logs/ folder of its own.
    from pinet_keras.training import train
    from pinet_keras.tuning import TuneConfig
    from pinet_keras.tuning import tune

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "notes.txt").write_text("mine\n")
    (tmp_path / "best_model.keras").write_bytes(b"a model of my own")
    before = snapshot(tmp_path)
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match="holds logs but not a training run"):
            train(_config(tmp_path, overwrite=overwrite))
        config = TuneConfig(
            dataset="digits", max_trials=1, epochs=1, output_dir=str(tmp_path), overwrite=overwrite
        )
        with pytest.raises(FileExistsError, match="best_model.keras but not a hyperparameter"):
            tune(config)
    assert snapshot(tmp_path) == before


def test_a_search_never_writes_into_a_training_run(finished):
    from pinet_keras.tuning import TuneConfig
    from pinet_keras.tuning import tune

    before = snapshot(finished)
    for overwrite in (False, True):
        config = TuneConfig(
            dataset="digits", max_trials=1, epochs=1, output_dir=str(finished), overwrite=overwrite
        )
        with pytest.raises(FileExistsError, match="holds a training run .*not a hyperparameter"):
            tune(config)
    assert snapshot(finished) == before


def test_only_the_io_module_writes_files():
    """Every file of the package is written by `pinet_keras._io` (all at once, or not at all)."""
    import re

    package = os.path.join(ROOT, "pinet_keras")
    # A call, not a mention in a message (`model.save(...)`).
    writes = re.compile(
        r"\bopen\(.*,\s*[\"'][wax]b?\+?[\"']|(?<![`\w])\w+\.(savefig|save)\(|json\.dump\("
        r"|os\.replace\("
    )
    found = []
    for folder, _, names in os.walk(package):
        for name in names:
            path = os.path.join(folder, name)
            if not name.endswith(".py") or os.path.relpath(path, package) in ("_io.py", "_run.py"):
                continue
            with open(path, encoding="utf-8") as f:
                found += [f"{name}: {line.strip()}" for line in f if writes.search(line)]
    assert not found, found


# -- 5. One error boundary ------------------------------------------------------------


@pytest.mark.parametrize(
    "error, expected",
    [
        (
            OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/out/model.keras"),
            "free some disk space",
        ),
        (
            OSError(errno.EROFS, os.strerror(errno.EROFS), "/out"),
            "read-only; choose another --output_dir",
        ),
        (PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/out"), "fix its permissions"),
        (
            NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), "/f/x"),
            "is a file, not a folder",
        ),
        (
            FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), "/m.keras"),
            "/m.keras, check the path",
        ),
    ],
)
def test_os_errors_are_one_line_with_the_file_and_what_to_do(error, expected):
    from pinet_keras.cli import boundary as _cli

    line = _cli.describe(error)
    assert "\n" not in line and expected in line and error.filename in line


def test_script_bad_flag_is_one_line_status_2(tmp_path):
    result = _script(TRAIN, TINY + ["--learning_rate=nan", f"--output_dir={tmp_path / 'run'}"])
    assert result.returncode == 2
    line = _error_line(result.stderr)
    assert "--learning_rate" in line and "nan" in line and "diverged" not in line
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_script_unparsable_flag_and_debug_traceback(tmp_path):
    result = _script(TRAIN, TINY + ["--steps_per_execution=two"])
    assert result.returncode == 2
    assert "--steps_per_execution" in _error_line(result.stderr)
    result = _script(
        TRAIN, TINY + ["--steps_per_execution=0", "--debug", f"--output_dir={tmp_path}"]
    )
    assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.mark.slow
def test_tune_script_overwrite_with_a_missing_data_dir_keeps_the_search(tmp_path):
    folder = tmp_path / "search"
    folder.mkdir()
    for name in ("best_model.keras", "trials.csv", "metrics.json", "best_hyperparameters.json"):
        (folder / name).write_text(name)
    (folder / "search").mkdir()
    (folder / "search" / "oracle.json").write_text("{}")
    before = snapshot(folder)
    args = [
        "--dataset=mnist",
        f"--data_dir={tmp_path / 'typo'}",
        f"--output_dir={folder}",
        "--overwrite",
    ]
    result = _script(TUNE, args)
    assert result.returncode == 2
    assert "--data_dir" in _error_line(result.stderr)
    assert snapshot(folder) == before


@pytest.mark.parametrize(
    "field, value, flag",
    [
        ("max_trials", 0, "--max_trials"),
        ("epochs", -1, "--epochs"),
        ("epochs", 2.5, "--epochs"),
        ("max_train_examples", 0, "--max_train_examples"),
        ("validation_split", 1.5, "--validation_split"),
        ("validation_split", 0.0, "--validation_split"),
        ("tuner", "grid", "--tuner"),
        ("input_normalization", "minmax", "--input_normalization"),
    ],
)
def test_tune_bad_value_names_its_flag_and_keeps_the_search(tmp_path, field, value, flag):
    from pinet_keras.tuning import TuneConfig
    from pinet_keras.tuning import tune

    folder = tmp_path / "search"
    folder.mkdir()
    (folder / "metrics.json").write_text("{}")
    before = snapshot(folder)
    config = TuneConfig(dataset="digits", output_dir=str(folder), overwrite=True)
    with pytest.raises(ValueError) as error:
        tune(dataclasses.replace(config, **{field: value}))
    message = str(error.value)
    assert flag in message and repr(value) in message and "pass" in message, message
    assert "\n" not in message
    assert snapshot(folder) == before


def test_tune_overwrite_with_a_bad_fixed_value_keeps_the_search(tmp_path):
    from pinet_keras.tuning import TuneConfig
    from pinet_keras.tuning import tune

    folder = tmp_path / "search"
    folder.mkdir()
    (folder / "metrics.json").write_text("{}")
    (folder / "search_config.json").write_text("{}")
    before = snapshot(folder)
    with pytest.raises(ValueError, match="width"):
        tune(
            TuneConfig(
                dataset="digits",
                max_trials=1,
                epochs=1,
                fixed={"width": -3},
                output_dir=str(folder),
                overwrite=True,
            )
        )
    assert snapshot(folder) == before


def test_tune_resume_with_other_settings_lists_them(tmp_path):
    from pinet_keras._run import SettingsMismatch
    from pinet_keras.tuning import TuneConfig
    from pinet_keras.tuning import search
    from pinet_keras.tuning import tune

    folder = tmp_path / "search"
    config = TuneConfig(dataset="digits", max_trials=1, epochs=1, output_dir=str(folder))
    folder.mkdir()
    # The settings file that a finished search with `config` leaves behind.
    (folder / "search_config.json").write_text(json.dumps(search._settings(config)))
    before = snapshot(folder)
    with pytest.raises(
        SettingsMismatch, match=r"epochs: 1 -> 2.*--input_normalization: 'unit' -> 'standardize'"
    ):
        tune(dataclasses.replace(config, epochs=2, input_normalization="standardize"))
    assert snapshot(folder) == before


# -- Real processes: two at once, SIGKILL, SIGTERM, Ctrl-C ------------------------------


def _default_sigint():
    # A suite started in the background by a shell without job control
    # (`bash -c "... &"`) ignores SIGINT, and so would the script it starts:
    # give the child Python's own Ctrl-C handling whatever the parent's.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args):
    return subprocess.Popen(
        [sys.executable, *TRAIN, *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def _wait_for(predicate, process, timeout=300):
    # A first epoch takes 5-20 s here; the margin is for a CI machine under load,
    # where one such wait once ran past 90 s.
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _epochs_done(folder):
    path = folder / "backup" / "chief" / "training_metadata.json"
    try:
        return json.loads(path.read_text())["epoch"]
    except (OSError, ValueError):
        return 0


@pytest.mark.slow
def test_two_processes_on_one_folder_then_sigkill_and_resume(tmp_path):
    folder = tmp_path / "run"
    args = TINY + ["--epochs=10", f"--output_dir={folder}"]
    first = _start(args)
    try:
        _wait_for(lambda: _epochs_done(folder) >= 1, first)
        # Paused (it keeps its lock), so that it cannot finish its 10 epochs
        # while the second process starts on an idle machine.
        os.kill(first.pid, signal.SIGSTOP)
        second = _script(TRAIN, args)
        assert second.returncode == 2
        assert f"pid {first.pid}" in _error_line(second.stderr)
        # SIGKILL mid-run: no cleanup at all.
        os.kill(first.pid, signal.SIGKILL)
        first.communicate()
    finally:
        if first.poll() is None:
            first.kill()
    before = snapshot(folder)
    result = _script(TRAIN, TINY + ["--epochs=3", f"--output_dir={folder}"], timeout=180)
    assert result.returncode == 2  # other --epochs: refused, nothing changed
    assert "--epochs: 10 -> 3" in _error_line(result.stderr)
    assert snapshot(folder) == before
    # What a kill during a save would leave: a temporary file of the dead process.
    litter = folder / f".model.keras.pinet-tmp-{first.pid}-0123456789ab.keras"
    litter.write_bytes(b"half")
    result = _script(TRAIN, args, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Resuming {folder} after epoch" in result.stdout
    assert temporary_files(folder) == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_leave_no_temporary_file(tmp_path, sig):
    folder = tmp_path / "run"
    process = _start(TINY + ["--epochs=200", f"--output_dir={folder}"])
    try:
        _wait_for(lambda: _epochs_done(folder) >= 1, process)
        time.sleep(0.3)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr[:1500] + stderr[-1500:]
    assert "rerun the command to resume" in _error_line(stderr)
    assert temporary_files(folder) == []
    assert "metrics.json" not in os.listdir(folder)
    assert json.loads((folder / "run_config.json").read_text())["epochs"] == 200
    # The script exits without the interpreter's shutdown (`_cli`): what the
    # TensorBoard logs had of the finished epochs is on disk all the same.
    events = list((folder / "logs" / "train").glob("events.out.tfevents.*"))
    assert any(b"epoch_loss" in path.read_bytes() for path in events), events


# -- 6. Optimizer state survives a save -----------------------------------------------


def _one_step_after_reload(optimizer, tmp_path):
    """Largest difference between one step of a model and one step of its saved, reloaded copy.

    The model is a one-stage, one-block PiResNet: it has every kind of weight
    that the exclusions name (biases, the normalizations' gamma and beta, the
    learnable product scale) at a quarter of the graph of the small preset.
    """
    from pinet_keras import PiResNet

    keras.utils.set_random_seed(0)
    model = PiResNet((8, 8, 1), 10, stage_widths=(2,), blocks_per_stage=(1,), product_scale=0.1)
    names = {w.path.rsplit("/", 1)[-1] for w in model.trainable_weights}
    assert {"bias", "gamma", "beta", "product_scale"} <= names, names
    model.compile(
        optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    x = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype("float32")
    y = np.arange(16) % 10
    model.train_on_batch(x, y)
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    model.train_on_batch(x, y)
    reloaded.train_on_batch(x, y)
    return max(
        float(np.max(np.abs(a.numpy() - b.numpy())))
        for a, b in zip(model.trainable_variables, reloaded.trainable_variables)
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_weight_decay_exclusions_survive_save_and_load(tmp_path, name):
    from pinet_keras.training import build_optimizer

    optimizer = build_optimizer(name, 0.01, weight_decay=0.5)
    assert "product_scale" in optimizer.get_config()["weight_decay_exclusions"]
    assert _one_step_after_reload(optimizer, tmp_path) < 1e-6


@pytest.mark.slow
def test_plain_keras_adamw_loses_its_exclusions(tmp_path):
    """The failure the subclasses fix: a measurable difference, so the test above can fail."""
    optimizer = keras.optimizers.AdamW(0.01, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta", "product_scale"])
    assert _one_step_after_reload(optimizer, tmp_path) > 1e-5


# -- 7. Loading without `import pinet_keras` ---------------------------------------------


@pytest.mark.slow
def test_loading_needs_the_import_and_works_with_it(finished):
    code = "import keras, sys; {imp}keras.saving.load_model(sys.argv[1]); print('loaded')"
    path = str(finished / "model.keras")
    without = subprocess.run(
        [sys.executable, "-c", code.format(imp=""), path],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert (
        without.returncode != 0 and "PolynomialConv2D" in without.stderr
    )  # Keras imports no outside module
    with_import = subprocess.run(
        [sys.executable, "-c", code.format(imp="import pinet_keras; "), path],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert with_import.returncode == 0 and "loaded" in with_import.stdout, with_import.stderr[
        -3000:
    ]


@pytest.mark.slow
def test_robustness_script_overwrites_only_its_own_report(finished, tmp_path):
    # --output where the run's own files are, or another model's export: each refused
    # before any work.
    script = os.path.join(ROOT, "tools", "robustness.py")
    model = f"--model={finished / 'model.keras'}"
    other_export = tmp_path / "other_export"  # a 28x28 MNIST file; the run is 8x8 digits
    other_export.mkdir()
    shutil.copy(
        os.path.join(
            ROOT, "pinet_keras", "pretrained", "files", "polynet_mnist", "model_int8.tflite"
        ),
        other_export,
    )
    cases = {
        "export_dir": (
            [f"--export_dir={other_export}", f"--output={tmp_path / 'sweep.json'}"],
            "model_int8.tflite takes (28, 28, 1) images but the model takes (8, 8, 1)",
        ),
        "folder": ([f"--output={finished}", "--overwrite"], "is a folder, not a file"),
        "metrics": (
            [f"--output={finished / 'metrics.json'}", "--overwrite"],
            "is not a report of this script",
        ),
        "model": ([f"--output={finished / 'model.keras'}", "--overwrite"], "does not end in .json"),
    }
    before = snapshot(finished)
    processes = {
        name: subprocess.Popen(
            [sys.executable, script, model, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for name, (args, _) in cases.items()
    }
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 2, stderr[-3000:]
        assert cases[name][1] in _error_line(stderr), name
    assert snapshot(finished) == before
    assert not (tmp_path / "sweep.json").exists()


@pytest.mark.slow
def test_forms_script_checks_before_running_and_resumes_only_its_own_file(finished, tmp_path):
    script = os.path.join(ROOT, "tools", "fashion_mnist_forms.py")
    broken = tmp_path / "broken_data"  # the run's process fails on it
    broken.mkdir()
    for name in ("train-images", "train-labels", "t10k-images", "t10k-labels"):
        kind = "idx3" if "images" in name else "idx1"
        (broken / f"{name}-{kind}-ubyte.gz").write_bytes(b"")
    done = tmp_path / "done.json"
    done.write_text(
        json.dumps([{"form": "ccp", "degree": 3, "seed": 0, "test_accuracy": 0.8}]) + "\n"
    )
    one = ["--forms=ccp", "--degrees=3", "--seeds=0"]
    cases = {
        "typo": ["--forms=prodcut", f"--output={tmp_path / 'a.json'}"],
        "not_ours": [f"--output={finished / 'metrics.json'}", f"--data_dir={broken}"],
        "run_fails": [*one, f"--data_dir={broken}", f"--output={tmp_path / 'b.json'}"],
        "resumed": [*one, f"--data_dir={broken}", f"--output={done}"],  # nothing left to run
    }
    before = snapshot(finished)
    processes = {
        name: subprocess.Popen(
            [sys.executable, script, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for name, args in cases.items()
    }
    results = {name: process.communicate(timeout=300) for name, process in processes.items()}
    assert "unknown ['prodcut']; choose from product" in _error_line(results["typo"][1])
    assert "is not a results file of this script" in _error_line(results["not_ours"][1])
    failed = _error_line(results["run_fails"][1])
    assert "the run --form=ccp --degree=3 --seed=0 failed (" in failed, failed
    assert str(broken) in failed  # the run's own error, inside
    assert processes["resumed"].returncode == 0, results["resumed"][1][-3000:]
    assert "| `ccp` | **0.800** (0.800) |" in results["resumed"][0]  # the table of the file
    assert snapshot(finished) == before
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()


def test_fashion_script_with_a_missing_data_dir_is_one_line(tmp_path):
    script = os.path.join(ROOT, "tools", "fashion_mnist_one_epoch.py")
    result = _script(script, [f"--data_dir={tmp_path / 'missing'}"])
    assert result.returncode == 2
    assert "missing" in _error_line(result.stderr)
