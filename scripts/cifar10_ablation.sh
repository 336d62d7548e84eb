#!/usr/bin/env bash
# The CIFAR-10 ablation rows (docs/results/cifar10.md): the anchors' regularizers one at a time on a
# short budget (pi_resnet_small, 10 epochs on a 20,000-image subset of the
# training split, the same 5,000 validation and 10,000 test images; every row
# reports test-time flip averaging too). Each row is a train.py run into
# runs/ablation/<row>; its metrics.json and history.csv are copied to
# results/cifar10/ablation/<row>/. Rows already finished are skipped; an
# interrupted row resumes. Pass row names to run only those.
#   bash scripts/cifar10_ablation.sh [baseline mixup ...]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
DATA=${DATA:-../shared/data/cifar10}
declare -A FLAGS=(
  [baseline]=""
  [no_label_smoothing]="--label_smoothing=0"
  [mixup]="--mixup=0.2"
  [cutmix]="--cutmix=1.0"
  [stochastic_depth]="--stochastic_depth=0.1"
  [dropblock]="--dropblock=0.1"
)
DEFAULT_ROWS=(baseline no_label_smoothing mixup cutmix stochastic_depth dropblock)
# shellcheck source=scripts/rows.sh
source scripts/rows.sh
select_rows "$@"
for row in "${ROWS[@]}"; do
  out=runs/ablation/$row
  if [ -f "$out/metrics.json" ]; then
    echo "$row: done ($out/metrics.json)"
  else
    # shellcheck disable=SC2086
    "$PYTHON" -m pinet_keras train --dataset=cifar10 --data_dir="$DATA" --preset=cifar10_cpu_small \
      --epochs=10 --warmup_epochs=1 --max_train_examples=20000 --tta_flip \
      ${FLAGS[$row]} --output_dir="$out"
  fi
  mkdir -p "results/cifar10/ablation/$row"
  cp "$out/metrics.json" "$out/history.csv" "results/cifar10/ablation/$row/"
done
