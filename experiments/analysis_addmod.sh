#!/usr/bin/env bash
# Mechanistic analysis of AddMod-p (SPEC 5; docs/analysis.md): every figure, plot and JSON there.
#   bash experiments/analysis_addmod.sh [RUNS=runs]
# Trains what is missing with the shipped configs, in the layout of `metagnn reproduce` (Meta-GNN, full
# config, seeds 0-2: ~16 min each at one thread; quick config, seed 0: ~6 min), then analyses their last
# step's weights. The directly trained references (p = 113, p = 23) are trained only when their committed
# JSON is missing (~10 min). Outputs: docs/results/analysis/*.json and *.md, docs/img/analysis/.
set -euo pipefail
RUNS=${1:-runs}
RES=docs/results/analysis
IMG=docs/img/analysis
mkdir -p "$RUNS" "$RES" "$IMG"

# 1. references: the target trained directly (Nanda et al.: AdamW, wd 1, 30 % of pairs, full batch)
if [ ! -f "$RES/reference-p113.json" ]; then
  metagnn --threads 1 analyze reference --p 113 --lr 3e-3 --steps 15000 --stop-accuracy 0.99 --patience 2000 \
    --eval-every 250 --out "$RUNS/reference/p113" --plot "$IMG"
  cp "$RUNS/reference/p113/reference.json" "$RES/reference-p113.json"
fi
if [ ! -f "$RES/reference-p23.json" ]; then
  metagnn --threads 1 analyze reference --p 23 --lr 1e-2 --train-fraction 0.6 --steps 2000 --stop-accuracy 1.0 \
    --patience 250 --eval-every 250 --out "$RUNS/reference/p23" --plot "$IMG" --quiet
  cp "$RUNS/reference/p23/reference.json" "$RES/reference-p23.json"
fi

# 2. Meta-GNN, full and quick configs (finished runs are reused)
metagnn --threads 1 reproduce --tasks addmod --models metagnn --seeds 3 --out "$RUNS/full" --no-progress > /dev/null
metagnn --threads 1 reproduce --quick --tasks addmod --models metagnn --seeds 1 --out "$RUNS/quick" --no-progress > /dev/null
for seed in 0 1 2; do
  run="$RUNS/full/addmod/metagnn/seed$seed"
  metagnn --threads 1 analyze clock "$run" --out "$RES/clock-metagnn-full-seed$seed.json" > "$RES/clock-metagnn-full-seed$seed.md"
  metagnn --threads 1 analyze closed-form "$run" --out "$RES/closed-form-metagnn-full-seed$seed.json" \
    --report "$RES/closed-form-report-metagnn-full-seed$seed.json" > "$RES/closed-form-metagnn-full-seed$seed.md"
done
# plots of seed 0, and its untrained control
metagnn --threads 1 analyze clock "$RUNS/full/addmod/metagnn/seed0" --plot "$IMG" --reference "$RES/reference-p113.json" > /dev/null
metagnn --threads 1 analyze clock "$RUNS/full/addmod/metagnn/seed0" --untrained --plot "$IMG/untrained" \
  --out "$RES/clock-metagnn-full-seed0-untrained.json" > "$RES/clock-metagnn-full-seed0-untrained.md"
# the quick configuration's run (the quickstart Meta-GNN)
run="$RUNS/quick/addmod/metagnn/seed0"
metagnn --threads 1 analyze clock "$run" --out "$RES/clock-metagnn-quick-seed0.json" > "$RES/clock-metagnn-quick-seed0.md"
metagnn --threads 1 analyze closed-form "$run" --out "$RES/closed-form-metagnn-quick-seed0.json" \
  --report "$RES/closed-form-report-metagnn-quick-seed0.json" > "$RES/closed-form-metagnn-quick-seed0.md"
python experiments/analysis_seeds.py "$RES"   # the per-seed table
