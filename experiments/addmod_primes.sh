#!/usr/bin/env bash
# OOD of Meta-GNN and Meta-MLP (flat) against the number of training primes: 6, 12 and 18 primes in a
# vocabulary of 128 (nested subsets of the full config's train primes) and 42 in a vocabulary of 256, the
# full config's validation and OOD primes held out everywhere, 6,000 steps (one budget for every point).
# Two processes at one thread each (a 2-core machine: about 40 min), then the table and the plot.
#   bash experiments/addmod_primes.sh [SEEDS=1]
set -euo pipefail
SEEDS=${1:-1}
for half in a b; do
  (for n in 06 12 18 42-vocab256; do
     metagnn --threads 1 reproduce --configs experiments/configs/addmod-primes-$n --tasks addmod \
       --models metagnn,flat --seeds "$SEEDS" --out runs/primes-$n --no-progress > runs/primes-$n.$half.log 2>&1
   done) &
done
wait
python experiments/addmod_primes.py runs/primes-06 runs/primes-12 runs/primes-18 runs/primes-42-vocab256 \
  --plot docs/img/addmod/primes.png --out docs/results/addmod/primes.json
