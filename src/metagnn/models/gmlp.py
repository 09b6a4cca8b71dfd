"""Meta-gMLP (SPEC 2.4): Meta-GNN's tied encoders/decoders, but a global mixer instead of the graph.

Each round, every group is mean-pooled, the pooled vectors are mapped and summed into one global
context per intent, and every member is updated from its own state plus that context. No member
ever hears a node set through a weight of the neural graph in particular.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from metagnn.errors import ConfigError
from metagnn.intent import NO_CONTRACT, IntentContract
from metagnn.models.base import mlp, split_linear
from metagnn.models.tied import TiedConfig, TiedHypernetwork, key
from metagnn.registry import MODELS
from metagnn.targets import TargetSpec


@dataclass
class GMLPConfig(TiedConfig):
    d_context: int = 64
    name = "gmlp"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_context < 1:
            raise ConfigError(f"gmlp config: d_context must be positive, got {self.d_context}")


class GlobalMixRound(nn.Module):
    """Pool every group, sum the pooled vectors into one context, update every node set from it."""

    def __init__(self, node_sets: list[str], cfg: GMLPConfig) -> None:
        super().__init__()
        self.pool = nn.ModuleDict({key(n): nn.Linear(cfg.d_node, cfg.d_context) for n in node_sets})
        self.norm = nn.ModuleDict({key(n): nn.LayerNorm(cfg.d_node) for n in node_sets})
        self.update = nn.ModuleDict(
            {key(n): mlp(cfg.d_node + cfg.d_context, cfg.d_node, cfg.d_node) for n in node_sets}
        )

    def forward(self, nodes: dict[str, Tensor]) -> dict[str, Tensor]:
        ctx = torch.relu(sum(self.pool[key(n)](h.mean(1)) for n, h in nodes.items()))[:, None]
        updates = {n: self.update[key(n)] for n in nodes}
        return {n: h + updates[n][1:](split_linear(updates[n][0], self.norm[key(n)](h), ctx)) for n, h in nodes.items()}


@MODELS.register("gmlp")
class MetaGMLP(TiedHypernetwork):
    """Group-tied hypernetwork with a global (graph-free) mixer."""

    Config = GMLPConfig

    def __init__(
        self, spec: TargetSpec, intent_dim: int, cfg: GMLPConfig, contract: IntentContract = NO_CONTRACT
    ) -> None:
        super().__init__(spec, intent_dim, cfg, contract)
        self.rounds = nn.ModuleList(GlobalMixRound(self.graph.node_sets, cfg) for _ in range(cfg.rounds))
        if cfg.rounds:
            self.freeze_shared_offsets({n: self.rounds[-1].update[key(n)][-1].bias for n in self.graph.node_sets})
        self.calibrate(intent_dim)

    def mix(self, nodes: dict[str, Tensor]) -> dict[str, Tensor]:
        for layer in self.rounds:
            nodes = layer(nodes)
        return nodes
