#!/usr/bin/env bash
# Proves the GPU command of docs/guides/distributed.md (--preset=cifar10_fast, Keras on JAX, no
# TensorFlow) on this CPU: one epoch of the exact recipe on a 1,000-image
# subset of CIFAR-10, with `import tensorflow` blocked. Writes
# results/cifar10/cifar10_fast_cpu_check/ (metrics.json, history.csv).
#   bash scripts/gpu_recipe_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
SUBSET=$(mktemp -d)/cifar10_subset
OUT=results/cifar10/cifar10_fast_cpu_check
trap 'rm -rf "$(dirname "$SUBSET")"' EXIT
"$PYTHON" scripts/cifar10_subset.py ../shared/data/cifar10 "$SUBSET" \
  --train_per_class=100 --test_per_class=20
RUN=$(mktemp -d)/run
KERAS_BACKEND=jax JAX_PLATFORMS=cpu "$PYTHON" scripts/without_tensorflow.py -m pinet_keras train \
  --dataset=cifar10 --data_dir="$SUBSET" --preset=cifar10_fast \
  --epochs=1 --warmup_epochs=0 --output_dir="$RUN"
mkdir -p "$OUT"
cp "$RUN/metrics.json" "$RUN/history.csv" "$OUT/"
rm -rf "$(dirname "$RUN")"
echo "wrote $OUT"
