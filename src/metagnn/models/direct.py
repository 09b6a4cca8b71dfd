"""Direct baseline (SPEC 2.4): ``(U, X) -> Y`` with no weight generation.

One trainable network of the target's family, made wider (``target_overrides``) to be of similar
size to Meta-GNN, reading the same intent features through an intent encoder as an extra input
(an extra token for a Transformer, extra input features for an MLP).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from metagnn.errors import ConfigError
from metagnn.models.base import Model
from metagnn.registry import MODELS
from metagnn.spec import SynthesizedNetwork, TargetSpec, build_target


@dataclass
class DirectConfig:
    d_intent: int = 64
    target_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.d_intent < 1:
            raise ConfigError(f"direct config: d_intent must be positive, got {self.d_intent}")
        if "intent_dim" in self.target_overrides:
            raise ConfigError("direct config: target_overrides may not set intent_dim")


@MODELS.register("direct")
class Direct(Model):
    Config = DirectConfig

    def __init__(self, spec: TargetSpec, intent_dim: int, cfg: DirectConfig) -> None:
        super().__init__()
        self.spec, self.cfg = spec, cfg
        kwargs = {**spec.kwargs, **cfg.target_overrides, "intent_dim": cfg.d_intent}
        self.net_spec = build_target(spec.family, **kwargs)
        self.intent = nn.Sequential(
            nn.Linear(intent_dim, cfg.d_intent), nn.ReLU(), nn.Linear(cfg.d_intent, cfg.d_intent)
        )
        # Drawn from torch's global RNG, which the training loop seeds with the run's seed.
        self.net = SynthesizedNetwork(self.net_spec, self.net_spec.init_theta())

    def forward(self, u: Tensor, x: Tensor) -> Tensor:
        b, n = x.shape[:2]
        z = self.intent(u).repeat_interleave(n, dim=0)
        return self.net(x.flatten(0, 1), z).unflatten(0, (b, n))
