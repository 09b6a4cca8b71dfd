"""Evidence that the target ``S`` can express each rule: train one weight set of ``S`` directly per intent.

No hypernetwork is involved: ``theta`` itself is optimised (AdamW) on freshly generated rows of one
intent, then scored on that intent's test rows. Run ``python -m metagnn.tasks.arc1d.expressivity``
for the table in ``docs/arc1d.md`` (a few CPU-minutes at one thread).

``--families`` does the same per 1D-ARC *family* (:mod:`metagnn.tasks.arc1d.families`, all 18): one weight
set per family, fitted on that family's generated pairs only (one fixed draw of the task parameters for
the three families that have them), scored on fresh generated pairs and, where a folder of real tasks is
given, on every pair of the real tasks of the family that the fitted parameters describe (all tasks of a
family without parameters). The real tasks are read for that score only, after the fit.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from metagnn.targets import TargetSpec, run
from metagnn.tasks.arc1d.families import FAMILIES, Family, FitError, Pair
from metagnn.tasks.arc1d.rules import all_intents
from metagnn.tasks.arc1d.task import Arc1D, Arc1DConfig, cell_loss, encode_pairs, row_target, rows_right


def fit_theta(
    spec: TargetSpec,
    batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    steps: int,
    lr: float,
    gen: torch.Generator,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], float]:
    """Optimise one weight set of ``spec`` (AdamW, cosine decay from ``lr``) on ``steps`` batches ``(x, y)``
    of rows under :func:`~metagnn.tasks.arc1d.task.cell_loss`; returns the fitted program ``x -> logits``
    (no gradient) and the last step's loss."""
    theta = {k: v.clone().requires_grad_(True) for k, v in spec.init_theta(gen).items()}
    opt = torch.optim.AdamW(theta.values(), lr=lr, weight_decay=0.0)

    def program(x: torch.Tensor) -> torch.Tensor:
        return run(spec, {k: v[None] for k, v in theta.items()}, x)

    loss = torch.tensor(float("nan"))
    for step in range(steps):
        for g in opt.param_groups:  # cosine decay
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        x, y = batch()
        loss = cell_loss(program(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return torch.no_grad()(program), float(loss.detach())


def fit_directly(
    task: Arc1D, intent: str, steps: int = 1500, batch: int = 64, lr: float = 3e-3, seed: int = 0
) -> dict[str, Any]:
    """Optimise one weight set of ``task.spec`` on ``intent``; returns test accuracy, final loss and seconds."""
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    program, loss = fit_theta(task.spec, lambda: task.sample([intent], batch, gen), steps, lr, gen)
    x, y = task.test_set(intent)
    acc = float(rows_right(program(x[None]), y[None]).float().mean())
    return {"intent": intent, "accuracy": acc, "loss": loss, "seconds": round(time.perf_counter() - start, 1)}


def fit_family(
    family: Family,
    target: dict[str, Any],
    steps: int = 3000,
    batch: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    real: list[tuple[list[Pair], list[Pair]]] | None = None,
    test_pairs: int = 512,
) -> dict[str, Any]:
    """Optimise one weight set of ``S`` on ``family``'s generated pairs (rows of every length the family
    has); returns exact match on ``test_pairs`` fresh pairs and, given the family's real tasks (each its
    train pairs and all its pairs), on the pairs of those whose fitted parameters equal the ones trained on."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    params = family.sample_params(rng) if family.sample_params is not None else None
    width = family.max_length
    spec = row_target(width, **target)

    def draw(n: int) -> list[Pair]:
        return [family.generate(rng, rng.randint(family.min_length, width), params) for _ in range(n)]

    def exact(pairs: list[Pair]) -> float:
        x, y = encode_pairs(pairs, width)
        return float(rows_right(program(x[None]), y[None]).float().mean())

    start = time.perf_counter()
    program, loss = fit_theta(spec, lambda: tuple(t[None] for t in encode_pairs(draw(batch), width)), steps, lr, gen)
    result = {"family": family.name, "width": width, "parameters": spec.num_parameters,
              "generated": exact(draw(test_pairs)), "loss": loss,
              "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    if real:
        same = [pairs for train, pairs in real if not family.needs_fit or _fitted(family, train) == params]
        pairs = [p for t in same for p in t]
        result.update(real_tasks=len(same), real_pairs=len(pairs), real=exact(pairs) if pairs else None)
    return result


def _fitted(family: Family, train: list[Pair]) -> Any:
    """The task parameters ``train`` gives ``family``'s rule; None where they cannot be fitted."""
    try:
        return family.fit(train)
    except FitError:
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", default=",".join(i.key for i in all_intents()))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rel-bias", action="store_true", help="the target with a per-head relative attention bias")
    parser.add_argument("--families", help="fit per 1D-ARC family instead (comma-separated, or 'all')")
    parser.add_argument("--target", default="{}", help='settings of S for --families, as JSON: {"n_layers": 3}')
    parser.add_argument("--arc-dir", help="real tasks (1D-ARC's layout) to score the --families fits on")
    parser.add_argument("--out", help="--families: write the rows as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.families:
        fit_families(args)
        return
    cfg = Arc1DConfig()
    cfg.target = {**cfg.target, "rel_bias": args.rel_bias}
    task = Arc1D(cfg)
    print(f"target: {task.spec.kwargs} ({task.spec.num_parameters} weights); {args.steps} steps x {args.batch} rows")
    print("| intent | test exact match | final loss | seconds |\n|---|---|---|---|")
    for intent in args.intents.split(","):
        r = fit_directly(task, intent, args.steps, args.batch, args.lr)
        print(f"| {r['intent']} | {r['accuracy']:.3f} | {r['loss']:.4f} | {r['seconds']} |", flush=True)


def fit_families(args: argparse.Namespace) -> None:
    from metagnn.checkpoint import write_json
    from metagnn.tasks.arc1d.real import family_of, parse_task_splits, read_task_file, task_paths

    names = list(FAMILIES) if args.families == "all" else args.families.split(",")
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise SystemExit(f"expressivity: unknown families {', '.join(unknown)}; known: {', '.join(FAMILIES)}")
    try:
        settings = json.loads(args.target)
    except ValueError:
        settings = None
    if not isinstance(settings, dict):
        raise SystemExit(f'expressivity: --target must be a JSON object such as {{"n_layers": 3}}, got {args.target!r}')
    target = {"d_model": 32, "n_heads": 4, "d_mlp": 64, "rel_bias": args.rel_bias, **settings}
    print(f"target: {target}; {args.steps} steps x {args.batch} generated pairs, lr {args.lr}")
    print("| family | width | weights | generated exact match | real tasks | real pairs exact match | seconds |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for name in names:
        real = None
        if args.arc_dir:
            root = Path(args.arc_dir)
            real = []
            for path in (p for p in task_paths(root) if family_of(p, root) == name):
                train, tests = parse_task_splits(read_task_file(path), str(path))
                real.append((train, [*train, *((x, y) for x, y in tests if y is not None)]))
        r = fit_family(FAMILIES[name], target, args.steps, args.batch, args.lr, real=real)
        rows.append(r)
        score = "—" if r.get("real") is None else f"{r['real']:.3f}"
        print(f"| {name} | {r['width']} | {r['parameters']:,} | {r['generated']:.3f} | {r.get('real_tasks', '—')} | "
              f"{score} | {r['seconds']} |", flush=True)  # fmt: skip
        if args.out:
            write_json(args.out, {"target": target, "steps": args.steps, "batch": args.batch, "lr": args.lr,
                                  "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
