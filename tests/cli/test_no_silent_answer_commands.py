"""No silent answer at the front door: the commands' one-line errors (subprocesses).

The in-process checks are in tests/test_no_silent_answer.py; these run the
command a user types, two processes at once.
"""

import os

import numpy as np
import pytest
from PIL import Image

from conftest import PREDICT
from conftest import ROOT
from conftest import finish_command
from conftest import one_error_line
from conftest import start_command

FILES = os.path.join(ROOT, "pinet_keras", "pretrained", "files")
INT8 = os.path.join(FILES, "polynet_mnist", "model_int8.tflite")


# The package and pinet_lite (lite/src) from this repository.
PYTHONPATH = os.pathsep.join([ROOT, os.path.join(ROOT, "lite", "src")])


def _start(args):
    return start_command(args, env={"PYTHONPATH": PYTHONPATH})


@pytest.mark.slow  # two TensorFlow imports: 10 to 40 s on 2 cores
def test_predict_refuses_a_float_image_and_robustness_an_empty_export_dir(tmp_path):
    # A TIFF of floats in [0, 1]: read as 8 bits it is a black frame, with a class.
    image = tmp_path / "floats.tif"
    Image.fromarray(np.linspace(0, 1, 28 * 28, dtype="float32").reshape(28, 28)).save(image)
    predict = _start([*PREDICT, f"--model={INT8}", str(image)])
    robustness = _start(
        [
            os.path.join("tools", "robustness.py"),
            f"--model={tmp_path / 'model.keras'}",
            "--export_dir=",
            f"--output={tmp_path / 'sweep.json'}",
        ]
    )
    line = one_error_line(finish_command(predict, timeout=300))
    assert str(image) in line and "states no range" in line and "8-bit or 16-bit" in line
    assert "--export_dir is empty" in one_error_line(finish_command(robustness, timeout=300))
    assert sorted(os.listdir(tmp_path)) == ["floats.tif"]
