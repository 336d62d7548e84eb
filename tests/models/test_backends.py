"""Runs the core tests (layers, models) again on the other backends.

The backend is chosen once per process, so each backend gets a subprocess.
"""

import importlib.util
import os
import subprocess
import sys

import keras
import pytest

from conftest import ROOT
from conftest import jax_env

CORE_TESTS = [
    "tests/layers/test_polynomial_conv2d.py",
    "tests/layers/test_polynomial_dense.py",
    "tests/layers/test_polynomial_layers.py",
    "tests/models/test_polynet.py",
    "tests/layers/test_precision.py",
    "tests/layers/test_losses.py",
]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_core_suite_on_backend(backend):
    if backend == keras.backend.backend():
        pytest.skip(f"this process already runs on {backend}")
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    if backend == "jax":
        env = jax_env()
    else:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CORE_TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
