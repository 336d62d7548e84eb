#!/usr/bin/env bash
# Thread settings of the Keras PolyNet on TensorFlow, one benchmark run each
# (keras only, fp32 and bf16, 2 rounds): where do the cores go idle?
#   intra2_inter1   2 intra-op threads, 1 inter-op thread (the benchmark's old default)
#   intra2_inter2   2 and 2 (TensorFlow's own default on 2 cores)
#   intra1_inter2   1 intra-op thread per op, 2 ops at a time: the two branches
#                   of a block (and their 4 gradient convolutions) run side by side
#   intra1_inter1   1 and 1: the CPU time of one core, the parallel-efficiency reference
#   spe10           2 and 1 with steps_per_execution=10
# Writes benchmarks/results/${PREFIX}<name>.json (PREFIX=threads_ unless set: one
# prefix per machine); prints each table.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
PREFIX=${PREFIX:-threads_}
declare -A FLAGS=(
  [intra2_inter1]="--threads=2 --inter_op_threads=1"
  [intra2_inter2]="--threads=2 --inter_op_threads=2"
  [intra1_inter2]="--threads=1 --inter_op_threads=2"
  [intra1_inter1]="--threads=1 --inter_op_threads=1"
  [spe10]="--threads=2 --inter_op_threads=1 --steps_per_execution=10"
)
DEFAULT_ROWS=(intra2_inter1 intra2_inter2 intra1_inter2 intra1_inter1 spe10)
# shellcheck source=scripts/rows.sh
source scripts/rows.sh
select_rows "$@"
for row in "${ROWS[@]}"; do
  # shellcheck disable=SC2086
  "$PYTHON" benchmarks/train_throughput.py --networks=keras --rounds=2 --no_gemm_peak \
    ${FLAGS[$row]} --output="benchmarks/results/$PREFIX$row.json"
done
