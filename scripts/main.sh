#!/usr/bin/env bash
# The main job: trains a PolyNet end to end and writes its outputs to runs/quickstart.
# Works on a fresh machine with no network (scikit-learn's bundled digits).
# Creates .venv and installs the package with its examples extra first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh examples
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec .venv/bin/python -m pinet_keras train --dataset=digits --model=polynet_bn --width=8 \
  --epochs=30 --batch_size=64 --augment --lr_schedule=cosine --output_dir=runs/quickstart --overwrite "$@"
