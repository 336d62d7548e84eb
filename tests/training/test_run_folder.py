"""A run folder: checked before it is touched, locked, knowing its run, kept on failure.

Each case asserts the message and that no file that existed before changed
(`snapshot` checksums every file of a folder, hidden ones included).
"""

import errno
import json
import os
import time

import keras
import pytest

from conftest import interrupt_at_epoch
from conftest import snapshot
from conftest import temporary_files
from conftest import tensorflow_only
from conftest import tiny_train_config

pytestmark = tensorflow_only


class _StopAtEpoch(Exception):
    pass


# -- Check before you touch: flags -------------------------------------------


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
    (dict(translate=-1), "--translate"),
    (dict(translate=1.5), "--translate"),
    (dict(tta_translate=-1), "--tta_translate"),
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
        train(tiny_train_config(finished, overwrite=True, **changes))
    assert "\n" not in str(info.value)
    assert snapshot(finished) == before


# -- Check before you touch: data, model, strategy, output path ---------------


def test_overwrite_with_a_missing_data_dir_keeps_the_run(finished, tmp_path):
    from pinet_keras.training import train

    before = snapshot(finished)
    with pytest.raises(FileNotFoundError, match=r"Data folder not found: .*nowhere \(--data_dir\)"):
        train(
            tiny_train_config(
                finished, overwrite=True, dataset="mnist", data_dir=str(tmp_path / "nowhere")
            )
        )
    assert snapshot(finished) == before


def test_data_dir_that_is_a_file(finished, tmp_path):
    from pinet_keras.training import train

    a_file = tmp_path / "mnist.gz"
    a_file.write_bytes(b"x")
    before = snapshot(finished)
    with pytest.raises(FileNotFoundError, match="a file, not a folder.*--data_dir"):
        train(tiny_train_config(finished, overwrite=True, dataset="mnist", data_dir=str(a_file)))
    assert snapshot(finished) == before


def test_overwrite_with_a_model_typo_keeps_the_run(finished):
    from pinet_keras.training import train

    before = snapshot(finished)
    with pytest.raises(ValueError, match="Unknown model 'polynett'"):
        train(tiny_train_config(finished, overwrite=True, model="polynett"))
    assert snapshot(finished) == before


def test_overwrite_with_a_bad_model_setting_keeps_the_run(finished):
    from pinet_keras.training import train

    before = snapshot(finished)
    with pytest.raises(ValueError, match="width"):
        train(
            tiny_train_config(finished, overwrite=True, model_overrides=dict(width=0, num_blocks=2))
        )
    assert snapshot(finished) == before


@pytest.mark.parametrize(
    "tf_config, message", [("{not json", "not valid JSON"), ("[1, 2]", "JSON object")]
)
def test_tf_config_that_is_not_a_json_object(finished, monkeypatch, tf_config, message):
    from pinet_keras.training import train

    monkeypatch.setenv("TF_CONFIG", tf_config)
    before = snapshot(finished)
    with pytest.raises(ValueError, match=f"TF_CONFIG environment variable .*{message}"):
        train(tiny_train_config(finished, overwrite=True, strategy="multi_worker"))
    assert snapshot(finished) == before


def test_output_dir_below_a_file(tmp_path):
    from pinet_keras.training import train

    (tmp_path / "a_file").write_text("keep me")
    before = snapshot(tmp_path)
    with pytest.raises(NotADirectoryError, match="a_file is a file, not a folder.*--output_dir"):
        train(tiny_train_config(tmp_path / "a_file" / "run"))
    with pytest.raises(NotADirectoryError, match="--output_dir"):
        train(tiny_train_config(tmp_path / "a_file"))
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
        train(tiny_train_config(finished, overwrite=True))
    line = _cli.describe(info.value)
    assert advice in line and "--output_dir" in line and str(finished) in line
    monkeypatch.undo()
    assert snapshot(finished) == before


# -- A run folder knows its run: lock ------------------------------------------


def test_second_process_on_a_locked_folder_fails_at_once_naming_the_pid(finished):
    from pinet_keras import _run
    from pinet_keras.training import train

    before = snapshot(finished)
    holder = _run.RunFolder(finished, ("model.keras",), "run_config.json", "metrics.json")
    holder.open({}, overwrite=True)
    try:
        start = time.monotonic()
        with pytest.raises(_run.RunLocked, match=rf"in use by another process \(pid {os.getpid()}"):
            train(tiny_train_config(finished, overwrite=True))
        assert time.monotonic() - start < 5
    finally:
        holder.close()
    assert snapshot(finished) == before


# -- A run folder knows its run: configuration ----------------------------------


def test_finished_run_is_kept_without_overwrite(finished):
    from pinet_keras.training import train

    before = snapshot(finished)
    with pytest.raises(FileExistsError, match="holds a finished run .*--overwrite"):
        train(tiny_train_config(finished))
    assert snapshot(finished) == before
    assert json.loads((finished / "run_config.json").read_text())["epochs"] == 2


def test_resume_with_another_width_lists_the_difference(unfinished):
    from pinet_keras._run import SettingsMismatch
    from pinet_keras.training import train

    before = snapshot(unfinished)
    with pytest.raises(SettingsMismatch, match=r"--width: 2 -> 4") as info:
        train(tiny_train_config(unfinished, model_overrides=dict(width=4, num_blocks=2)))
    assert "\n" not in str(info.value) and len(str(info.value)) < 400  # no weight arrays
    assert snapshot(unfinished) == before


def test_resume_with_several_differences_lists_them_all(unfinished):
    from pinet_keras._run import SettingsMismatch
    from pinet_keras.training import train

    before = snapshot(unfinished)
    with pytest.raises(SettingsMismatch) as info:
        train(
            tiny_train_config(
                unfinished, learning_rate=0.01, input_normalization="standardize", seed=3
            )
        )
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
    metrics = train(tiny_train_config(unfinished, verbose="2"))
    assert "Resuming" in capsys.readouterr().out
    assert metrics["epochs"] == 2
    assert [r["epoch"] for r in HistoryCSV.read(unfinished / "history.csv")] == [1.0, 2.0]


def test_overwrite_discards_an_unfinished_run(unfinished):
    from pinet_keras.training import train

    metrics = train(
        tiny_train_config(
            unfinished, overwrite=True, epochs=1, model_overrides=dict(width=3, num_blocks=2)
        )
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
        train(tiny_train_config(unfinished))
    assert snapshot(unfinished) == before


def test_unfinished_run_without_its_model_file(unfinished):
    from pinet_keras.training import train

    os.remove(unfinished / "model.keras")
    before = snapshot(unfinished)
    with pytest.raises(FileNotFoundError, match="model.keras is missing from an unfinished run"):
        train(tiny_train_config(unfinished))
    assert snapshot(unfinished) == before


# -- --overwrite: the previous run is kept until the first checkpoint ----------


@pytest.mark.parametrize("error", [KeyboardInterrupt, _StopAtEpoch])
def test_overwrite_failing_before_its_first_checkpoint_puts_the_run_back(
    finished, monkeypatch, error
):
    from pinet_keras.training import train

    before = snapshot(finished)
    interrupt_at_epoch(monkeypatch, 0, error)
    with pytest.raises(error):
        train(tiny_train_config(finished, overwrite=True, seed=5))
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
        train(tiny_train_config(finished, overwrite=True))
    assert snapshot(finished) == before


def test_overwrite_failing_after_its_first_checkpoint_keeps_the_new_run(finished, monkeypatch):
    from pinet_keras.training import train

    old_model = snapshot(finished)["model.keras"]
    interrupt_at_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_train_config(finished, overwrite=True, seed=7))
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
        train(tiny_train_config(finished))
    assert snapshot(finished) == before


def test_failed_first_run_leaves_no_folder(tmp_path, monkeypatch):
    from pinet_keras.training import train

    interrupt_at_epoch(monkeypatch, 0)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_train_config(tmp_path / "new"))
    assert os.listdir(tmp_path) == []


# -- No litter -------------------------------------------------------------------


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
    metrics = train(tiny_train_config(unfinished))
    assert metrics["epochs"] == 2
    assert temporary_files(unfinished) == []


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
        train(tiny_train_config(unfinished))
    after = snapshot(backup)
    # The epoch-1 state is intact (the double checkpoint's copy may be added).
    for name in ("latest.weights.h5", "training_metadata.json"):
        assert after[name] == before[name]
    assert temporary_files(unfinished) == []


# -- A run folder holds a training run: never a search, an export or files of its own ---


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
            train(tiny_train_config(other, overwrite=overwrite))
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
            train(tiny_train_config(tmp_path, overwrite=overwrite))
        config = TuneConfig(
            dataset="digits", max_trials=1, epochs=1, output_dir=str(tmp_path), overwrite=overwrite
        )
        with pytest.raises(FileExistsError, match="best_model.keras but not a hyperparameter"):
            tune(config)
    assert snapshot(tmp_path) == before
