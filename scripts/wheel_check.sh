#!/usr/bin/env bash
# The package as a user installs it: builds the wheel, installs it (not
# editable) with its dependencies in a fresh virtual environment outside the
# repository, then runs the installed commands there on a folder of PNG class
# folders: every --help, train --dataset=folder, export (int8), predict.
# Prints each step and ends with "wheel check passed"; any failure stops it.
#
#     bash scripts/wheel_check.sh            # in a temporary folder, removed at the end
#     WHEEL_CHECK_DIR=/tmp/wc bash scripts/wheel_check.sh   # keep the folder
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WORK=${WHEEL_CHECK_DIR:-$(mktemp -d)}
[ -n "${WHEEL_CHECK_DIR:-}" ] || trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK"
export TF_CPP_MIN_LOG_LEVEL=2

echo "== build the wheel"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/dist" .
WHEEL=$(ls "$WORK"/dist/pinet_keras-*.whl)
echo "$WHEEL"

echo "== install it in a fresh virtual environment"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet --upgrade pip
"$WORK/venv/bin/python" -m pip install --quiet "$WHEEL"

cd "$WORK"  # away from the repository: the installed package only
BIN="$WORK/venv/bin"
"$BIN/python" -c 'import os, pinet_keras; assert "site-packages" in pinet_keras.__file__, pinet_keras.__file__'

echo "== pinet-keras --help, and each command's"
"$BIN/pinet-keras" --help
"$BIN/pinet-keras" --version
# tune needs the tuning extra: without it, one line that says how to install it.
status=0
"$BIN/pinet-keras" tune --help 2>tune_error.txt || status=$?
test "$status" -eq 2
test "$(grep -c '^error:' tune_error.txt)" -eq 1
grep -q 'pip install "pinet_keras\[tuning\]"' tune_error.txt
grep '^error:' tune_error.txt
"$BIN/python" -m pip install --quiet "$WHEEL[tuning]"
for command in train export predict tune; do
  "$BIN/pinet-keras" "$command" --help >"help_$command.txt"
  grep -q -- "--output_dir\|--model" "help_$command.txt"
  echo "pinet-keras $command --help: $(wc -l <"help_$command.txt") lines"
done

echo "== a folder of PNG class folders (shapes drawn in 24x24, 3 classes x 40)"
"$BIN/python" - <<'EOF'
import os

import numpy as np
from PIL import Image, ImageDraw

rng = np.random.default_rng(0)
for name in ("circle", "square", "cross"):
    os.makedirs(f"images/{name}", exist_ok=True)
    for i in range(40):
        image = Image.new("RGB", (24, 24), tuple(int(v) for v in rng.integers(0, 60, 3)))
        draw = ImageDraw.Draw(image)
        x, y = rng.integers(3, 8, 2)
        size = int(rng.integers(10, 14))
        colour = tuple(int(v) for v in rng.integers(150, 256, 3))
        box = (int(x), int(y), int(x) + size, int(y) + size)
        if name == "circle":
            draw.ellipse(box, fill=colour)
        elif name == "square":
            draw.rectangle(box, fill=colour)
        else:
            draw.line(box, fill=colour, width=3)
            draw.line((box[0], box[3], box[2], box[1]), fill=colour, width=3)
        image.save(f"images/{name}/{i:02d}.png")
print("images/: circle, square, cross (40 PNGs each)")
EOF

echo "== pinet-keras train --dataset=folder"
"$BIN/pinet-keras" train --dataset=folder --data_dir=images --image_size=24 \
  --model=polynet_bn --width=8 --num_blocks=2 --epochs=8 --batch_size=16 --output_dir=runs/mine

echo "== pinet-keras export (int8)"
"$BIN/pinet-keras" export --model=runs/mine/model.keras --formats=int8 \
  --num_representative=40 --latency_runs=2 --output_dir=runs/mine/export
test -s runs/mine/export/model_int8.tflite

echo "== pinet-keras predict"
"$BIN/pinet-keras" predict --model=runs/mine/export/model_int8.tflite --top_k=1 \
  images/circle/00.png images/square/00.png images/cross/00.png | tee predictions.txt
test "$(wc -l <predictions.txt)" -eq 3
echo "wheel check passed ($WHEEL)"
