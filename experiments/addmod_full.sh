#!/usr/bin/env bash
# Full AddMod-p configuration (SPEC 3): every model x 3 seeds, same budget, two runs at a time at
# one thread each (a 2-core machine). Finished runs are skipped, interrupted ones resumed.
#   bash experiments/addmod_full.sh [OUT=runs/addmod-full]
set -euo pipefail
OUT=${1:-runs/addmod-full}
mkdir -p "$OUT"
one() {  # model seed
  local dir="$OUT/$1-seed$2"
  [ -f "$dir/metrics.json" ] && return 0
  local resume=""; [ -f "$dir/checkpoint.safetensors" ] && resume="--resume"
  metagnn --threads 1 train addmod --config full --model "$1" --seed "$2" --out "$dir" --no-progress $resume \
    > "$dir.log" 2>&1 || echo "FAILED: $1 seed $2 (see $dir.log)"
}
export -f one; export OUT
printf '%s\n' "metagnn 0" "gmlp 0" "metagnn 1" "gmlp 1" "metagnn 2" "gmlp 2" \
  "flat 0" "direct 0" "flat 1" "direct 1" "flat 2" "direct 2" | xargs -P 2 -L 1 bash -c 'one $0 $1'
metagnn summarize "$OUT"/*-seed*/
