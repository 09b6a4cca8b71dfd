"""Allocator settings side by side: median seconds per training step of one model on one task.

Settings: glibc's default; ``mallopt`` at start-up (what metagnn does); the same knobs from
``MALLOC_*_`` environment variables. Each measurement is a fresh subprocess (the allocator is
configured at start-up); the settings alternate so that machine noise hits all of them.

    python benchmarks/allocator.py [--task addmod] [--model metagnn] [--steps 30] [--repeats 3] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import statistics, sys, time, torch
from metagnn.runtime import tune_allocator
tuned = tune_allocator()
torch.set_num_threads(int(sys.argv[2]))
from metagnn.tasks import build_task
from metagnn.models import build_model
task = build_task(sys.argv[3])
torch.manual_seed(0)
model = build_model(sys.argv[4], task.spec, task.intent_dim, contract=task.contract)
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


ENV_KNOBS = {
    "MALLOC_MMAP_THRESHOLD_": "33554432",
    "MALLOC_TRIM_THRESHOLD_": "100000000000",
    "MALLOC_TOP_PAD_": "1073741824",
}
SETTINGS = {
    "default": {"METAGNN_TUNE_MALLOC": "0"},  # glibc as shipped
    "mallopt": {"METAGNN_TUNE_MALLOC": "1"},  # what metagnn does at start-up
    "env": {"METAGNN_TUNE_MALLOC": "0", **ENV_KNOBS},  # the same knobs set from the environment
}


def measure(setting: str, steps: int, threads: int, task: str, model: str) -> tuple[bool, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(SETTINGS[setting])
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(steps), str(threads), task, model], env=env, capture_output=True, text=True
    )
    if proc.returncode:
        sys.exit(f"benchmark child failed:\n{proc.stderr}")
    out = proc.stdout.split()
    return out[0] == "True", float(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--task", default="addmod")
    ap.add_argument("--model", default="metagnn")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    times: dict[str, list[float]] = {s: [] for s in SETTINGS}
    for _ in range(args.repeats):
        for setting in SETTINGS:  # interleaved, so that machine noise hits every setting
            times[setting].append(measure(setting, args.steps, args.threads, args.task, args.model)[1])
    median = {s: statistics.median(t) for s, t in times.items()}
    result = {
        "median_step_s": median,
        "speedup_vs_default": {s: median["default"] / m for s, m in median.items()},
        "task": args.task, "model": args.model, "steps": args.steps, "repeats": args.repeats, "threads": args.threads,
    }  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for s in SETTINGS:
            print(
                f"{s:<8} median step {median[s] * 1e3:6.1f} ms   "
                f"{result['speedup_vs_default'][s]:.2f}x vs glibc default"
            )
        print(
            f"({args.task}/{args.model}: {args.repeats} interleaved repeats, {args.steps} steps, "
            f"{args.threads} thread(s))"
        )


if __name__ == "__main__":
    main()
