"""From a trained run to a program: the weights a hypernetwork writes for one intent.

``synthesize(run_dir, intent)`` loads the run, generates the weight set for ``intent`` (seen in training
or not) and scores it on the intent's test examples, the same evaluation path as ``metagnn eval``. The
result saves as a standalone file (:func:`metagnn.program.save_program`) that
:func:`metagnn.program.load_program` turns back into a plain ``nn.Module``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from metagnn.errors import ConfigError
from metagnn.evaluate import evaluate
from metagnn.models import Hypernetwork
from metagnn.program import save_program
from metagnn.registry import MODELS
from metagnn.targets import SynthesizedNetwork, TargetSpec, Theta, instantiate
from metagnn.train import load_run


@dataclass
class Program:
    """One synthesized weight set, the spec that runs it, and how it scored on its intent's test examples."""

    spec: TargetSpec
    theta: Theta
    info: dict[str, Any]  # task, intent, model, run_dir, weights
    scores: dict[str, Any] = field(repr=False)  # the evaluation's row for the intent: accuracy, n, split, chance

    @property
    def accuracy(self) -> float:
        """Exact match on the intent's test examples."""
        return self.scores["accuracy"]

    @property
    def examples(self) -> int:
        return self.scores["n"]

    @property
    def split(self) -> str:
        """The intent's split in the run: id, val, ood, extrapolation, or unseen."""
        return self.scores["split"]

    def network(self) -> SynthesizedNetwork:
        """The program as a plain ``nn.Module``."""
        return instantiate(self.spec, self.theta)

    def save(self, path: Path | str) -> None:
        save_program(path, self.spec, self.theta, **self.info)


def synthesize(
    run_dir: Path | str,
    intent: Any,
    weights: str = "last",
    device: str | None = None,
    target: dict[str, Any] | None = None,
) -> Program:
    """The program that the hypernetwork trained in ``run_dir`` writes for ``intent`` (a value or its text).

    ``weights``: ``"last"`` (the last step's, SPEC 3b's headline) or ``"best"`` (validation's choice).
    ``target``: settings of ``S`` other than the run's, e.g. ``{"d_model": 40, "d_mlp": 160}`` (a tied
    hypernetwork writes weights for target sizes it never trained on; see :func:`metagnn.train.retarget`).
    """
    run, task, model = load_run(run_dir, device, weights, target)
    if not isinstance(model, Hypernetwork):
        raise ConfigError(
            f"model {run.model!r} does not generate weights; synthesis needs a hypernetwork "
            f"({', '.join(n for n in MODELS.names() if n != 'direct')})"
        )
    intent = task.parse_intent(intent) if isinstance(intent, str) else task.check_intent(intent)
    dev = next(model.parameters()).device
    with torch.no_grad():
        theta = {k: v[0].cpu() for k, v in model.synthesize(task.intent_features([intent]).to(dev)).items()}
    (row,) = evaluate(model, task, dev, intents=[intent])["per_intent"].values()
    info = {"task": run.task, "intent": task.intent_key(intent), "model": run.model, "run_dir": str(run_dir),
            "weights": weights}  # fmt: skip
    return Program(task.spec, theta, info, row)
