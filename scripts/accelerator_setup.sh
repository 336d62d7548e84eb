#!/usr/bin/env bash
# Prepares .accel/ (git-ignored) for training on a GPU machine that has JAX
# but no TensorFlow and no package index: the Keras wheels from
# $SHARED/wheels/accelerator, a pillow wheel (JPEG decoding) for its Python
# 3.12, and a copy of one data set from $SHARED/data. Copy .accel/ with the
# repository to that machine; docs/guides/distributed.md gives the command to
# run there.
#   bash scripts/accelerator_setup.sh cifar10
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:-cifar10}
SHARED=${SHARED:-../shared}
if [ ! -d "$SHARED/data/$DATASET" ]; then
  echo "error: no data set folder $SHARED/data/$DATASET" >&2
  exit 1
fi
mkdir -p .accel
cp "$SHARED"/wheels/accelerator/*.whl .accel/
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --platform manylinux_2_28_x86_64 --dest .accel "pillow>=10,<14"
rm -rf ".accel/$DATASET" && cp -r "$SHARED/data/$DATASET" ".accel/$DATASET"
du -sh .accel
