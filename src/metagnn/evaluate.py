"""The one evaluation path (SPEC 3b): exact match per intent, unweighted means per split."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from statistics import mean
from typing import Any

import torch
from torch import Tensor

from metagnn.models import Model
from metagnn.tasks import SPLITS, Intent, Task

SPLIT_KEYS = {"train": "id", "val": "val", "ood": "ood", "extrapolation": "extrapolation"}


@torch.no_grad()
def intent_accuracy(
    model: Model, task: Task, intent: Intent, device: torch.device, chunk: int = 8192, u: Tensor | None = None
) -> tuple[float, int]:
    """Share of the intent's test examples answered exactly right, and their number. ``u``: the intent
    features the model reads, ``(1, F)``, if not the intent's own (estimated from examples, say)."""
    x, y = task.test_set(intent)
    u = (task.intent_features([intent]) if u is None else u).to(device)
    right = 0
    for lo in range(0, len(x), chunk):
        xb, yb = x[lo : lo + chunk].to(device)[None], y[lo : lo + chunk].to(device)[None]
        right += int(task.correct(model(u, xb), yb, [intent]).sum())
    return right / len(x), len(x)


def evaluate(
    model: Model,
    task: Task,
    device: torch.device | str = "cpu",
    splits: Iterable[str] = SPLITS,
    intents: Sequence[Intent] | None = None,
) -> dict[str, Any]:
    """Per-intent accuracy and the ID / validation / OOD / extrapolation means.

    With ``intents`` given, only those are scored (each keeps the split it belongs to, or
    ``"unseen"``); otherwise every intent of ``splits``. Returns
    ``{"per_intent": {key: {"accuracy", "n", "split", "chance"}}, "id_accuracy", ..., "chance": {...}}``.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    todo = (
        [(i, task.split_of(i) or "unseen") for i in intents]
        if intents is not None
        else [(i, s) for s in splits for i in task.splits[s]]
    )
    per_intent: dict[str, dict[str, Any]] = {}
    for intent, split in todo:
        acc, n = intent_accuracy(model, task, intent, device)
        per_intent[task.intent_key(intent)] = {
            "accuracy": acc,
            "n": n,
            "split": SPLIT_KEYS.get(split, split),
            "chance": task.chance(intent),
        }
    model.train(was_training)
    result: dict[str, Any] = {"per_intent": per_intent}
    chance: dict[str, float] = {}
    for split in [*SPLIT_KEYS.values(), "unseen"]:
        rows = [r for r in per_intent.values() if r["split"] == split]
        if rows:
            result[f"{split}_accuracy"] = mean(r["accuracy"] for r in rows)
            chance[split] = mean(r["chance"] for r in rows)
    result["chance"] = chance
    return result
