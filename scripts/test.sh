#!/usr/bin/env bash
# Runs the test suite and the doctests of pinet_keras/ (setup.cfg's pytest
# settings) in the local virtual environment (.venv, made by scripts/venv.sh).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec .venv/bin/python -m pytest "$@"
