"""AdamW kernels side by side: milliseconds per optimizer step, per-tensor ``foreach`` vs ``fused``.

Each model is built on a task's default config, given random gradients, and stepped by both kernels
in alternation in one process (so machine noise hits both); medians of the repeats.

    python benchmarks/optimizer.py [--task addmod] [--steps 20] [--repeats 5] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from metagnn.models import build_model
from metagnn.runtime import provenance
from metagnn.tasks import build_task


def step_ms(model: torch.nn.Module, kernel: dict, steps: int) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, **kernel)
    for _ in range(3):  # optimizer state allocated, caches warm
        opt.step()
    start = time.perf_counter()
    for _ in range(steps):
        opt.step()
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="addmod")
    parser.add_argument("--models", default="metagnn,gmlp,flat,direct")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = build_task(args.task)
    rows = []
    print("| model | tensors | parameters | foreach (ms) | fused (ms) | foreach / fused |\n|---|---|---|---|---|---|")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = build_model(name, task.spec, task.intent_dim, contract=task.contract)
        params = [p for p in model.parameters() if p.requires_grad]
        for p in params:
            p.grad = torch.randn_like(p) * 1e-3
        times: dict[str, list[float]] = {"foreach": [], "fused": []}
        for _ in range(args.repeats):
            for kernel in ("foreach", "fused"):
                times[kernel].append(step_ms(model, {kernel: True}, args.steps))
        a, b = statistics.median(times["foreach"]), statistics.median(times["fused"])
        rows.append({"model": name, "tensors": len(params), "parameters": sum(p.numel() for p in params),
                     "foreach_ms": times["foreach"], "fused_ms": times["fused"], "ratio": a / b})  # fmt: skip
        print(f"| {name} | {len(params)} | {rows[-1]['parameters']:,} | {a:.2f} | {b:.2f} | {a / b:.2f}x |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"task": args.task, "threads": args.threads, "steps": args.steps, "repeats": args.repeats, "rows": rows,
                 "provenance": provenance("cpu")},
                f,
                indent=2,
            )  # fmt: skip


if __name__ == "__main__":
    main()
