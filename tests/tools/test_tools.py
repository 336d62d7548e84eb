"""The scripts of tools/: each checks before it runs and overwrites only its own files."""

import json
import os
import shutil

import pytest

from conftest import ROOT
from conftest import error_line
from conftest import run_command
from conftest import snapshot
from conftest import start_command
from conftest import tensorflow_only

pytestmark = tensorflow_only


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
    processes = {name: start_command([script, model, *args]) for name, (args, _) in cases.items()}
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 2, stderr[-3000:]
        assert cases[name][1] in error_line(stderr), name
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
    processes = {name: start_command([script, *args]) for name, args in cases.items()}
    results = {name: process.communicate(timeout=300) for name, process in processes.items()}
    assert "unknown ['prodcut']; choose from product" in error_line(results["typo"][1])
    assert "is not a results file of this script" in error_line(results["not_ours"][1])
    failed = error_line(results["run_fails"][1])
    assert "the run --form=ccp --degree=3 --seed=0 failed (" in failed, failed
    assert str(broken) in failed  # the run's own error, inside
    assert processes["resumed"].returncode == 0, results["resumed"][1][-3000:]
    assert "| `ccp` | **0.800** (0.800) |" in results["resumed"][0]  # the table of the file
    assert snapshot(finished) == before
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()


def test_fashion_script_with_a_missing_data_dir_is_one_line(tmp_path):
    script = os.path.join(ROOT, "tools", "fashion_mnist_one_epoch.py")
    result = run_command([script, f"--data_dir={tmp_path / 'missing'}"], timeout=300)
    assert result.returncode == 2
    assert "missing" in error_line(result.stderr)
