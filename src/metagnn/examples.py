"""Intents given as examples: a set encoder turns a few demonstrations into the intent's features.

A trained model reads intent features ``u``, functions of the intent's value (``p``, ``n``, a rule). Here
the user shows demonstrations instead, ``(x, y)`` pairs of the wanted program, and never the value. A
:class:`SetEncoder` (DeepSets: one MLP per demonstration, or convolutions over its cells where the task's
demonstrations are rows of cells, the mean and the maximum over the set, an MLP on the pooled code) maps
1..k demonstrations, in any order, to an estimate of ``u``; the task's intent contract rounds the
estimate's coordinates to whole members (:meth:`metagnn.intent.IntentContract.snap`);
the same model then runs on it unchanged: Meta-GNN, Meta-gMLP and Meta-MLP synthesize a program from the
demonstrations, Direct answers each query from the estimate.

The encoder is fitted apart from the model, by regression of the intent features, on generated
demonstrations of the *train* intents only (never a validation or OOD intent). It depends on the task and
its splits, not on the model: one encoder serves every model trained on them, and comparisons between
models read the same estimates.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from metagnn import checkpoint as ckpt
from metagnn.config import bounds, from_dict
from metagnn.errors import CheckpointError, ConfigError, IntentError
from metagnn.evaluate import SPLIT_KEYS, intent_accuracy
from metagnn.models import Model
from metagnn.models.base import mlp
from metagnn.optim import update
from metagnn.tasks import Intent, Task
from metagnn.train import TrainConfig


@dataclass
class EncoderConfig:
    hidden: int = field(default=128, metadata=bounds(1, 4096))
    layers: int = field(default=3, metadata=bounds(2, 16))
    steps: int = field(default=12000, metadata=bounds(1, 10**7))
    intents_per_step: int = field(default=64, metadata=bounds(1, 10**5))
    max_pairs: int = field(default=32, metadata=bounds(1, 4096))  # each step shows 1..max_pairs per intent
    lr: float = field(default=1e-3, metadata=bounds(1e-7, 1.0))
    seed: int = field(default=0, metadata=bounds(0, 2**53))
    # 0: each demonstration is read whole, by an MLP of `layers` layers. An odd k > 0 (tasks whose
    # demonstrations are rows of cells, Task.pair_cells): by `layers` convolutions of width k over the cells,
    # pooled over them (mean and max) and then a 2-layer MLP, so that what a demonstration shows is read the
    # same wherever in the row it happens. The encoder is fitted on train intents drawn uniformly (not by the
    # task's train_weights).
    kernel: int = field(default=0, metadata=bounds(0, 63))


class SetEncoder(nn.Module):
    """Demonstrations ``(B, k, d)`` -> estimated intent features ``(B, F)``, invariant to their order.

    ``cells``: with ``cfg.kernel > 0``, each demonstration's ``d`` features are ``cells`` cells of ``d / cells``
    channels, read by a convolution stack instead of the MLP."""

    def __init__(self, d_pair: int, intent_dim: int, cfg: EncoderConfig, cells: int | None = None) -> None:
        super().__init__()
        self.d_pair, self.cells = d_pair, cells
        if cfg.kernel:
            if not cells or d_pair % cells:
                raise ConfigError(f"intent encoder: kernel {cfg.kernel} needs demonstrations read as cells; "
                                  "this task's are not")  # fmt: skip
            if cfg.kernel % 2 == 0:
                raise ConfigError(f"intent encoder: kernel must be odd (centred on a cell), got {cfg.kernel}")
            ch, pad = d_pair // cells, cfg.kernel // 2
            convs: list[nn.Module] = []
            for i in range(cfg.layers):
                convs += [nn.Conv1d(ch if i == 0 else cfg.hidden, cfg.hidden, cfg.kernel, padding=pad), nn.ReLU()]
            self.conv = nn.Sequential(*convs)
            self.phi = mlp(2 * cfg.hidden, cfg.hidden, cfg.hidden, 2)
        else:
            self.phi = mlp(d_pair, cfg.hidden, cfg.hidden, cfg.layers)
        self.rho = mlp(2 * cfg.hidden, cfg.hidden, intent_dim, cfg.layers)

    def forward(self, pairs: Tensor) -> Tensor:
        if pairs.ndim != 3 or pairs.shape[1] < 1 or pairs.shape[2] != self.d_pair:
            raise IntentError(
                f"demonstrations: expected (intents, k >= 1, {self.d_pair}) pair features, got {tuple(pairs.shape)}"
            )
        if hasattr(self, "conv"):  # (B, k, cells * ch) -> (B * k, ch, cells) -> pooled over the cells
            assert self.cells is not None
            c = self.conv(pairs.flatten(0, 1).unflatten(-1, (self.cells, -1)).transpose(1, 2))
            h = self.phi(torch.cat([c.mean(-1), c.amax(-1)], -1)).unflatten(0, pairs.shape[:2])
        else:
            h = self.phi(pairs)
        return self.rho(torch.cat([h.mean(1), h.amax(1)], -1))


def fit_encoder(
    task: Task, cfg: EncoderConfig, device: torch.device | str = "cpu", progress: bool = False
) -> tuple[SetEncoder, dict[str, Any]]:
    """Fit a :class:`SetEncoder` on demonstrations of ``task``'s train intents; returns it and its record
    (config, final loss: the running mean of the last steps' :func:`feature_loss`)."""
    device = torch.device(device)
    train = task.splits["train"]
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    d_pair = task.demonstrations(train[:1], 1, torch.Generator().manual_seed(0)).shape[-1]
    encoder = SetEncoder(d_pair, task.intent_dim, cfg, task.pair_cells).to(device)
    opt = torch.optim.AdamW(encoder.parameters(), lr=cfg.lr, weight_decay=0.0)
    schedule = TrainConfig(steps=cfg.steps, lr=cfg.lr, warmup=min(100, cfg.steps // 10))
    running = float("nan")
    encoder.train()
    for step in tqdm(range(cfg.steps), desc=f"{task.name} intent encoder", disable=not progress, dynamic_ncols=True):
        intents = [train[i] for i in torch.randint(len(train), (cfg.intents_per_step,), generator=gen).tolist()]
        k = int(torch.randint(1, cfg.max_pairs + 1, (1,), generator=gen))
        pairs = task.demonstrations(intents, k, gen).to(device)
        loss = feature_loss(task, encoder(pairs), task.intent_features(intents).to(device))
        for group in opt.param_groups:
            group["lr"] = schedule.lr_at(step)
        update(loss, opt, 1.0)
        running = loss.item() if running != running else 0.98 * running + 0.02 * loss.item()
    encoder.eval()
    record = {"config": asdict(cfg), "loss": running, "d_pair": d_pair, "intent_dim": task.intent_dim,
              "cells": task.pair_cells}  # fmt: skip
    return encoder, record


def feature_loss(task: Task, estimated: Tensor, true: Tensor) -> Tensor:
    """The encoder's regression loss: for each axis relation of the contract, the squared error of its
    coordinate in index units (an error below half a member rounds to the right one; a coordinate that two
    axes read, as AddMod's ``p`` on its tokens and classes, counts for each), plus the mean squared error of
    the other features (the flat hypernetwork reads them all; the contract's readers, the coordinates and
    the code)."""
    axes = task.contract.axes
    coordinates = [a.feature for a in axes]
    rest = [f for f in range(true.shape[1]) if f not in coordinates]
    scale = torch.tensor([a.scale for a in axes], device=true.device)
    loss = (estimated[:, rest] - true[:, rest]).square().mean() if rest else true.new_zeros(())
    return loss + ((estimated[:, coordinates] - true[:, coordinates]) * scale).square().mean(0).sum()


def save_encoder(path: Path | str, encoder: SetEncoder, record: dict[str, Any], task: Task) -> None:
    """safetensors + JSON metadata: the encoder, its record and the task (name, config) it was fitted on."""
    meta = {**record, "task": task.name, "task_config": asdict(task.cfg)}
    ckpt.save_tensors(path, {k: v.detach().cpu() for k, v in encoder.state_dict().items()}, meta)


def load_encoder(path: Path | str, task: Task) -> tuple[SetEncoder, dict[str, Any]]:
    """The encoder saved at ``path``; a one-line error unless it was fitted on ``task`` with the same config."""
    tensors, meta = ckpt.load_tensors(path)
    try:  # with today's defaults filled in, as a run's config is
        saved = from_dict(type(task.cfg), meta.get("task_config"), where=str(path))
    except ConfigError:
        saved = None
    if meta.get("task") != task.name or saved != task.cfg:
        raise CheckpointError(f"{path}: an intent encoder fitted on another task or other splits than this run's")
    try:
        cfg = from_dict(EncoderConfig, meta["config"], where=f"{path}: encoder config")
        cells = meta.get("cells")
        encoder = SetEncoder(int(meta["d_pair"]), int(meta["intent_dim"]), cfg, None if cells is None else int(cells))
        encoder.load_state_dict(tensors)
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: not an intent encoder ({type(e).__name__})") from None
    return encoder.eval(), meta


def demonstration_generator(task: Task, intent: Intent, draw: int) -> torch.Generator:
    """The fixed random source of draw ``draw`` of an intent's demonstrations at evaluation: the same for
    every model and run, so that they are compared on the same demonstrations."""
    return torch.Generator().manual_seed(zlib.crc32(task.intent_key(intent).encode()) + 7919 * draw)


@torch.no_grad()
def estimate(encoder: SetEncoder, task: Task, pairs: Tensor) -> Tensor:
    """Intent features from demonstrations ``(B, k, d)``, their coordinates snapped by the task's contract."""
    return task.contract.snap(encoder(pairs))


def recovered(task: Task, estimated: Tensor, intents: Sequence[Intent]) -> list[bool] | None:
    """Per row, whether the estimate is the intent: the snapped coordinate of every axis of the contract is the
    true one and, where the intent also enters as a code, the nearest intent of the task's splits is the true
    one. None for a task whose contract names no axis."""
    axes = task.contract.axes
    if not axes:
        return None
    estimated = estimated.detach().cpu()
    true = task.intent_features(intents)
    cols = sorted({a.feature for a in axes})
    hit = ((estimated[:, cols] - true[:, cols]).abs() < 1e-6).all(1)
    if task.contract.code:
        known = list(dict.fromkeys(i for s in SPLIT_KEYS for i in task.splits[s]))
        nearest = torch.cdist(estimated, task.intent_features(known)).argmin(1).tolist()
        hit &= torch.tensor([known[j] == i for j, i in zip(nearest, intents)])
    return hit.tolist()


@torch.no_grad()
def score_from_examples(
    model: Model,
    task: Task,
    encoder: SetEncoder,
    pairs: Iterable[int] = (1, 2, 4, 8, 16, 32),
    draws: int = 5,
    splits: Iterable[str] = ("train", "ood"),
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Exact match on every test example of each intent when the model reads the intent from ``k``
    demonstrations (``draws`` fixed draws each, see :func:`demonstration_generator`) instead of its value.

    Returns ``{"per_k": {k: {"<split>_accuracy", "<split>_recovered", "per_intent": {...}}}}``; the
    split keys are :data:`metagnn.evaluate.SPLIT_KEYS`' (``id`` for train intents, on their held-out
    examples)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    encoder = encoder.to(device)
    todo = [(i, s) for s in splits for i in task.splits[s]]
    per_k: dict[str, Any] = {}
    try:
        for k in pairs:
            if k < 1:
                raise IntentError(f"demonstrations: k={k}; at least one pair")
            per_intent: dict[str, Any] = {}
            for intent, split in todo:
                # An unseen intent's demonstrations are drawn from its test examples: the model meets them only
                # through the estimated features, so it cannot copy an answer from them.
                accs, found = [], []
                for draw in range(draws):
                    demo = task.demonstrations([intent], k, demonstration_generator(task, intent, draw)).to(device)
                    u = estimate(encoder, task, demo)
                    accs.append(intent_accuracy(model, task, intent, device, u=u)[0])
                    found.extend(recovered(task, u, [intent]) or [])
                per_intent[task.intent_key(intent)] = {
                    "split": SPLIT_KEYS[split],
                    "accuracy": mean(accs),
                    "recovered": mean(found) if found else None,
                }
            row: dict[str, Any] = {}
            for split in dict.fromkeys(r["split"] for r in per_intent.values()):
                rows = [r for r in per_intent.values() if r["split"] == split]
                row[f"{split}_accuracy"] = mean(r["accuracy"] for r in rows)
                row[f"{split}_recovered"] = None if rows[0]["recovered"] is None else mean(r["recovered"] for r in rows)
            per_k[str(k)] = {**row, "per_intent": per_intent}
    finally:
        model.train(was_training)
    return {"per_k": per_k, "draws": draws}
