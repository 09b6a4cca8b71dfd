"""Evidence that the target ``S`` can express each rule: train one weight set of ``S`` directly per intent.

No hypernetwork is involved: ``theta`` itself is optimised (AdamW) on freshly generated rows of one
intent, then scored on that intent's test rows. Run ``python -m metagnn.tasks.arc1d.expressivity``
for the table in ``docs/arc1d.md`` (a few CPU-minutes at one thread).
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import torch

from metagnn.targets import run
from metagnn.tasks.arc1d.rules import all_intents
from metagnn.tasks.arc1d.task import Arc1D, Arc1DConfig


def fit_directly(
    task: Arc1D, intent: str, steps: int = 1500, batch: int = 64, lr: float = 3e-3, seed: int = 0
) -> dict[str, Any]:
    """Optimise one weight set of ``task.spec`` on ``intent``; returns test accuracy, final loss and seconds."""
    gen = torch.Generator().manual_seed(seed)
    theta = {k: v.clone().requires_grad_(True) for k, v in task.spec.init_theta(gen).items()}
    opt = torch.optim.AdamW(theta.values(), lr=lr, weight_decay=0.0)
    start = time.perf_counter()
    loss = torch.tensor(float("nan"))
    for step in range(steps):
        for g in opt.param_groups:  # cosine decay
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        x, y = task.sample([intent], batch, gen)
        loss = task.loss(run(task.spec, {k: v[None] for k, v in theta.items()}, x), y, [intent])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        x, y = task.test_set(intent)
        out = run(task.spec, {k: v[None] for k, v in theta.items()}, x[None])
        acc = float(task.correct(out, y[None], [intent]).float().mean())
    return {
        "intent": intent,
        "accuracy": acc,
        "loss": float(loss.detach()),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", default=",".join(i.key for i in all_intents()))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rel-bias", action="store_true", help="the target with a per-head relative attention bias")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = Arc1DConfig()
    cfg.target = {**cfg.target, "rel_bias": args.rel_bias}
    task = Arc1D(cfg)
    print(f"target: {task.spec.kwargs} ({task.spec.num_parameters} weights); {args.steps} steps x {args.batch} rows")
    print("| intent | test exact match | final loss | seconds |\n|---|---|---|---|")
    for intent in args.intents.split(","):
        r = fit_directly(task, intent, args.steps, args.batch, args.lr)
        print(f"| {r['intent']} | {r['accuracy']:.3f} | {r['loss']:.4f} | {r['seconds']} |", flush=True)


if __name__ == "__main__":
    main()
