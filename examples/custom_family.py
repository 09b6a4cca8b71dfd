"""A new target architecture and a new parameterized task, defined outside the package.

Target ``gated_mlp``: ``y = W2 (tanh(W1 x) * sigmoid(G x))``; its hidden units are interchangeable
(one permutation acts on the rows of W1 and G and the columns of W2).
Task ``scale``: intent ``c`` (a real in [-2, 2]); ``y = c * x`` for ``x`` in R^4, regression.

Run: python examples/custom_family.py   (trains Meta-GNN for a few hundred steps)
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from metagnn.errors import IntentError
from metagnn.registry import TARGETS, TASKS
from metagnn.targets import Axis, NodeSet, ParamSpec, TargetSpec, build_target
from metagnn.tasks.base import Task
from metagnn.train import RunConfig, train


@TARGETS.register("gated_mlp")
def gated_mlp(*, n_in: int, hidden: int, n_out: int, intent_dim: int = 0) -> TargetSpec:
    node_sets = (NodeSet("x", (Axis(n_in),)), NodeSet("h", (Axis(hidden, perm="h"),)), NodeSet("y", (Axis(n_out),)))
    params = (
        ParamSpec("W1", ("h", "x"), 1 / math.sqrt(n_in)),
        ParamSpec("G", ("h", "x"), 1 / math.sqrt(n_in)),
        ParamSpec("W2", ("y", "h"), 1 / math.sqrt(hidden)),
    )

    def forward(p, x, u):
        return (torch.tanh(x @ p["W1"].T) * torch.sigmoid(x @ p["G"].T)) @ p["W2"].T

    return TargetSpec("gated_mlp", {"n_in": n_in, "hidden": hidden, "n_out": n_out}, node_sets, params, forward)


@dataclass
class ScaleConfig:
    train: list[float] = field(default_factory=lambda: [-2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0])
    val: list[float] = field(default_factory=lambda: [0.75])
    ood: list[float] = field(default_factory=lambda: [-0.25, 1.25])
    extrapolation: list[float] = field(default_factory=list)
    target: dict[str, Any] = field(default_factory=lambda: {"hidden": 16})


@TASKS.register("scale")
class Scale(Task):
    name = "scale"
    Config = ScaleConfig

    def __init__(self, cfg: ScaleConfig) -> None:
        super().__init__(cfg)  # takes the splits from cfg and checks them
        self._spec = build_target("gated_mlp", n_in=4, n_out=4, **cfg.target)

    def parse_intent(self, text: str) -> float:
        try:
            return self.check_intent(float(text))
        except ValueError:
            raise IntentError(f"scale: intent {text!r} is not a number in [-2, 2]") from None

    def check_intent(self, c: Any) -> float:
        if not isinstance(c, (int, float)) or not -2 <= c <= 2:
            raise IntentError(f"scale: intent {c!r} is not a number in [-2, 2]")
        return float(c)

    def intent_features(self, intents):
        c = torch.tensor(intents, dtype=torch.float32)[:, None]
        return torch.cat([c, torch.sin(c), torch.cos(c)], 1)

    @property
    def spec(self) -> TargetSpec:
        return self._spec

    def sample(self, intents, n, generator):
        x = torch.rand(len(intents), n, 4, generator=generator) * 2 - 1
        return x, x * torch.tensor(intents)[:, None, None]

    def test_set(self, intent):
        x = torch.rand(256, 4, generator=torch.Generator().manual_seed(123)) * 2 - 1
        return x, x * intent

    def loss(self, out, y, intents):
        return F.mse_loss(out, y)

    def correct(self, out, y, intents):
        return ((out - y).abs() < 0.05).all(-1)  # within 0.05 on every output

    def chance(self, intent):
        return 0.0


def main(steps: int = 400, out: str = "runs/custom_scale") -> dict:
    run = RunConfig(
        "scale",
        {},
        "metagnn",
        {"d_node": 32, "d_edge": 16, "d_intent": 32},
        {"steps": steps, "intents_per_step": 8, "examples_per_intent": 32, "eval_every": max(steps // 4, 1)},
    )
    return train(run, out, progress=False)


if __name__ == "__main__":
    metrics = main(out=sys.argv[1] if len(sys.argv) > 1 else "runs/custom_scale")
    print({k: round(v, 3) for k, v in metrics.items() if k.endswith("_accuracy")})
