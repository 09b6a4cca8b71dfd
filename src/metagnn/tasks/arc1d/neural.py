"""Solving 1D-ARC tasks with a trained model, the task's train pairs standing for the intent.

The intent encoder fitted for the run (``metagnn examples RUN --out DIR``, :mod:`metagnn.examples`) reads
the train pairs as demonstrations and estimates the intent features; the run's model synthesizes the
program from them (Direct answers directly) and runs it on the test inputs. The program is reported as
the known intent nearest to the estimate, for reading only, and counts as explaining the task when it
maps every train input to its output; with ``candidates`` > 1, the nearest known intents are tried too and
the first that explains the task answers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch

from metagnn.errors import ConfigError
from metagnn.examples import estimate, load_encoder
from metagnn.tasks.arc1d.rules import Row, all_intents
from metagnn.tasks.arc1d.symbolic import Pair, Solution
from metagnn.tasks.arc1d.task import encode_pairs, encode_rows
from metagnn.train import load_run


class NeuralSolver:
    """``solver(train_pairs, test_inputs) -> Solution`` with the model of run folder ``run_dir``.

    ``candidates``: how many intents to try. The first is the encoder's estimate; the others are the task's
    known intents nearest to it. The first whose program maps every train input to its output answers the
    test inputs (the train pairs verify, as a search would); if none does, the estimate's program answers.
    With 1, the estimate alone.
    """

    def __init__(
        self, run_dir: Path | str, encoder: Path | str, device: str | None = None, candidates: int = 1
    ) -> None:
        if candidates < 1:
            raise ConfigError(f"candidates must be at least 1, got {candidates}")
        self.run, self.task, self.model = load_run(run_dir, device)
        if self.run.task != "arc1d":
            raise ConfigError(f"{run_dir}: a run of task {self.run.task!r}; solving 1D-ARC tasks needs an arc1d run")
        self.device = next(self.model.parameters()).device
        self.encoder = load_encoder(encoder, self.task)[0].to(self.device)
        self.keys = [i.key for i in all_intents(self.task.cfg.rules)]
        self.known = self.task.intent_features(self.keys).to(self.device)
        self.candidates = min(candidates, len(self.keys) + 1)  # the estimate and every known intent at most

    @torch.no_grad()
    def __call__(self, train: Sequence[Pair], tests: Sequence[Row], time_limit: float | None = None) -> Solution:
        t0 = time.perf_counter()
        width = self.task.cfg.width
        if any(len(r) > width for r in [*tests, *(x for x, _ in train)]):  # rows the target cannot hold
            return Solution(None, [None] * len(tests), time.perf_counter() - t0, 0)
        x, y = encode_pairs(train, width)
        u = estimate(self.encoder, self.task, self.task.pair_features(x[None], y[None]).to(self.device))
        order = (self.known - u).square().sum(-1).argsort(stable=True).tolist()
        near = order[: self.candidates - 1]
        tries = torch.cat([u, self.known[near]])  # (C, F): the estimate, then the nearest known intents
        names = [self.keys[j] for j in [order[0], *near]]  # the estimate is named by its nearest intent
        rows = torch.cat([x, encode_rows(list(tests), width)]).to(self.device)
        out = self.model(tries, rows[None].expand(len(tries), -1, -1)).argmax(-1).cpu()
        lengths = [len(r) for r in [*(p[0] for p in train), *tests]]
        for c in range(len(tries)):
            predicted = [out[c, i, :n].tolist() for i, n in enumerate(lengths)]
            if all(p == want for p, (_, want) in zip(predicted, train)):
                return Solution(f"{self.run.model} ~ {names[c]}", predicted[len(train) :], time.perf_counter() - t0,
                                c + 1)  # fmt: skip
        predicted = [out[0, i, :n].tolist() for i, n in enumerate(lengths)]
        return Solution(None, predicted[len(train) :], time.perf_counter() - t0, len(tries))
