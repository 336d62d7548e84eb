# Sourced by the scripts that run rows of flags (scripts/cifar10_ablation.sh,
# benchmarks/experiments/threads.sh): `select_rows "$@"` sets ROWS to the row
# names given, or to DEFAULT_ROWS when none are; each must be a key of FLAGS,
# else one error line and exit 2, before anything runs.
select_rows() {
  ROWS=("$@")
  if [ ${#ROWS[@]} -eq 0 ]; then
    ROWS=("${DEFAULT_ROWS[@]}")
  fi
  local row
  for row in "${ROWS[@]}"; do
    if [ -z "${FLAGS[$row]+set}" ]; then
      echo "error: unknown row '$row'; rows: ${DEFAULT_ROWS[*]}" >&2
      exit 2
    fi
  done
}
