#!/usr/bin/env bash
# Mechanistic analysis of AddMod-p (SPEC 5; docs/analysis.md): every figure, plot and JSON there.
#   bash experiments/analysis_addmod.sh [RUNS=runs]
# Trains what is missing (Meta-GNN full config seeds 0-2, ~15 min each at one thread; the p = 113
# reference, ~10 min; quick run: runs/quick-metagnn = metagnn train addmod --config quick), then analyses.
# Outputs: docs/results/analysis/*.json and *.md, docs/img/analysis/.
set -euo pipefail
RUNS=${1:-runs}
RES=docs/results/analysis
IMG=docs/img/analysis
mkdir -p "$RUNS" "$RES" "$IMG"

# 1. reference: the target trained directly on p = 113 (Nanda et al.: AdamW, wd 1, 30 % of pairs, full batch)
if [ ! -f "$RUNS/reference/p113/reference.json" ]; then
  metagnn --threads 1 analyze reference --p 113 --lr 3e-3 --steps 15000 --stop-accuracy 0.99 --patience 2000 \
    --eval-every 250 --out "$RUNS/reference/p113" --plot "$IMG"
fi
cp "$RUNS/reference/p113/reference.json" "$RES/reference-p113.json"

# 2. Meta-GNN, full config
for seed in 0 1 2; do
  run="$RUNS/addmod-full-metagnn-$seed"
  [ -f "$run/metrics.json" ] || metagnn --threads 1 train addmod --config full --model metagnn --seed "$seed" \
    --out "$run" --no-progress
  metagnn --threads 1 analyze clock "$run" --out "$RES/clock-metagnn-full-seed$seed.json" > "$RES/clock-metagnn-full-seed$seed.md"
  metagnn --threads 1 analyze closed-form "$run" --out "$RES/closed-form-metagnn-full-seed$seed.json" \
    --report "$RES/closed-form-report-metagnn-full-seed$seed.json" > "$RES/closed-form-metagnn-full-seed$seed.md"
done
# plots of seed 0, its untrained control
metagnn --threads 1 analyze clock "$RUNS/addmod-full-metagnn-0" --plot "$IMG" \
  --reference "$RUNS/reference/p113/reference.json" > /dev/null
metagnn --threads 1 analyze clock "$RUNS/addmod-full-metagnn-0" --untrained --plot "$IMG/untrained" \
  --out "$RES/clock-metagnn-full-seed0-untrained.json" > "$RES/clock-metagnn-full-seed0-untrained.md"
# the quick configuration's run (the quickstart Meta-GNN), for comparison
if [ -f "$RUNS/quick-metagnn/metrics.json" ]; then
  metagnn --threads 1 analyze clock "$RUNS/quick-metagnn" --out "$RES/clock-metagnn-quick-seed0.json" > "$RES/clock-metagnn-quick-seed0.md"
  metagnn --threads 1 analyze closed-form "$RUNS/quick-metagnn" --out "$RES/closed-form-metagnn-quick-seed0.json" \
    --report "$RES/closed-form-report-metagnn-quick-seed0.json" > "$RES/closed-form-metagnn-quick-seed0.md"
fi
# the small reference of the test suite
[ -f "$RUNS/reference/p23/reference.json" ] || metagnn --threads 1 analyze reference --p 23 --lr 1e-2 \
  --train-fraction 0.6 --steps 2000 --stop-accuracy 1.0 --patience 250 --eval-every 250 --out "$RUNS/reference/p23" \
  --plot "$IMG" --quiet
cp "$RUNS/reference/p23/reference.json" "$RES/reference-p23.json"
python experiments/analysis_seeds.py "$RES"   # the per-seed table
