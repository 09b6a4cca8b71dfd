"""Allocator tuning on/off, measured side by side: median seconds per Meta-GNN training step.

Each measurement is a fresh subprocess (the allocator is configured at start-up) running the
quick AddMod-p Meta-GNN step loop; the two settings alternate so that machine noise hits both.

    python benchmarks/allocator.py [--steps 30] [--repeats 3] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import sys, time, torch
from metagnn.runtime import tune_allocator
tuned = tune_allocator()
torch.set_num_threads(int(sys.argv[2]))
from metagnn.tasks import build_task
from metagnn.models import build_model
task = build_task("addmod")
torch.manual_seed(0)
model = build_model("metagnn", task.spec, task.intent_dim)
opt = torch.optim.AdamW(model.parameters(), 1e-3, foreach=True)
gen = torch.Generator().manual_seed(1)
times = []
for step in range(int(sys.argv[1])):
    intents = [task.splits["train"][i] for i in torch.randperm(10, generator=gen)[:8].tolist()]
    x, y = task.sample(intents, 64, gen)
    t = time.perf_counter()
    loss = task.loss(model(task.intent_features(intents), x), y, intents)
    opt.zero_grad(); loss.backward(); opt.step()
    times.append(time.perf_counter() - t)
print(tuned, statistics.median(times[3:]))
"""


def measure(tune: bool, steps: int, threads: int) -> tuple[bool, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["METAGNN_TUNE_MALLOC"] = "1" if tune else "0"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(steps), str(threads)], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "True", float(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    on, off = [], []
    for _ in range(args.repeats):
        tuned, t = measure(True, args.steps, args.threads)
        on.append(t)
        off.append(measure(False, args.steps, args.threads)[1])
    result = {
        "tuned_allocator_active": tuned,
        "step_s_tuned": statistics.median(on),
        "step_s_default": statistics.median(off),
        "speedup": statistics.median(off) / statistics.median(on),
        "steps": args.steps,
        "repeats": args.repeats,
        "threads": args.threads,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"median step: tuned {result['step_s_tuned'] * 1e3:.1f} ms, "
            f"glibc default {result['step_s_default'] * 1e3:.1f} ms "
            f"-> {result['speedup']:.2f}x (active: {tuned}; {args.repeats} pairs, {args.threads} thread(s))"
        )


if __name__ == "__main__":
    main()
