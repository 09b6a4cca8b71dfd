#!/usr/bin/env bash
# Full AddMod-p configuration (SPEC 3): every model x 3 seeds, the same budget (15,000 AdamW steps x 8
# primes x 64 pairs), two processes at one thread each sharing one --out (a 2-core machine: about
# 1 h 45 min). Finished runs are reused, interrupted ones resumed; the table is runs/full/results.md.
#   bash experiments/addmod_full.sh [OUT=runs/full]
set -euo pipefail
OUT=${1:-runs/full}
mkdir -p "$OUT"
metagnn --threads 1 reproduce --tasks addmod --out "$OUT" --no-progress > "$OUT/reproduce-a.log" 2>&1 &
metagnn --threads 1 reproduce --tasks addmod --out "$OUT" --no-progress > "$OUT/reproduce-b.log" 2>&1
wait
metagnn summarize "$OUT"/addmod/*/seed*/ --plot docs/img/addmod
