"""pinet-keras export: 0.1.0 models, errors that leave everything as it was, bound, --overwrite."""

import hashlib
import json
import os
import shutil

import keras
import numpy as np
import pytest

import conftest
from conftest import DIGITS_CLASS_NAMES
from conftest import EXPORT
from conftest import finish_command
from conftest import one_error_line
from conftest import run_commands_in_parallel
from conftest import start_command
from conftest import tensorflow_only
from pinet_keras import PolyNet
from pinet_keras import export
from pinet_keras.models import pixel_preprocessing

pytestmark = tensorflow_only

FIXTURES = os.path.join(conftest.FIXTURES, "v0_1_0")


def _checksum(folder):
    digest = hashlib.sha256()
    for root, dirs, names in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
        digest.update(os.path.relpath(root, folder).encode())
    return digest.hexdigest()


def _v0_1_0_run(tmp_path, normalization):
    folder = tmp_path / f"run_{normalization}"
    shutil.copytree(os.path.join(FIXTURES, f"digits_{normalization}"), folder)
    return folder


@pytest.mark.slow
def test_export_script_on_v0_1_0_models(tmp_path):
    runs = {}
    for normalization in ("unit", "standardize"):
        folder = _v0_1_0_run(tmp_path, normalization)
        args = [
            *EXPORT,
            f"--model={folder / 'model.keras'}",
            f"--output_dir={folder / 'export'}",
            "--max_test_examples=32",
            "--latency_runs=1",
            "--num_representative=50",
            "--formats=float32,int8",
            "--bound=0",  # unclipped: the float32 file must be the 0.1.0 model exactly
        ]
        runs[normalization] = (args, None, {})
    results = run_commands_in_parallel(runs)
    for normalization, result in results.items():
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "adding its preprocessing" in result.stdout
        folder = tmp_path / f"run_{normalization}"
        expected = np.load(folder / "expected.npz")
        old_accuracy = float(np.mean(expected["logits"].argmax(-1) == expected["labels"]))
        out = folder / "export"
        assert sorted(os.listdir(out)) == [
            "labels.txt",
            "model_float32.tflite",
            "model_int8.tflite",
            "report.json",
        ]
        assert sorted(os.listdir(folder)) == [
            "expected.npz",
            "export",
            "metrics.json",
            "model.keras",
        ]
        report = json.loads((out / "report.json").read_text())
        assert report["dataset"] == "digits" and report["test_examples"] == 32
        assert report["input"]["input_normalization"] == normalization
        assert report["keras"]["accuracy"] == old_accuracy
        assert report["keras"]["non_finite"] == 0
        assert report["formats"]["float32"]["max_abs_diff"] <= 1e-4
        assert report["formats"]["int8"]["input_dtype"] == "uint8"
        assert report["formats"]["int8"]["top1_agreement"] >= 0.8
        # The files take the raw pixels and give the 0.1.0 logits.
        logits = export.run_tflite(str(out / "model_float32.tflite"), expected["pixels"])
        np.testing.assert_allclose(logits, expected["logits"], atol=1e-4)
        metadata = export.read_tflite_metadata(str(out / "model_int8.tflite"))
        assert metadata["dataset"] == "digits" and metadata["class_names"] == DIGITS_CLASS_NAMES
        assert metadata["input"]["input_normalization"] == normalization


def _tiny_run(tmp_path, with_metrics=True):
    """A 12x12 raw-pixel model on a fake 3-class data set ("tiny")."""
    keras.utils.set_random_seed(2)
    shape = (12, 12, 1)
    model = PolyNet(
        input_shape=shape,
        num_classes=3,
        width=2,
        num_blocks=2,
        preprocessing=pixel_preprocessing(shape),
    )
    folder = tmp_path / ("run" if with_metrics else "bare_run")
    folder.mkdir()
    model.save(str(folder / "model.keras"))
    if with_metrics:
        (folder / "metrics.json").write_text(json.dumps({"dataset": "tiny"}))
    rng = np.random.default_rng(2)
    data_path = str(tmp_path / "tiny.npz")
    if not os.path.exists(data_path):
        np.savez(
            data_path,
            x_train=rng.integers(0, 256, (40, *shape), dtype=np.uint8),
            y_train=rng.integers(0, 3, 40),
            x_test=rng.integers(0, 256, (16, *shape), dtype=np.uint8),
            y_test=rng.integers(0, 3, 16),
        )
    return folder, data_path


@pytest.mark.slow
def test_export_script_errors_leave_everything_as_it_was(tmp_path):
    folder, data_path = _tiny_run(tmp_path)
    bare, _ = _tiny_run(tmp_path, with_metrics=False)
    model = str(folder / "model.keras")
    old = tmp_path / "old_export"
    old.mkdir()
    (old / "model_float32.tflite").write_bytes(b"the previous export")
    (old / "report.json").write_text("{}\n")
    (old / "saved_model").mkdir()
    (old / "saved_model" / "saved_model.pb").write_bytes(b"pb")
    before = _checksum(old)
    # What an export killed outright (SIGKILL, pid 999999 is not running) left beside it.
    leftover = tmp_path / ".new_export.pinet-tmp-999999-0123456789ab"
    (leftover / "saved_model").mkdir(parents=True)
    common = ["--latency_runs=1", "--num_representative=8"]
    new = str(tmp_path / "new_export")
    runs = {
        "no_dataset": (
            [*EXPORT, f"--model={bare / 'model.keras'}", f"--output_dir={new}"] + common,
            None,
            {},
        ),
        "exists": (
            [*EXPORT, f"--model={model}", f"--output_dir={old}"] + common,
            data_path,
            {},
        ),
        "int8_fails": (
            [
                *EXPORT,
                f"--model={model}",
                f"--output_dir={old}",
                "--overwrite",
                "--formats=float32,saved_model,int8",
            ]
            + common,
            data_path,
            {"PINET_TEST_FAIL_INT8": "1"},
        ),
        "no_representative": (
            [
                *EXPORT,
                f"--model={model}",
                f"--output_dir={new}",
                "--latency_runs=1",
                "--num_representative=0",
            ],
            data_path,
            {},
        ),
        "bound": (
            [*EXPORT, f"--model={model}", f"--output_dir={new}", "--bound=30"] + common,
            data_path,
            {},
        ),
        "finetune_rate": (
            [*EXPORT, f"--model={model}", f"--output_dir={new}"]
            + ["--int8_finetune_epochs=1", "--int8_finetune_learning_rate=0"]
            + common,
            data_path,
            {},
        ),
        "finetune_setting_alone": (
            [*EXPORT, f"--model={model}", f"--output_dir={new}"]
            + ["--int8_finetune_recalibrate_every=5"]
            + common,
            data_path,
            {},
        ),
        "finetune_without_int8": (
            [*EXPORT, f"--model={model}", f"--output_dir={new}"]
            + ["--int8_finetune_epochs=1", "--formats=float32"]
            + common,
            data_path,
            {},
        ),
        "formats": (
            [
                *EXPORT,
                f"--model={model}",
                f"--output_dir={new}",
                "--formats=float32,bogus",
            ]
            + common,
            data_path,
            {},
        ),
        # The export put over its own training run: --overwrite replaces an export only.
        "run_folder": (
            [*EXPORT, f"--model={model}", f"--output_dir={folder}", "--overwrite"] + common,
            data_path,
            {},
        ),
    }
    run_before = _checksum(folder)
    results = run_commands_in_parallel(runs)
    assert "--dataset" in one_error_line(results["no_dataset"])
    assert not leftover.exists()  # the next run removed the killed one's leftovers
    assert "already exists" in one_error_line(results["exists"])
    assert "injected failure of the int8 export" in one_error_line(results["int8_fails"])
    assert "Exporting float32" in results["int8_fails"].stdout  # it got that far
    assert "--num_representative" in one_error_line(results["no_representative"])
    assert "--bound" in one_error_line(results["bound"])
    assert "bogus" in one_error_line(results["formats"])
    assert "--int8_finetune_learning_rate" in one_error_line(results["finetune_rate"])
    assert "pass that too" in one_error_line(results["finetune_setting_alone"])
    assert "add int8 to --formats" in one_error_line(results["finetune_without_int8"])
    run_error = one_error_line(results["run_folder"])
    assert "does not write (metrics.json, model.keras)" in run_error, run_error
    assert _checksum(folder) == run_before
    assert _checksum(old) == before
    # No staging folder or half-written output left behind.
    assert sorted(os.listdir(tmp_path)) == ["bare_run", "old_export", "run", "tiny.npz"]
    assert sorted(os.listdir(folder)) == ["metrics.json", "model.keras"]


@pytest.mark.slow
def test_export_script_end_to_end_with_bound_and_overwrite(tmp_path):
    folder, data_path = _tiny_run(tmp_path)
    out = tmp_path / "export"
    out.mkdir()
    (out / "model_dynamic.tflite").write_text("from an older export, with other formats")
    args = [
        *EXPORT,
        f"--model={folder / 'model.keras'}",
        f"--output_dir={out}",
        "--overwrite",
        "--bound=100",
        "--int8_output",
        "--formats=saved_model,float16,int8",
        "--latency_runs=1",
        "--num_representative=16",
    ]
    result = finish_command(start_command(args, data_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "non-finite" in result.stdout  # the table
    assert sorted(os.listdir(out)) == [
        "labels.txt",
        "model_float16.tflite",
        "model_int8.tflite",
        "report.json",
        "saved_model",
    ]
    assert sorted(os.listdir(tmp_path)) == ["export", "run", "tiny.npz"]
    report = json.loads((out / "report.json").read_text())
    assert report["bound"] == 100 and report["int8_output"] is True
    assert report["input"]["input_normalization"] == "unit" and report["input"]["shape"] == [
        None,
        12,
        12,
        1,
    ]
    assert "normalization" not in report
    assert report["formats"]["int8"]["input_dtype"] == "uint8"
    assert report["formats"]["int8"]["output_dtype"] == "int8"
    metadata = export.read_tflite_metadata(str(out / "model_int8.tflite"))
    assert metadata["bounded"] is True and metadata["class_names"] == [
        "circle",
        "square",
        "triangle",
    ]
    assert metadata["output"]["dtype"] == "int8"
    assert export.read_saved_model_metadata(str(out / "saved_model"))["dataset"] == "tiny"
