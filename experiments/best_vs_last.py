"""1D-ARC runs judged with the weights validation selected and with the last step's weights.

Validation on 1D-ARC asks for unseen rules (shift-inverse-1, recolour-4), while the real 1D-ARC
check asks only for seen ones, so the step that validation picks need not be the one that fits the
training rules best. This evaluates every run folder twice (``metagnn eval --weights best|last``)
and writes one JSON and a table.

python experiments/arc1d_weights.py runs/reproduce-full/arc1d --arc-dir ../shared/data/1d-arc \
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

KEYS = ("id_accuracy", "val_accuracy", "ood_accuracy", "expressible_pair_accuracy")


def judge(run_dir: Path, arc_dir: str, weights: str) -> dict:
    run, task, model = load_run(run_dir, "cpu", weights)
    result = evaluate(model, task, "cpu")
    real = real_check(model, task, arc_dir, "cpu")
    return {
        "model": run.model,
        "seed": run.seed,
        "weights": weights,
        **{k: result[k] for k in KEYS[:3]},
        "expressible_pair_accuracy": real["expressible_pair_accuracy"],
        "real_per_family": {f: r["pair_accuracy"] for f, r in real["per_family"].items() if r.get("intent")},
    }


def spread(values: list[float]) -> str:
    return f"{mean(values):.3f} ± {stdev(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("grid", help="a folder of <model>/seed<S> run folders (e.g. runs/reproduce-full/arc1d)")
    p.add_argument("--arc-dir", required=True, help="real 1D-ARC tasks")
    p.add_argument("--out", required=True, help="JSON file to write")
    args = p.parse_args()
    torch.set_num_threads(1)
    runs = sorted(d for d in Path(args.grid).glob("*/seed*") if (d / "metrics.json").exists())
    if not runs:
        raise SystemExit(f"{args.grid}: no finished run folders <model>/seed<S>")
    rows = [judge(d, args.arc_dir, w) for d in runs for w in WEIGHTS]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"grid": args.grid, "rows": rows}, indent=2) + "\n")
    print("| model | weights | seeds | ID | val | OOD | real ARC, expressible |")
    print("|---|---|---|---|---|---|---|")
    for model in dict.fromkeys(r["model"] for r in rows):
        for weights in WEIGHTS:
            rs = [r for r in rows if r["model"] == model and r["weights"] == weights]
            cells = " | ".join(spread([r[k] for r in rs]) for k in KEYS)
            print(f"| {model} | {weights} | {len(rs)} | {cells} |")


if __name__ == "__main__":
    main()
