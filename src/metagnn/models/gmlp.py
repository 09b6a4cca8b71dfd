"""Meta-gMLP (SPEC 2.4): Meta-GNN's tied encoders/decoders, but a global mixer instead of the graph.

Each round, every group is mean-pooled, the pooled vectors are mapped and summed into one global
context per intent, and every element is updated from its own state plus that context. No
element ever reads a neighbour through an edge of the neural graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from metagnn.errors import ConfigError
from metagnn.graph import Anchor
from metagnn.models.base import mlp
from metagnn.models.tied import TiedHypernetwork, key
from metagnn.registry import MODELS
from metagnn.spec import TargetSpec


@dataclass
class GMLPConfig:
    d_intent: int = 64
    d_node: int = 64
    d_edge: int = 32
    d_context: int = 64
    rounds: int = 2
    pe_dim: int = 16
    pe_seed: int = 0
    pe_max_cycles: float = 4.0
    pe_anchor: bool = False  # encode the anchored node set by its offset from the intent (task.anchors)
    anchor_only: bool = False  # the intent reaches the model only through its anchor (needs pe_anchor)
    relative_pe: bool = False  # code the anchored node sets by offset from the intent, not by index
    resample_pe: bool = False

    def __post_init__(self) -> None:
        if min(self.d_intent, self.d_node, self.d_edge, self.d_context, self.pe_dim) < 1 or self.rounds < 0:
            raise ConfigError(f"gmlp config: sizes must be positive and rounds >= 0, got {self}")
        if self.rounds > 64:  # each round is a layer of modules: a typo like 1e6 would build for hours
            raise ConfigError(f"gmlp config: rounds={self.rounds} is more than 64")


class GlobalMixRound(nn.Module):
    """Pool every group, sum the pooled vectors into one context, update ``updated`` node sets and all edges."""

    def __init__(self, node_sets: list[str], updated: list[str], params: list[str], cfg: GMLPConfig) -> None:
        super().__init__()
        self.pool_nodes = nn.ModuleDict({key(n): nn.Linear(cfg.d_node, cfg.d_context) for n in node_sets})
        self.pool_edges = nn.ModuleDict({key(p): nn.Linear(cfg.d_edge, cfg.d_context) for p in params})
        self.node_norm = nn.ModuleDict({key(n): nn.LayerNorm(cfg.d_node) for n in updated})
        self.node_mlp = nn.ModuleDict(
            {key(n): mlp(cfg.d_node + cfg.d_context, cfg.d_node, cfg.d_node) for n in updated}
        )
        self.edge_norm = nn.ModuleDict({key(p): nn.LayerNorm(cfg.d_edge) for p in params})
        self.edge_ctx = nn.ModuleDict({key(p): nn.Linear(cfg.d_context, cfg.d_edge) for p in params})
        self.edge_update = nn.ModuleDict({key(p): nn.Linear(cfg.d_edge, cfg.d_edge) for p in params})

    def forward(self, nodes: dict[str, Tensor], edges: dict[str, Tensor]) -> tuple[dict, dict]:
        ctx = sum(self.pool_nodes[key(n)](h.mean(1)) for n, h in nodes.items())
        ctx = torch.relu(ctx + sum(self.pool_edges[key(p)](e.mean((1, 2))) for p, e in edges.items()))
        nodes = {
            n: h
            + self.node_mlp[key(n)](torch.cat([self.node_norm[key(n)](h), ctx[:, None].expand(*h.shape[:2], -1)], -1))
            if key(n) in self.node_mlp
            else h
            for n, h in nodes.items()
        }
        edges = {p: self.update_edges(p, e, ctx) for p, e in edges.items()}
        return nodes, edges

    def update_edges(self, p: str, e: Tensor, ctx: Tensor) -> Tensor:
        """``e + L(relu(LN(e) + C ctx))`` with one block-sized buffer: the sums are taken in place
        (the LayerNorm's and the linear map's backward passes do not read their outputs)."""
        z = self.edge_norm[key(p)](e)
        z += self.edge_ctx[key(p)](ctx)[:, None, None]
        return self.edge_update[key(p)](z.relu_()).add_(e)


@MODELS.register("gmlp")
class MetaGMLP(TiedHypernetwork):
    """Group-tied hypernetwork with a global (graph-free) mixer."""

    Config = GMLPConfig

    def __init__(self, spec: TargetSpec, intent_dim: int, cfg: GMLPConfig, anchors: tuple[Anchor, ...] = ()) -> None:
        super().__init__(spec, intent_dim, cfg, anchors)
        g = self.graph
        params = [b.param for b in g.edge_blocks]
        self.rounds = nn.ModuleList(
            [
                # After the last round only node sets carrying biases are decoded: update only those.
                GlobalMixRound(
                    g.node_sets, [n for n in g.node_sets if r < cfg.rounds - 1 or g.node_params[n]], params, cfg
                )
                for r in range(cfg.rounds)
            ]
        )
        self.calibrate(intent_dim)

    def mix(self, nodes: dict[str, Tensor], edges: dict[str, Tensor]) -> tuple[dict, dict]:
        for layer in self.rounds:
            nodes, edges = layer(nodes, edges)
        return nodes, edges
