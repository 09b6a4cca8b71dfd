"""AddMod-p (SPEC 3): ``U = p`` prime, ``X = (a, b, =)`` tokens, ``Y = (a + b) mod p``.

Answers are read as the argmax over the first ``p`` logits (the same masking for every model).
For seen primes a fixed 70 % of the ``p^2`` pairs train and 30 % are the ID test; unseen primes
are tested on all pairs. The pair split depends only on ``split_seed``, not on the training seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from metagnn.errors import IntentError
from metagnn.intent import AxisRelation, IntentContract
from metagnn.registry import TASKS
from metagnn.targets import TargetSpec, build_target
from metagnn.tasks.base import Task


def _short(n: int) -> str:
    text = str(n)
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} digits)"


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


@dataclass
class AddModConfig:
    vocab: int = 64
    train: list[int] = field(default_factory=lambda: [5, 7, 11, 17, 19, 31, 37, 41, 59, 61])
    val: list[int] = field(default_factory=lambda: [23, 47])
    ood: list[int] = field(default_factory=lambda: [13, 29, 43, 53])
    extrapolation: list[int] = field(default_factory=list)
    train_fraction: float = 0.7
    split_seed: int = 0
    target: dict[str, Any] = field(default_factory=lambda: {"d_model": 32, "n_heads": 4, "d_mlp": 128})


@TASKS.register("addmod")
class AddMod(Task):
    name = "addmod"
    Config = AddModConfig

    def __init__(self, cfg: AddModConfig) -> None:
        if cfg.vocab < 3:
            raise IntentError(f"addmod: vocab must be at least 3, got {cfg.vocab}")
        if not 0 < cfg.train_fraction < 1:
            raise IntentError(f"addmod: train_fraction must be in (0, 1), got {cfg.train_fraction}")
        super().__init__(cfg)
        for p in self.splits["train"]:
            if not 1 <= round(cfg.train_fraction * p * p) < p * p:
                raise IntentError(
                    f"addmod: train_fraction={cfg.train_fraction} leaves p={p} without train or test pairs"
                )
        self._spec = build_target("transformer", vocab=cfg.vocab + 1, n_ctx=3, n_classes=cfg.vocab, **cfg.target)
        # p is the modulus of the number tokens (not of the "=" token, the last one) and of the classes
        # (feature 0 is p / vocab): token a is coded by a / p, and p reaches the model through them alone.
        self.contract = IntentContract(
            (
                AxisRelation("tokens", "modulus", feature=0, scale=cfg.vocab, span=cfg.vocab),
                AxisRelation("classes", "modulus", feature=0, scale=cfg.vocab),
            ),
            code=False,
        )
        self._pairs: dict[int, tuple[Tensor, Tensor]] = {}

    # --- intents -------------------------------------------------------------------------
    def parse_intent(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise IntentError(
                f"addmod: intent {text!r} is not an integer; expected a prime 2 <= p <= {self.cfg.vocab}"
            ) from None
        return self.check_intent(value)

    def check_intent(self, intent: Any) -> int:
        allowed = f"allowed: primes 2..{self.cfg.vocab} (the vocabulary holds numbers 0..{self.cfg.vocab - 1})"
        if isinstance(intent, bool) or not isinstance(intent, int):
            raise IntentError(f"addmod: intent {intent!r} is not an integer; {allowed}")
        if intent > self.cfg.vocab:  # before the primality test, whose work grows with p
            raise IntentError(f"addmod: intent p={_short(intent)} is larger than the vocabulary; {allowed}")
        if not is_prime(intent):
            raise IntentError(f"addmod: intent p={intent} is not a prime; {allowed}")
        return intent

    def intent_features(self, intents: Sequence[int]) -> Tensor:
        p = torch.tensor([float(i) for i in intents])
        x = p / self.cfg.vocab
        return torch.stack([x, 2 / p, *(f(2 * math.pi * k * x) for k in (1, 2) for f in (torch.cos, torch.sin))], 1)

    # --- data ----------------------------------------------------------------------------
    @property
    def spec(self) -> TargetSpec:
        return self._spec

    def _all_pairs(self, p: int) -> Tensor:
        a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
        return torch.stack([a.reshape(-1), b.reshape(-1)], 1)

    def _split_pairs(self, p: int) -> tuple[Tensor, Tensor]:
        """(train pairs, held-out pairs) of a seen prime; fixed by ``split_seed``."""
        if p not in self._pairs:
            pairs = self._all_pairs(p)
            order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(self.cfg.split_seed * 1009 + p))
            n_train = round(self.cfg.train_fraction * len(pairs))
            self._pairs[p] = (pairs[order[:n_train]], pairs[order[n_train:]])
        return self._pairs[p]

    def _examples(self, pairs: Tensor, p: int) -> tuple[Tensor, Tensor]:
        eq = torch.full((len(pairs), 1), self.cfg.vocab)
        return torch.cat([pairs, eq], 1), (pairs[:, 0] + pairs[:, 1]) % p

    def sample(self, intents: Sequence[int], n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        xs, ys = [], []
        for p in intents:
            train, _ = self._split_pairs(p)
            idx = torch.randint(len(train), (n,), generator=generator)
            x, y = self._examples(train[idx], p)
            xs.append(x)
            ys.append(y)
        return torch.stack(xs), torch.stack(ys)

    def pair_features(self, x: Tensor, y: Tensor) -> Tensor:
        """``a``, ``b`` and the answer as numbers over the vocabulary size (the ``=`` token says nothing)."""
        return torch.cat([x[..., :2], y[..., None]], -1).float() / self.cfg.vocab

    def test_set(self, intent: int) -> tuple[Tensor, Tensor]:
        p = self.check_intent(intent)
        pairs = self._split_pairs(p)[1] if p in self.splits["train"] else self._all_pairs(p)
        return self._examples(pairs, p)

    # --- metric --------------------------------------------------------------------------
    def _masked(self, out: Tensor, intents: Sequence[int]) -> Tensor:
        p = torch.tensor(list(intents), device=out.device)
        valid = torch.arange(out.shape[-1], device=out.device)[None] < p[:, None]  # (B, C)
        return out.masked_fill(~valid[:, None, :], float("-inf"))

    def loss(self, out: Tensor, y: Tensor, intents: Sequence[int]) -> Tensor:
        logits = self._masked(out, intents)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten())

    def correct(self, out: Tensor, y: Tensor, intents: Sequence[int]) -> Tensor:
        return self._masked(out, intents).argmax(-1) == y

    def chance(self, intent: int) -> float:
        return 1.0 / intent
