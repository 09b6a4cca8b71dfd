"""Meta-GNN (SPEC 2.3): message passing on the neural graph, tied per group, dense per block."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from metagnn.errors import ConfigError
from metagnn.models.base import mlp
from metagnn.models.tied import TiedHypernetwork, centred, key
from metagnn.registry import MODELS
from metagnn.spec import TargetSpec


@dataclass
class MetaGNNConfig:
    d_intent: int = 64
    d_node: int = 64
    d_edge: int = 32
    rounds: int = 2
    pe_dim: int = 16
    pe_seed: int = 0
    pe_max_cycles: float = 4.0
    resample_pe: bool = False

    def __post_init__(self) -> None:
        if min(self.d_intent, self.d_node, self.d_edge, self.pe_dim) < 1 or self.rounds < 0:
            raise ConfigError(f"metagnn config: sizes must be positive and rounds >= 0, got {self}")


class EdgeBlockLayer(nn.Module):
    """One round on one weight tensor's edges, for every edge of the block at once.

    ``z_ij = relu(LN(e_ij) + A h_i + B h_j + (C h_i - mean) * (D h_j - mean))``; the edge is updated by ``e_ij += L z_ij`` and each
    endpoint receives the mean of ``z`` over its neighbours in this block (a permutation-invariant
    aggregation; the linear message map commutes with the mean, so it is applied after it).
    """

    def __init__(self, d_node: int, d_edge: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_edge)
        self.from_rows, self.from_cols = nn.Linear(d_node, d_edge), nn.Linear(d_node, d_edge, bias=False)
        self.rows_x, self.cols_x = nn.Linear(d_node, d_edge), nn.Linear(d_node, d_edge)
        self.update = nn.Linear(d_edge, d_edge)
        self.to_rows, self.to_cols = nn.Linear(d_edge, d_node), nn.Linear(d_edge, d_node)

    def forward(self, e: Tensor, h_rows: Tensor, h_cols: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        pair = self.from_rows(h_rows)[:, :, None] + self.from_cols(h_cols)[:, None, :]
        pair = pair + centred(self.rows_x(h_rows))[:, :, None] * centred(self.cols_x(h_cols))[:, None, :]
        z = torch.relu(self.norm(e) + pair)
        return e + self.update(z), self.to_rows(z.mean(2)), self.to_cols(z.mean(1))


class NodeUpdate(nn.Module):
    """``h += MLP([LN(h) || messages])``, one per node group."""

    def __init__(self, d_node: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_node)
        self.mlp = mlp(2 * d_node, d_node, d_node)

    def forward(self, h: Tensor, msg: Tensor) -> Tensor:
        return h + self.mlp(torch.cat([self.norm(h), msg], dim=-1))


@MODELS.register("metagnn")
class MetaGNN(TiedHypernetwork):
    """Structure-aware graph hypernetwork: ``k`` rounds of tied message passing on the neural graph."""

    Config = MetaGNNConfig

    def __init__(self, spec: TargetSpec, intent_dim: int, cfg: MetaGNNConfig) -> None:
        super().__init__(spec, intent_dim, cfg)
        g = self.graph
        self.edge_layers = nn.ModuleList([
            nn.ModuleDict({key(b.param): EdgeBlockLayer(cfg.d_node, cfg.d_edge) for b in g.edge_blocks})
            for _ in range(cfg.rounds)
        ])
        self.node_layers = nn.ModuleList([
            nn.ModuleDict({key(n): NodeUpdate(cfg.d_node) for n in g.node_sets}) for _ in range(cfg.rounds)
        ])
        self.calibrate(intent_dim)

    def mix(self, nodes: dict[str, Tensor], edges: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        for edge_layer, node_layer in zip(self.edge_layers, self.node_layers):
            msgs = {n: torch.zeros_like(h) for n, h in nodes.items()}
            new_edges = {}
            for b in self.graph.edge_blocks:
                e, m_rows, m_cols = edge_layer[key(b.param)](edges[b.param], nodes[b.rows], nodes[b.cols])
                new_edges[b.param] = e
                msgs[b.rows] = msgs[b.rows] + m_rows
                msgs[b.cols] = msgs[b.cols] + m_cols
            nodes = {n: node_layer[key(n)](h, msgs[n]) for n, h in nodes.items()}
            edges = new_edges
        return nodes, edges
