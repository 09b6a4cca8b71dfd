"""Tables and plots of finished runs (SPEC 3b): one row per run, or mean and std over seeds."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from statistics import mean, stdev
from typing import Any

from metagnn.checkpoint import atomic_write
from metagnn.errors import MetaGNNError
from metagnn.train import RunConfig

# SPEC section 4: the paper's OOD exact match (their splits are unknown), per task and model.
PAPER_OOD: dict[tuple[str, str], str] = {
    ("sumfirst", "direct"): "0.140", ("sumfirst", "flat"): "0.145", ("sumfirst", "gmlp"): "0.344",
    ("sumfirst", "metagnn"): "0.866", ("addmod", "direct"): "0.682–0.699", ("addmod", "flat"): "0.947",
    ("addmod", "gmlp"): "0.883", ("addmod", "metagnn"): "0.943", ("arc1d", "direct"): "0.603",
    ("arc1d", "flat"): "0.625", ("arc1d", "gmlp"): "0.610", ("arc1d", "metagnn"): "0.713",
}  # fmt: skip


def format_table(rows: list[dict[str, Any]]) -> str:
    """SPEC 3b's columns as a Markdown table (one row per run)."""
    head = "| model | ID | val | OOD | extrap. | chance (OOD) | params | steps | examples | wall (s) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def f(r: dict[str, Any], key: str) -> str:
        return f"{r[key]:.3f}" if key in r else "—"

    for r in rows:
        lines.append(
            f"| {r['model']} | {f(r, 'id_accuracy')} | {f(r, 'val_accuracy')} | {f(r, 'ood_accuracy')} | "
            f"{f(r, 'extrapolation_accuracy')} | {r['chance'].get('ood', float('nan')):.3f} | {r['parameters']:,} | "
            f"{r['steps']} | {r['examples_seen']:,} | {r['wall_time_s']:.0f} |"
        )
    return "\n".join(lines)


def plot_per_intent(rows: list[dict[str, Any]], path: Path, split: str = "ood") -> Path:
    """Grouped bars: accuracy per intent of ``split``, one colour per model (mean over its runs, with the
    spread over seeds as error bars when there are several), chance as black ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_model[r["model"]].append(r)
    keys = [k for k, v in rows[0]["per_intent"].items() if v["split"] == split]
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(keys), 3.6))
    width = 0.8 / len(by_model)
    for m, (model, runs) in enumerate(by_model.items()):
        accs = [[r["per_intent"][k]["accuracy"] for r in runs] for k in keys]
        xs = [i + (m - (len(by_model) - 1) / 2) * width for i in range(len(keys))]
        err = [stdev(a) for a in accs] if len(runs) > 1 else None
        ax.bar(xs, [mean(a) for a in accs], width, yerr=err, capsize=2, label=model)
    chance = [rows[0]["per_intent"][k]["chance"] for k in keys]
    ax.scatter(range(len(keys)), chance, marker="_", s=400, color="k", label="chance", zorder=3)
    ax.set_xticks(range(len(keys)), keys)
    ax.set_xlabel(f"unseen intent ({split})")
    ax.set_ylabel("exact-match accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, ncol=len(by_model) + 1, loc="upper center", bbox_to_anchor=(0.5, 1.18), frameon=False)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return path


def plot_curves(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Learning curves: validation (dashed) and OOD (solid) accuracy against the optimizer step, one colour per
    model, the mean over its runs. ``None`` (nothing drawn) when no run's history holds OOD accuracies."""
    by_model: dict[str, list[list[dict[str, Any]]]] = defaultdict(list)
    for r in rows:
        history = [h for h in r.get("history", []) if h.get("ood_accuracy") is not None]
        if history:
            by_model[r["model"]].append(history)
    if not by_model:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for m, (model, histories) in enumerate(by_model.items()):
        steps = sorted(set.intersection(*({h["step"] for h in hist} for hist in histories)))
        for key, style in (("ood_accuracy", "-"), ("val_accuracy", "--")):
            points = [[next(h.get(key) for h in hist if h["step"] == s) for hist in histories] for s in steps]
            xs = [s for s, p in zip(steps, points) if None not in p]  # a run without validation intents
            if xs:
                ys = [mean(p) for p in points if None not in p]
                label = f"{model} ({'OOD' if key == 'ood_accuracy' else 'val'}, {len(histories)} run(s))"
                ax.plot(xs, ys, style, color=f"C{m}", label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("exact-match accuracy (mean over intents)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return path


def mean_std(runs: list[dict[str, Any]], key: str) -> str:
    """``mean ± sample std`` of ``key`` over the runs that have it, not None (one run: its value; none: a dash)."""
    vals = [r[key] for r in runs if r.get(key) is not None]
    if not vals:
        return "—"
    return f"{mean(vals):.3f} ± {stdev(vals):.3f}" if len(vals) > 1 else f"{vals[0]:.3f}"


def resolved_config(config: dict[str, Any]) -> dict[str, Any]:
    """A run's config with its defaults filled in, so that runs recorded before and after a default was
    written out pool together; as recorded where it cannot be resolved."""
    try:
        return RunConfig.saved(config, "metrics").resolved().as_json()
    except MetaGNNError:
        return config


def summarize(rows: list[dict[str, Any]], reference: dict[tuple[str, str], str] | None = None) -> str:
    """Group runs by (task, model); mean and sample std over seeds for every split, with the budget.

    With ``reference`` (e.g. :data:`PAPER_OOD`), a column of reference OOD figures follows ours."""
    # Runs pool only when their whole config but the seed is the same.
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[
            json.dumps({k: v for k, v in resolved_config(r["config"]).items() if k != "seed"}, sort_keys=True)
        ].append(r)
    names: dict[tuple[str, str], int] = defaultdict(int)
    head = "| task | model | seeds | ID | val | OOD | " + ("paper OOD | " if reference else "")
    head += "extrap. | chance (OOD) | params | steps | examples | wall (s) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    for runs in groups.values():
        task, model = runs[0]["task"], runs[0]["model"]
        names[(task, model)] += 1
        label = model if names[(task, model)] == 1 else f"{model} (config {names[(task, model)]})"
        lines.append(
            f"| {task} | {label} | {len(runs)} | {mean_std(runs, 'id_accuracy')} | {mean_std(runs, 'val_accuracy')} | "
            f"{mean_std(runs, 'ood_accuracy')} | "
            + (f"{reference.get((task, model), '—')} | " if reference else "")
            + f"{mean_std(runs, 'extrapolation_accuracy')} | "
            f"{mean(r['chance'].get('ood', float('nan')) for r in runs):.3f} | {runs[0]['parameters']:,} | "
            f"{runs[0]['steps']} | {runs[0]['examples_seen']:,} | {mean(r['wall_time_s'] for r in runs):.0f} |"
        )
    return "\n".join(lines)
