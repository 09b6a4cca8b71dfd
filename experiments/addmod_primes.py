"""Where the paper's regime lies: OOD exact match against the number of training primes.

Reads finished runs laid out by ``metagnn reproduce`` (``<out>/addmod/<model>/seed<S>``), one folder per
training set, and draws OOD (mean and spread over seeds) against the number of train primes, one line per
model; the held-out primes are the same in every folder. Writes the plot and a JSON with the table.

    bash experiments/addmod_primes.sh          # trains the runs (about 40 min on 2 cores), then calls this
    python experiments/addmod_primes.py runs/primes-* --plot docs/img/addmod/primes.png \
        --out docs/results/addmod/primes.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import mean, stdev

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = {"metagnn": "Meta-GNN", "gmlp": "Meta-gMLP", "flat": "Meta-MLP (flat)", "direct": "Direct"}


def collect(folders: list[Path]) -> list[dict]:
    rows = []
    for folder in folders:
        for metrics in sorted(folder.glob("addmod/*/seed*/metrics.json")):
            m = json.loads(metrics.read_text())
            tc = m["config"]["task_config"]
            rows.append({
                "folder": str(folder), "model": m["model"], "seed": m["seed"], "train_primes": len(tc["train"]),
                "vocab": tc["vocab"], "steps": m["steps"], "ood": tc["ood"], "val_accuracy": m["val_accuracy"],
                "ood_accuracy": m["ood_accuracy"], "id_accuracy": m["id_accuracy"],
                "ood_per_prime": {k: r["accuracy"] for k, r in m["per_intent"].items() if r["split"] == "ood"},
            })  # fmt: skip
    if not rows:
        raise SystemExit(f"no finished runs under {', '.join(map(str, folders))}")
    return rows


def table(rows: list[dict]) -> tuple[str, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["train_primes"], r["vocab"]), []).append(r)
    lines = ["| model | train primes | vocabulary | seeds | ID | val | OOD | lowest OOD prime |", "|---" * 8 + "|"]
    points = []
    for (model, n, vocab), rs in sorted(groups.items(), key=lambda kv: (list(NAMES).index(kv[0][0]), kv[0][1])):
        ood = [r["ood_accuracy"] for r in rs]
        spread = stdev(ood) if len(ood) > 1 else 0.0
        low = min((acc, p) for r in rs for p, acc in r["ood_per_prime"].items())
        cells = [f"{mean(r[k] for r in rs):.3f}" for k in ("id_accuracy", "val_accuracy")]
        lines.append(f"| {NAMES.get(model, model)} | {n} | {vocab} | {len(rs)} | {' | '.join(cells)} | "
                     f"{mean(ood):.3f} ± {spread:.3f} | {low[1]}: {low[0]:.3f} |")  # fmt: skip
        points.append({"model": model, "train_primes": n, "vocab": vocab, "seeds": len(rs), "ood": mean(ood),
                       "ood_std": spread})  # fmt: skip
    return "\n".join(lines), points


def plot(points: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for model in NAMES:
        pts = sorted((p for p in points if p["model"] == model), key=lambda p: p["train_primes"])
        if not pts:
            continue
        xs, ys, es = [p["train_primes"] for p in pts], [p["ood"] for p in pts], [p["ood_std"] for p in pts]
        line = ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=NAMES[model])
        for p in pts:
            if p["vocab"] != pts[0]["vocab"]:
                ax.annotate(f"vocab {p['vocab']}", (p["train_primes"], p["ood"]), textcoords="offset points",
                            xytext=(-30, -14), fontsize=8, color=line[0].get_color())  # fmt: skip
    ax.set_xlabel("training primes")
    ax.set_ylabel("OOD exact match (last step)")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("AddMod-p: unseen primes against training primes")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = collect(args.folders)
    text, points = table(rows)
    print(text)
    if args.plot:
        plot(points, args.plot)
        print(f"plot: {args.plot}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        command = "python experiments/addmod_primes.py " + " ".join(map(str, args.folders))
        args.out.write_text(json.dumps({"command": command, "table": text, "points": points, "rows": rows}, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
