#!/usr/bin/env bash
# Runs the test suite and the doctests of pinet_keras/ (setup.cfg's pytest
# settings) in the local virtual environment (.venv, made by scripts/venv.sh),
# in two processes (pytest-xdist; PYTEST_PROCESSES=0 runs them in this one),
# which take the next test from each other's queue when theirs runs out
# (--dist=worksteal).
#
# By default the tests marked slow (end-to-end runs of the commands in
# subprocesses, the core suite again on JAX, the browser) are left out:
#
#     bash scripts/test.sh                      # the default suite
#     bash scripts/test.sh -m slow              # only the slow tests
#     bash scripts/test.sh -m "slow or not slow" # everything
#
# Extra arguments go to pytest (a later -m replaces the default one).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec .venv/bin/python -m pytest -n "${PYTEST_PROCESSES:-2}" --dist=worksteal -m "not slow" "$@"
