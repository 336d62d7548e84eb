#!/usr/bin/env bash
# The float comparisons of the suite on the CPU kernels' other paths: the
# tests whose tolerances must hold on any x86 CPU and batch split, run again
# with TensorFlow's Eigen kernels instead of oneDNN's (TF_ENABLE_ONEDNN_OPTS=0),
# and on one thread (other summation orders), besides the default run of
# `bash scripts/test.sh`. Extra arguments go to pytest.
#
#     bash scripts/float_paths.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
FILES=(tests/layers tests/models tests/export/test_int8_calibration.py tests/export/test_export.py
  tests/data/test_data.py tests/pretrained)
run() {
  echo "== $1"
  shift
  env "$@" .venv/bin/python -m pytest -q -n "${PYTEST_PROCESSES:-2}" -m "not slow" \
    -p no:cacheprovider "${FILES[@]}" "${EXTRA[@]}"
}
EXTRA=("$@")
run "Eigen kernels (oneDNN off)" TF_ENABLE_ONEDNN_OPTS=0
run "one thread" TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1
echo "float paths passed"
