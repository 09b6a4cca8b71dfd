"""The per-prime and ablation tables of docs/results.md (AddMod-p), from the JSONs ``metagnn summarize --out`` wrote.

python experiments/addmod_tables.py docs/results/addmod/full.json per-prime
python experiments/addmod_tables.py docs/results/addmod/ablation-modulus.json ablation
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from statistics import mean, stdev


def per_prime(path: str, splits: tuple[str, ...] = ("ood", "extrapolation")) -> str:
    """OOD (and extrapolation) accuracy per prime: mean over seeds, and the range where there are several."""
    rows = json.load(open(path))["rows"]
    by = defaultdict(list)
    for r in rows:
        by[r["model"]].append(r)
    keys = []
    for r in rows:
        for k, v in r["per_intent"].items():
            if v["split"] in splits and (k, v["split"]) not in keys:
                keys.append((k, v["split"]))
    keys.sort(key=lambda kv: (splits.index(kv[1]), int(kv[0])))
    out = ["| model | seeds | " + " | ".join(f"{k} ({s})" for k, s in keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for model in ("metagnn", "gmlp", "flat", "direct"):
        rs = by.get(model)
        if not rs:
            continue
        cells = []
        for k, _ in keys:
            accs = [r["per_intent"][k]["accuracy"] for r in rs]
            cells.append(f"{mean(accs):.3f}" + (f" ({min(accs):.2f}-{max(accs):.2f})" if len(accs) > 1 else ""))
        out.append(f"| {model} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def ablation(path: str) -> str:
    """ID / val / OOD / extrapolation with and without the modulus declaration, per config and model."""
    rows = json.load(open(path))["rows"]
    groups = defaultdict(list)
    for r in rows:
        cfg = "full" if r["config"]["task_config"].get("vocab", 64) == 128 else "quick"
        mc = r["config"]["model_config"]
        groups[(cfg, r["model"], mc.get("intent_axes", True))].append(r)

    def ms(vals: list[float]) -> str:
        return f"{mean(vals):.3f} ± {stdev(vals):.3f}" if len(vals) > 1 else f"{vals[0]:.3f}"

    out = ["| config | model | modulus declaration | seeds | ID | val | OOD | extrap. (127) |", "|---" * 8 + "|"]
    for cfg in ("quick", "full"):
        for model in ("metagnn", "gmlp"):
            for axes in (True, False):
                rs = groups.get((cfg, model, axes))
                if not rs:
                    continue
                ext = [r["extrapolation_accuracy"] for r in rs if r.get("extrapolation_accuracy") is not None]
                out.append(
                    f"| {cfg} | {model} | {'yes' if axes else '**no**'} | {len(rs)} | "
                    + " | ".join(ms([r[k] for r in rs]) for k in ("id_accuracy", "val_accuracy", "ood_accuracy"))
                    + f" | {ms(ext) if ext else '—'} |"
                )
    return "\n".join(out)


if __name__ == "__main__":
    print(per_prime(sys.argv[1]) if sys.argv[2] == "per-prime" else ablation(sys.argv[1]))
