#!/usr/bin/env bash
# Runs the test suite and the doctests of pinet_keras/ (setup.cfg's pytest
# settings) in the local virtual environment (.venv, made by scripts/venv.sh),
# in two processes (pytest-xdist; PYTEST_PROCESSES=0 runs them in this one),
# which take the next test from each other's queue when theirs runs out
# (--dist=worksteal: the long end-to-end tests do not leave one process idle).
# Extra arguments go to pytest: -m "not slow" leaves the end-to-end tests out.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec .venv/bin/python -m pytest -n "${PYTEST_PROCESSES:-2}" --dist=worksteal "$@"
