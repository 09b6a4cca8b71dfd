"""One hypernetwork for several sizes of S: accuracy of finished runs at every width of a
sweep, trained or never seen, mean and spread over seeds.

    python experiments/target_sizes.py runs/sizes-sumfirst-cycles8/sumfirst/metagnn/seed* \
        --target '{"hidden": [N, N]}' --sizes 32,40,48,56,64,72,80,96,128 \
        --json docs/results/sizes/sumfirst.json --plot docs/img/sizes/sumfirst.png

``--target`` is the target settings at width ``N`` (``4*N`` is replaced first, for AddMod's ``d_mlp``); each
run is evaluated at each width with ``metagnn.train.load_run(run, target=...)``, the path of ``metagnn eval
RUN --target``. The widths a run trained on are read from its ``config.json`` (the task's target and
``train.targets``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean, stdev

import torch

from metagnn.evaluate import evaluate
from metagnn.train import load_run

SPLITS = ("id", "val", "ood", "extrapolation")


def at_width(template: str, n: int) -> dict:
    return json.loads(template.replace("4*N", str(4 * n)).replace("N", str(n)))


def width_of(target: dict, template: str, largest: int = 1024) -> int | None:
    """The width ``N`` at which ``template`` gives ``target``'s settings, if any."""
    return next((n for n in range(1, largest + 1) if all(target.get(k) == v for k, v in at_width(template, n).items())),
                None)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--target", required=True, help="settings at width N, e.g. '{\"hidden\": [N, N]}'")
    ap.add_argument("--sizes", required=True, help="comma-separated widths")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows, trained = [], set()
    for run_dir in args.runs:
        config = json.loads((run_dir / "config.json").read_text())
        for t in [config["task_config"]["target"], *config["train"].get("targets", [])]:
            trained.add(width_of(t, args.target))
        for n in sizes:
            run, task, model = load_run(run_dir, "cpu", "last", at_width(args.target, n))
            scores = evaluate(model, task, torch.device("cpu"))
            rows.append({"run": str(run_dir), "seed": run.seed, "width": n,
                         **{s: scores.get(f"{s}_accuracy") for s in SPLITS}})  # fmt: skip
            shown = ", ".join(f"{s} {rows[-1][s]:.3f}" for s in SPLITS if rows[-1][s] is not None)
            print(f"{run_dir} width {n}: {shown}", flush=True)
    table = []
    for n in sizes:
        group = [r for r in rows if r["width"] == n]
        entry = {"width": n, "trained": n in trained, "seeds": len(group)}
        for s in SPLITS:
            vals = [r[s] for r in group if r[s] is not None]
            if vals:
                entry[s], entry[f"{s}_std"] = mean(vals), (stdev(vals) if len(vals) > 1 else 0.0)
        table.append(entry)
    print("\n| width | trained | seeds | ID | OOD |\n|---|---|---|---|---|")
    for e in table:
        trained = "yes" if e["trained"] else "no"
        print(f"| {e['width']} | {trained} | {e['seeds']} | {e['id']:.3f} ± {e['id_std']:.3f} | "
              f"{e['ood']:.3f} ± {e['ood_std']:.3f} |")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "widths": table, "runs": rows}, indent=1))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 3.8))
        for split, marker in (("id", "s"), ("ood", "o")):
            ax.errorbar([e["width"] for e in table], [e[split] for e in table], [e[f"{split}_std"] for e in table],
                        marker=marker, capsize=3, label=split.upper())  # fmt: skip
        for e in table:
            if e["trained"]:
                ax.axvline(e["width"], color="grey", alpha=0.3, lw=6)
        ax.set_xlabel("width of S (grey: trained)")
        ax.set_ylabel("exact match")
        ax.set_ylim(-0.02, 1.02)
        ax.legend()
        ax.set_title(f"one hypernetwork, several widths ({len(args.runs)} seed(s))")
        fig.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
