"""Ablations of Meta-GNN's own parts on the quick configs, same budget for every variant.

    python experiments/ablations.py --task sumfirst --seeds 3 --out runs/ablations

Variants: the default Meta-GNN (2 rounds, fixed PEs, tied encoders/decoders); message-passing
rounds 0, 1, 3; PEs resampled at every step; one shared encoder/decoder for all groups with the
group id as an input feature (``tie=false``); no message passing but a global pooled mixer
(Meta-gMLP); the task's intent contract ignored (``intent_axes=false``: the intent as a code, on
tasks that declare how it meets the axes of S). Finished runs are reused
(``runs/ablations/<task>/<variant>/seed<S>``). Prints a Markdown table and writes
``docs/results/ablations/<task>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from metagnn.config import load_config
from metagnn.errors import MetaGNNError
from metagnn.report import mean_std
from metagnn.reproduce import run_or_reuse
from metagnn.runtime import provenance
from metagnn.train import RunConfig

VARIANTS: dict[str, tuple[str, dict]] = {
    "Meta-GNN (2 rounds, fixed PEs, tied)": ("metagnn", {}),
    "rounds 0": ("metagnn", {"rounds": 0}),
    "rounds 1": ("metagnn", {"rounds": 1}),
    "rounds 3": ("metagnn", {"rounds": 3}),
    "PEs resampled every step": ("metagnn", {"resample_pe": True}),
    "untied: one shared encoder/decoder + group id": ("metagnn", {"tie": False}),
    "no message passing (Meta-gMLP)": ("gmlp", {}),
    "intent contract ignored": ("metagnn", {"intent_axes": False}),
}


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument(
        "--config", default="quick", help="'quick' (the shipped quick config, default) or a JSON file in that format"
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument(
        "--only-seed", type=int, default=None, help="train just this seed (to split work across processes)"
    )
    parser.add_argument("--out", default="runs/ablations")
    parser.add_argument("--variants", default=None, help="comma-separated slugs to run (default: all)")
    parser.add_argument("--json", default=None, help="default: docs/results/ablations/<task>.json")
    args = parser.parse_args()
    cfg = load_config(args.config, args.task)
    wanted = None if args.variants is None else args.variants.split(",")
    unknown = sorted(set(wanted or []) - {slug(n) for n in VARIANTS})
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(slug(n) for n in VARIANTS)}")
    chosen = {n: v for n, v in VARIANTS.items() if wanted is None or slug(n) in wanted}
    out = Path(args.out) / args.task
    rows = []
    for name, (model, overrides) in chosen.items():
        model_cfg = {**cfg.get("models", {}).get(model, {}), **overrides}
        for seed in range(args.seeds) if args.only_seed is None else [args.only_seed]:
            run = RunConfig(args.task, cfg["task_config"], model, model_cfg, cfg["train"], seed)
            m = run_or_reuse(run, out / slug(name) / f"seed{seed}", progress=False)
            rows.append({"variant": name, **{k: v for k, v in m.items() if k != "history"}})
    lines = ["| variant | seeds | ID | val | OOD | extrap. | params |", "|---|---|---|---|---|---|---|"]
    for name in chosen:
        rs = [r for r in rows if r["variant"] == name]
        cells = [mean_std(rs, k) for k in ("id_accuracy", "val_accuracy", "ood_accuracy", "extrapolation_accuracy")]
        lines.append(f"| {name} | {len(rs)} | {' | '.join(cells)} | {rs[0]['parameters']:,} |")
    table = "\n".join(lines)
    print(table)
    if args.only_seed is not None and args.json is None:
        return  # one process's share of the seeds: the table over all seeds comes from a run without --only-seed
    path = Path(args.json or f"docs/results/ablations/{args.task}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    command = "python " + " ".join(sys.argv)
    record = {"command": command, "table": table, "rows": rows, "provenance": provenance("cpu")}
    path.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    try:
        main()
    except MetaGNNError as e:  # bad config, a broken run folder, ...: one line, as the CLI prints it
        sys.exit(f"ablations: error: {e}")
