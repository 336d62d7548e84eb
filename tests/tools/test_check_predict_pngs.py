"""tools/check_predict_pngs.py: the script behind README's "50 of 50 PNGs"."""

import json
import os

import pytest

from conftest import ROOT
from conftest import one_error_line
from conftest import run_commands_in_parallel
from conftest import tensorflow_only

pytestmark = tensorflow_only

# A shipped file of another data set (MNIST, 28x28) for the script to refuse.
MNIST_INT8 = os.path.join(
    ROOT, "pinet_keras", "pretrained", "files", "polynet_mnist", "model_int8.tflite"
)


@pytest.mark.slow
def test_check_predict_pngs_script(unit_model, unit_files, tmp_path):
    # The script behind README's "50 of 50 PNGs": real subprocesses, no flag
    # but the file for predict_tflite.py; digits need no data files.
    model_path = tmp_path / "model.keras"
    unit_model.save(model_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"dataset": "digits"}))
    script = ["tools/check_predict_pngs.py", f"--model={model_path}"]
    float32 = unit_files["float32"]
    results = run_commands_in_parallel(
        {
            "six": (script + [f"--tflite={float32}", "--num_images=6"], None, {}),
            "num_images": (script + [f"--tflite={float32}", "--num_images=0"], None, {}),
            "folder": (script + [f"--tflite={float32},{tmp_path}"], None, {}),  # a folder too
            "other_model": (script + [f"--tflite={MNIST_INT8}"], None, {}),  # not its export
        }
    )
    assert results["six"].returncode == 0, results["six"].stderr[-3000:]
    line = results["six"].stdout.strip().splitlines()[-1]
    assert line.startswith(f"{float32}: agrees with Keras on 6 of 6 PNGs"), line
    assert "--num_images" in one_error_line(results["num_images"])
    assert f"--tflite: {tmp_path} is a folder" in one_error_line(results["folder"])
    other = one_error_line(results["other_model"])
    assert "exported from a mnist model (its metadata), but --model is a digits model" in other
