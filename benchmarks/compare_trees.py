"""Before/after: the training step of the package at an older commit vs the working tree, side by side.

Each measurement is a fresh process that imports ``metagnn`` from one source tree (``PYTHONPATH``) and
times ``--steps`` real training steps (forward, backward, clipping, AdamW) on a task's default config;
the trees alternate A B A B so that machine noise hits both, and the ratio is taken pair by pair.

    python benchmarks/compare_trees.py --base 050114b [--pairs 3] [--steps 15] [--threads 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, statistics, sys, time, torch
from metagnn.runtime import tune_allocator
tune_allocator()
torch.set_num_threads(int(sys.argv[1]))
import metagnn
from metagnn.tasks import build_task
from metagnn.models import build_model
task = build_task(sys.argv[2])
torch.manual_seed(0)
model = build_model(sys.argv[3], task.spec, task.intent_dim, contract=task.contract)
opt = torch.optim.AdamW(model.parameters(), 1e-3, foreach=True)
gen = torch.Generator().manual_seed(1)
train = task.splits["train"]
times = []
for step in range(int(sys.argv[4]) + 3):
    intents = [train[i] for i in torch.randperm(len(train), generator=gen)[:8].tolist()]
    x, y = task.sample(intents, 64, gen)
    t = time.perf_counter()
    loss = task.loss(model(task.intent_features(intents), x), y, intents)
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
    times.append(time.perf_counter() - t)
hwm = next(float(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"step_s": statistics.median(times[3:]), "peak_mib": hwm / 1024, "src": metagnn.__file__}))
"""

CASES = [("addmod", "metagnn"), ("addmod", "gmlp"), ("addmod", "flat"), ("sumfirst", "metagnn")]


def measure(src: Path, threads: int, task: str, model: str, steps: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(threads), task, model, str(steps)], env=env, capture_output=True, text=True
    )
    if proc.returncode:
        sys.exit(f"benchmark child failed ({src}):\n{proc.stderr}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    if not row["src"].startswith(str(src)):
        sys.exit(f"child imported {row['src']}, not the tree under {src}")
    return row


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the commit before the optimisation")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="JSON file for the results (docs/performance.md reads it)")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]
    head = git("rev-parse", "--short", "HEAD", cwd=repo)
    base = git("rev-parse", "--short", args.base, cwd=repo)
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", base, "src"], cwd=repo, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        trees = {"before": Path(tmp) / "src", "after": repo / "src"}
        rows = []
        for task, model in CASES:
            got: dict[str, list[dict]] = {"before": [], "after": []}
            for _ in range(args.pairs):
                for which, src in trees.items():
                    got[which].append(measure(src, args.threads, task, model, args.steps))
            ratios = [a["step_s"] / b["step_s"] for a, b in zip(got["after"], got["before"])]
            rows.append(
                {
                    "task": task,
                    "model": model,
                    "before_s": statistics.median(r["step_s"] for r in got["before"]),
                    "after_s": statistics.median(r["step_s"] for r in got["after"]),
                    "ratio": statistics.median(ratios),
                    "ratio_min": min(ratios),
                    "ratio_max": max(ratios),
                    "before_peak_mib": statistics.median(r["peak_mib"] for r in got["before"]),
                    "after_peak_mib": statistics.median(r["peak_mib"] for r in got["after"]),
                }
            )
            print(f"{task:9} {model:8} after/before {rows[-1]['ratio']:.2f}", file=sys.stderr, flush=True)
    result = {
        "command": "python " + " ".join(["benchmarks/compare_trees.py", *sys.argv[1:]]),
        "base": base,
        "head": head + (" + working tree" if git("status", "--porcelain", "src", cwd=repo) else ""),
        "pairs": args.pairs,
        "repeats": args.pairs,
        "steps": args.steps,
        "threads": args.threads,
        "load_average": os.getloadavg(),
        "rows": rows,
    }
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
