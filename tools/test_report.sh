#!/bin/sh
# make test-report: the report of a short R1-Zero run (an untrained student model, 4 RL steps),
# rendered by headless Chromium; the screenshot must not be blank (tools/png_ink.py)
set -eu
command -v chromium >/dev/null || { echo "test-report: skipped (no chromium)"; exit 0; }
command -v python3 >/dev/null || { echo "test-report: skipped (no python3 to read the screenshot)"; exit 0; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export OMP_NUM_THREADS=1
./r1 pretrain --preset student --steps 2 --out "$dir/base" > /dev/null
./r1 zero --init "$dir/base/model.bin" --out "$dir/zero" --steps 4 --eval-every 2 --eval-prompts 8 --eval-k 2 \
    --prompts-per-step 2 --num-generations 4 > /dev/null
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$dir/chromium" --screenshot="$dir/report.png" \
    --window-size=1200,900 "file://$dir/zero/report.html" > "$dir/chromium.log" 2>&1 ||
    { cat "$dir/chromium.log"; exit 1; }
python3 tools/png_ink.py "$dir/report.png"
