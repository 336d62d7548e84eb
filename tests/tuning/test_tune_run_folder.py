"""A search folder: checked before it is touched, locked, knowing its search.

Each case asserts the message and that no file that existed before changed (`snapshot`).
"""

import dataclasses
import json
import os

import pytest

from conftest import TUNE
from conftest import error_line
from conftest import run_command
from conftest import snapshot
from conftest import tensorflow_only

pytestmark = tensorflow_only


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
    result = run_command([*TUNE, *args], timeout=300)
    assert result.returncode == 2
    assert "--data_dir" in error_line(result.stderr)
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
