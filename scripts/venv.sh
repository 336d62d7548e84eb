#!/usr/bin/env bash
# Creates the local virtual environment (.venv) if needed and installs the
# package with an extra: the first argument, by default "test" (pytest, ruff,
# the optional dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[${1:-test}]"
# pinet-lite (lite/): the LiteRT runtime path without TensorFlow, which
# `pinet-keras predict` uses for .tflite files where it is installed.
.venv/bin/python -m pip install --quiet -e ./lite
