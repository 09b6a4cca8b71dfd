"""Runs judged twice: with the weights validation selected and with the last step's weights.

Validation asks for unseen intents, so the step it picks need not be the one that fits the
training intents best. On 1D-ARC this matters for the real 1D-ARC check, which asks only for seen
rules. This evaluates every finished run folder of a grid twice (as ``metagnn eval --weights
best|last`` does; with ``--arc-dir``, arc1d runs also on the real tasks) and writes one JSON and a
table.

python experiments/best_vs_last.py runs/reproduce-full/arc1d --arc-dir ../shared/data/1d-arc \
    --out docs/results/reproduce-full/arc1d-best-vs-last.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import mean, stdev

import torch

from metagnn.evaluate import evaluate
from metagnn.tasks.arc1d.real import real_check
from metagnn.train import WEIGHTS, load_run

KEYS = ("id_accuracy", "val_accuracy", "ood_accuracy", "extrapolation_accuracy", "expressible_pair_accuracy")
NAMES = ("ID", "val", "OOD", "extrap.", "real ARC, expressible")


def judge(run_dir: Path, arc_dir: str | None, weights: str) -> dict:
    run, task, model = load_run(run_dir, "cpu", weights)
    result = evaluate(model, task, "cpu")
    row = {"task": run.task, "model": run.model, "seed": run.seed, "weights": weights}
    row.update({k: result[k] for k in KEYS if k in result})
    if arc_dir and run.task == "arc1d":
        real = real_check(model, task, arc_dir, "cpu")
        row["expressible_pair_accuracy"] = real["expressible_pair_accuracy"]
        row["real_per_family"] = {f: r["pair_accuracy"] for f, r in real["per_family"].items() if r["intent"]}
    return row


def spread(values: list[float]) -> str:
    return f"{mean(values):.3f} ± {stdev(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("grid", help="a folder of <model>/seed<S> run folders (e.g. runs/reproduce-full/arc1d)")
    p.add_argument("--arc-dir", default=None, help="real 1D-ARC tasks, for arc1d runs")
    p.add_argument("--out", required=True, help="JSON file to write")
    args = p.parse_args()
    torch.set_num_threads(1)
    runs = sorted(d for d in Path(args.grid).glob("*/seed*") if (d / "metrics.json").exists())
    if not runs:
        raise SystemExit(f"{args.grid}: no finished run folders <model>/seed<S>")
    rows = [judge(d, args.arc_dir, w) for d in runs for w in WEIGHTS]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"grid": args.grid, "rows": rows}, indent=2) + "\n")
    keys = [k for k in KEYS if all(k in r for r in rows)]
    print("| model | weights | seeds | " + " | ".join(NAMES[KEYS.index(k)] for k in keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    for model in dict.fromkeys(r["model"] for r in rows):
        for weights in WEIGHTS:
            rs = [r for r in rows if r["model"] == model and r["weights"] == weights]
            cells = " | ".join(spread([r[k] for r in rs]) for k in keys)
            print(f"| {model} | {weights} | {len(rs)} | {cells} |")


if __name__ == "__main__":
    main()
