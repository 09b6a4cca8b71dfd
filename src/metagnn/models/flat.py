"""Meta-MLP (SPEC 2.4): the classic flat hypernetwork, ``U -> MLP -> one vector of all weights``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from metagnn.errors import ConfigError
from metagnn.models.base import Hypernetwork, mlp
from metagnn.registry import MODELS
from metagnn.targets import TargetSpec, Theta


@dataclass
class FlatConfig:
    d_hidden: int = 256
    layers: int = 3

    def __post_init__(self) -> None:
        if self.d_hidden < 1 or self.layers < 1:
            raise ConfigError(f"flat config: d_hidden and layers must be positive, got {self}")


@MODELS.register("flat")
class MetaMLP(Hypernetwork):
    """Emits every weight of ``S`` as one output vector; the output layer is scaled per element so
    that each tensor starts with the spec's fan-in-aware std (learned gain per tensor)."""

    Config = FlatConfig

    def __init__(self, spec: TargetSpec, intent_dim: int, cfg: FlatConfig) -> None:
        super().__init__()
        self.spec, self.cfg = spec, cfg
        self.body = nn.Sequential(
            mlp(intent_dim, cfg.d_hidden, cfg.d_hidden, cfg.layers), nn.ReLU(), nn.LayerNorm(cfg.d_hidden)
        )
        self.head = nn.Linear(cfg.d_hidden, spec.num_parameters)
        nn.init.normal_(self.head.weight, std=cfg.d_hidden**-0.5)
        nn.init.zeros_(self.head.bias)
        self.sizes = [math.prod(spec.shape(p)) for p in spec.params]
        # On the model's device, so that a step copies nothing from the host (a CUDA graph could not capture that).
        # Floating point: a moving average of the buffers (training's ``ema``) keeps equal floats exactly (lerp),
        # but would truncate integers.
        self.register_buffer("size_counts", torch.tensor(self.sizes, dtype=torch.float64), persistent=False)
        self.register_buffer(
            "mean", torch.cat([torch.full((n,), p.init_mean) for n, p in zip(self.sizes, spec.params)])
        )
        self.register_buffer("std", torch.cat([torch.full((n,), p.init_std) for n, p in zip(self.sizes, spec.params)]))
        self.log_gain = nn.Parameter(torch.zeros(len(spec.params)))

    def synthesize(self, u: Tensor) -> Theta:
        counts = self.size_counts.long()
        gain = torch.repeat_interleave(self.log_gain.exp(), counts, output_size=self.spec.num_parameters)
        flat = torch.addcmul(self.mean, self.std * gain, self.head(self.body(u)))  # one pass over (B, P)
        chunks = flat.split(self.sizes, dim=1)
        return {p.name: c.reshape(u.shape[0], *self.spec.shape(p)) for p, c in zip(self.spec.params, chunks)}
