"""SumFirst-n (SPEC 3): ``U = n`` in 1..16, ``X`` = 16 digits 0..9 as scalars, ``Y = x_1 + ... + x_n``.

The target is an MLP ``16 -> 64 -> 64 -> 1`` trained by regression; its output is rounded to the
nearest integer and judged by exact match. Seen intents are tested on fresh inputs (a fixed test
set drawn from ``split_seed``, disjoint in practice from the 10^16 possible training inputs).
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

N_DIGITS = 16


@dataclass
class SumFirstConfig:
    train: list[int] = field(default_factory=lambda: [1, 2, 3, 5, 6, 8, 10, 12, 14, 15])
    val: list[int] = field(default_factory=lambda: [7, 11])
    ood: list[int] = field(default_factory=lambda: [4, 9, 13])
    extrapolation: list[int] = field(default_factory=lambda: [16])
    test_examples: int = 2000
    split_seed: int = 0
    target: dict[str, Any] = field(default_factory=lambda: {"hidden": [64, 64]})


@TASKS.register("sumfirst")
class SumFirst(Task):
    name = "sumfirst"
    Config = SumFirstConfig
    # n counts input positions (feature 0 is n / 16): input i is coded by its offset i - n, and n reaches
    # the model through the inputs alone (an unseen n is then no new intent code).
    contract = IntentContract((AxisRelation("input", "position", feature=0, scale=N_DIGITS),), code=False)

    def __init__(self, cfg: SumFirstConfig) -> None:
        if cfg.test_examples < 1:
            raise IntentError(f"sumfirst: test_examples must be positive, got {cfg.test_examples}")
        super().__init__(cfg)
        self._spec = build_target("mlp", n_in=N_DIGITS, n_out=1, **cfg.target)

    def parse_intent(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise IntentError(f"sumfirst: intent {text!r} is not an integer; allowed: n in 1..{N_DIGITS}") from None
        return self.check_intent(value)

    def check_intent(self, intent: Any) -> int:
        if isinstance(intent, bool) or not isinstance(intent, int) or not 1 <= intent <= N_DIGITS:
            raise IntentError(f"sumfirst: intent n={intent!r} is outside 1..{N_DIGITS}")
        return intent

    def intent_features(self, intents: Sequence[int]) -> Tensor:
        x = torch.tensor([float(n) for n in intents]) / N_DIGITS
        return torch.stack([x, *(f(math.pi * k * x) for k in (1, 2) for f in (torch.cos, torch.sin))], 1)

    @property
    def spec(self) -> TargetSpec:
        return self._spec

    @staticmethod
    def _examples(intents: Sequence[int], x: Tensor) -> tuple[Tensor, Tensor]:
        keep = torch.arange(N_DIGITS)[None, None] < torch.tensor(list(intents))[:, None, None]
        return x.float(), (x * keep).sum(-1, keepdim=True).float()

    def sample(self, intents: Sequence[int], n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return self._examples(intents, torch.randint(10, (len(intents), n, N_DIGITS), generator=generator))

    def pair_features(self, x: Tensor, y: Tensor) -> Tensor:
        """The digits and the sum, each scaled to ``[0, 1]``."""
        return torch.cat([x / 9, y / (9 * N_DIGITS)], -1)

    def test_set(self, intent: int) -> tuple[Tensor, Tensor]:
        n = self.check_intent(intent)
        gen = torch.Generator().manual_seed(self.cfg.split_seed * 1009 + 7919)  # the same inputs for every n
        x, y = self._examples([n], torch.randint(10, (1, self.cfg.test_examples, N_DIGITS), generator=gen))
        return x[0], y[0]

    def loss(self, out: Tensor, y: Tensor, intents: Sequence[int]) -> Tensor:
        return F.mse_loss(out, y)

    def correct(self, out: Tensor, y: Tensor, intents: Sequence[int]) -> Tensor:
        return (out.round() == y).squeeze(-1)

    def chance(self, intent: int) -> float:
        """Exact-match rate of the best constant answer: the probability of the most likely sum."""
        dist = torch.ones(1, dtype=torch.float64)
        for _ in range(intent):
            dist = torch.nn.functional.conv1d(dist.view(1, 1, -1), torch.ones(1, 1, 10, dtype=torch.float64),
                                              padding=9).view(-1) / 10  # fmt: skip
        return float(dist.max())
