"""Reference networks for the clock analysis: the target Transformer trained directly on one prime.

Nanda et al. (2023) setup: AdamW (lr 1e-3, weight decay 1.0, betas 0.9 / 0.98), 30 % of the
``p^2`` pairs as the training set, full batch, cross-entropy over the ``p`` classes. Such a network
first memorises, then generalises ("grokking") and ends with a sparse Fourier spectrum and a
clock in its embedding. Here ``S`` is the target of the AddMod configs (by default the full
config's: d_model 32, 4 heads, ReLU MLP 128, no LayerNorm) with a vocabulary of exactly ``p``
numbers plus ``=``, so the analysis can be checked on a network known to implement the clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from metagnn.analysis.clock import all_pairs, check_prime_size, pair_answers
from metagnn.errors import ConfigError, IntentError
from metagnn.optim import update
from metagnn.targets import TargetSpec, Theta, build_target
from metagnn.tasks.addmod import is_prime

FULL_TARGET = {"d_model": 32, "n_heads": 4, "d_mlp": 128, "n_layers": 1, "layernorm": False}


@dataclass
class ReferenceRun:
    """A directly trained AddMod-``p`` network: its spec, initial and final weights, and history."""

    p: int
    spec: TargetSpec
    theta_init: Theta
    theta: Theta
    history: list[dict[str, float]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def reference_target(p: int, target: Mapping[str, Any] | None = None) -> TargetSpec:
    """The AddMod target for prime ``p`` alone: tokens ``0..p-1`` and ``=`` (token ``p``), ``p`` classes."""
    return build_target("transformer", vocab=p + 1, n_ctx=3, n_classes=p, **{**FULL_TARGET, **(target or {})})


def reference_init(
    p: int, seed: int = 0, target: Mapping[str, Any] | None = None
) -> tuple[TargetSpec, Theta, torch.Generator]:
    """The reference target for ``p`` and its initial weights drawn from ``seed`` (the generator
    continues to the train/test split, so the same seed always gives the same run)."""
    check_prime_size(p)
    if not is_prime(p):
        raise IntentError(f"reference: p={p} is not a prime")
    spec = reference_target(p, target)
    gen = torch.Generator().manual_seed(seed)
    theta_init = spec.init_theta(gen)
    # Nanda et al. draw the embeddings with std 1/sqrt(d_model) (the spec's default is 1, sized for
    # hypernetworks); with std 1 the network memorises and takes far longer to generalise.
    for name in ("embed.W_E", "embed.W_pos"):
        theta_init[name] = theta_init[name] / spec.kwargs["d_model"] ** 0.5
    return spec, theta_init, gen


def train_reference(
    p: int,
    *,
    steps: int = 10000,
    seed: int = 0,
    lr: float = 1e-3,
    weight_decay: float = 1.0,
    train_fraction: float = 0.3,
    target: Mapping[str, Any] | None = None,
    eval_every: int = 100,
    dtype: torch.dtype = torch.float32,
    stop_test_accuracy: float | None = None,
    patience: int = 0,
    device: str | torch.device = "cpu",
    log: Callable[[dict[str, float]], None] | None = None,
) -> ReferenceRun:
    """Train the target directly on AddMod-``p`` (full batch AdamW, Nanda et al.).

    The loss is computed in float64 (float32 cross-entropy near zero loss causes the loss spikes
    Nanda et al. avoid with high-precision loss). Stops after ``steps`` steps, or ``patience`` steps
    after the test accuracy (the other ``1 - train_fraction`` of the pairs) first reaches
    ``stop_test_accuracy``, if given.
    ``history`` rows: ``{"step", "train_loss", "train_accuracy", "test_accuracy", "wall_s"}``.
    """
    if not 0 < train_fraction < 1 or steps < 1 or eval_every < 1:
        raise ConfigError(f"reference: need 0 < train_fraction < 1, steps >= 1, eval_every >= 1 (p={p})")
    spec, theta_init, gen = reference_init(p, seed, target)
    params = {k: v.clone().to(device, dtype).requires_grad_(True) for k, v in theta_init.items()}
    x, y = all_pairs(spec, p), pair_answers(p)
    order = torch.randperm(p * p, generator=gen)
    n_train = round(train_fraction * p * p)
    tr, te = order[:n_train], order[n_train:]
    x, y = x.to(device), y.to(device)
    opt = torch.optim.AdamW(params.values(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))
    history: list[dict[str, float]] = []
    t0, reached = time.perf_counter(), None
    for step in range(1, steps + 1):
        out = spec.forward(params, x[tr], None)
        loss = F.cross_entropy(out.double(), y[tr])
        update(loss, opt, grad_clip=None)
        if step % eval_every == 0 or step == steps:
            with torch.no_grad():
                test_acc = float((spec.forward(params, x[te], None).argmax(-1) == y[te]).float().mean())
            row = {
                "step": step,
                "train_loss": float(loss.detach()),
                "train_accuracy": float((out.argmax(-1) == y[tr]).float().mean()),
                "test_accuracy": test_acc,
                "wall_s": round(time.perf_counter() - t0, 2),
            }
            history.append(row)
            if log:
                log(row)
            if stop_test_accuracy is not None and reached is None and test_acc >= stop_test_accuracy:
                reached = step
            if reached is not None and step >= reached + patience:
                break
    config = {"p": p, "steps": steps, "seed": seed, "lr": lr, "weight_decay": weight_decay}
    config.update(train_fraction=train_fraction, target={**FULL_TARGET, **(target or {})})
    theta = {k: v.detach().cpu().float() for k, v in params.items()}
    return ReferenceRun(p, spec, theta_init, theta, history, config)
