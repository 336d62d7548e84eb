"""README's quickstart and every example in examples/, run on a tiny budget."""

import importlib.util
import os
import re

import numpy as np
import pytest

from conftest import tensorflow_only

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _example(name):
    spec = importlib.util.spec_from_file_location(
        f"pinet_example_{name}", os.path.join(ROOT, "examples", f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_quickstart_runs_as_written(capsys):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    blocks = [(m.start(), m.group(1)) for m in re.finditer(r"```python\n(.*?)```", text, re.S)]
    start, code = next((start, code) for start, code in blocks if "model.fit(" in code)
    assert text[:start].count("\n") < 100  # within README's first 100 lines
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    loss, accuracy = namespace["model"].evaluate(
        namespace["x"][1437:], namespace["y"][1437:], verbose=0
    )
    assert np.isfinite(loss) and accuracy > 0.5


def test_functional_model():
    # Two epochs leave the batch normalizations' moving statistics far from
    # the batches' (0.1 to 0.4 test accuracy); six reach 0.9 (chance: 0.1).
    model, accuracy = _example("functional_model").main(epochs=6)
    assert accuracy > 0.5


def test_polynomial_dense_tabular():
    module = _example("polynomial_dense_tabular")
    results = module.tabular(epochs=40)
    assert set(results) == {"ccp", "ncp"} and all(np.isfinite(v) for v in results.values())
    # y = x1 x2 x3 has variance 1/27: a degree-3 layer does better than predicting 0.
    assert min(results.values()) < 1 / 27
    assert 0 <= module.signals(epochs=2) <= 1


@tensorflow_only
def test_fine_tune_pretrained():
    head_only, fine_tuned = _example("fine_tune_pretrained").main(
        epochs=1, fine_tune_epochs=1, num_train=96
    )
    assert 0 <= head_only <= 1 and 0 <= fine_tuned <= 1


@tensorflow_only
@pytest.mark.slow
def test_train_on_your_images(tmp_path):
    metrics, report, answer = _example("train_on_your_images").main(
        ["--epochs=2", "--image_size=16", f"--output_dir={tmp_path}"]
    )
    assert metrics["class_names"] == ["circle", "square"]
    assert report["formats"]["int8"]["file"] == "model_int8.tflite"
    assert answer.label in ("circle", "square")
