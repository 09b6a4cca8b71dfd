"""The clock analysis of a trained AddMod run: synthesize one network per prime and analyse it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from metagnn.analysis.clock import analyze_clock
from metagnn.errors import ConfigError
from metagnn.evaluate import intent_accuracy
from metagnn.models import Hypernetwork
from metagnn.targets import Theta
from metagnn.tasks import Task
from metagnn.train import build, load_run

SPLIT_NAMES = {"train": "seen", "val": "val", "ood": "unseen", "extrapolation": "extrapolation"}


def check_addmod_hypernetwork(run_dir: Path | str, task: Task, model: Any) -> None:
    """One-line :class:`ConfigError` unless the run is an AddMod hypernetwork run."""
    if task.name != "addmod":
        raise ConfigError(f"{run_dir}: task {task.name!r}; the clock analysis needs an addmod run")
    if not isinstance(model, Hypernetwork):
        raise ConfigError(f"{run_dir}: model {type(model).__name__} synthesizes no weights; analyze a hypernetwork run")


@torch.no_grad()
def synthesize_one(model: Hypernetwork, task: Task, intent: int, device: torch.device | str = "cpu") -> Theta:
    """The weight set a hypernetwork synthesizes for one intent (unbatched tensors on ``device``)."""
    theta = model.synthesize(task.intent_features([intent]).to(device))
    return {k: v[0] for k, v in theta.items()}


def split_label(task: Task, intent: int) -> str:
    """``seen`` / ``val`` / ``unseen`` / ``extrapolation`` / ``other`` for a prime of the run's config."""
    split = task.split_of(intent)
    return SPLIT_NAMES.get(split, "other") if split else "other"


def analyze_run(
    run_dir: Path | str,
    intents: Sequence[int] | None = None,
    device: str | None = "cpu",
    n_triples: int = 100,
    keep_pcs: bool = True,
    untrained: bool = False,
) -> dict[str, Any]:
    """Clock figures for every prime of an AddMod hypernetwork run (or only ``intents``).

    ``untrained=True`` analyses the run's model at its initialisation instead (same config and
    seed, no training): the control for figures that the hypernetwork's smooth token encodings
    could produce without learning anything (a low-frequency spectrum, for one).

    Returns ``{"run", "model", "seed", "primes": {str(p): {"split", "test_accuracy" (the
    evaluation protocol's score: held-out pairs of seen primes, all pairs otherwise),
    **analyze_clock(...)}}}``; with ``keep_pcs=False`` the 2-D views (PCs, key plane) are dropped.
    """
    run, task, model = load_run(run_dir, device)
    check_addmod_hypernetwork(run_dir, task, model)
    if untrained:
        dev = next(model.parameters()).device
        _, model, _ = build(run)
        model.to(dev).eval()
    if intents is None:
        intents = sorted(i for s in ("train", "val", "ood", "extrapolation") for i in task.splits[s])
    dev = next(model.parameters()).device
    out: dict[str, Any] = {"run": str(run_dir), "model": run.model, "seed": run.seed, "untrained": untrained}
    out["primes"] = {}
    for p in intents:
        p = task.check_intent(p)
        theta = synthesize_one(model, task, p, dev)
        acc, _ = intent_accuracy(model, task, p, dev)
        row = {"split": split_label(task, p), "test_accuracy": acc, **analyze_clock(task.spec, theta, p, n_triples)}
        if not keep_pcs:
            row["pca"].pop("pcs")
            row.pop("key_plane")
        out["primes"][str(p)] = row
    return out


def clock_table(result: dict[str, Any]) -> str:
    """A Markdown table of :func:`analyze_run`'s result, one row per prime."""
    head = (
        "| p | split | acc. | top-5 E | key freqs E | top-5 U | PCA R^2 (k) | key-only acc. | logit share | loss | "
        "restricted (acc.) | excluded (acc.) | grad. sym. | dist. irr. |"
    )
    lines = [head, "|" + "---|" * 14]

    def f(v: float | None, nd: int = 3) -> str:
        return "—" if v is None else f"{v:.{nd}f}"

    for key, r in sorted(result["primes"].items(), key=lambda kv: int(kv[0])):
        keys = r["embedding"]["key_frequencies"]
        pca_k = "/".join(str(k) for k in dict.fromkeys(r["pca"]["best_k_components"]))
        key_text = " ".join(map(str, keys[:6])) + (f" (+{len(keys) - 6})" if len(keys) > 6 else "")
        lines.append(
            f"| {key} | {r['split']} | {f(r['test_accuracy'])} | {f(r['embedding']['top5_share'])} | {key_text} | "
            f"{f(r['unembedding']['top5_share'])} | {f(r['pca']['r2'])} ({pca_k}) | "
            f"{f(r['key_only_accuracy'])} | {f(r['logit_share'])} | "
            f"{f(r['loss'], 2)} | {f(r['restricted_loss'], 2)} ({f(r['restricted_accuracy'], 2)}) | "
            f"{f(r['excluded_loss'], 2)} ({f(r['excluded_accuracy'], 2)}) | "
            f"{f(r['gradient_symmetricity'])} | {f(r['distance_irrelevance'])} |"
        )
    return "\n".join(lines)
