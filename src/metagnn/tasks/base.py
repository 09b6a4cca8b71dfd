"""What a task is: a parameterized function family with intent splits, data and a metric.

A task never imports a model. It hands models three things: intent *features* (functions of the
intent's value), batches of ``(x, y)``, and the target spec ``S`` its programs run on.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch
from torch import Tensor

from metagnn.errors import IntentError
from metagnn.intent import NO_CONTRACT, IntentContract
from metagnn.targets import TargetSpec

Intent = Hashable
SPLITS = ("train", "val", "ood", "extrapolation")


class Task:
    """Base class. Subclasses set ``name``, ``Config`` (a dataclass) and implement the methods below."""

    name: str = ""
    Config: type
    contract: IntentContract = NO_CONTRACT  # how the intent meets the axes of the target (metagnn.intent)

    def __init__(self, cfg: Any) -> None:
        """Keep ``cfg``; the splits are its ``train`` / ``val`` / ``ood`` / ``extrapolation`` lists, checked."""
        self.cfg = cfg
        self.splits: dict[str, list[Intent]] = {s: list(getattr(cfg, s, [])) for s in SPLITS}
        self.check_splits()

    # --- intents -------------------------------------------------------------------------
    def parse_intent(self, text: str) -> Intent:
        """Parse one intent as written on the command line (``"71"``); raises :class:`IntentError`."""
        raise NotImplementedError

    def check_intent(self, intent: Intent) -> Intent:
        """Return the intent if it is in the task's domain, else raise :class:`IntentError`."""
        raise NotImplementedError

    def intent_key(self, intent: Intent) -> str:
        """How the intent is written in JSON and tables."""
        return str(intent)

    def intent_features(self, intents: Sequence[Intent]) -> Tensor:
        """Features of each intent, shape ``(B, intent_dim)``: functions of the value, never a lookup."""
        raise NotImplementedError

    @property
    def intent_dim(self) -> int:
        return int(self.intent_features([self.splits["train"][0]]).shape[1])

    def train_weights(self) -> Tensor | None:
        """How often each train intent is drawn, relative to the others (``(len(train),)``), or None: every step
        draws ``intents_per_step`` distinct train intents, uniformly (the default)."""
        return None

    def split_of(self, intent: Intent) -> str | None:
        for s, members in self.splits.items():
            if intent in members:
                return s
        return None

    # --- data ----------------------------------------------------------------------------
    @property
    def spec(self) -> TargetSpec:
        raise NotImplementedError

    @property
    def pair_cells(self) -> int | None:
        """How many cells a demonstration's :meth:`pair_features` are laid out over (cell-major, the same
        channels per cell), for an intent encoder that reads them as a row; None if they are no row."""
        return None

    def pair_features(self, x: Tensor, y: Tensor) -> Tensor:
        """One vector per example ``(x, y)`` of :meth:`sample`, ``(B, n, d)``: how a demonstration of the
        intent reads to an intent encoder (:mod:`metagnn.examples`), the intent's value never among them."""
        raise IntentError(f"task {self.name}: its intents cannot be given as examples (no pair_features)")

    def demonstrations(self, intents: Sequence[Intent], k: int, generator: torch.Generator) -> Tensor:
        """``k`` examples of each intent drawn as :meth:`sample` draws them, as pair features ``(B, k, d)``."""
        return self.pair_features(*self.sample(intents, k, generator))

    def sample(self, intents: Sequence[Intent], n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` training examples per (seen) intent: ``x (B, n, ...)``, ``y (B, n, ...)``."""
        raise NotImplementedError

    def test_set(self, intent: Intent) -> tuple[Tensor, Tensor]:
        """Held-out examples of a seen intent, or every example of an unseen one: ``x (N, ...)``, ``y (N, ...)``."""
        raise NotImplementedError

    # --- metric --------------------------------------------------------------------------
    def loss(self, out: Tensor, y: Tensor, intents: Sequence[Intent]) -> Tensor:
        raise NotImplementedError

    def loss_terms(self, y: Tensor) -> int:
        """How many terms :meth:`loss` averages over for targets ``y`` (distributed training weighs each
        process's shard by it, so that the shards' losses add up to the global batch's mean)."""
        return y.numel()

    def correct(self, out: Tensor, y: Tensor, intents: Sequence[Intent]) -> Tensor:
        """Exact match per example, bool ``(B, N)``."""
        raise NotImplementedError

    def chance(self, intent: Intent) -> float:
        raise NotImplementedError

    def check_splits(self) -> None:
        seen: dict[Intent, str] = {}
        for s, members in self.splits.items():
            for i in members:
                self.check_intent(i)
                if i in seen:
                    raise IntentError(f"intent {self.intent_key(i)} is in both the {seen[i]} and the {s} split")
                seen[i] = s
        if not self.splits["train"]:
            raise IntentError(f"task {self.name}: the train split is empty")
