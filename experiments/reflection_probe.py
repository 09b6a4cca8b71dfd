"""Is ``mirror-inverse`` the reflection of the synthesized ``mirror-forward`` program?

For mirror and shift, the inverse intent is the forward one on the reversed row. The 1D-ARC target
depends on positions only through ``embed.W_pos`` (absolute) and, with ``rel_bias``, through its
bias over offsets ``j - i``. Reversing both axes (``W_pos[i] -> W_pos[width - 1 - i]``, offset
``d -> -d``) turns any program ``T`` into ``x -> R(T(R(x)))``, with ``R`` the reversal of the padded
row. This probe synthesizes a run's forward programs, reflects them so, and scores them on the inverse
intents' test rows, split into rows that fill the whole width and rows with padding (which ``R``
moves to the front: the one thing the reflected program sees that the forward one never did).

No training, and the OOD intents choose nothing here: it asks what an exact reflection, built by hand
rather than learned, would give.

python experiments/reflection_probe.py runs/arc1d-full-offset/arc1d/metagnn/seed{0,1,2} --weights best \
    --out docs/results/arc1d-offset-anchor/reflection-probe-best.json   # and --weights last
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean

import torch

from metagnn.targets import Theta, run
from metagnn.tasks.arc1d.task import IGNORE
from metagnn.train import WEIGHTS, load_run

PAIRS = (
    ("mirror-forward", "mirror-inverse"),
    ("shift-forward-3", "shift-inverse-3"),
    ("shift-forward-2", "shift-inverse-2"),
)


def reflect(theta: Theta) -> Theta:
    """The program on the reversed row: positions and attention offsets reversed (weights carry a batch axis)."""
    out = dict(theta)
    out["embed.W_pos"] = theta["embed.W_pos"].flip(1)
    for name in theta:
        if name.endswith("attn.rel_bias"):
            out[name] = theta[name].flip(-1)
    return out


def share(right: torch.Tensor) -> float | None:
    """The share of True in ``right``; None for no rows."""
    return float(right.float().mean()) if len(right) else None


@torch.no_grad()
def probe(run_dir: Path, weights: str) -> dict:
    cfg, task, model = load_run(run_dir, "cpu", weights)
    kw = task.spec.kwargs
    if task.name != "arc1d" or kw.get("causal") or kw.get("intent_dim") or kw.get("readout") != "all":
        raise SystemExit(f"{run_dir}: not a 1D-ARC run with a non-causal per-cell target (the reflection assumes one)")
    model.eval()
    row: dict = {"run": str(run_dir), "seed": cfg.seed, "weights": weights, "pairs": {}}
    for src, dst in PAIRS:
        theta = model.synthesize(task.intent_features([src]))
        x, y = task.test_set(dst)
        right = {}
        for name, th in (("forward program", theta), ("reflected", reflect(theta))):
            right[name] = task.correct(run(task.spec, th, x[None]), y[None], [dst])[0]
        full = (y != IGNORE).all(-1)  # rows that fill the whole width: no padding for R to move
        xs, ys = task.test_set(src)
        own = task.correct(run(task.spec, theta, xs[None]), ys[None], [src])[0]
        own_full = (ys != IGNORE).all(-1)
        row["pairs"][f"{src} -> {dst}"] = {
            "forward program on its own rows": share(own),
            "forward program, own rows filling the width": share(own[own_full]),
            "forward program, own padded rows": share(own[~own_full]),
            "forward program on inverse rows": share(right["forward program"]),
            "reflected, inverse rows": share(right["reflected"]),
            "reflected, rows filling the width": share(right["reflected"][full]),
            "reflected, padded rows": share(right["reflected"][~full]),
            "rows filling the width": int(full.sum()),
            "rows": len(y),
        }
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="finished 1D-ARC run folders")
    p.add_argument("--weights", choices=WEIGHTS, default="best")
    p.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = [probe(r, args.weights) for r in args.runs]
    for key in rows[0]["pairs"]:
        print(key)
        for col in rows[0]["pairs"][key]:
            vals = [r["pairs"][key][col] for r in rows]
            shown = ", ".join("-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v) for v in vals)
            avg = [v for v in vals if isinstance(v, float)]
            print(f"  {col:>34}: {shown}" + (f"   mean {mean(avg):.3f}" if len(avg) > 1 else ""))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        command = " ".join(["python", *sys.argv])
        args.out.write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
