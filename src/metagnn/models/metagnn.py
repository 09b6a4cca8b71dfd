"""Meta-GNN (SPEC 2.3): message passing on the neural graph, tied per group, dense per block."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from metagnn.errors import ConfigError
from metagnn.graph import Anchor
from metagnn.models.base import mlp
from metagnn.models.tied import TiedHypernetwork, centred, freeze_if_centred, key
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
    pe_anchor: bool = False  # encode the anchored node set by its offset from the intent (task.anchors)
    anchor_only: bool = False  # the intent reaches the model only through its anchor (needs pe_anchor)
    relative_pe: bool = False  # code the anchored node sets by offset from the intent, not by index
    resample_pe: bool = False
    tie: bool = True  # False: one encoder/decoder for all groups, group id as input (an ablation)

    def __post_init__(self) -> None:
        if min(self.d_intent, self.d_node, self.d_edge, self.pe_dim) < 1 or self.rounds < 0:
            raise ConfigError(f"metagnn config: sizes must be positive and rounds >= 0, got {self}")
        if self.rounds > 64:  # each round is a layer of modules: a typo like 1e6 would build for hours
            raise ConfigError(f"metagnn config: rounds={self.rounds} is more than 64")


class EdgeBlockLayer(nn.Module):
    """One round on one weight tensor's edges, for every edge of the block at once.

    ``z_ij = relu(LN(e_ij) + A h_i + B h_j + (C h_i - mean) * (D h_j - mean))``; the edge is updated
    by ``e_ij += L z_ij`` and each endpoint receives the mean of ``z`` over its neighbours in this
    block (a permutation-invariant aggregation; the linear message map commutes with the mean, so
    it is applied after it). ``send_rows`` / ``send_cols`` are off where no one reads the message
    (the last round only updates node sets that carry decoded values).
    """

    def __init__(self, d_node: int, d_edge: int, send_rows: bool = True, send_cols: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_edge)
        self.from_rows, self.from_cols = nn.Linear(d_node, d_edge), nn.Linear(d_node, d_edge, bias=False)
        self.rows_x, self.cols_x = nn.Linear(d_node, d_edge), nn.Linear(d_node, d_edge)
        self.update = nn.Linear(d_edge, d_edge)
        self.to_rows = nn.Linear(d_edge, d_node) if send_rows else None
        self.to_cols = nn.Linear(d_edge, d_node) if send_cols else None

    def forward(self, e: Tensor, h_rows: Tensor, h_cols: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        # The block-sized tensors (B, n_rows, n_cols, De) dominate the cost: each pass over one is
        # a memory sweep. The row and column terms are added in place into the LayerNorm's output
        # (whose backward does not read it), so one block-sized buffer carries the whole sum.
        z = self.norm(e)
        z += self.from_rows(h_rows)[:, :, None]
        z += self.from_cols(h_cols)[:, None, :]
        z.addcmul_(centred(self.rows_x(h_rows))[:, :, None], centred(self.cols_x(h_cols))[:, None, :])
        z = z.relu_()
        m_rows = self.to_rows(z.mean(2)) if self.to_rows is not None else None
        m_cols = self.to_cols(z.mean(1)) if self.to_cols is not None else None
        return self.update(z).add_(e), m_rows, m_cols


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

    def __init__(self, spec: TargetSpec, intent_dim: int, cfg: MetaGNNConfig, anchors: tuple[Anchor, ...] = ()) -> None:
        super().__init__(spec, intent_dim, cfg, anchors)
        g = self.graph
        self.edge_layers = nn.ModuleList()
        self.node_layers = nn.ModuleList()
        for r in range(cfg.rounds):
            # After the last round only node sets carrying biases are decoded: update only those.
            updated = [n for n in g.node_sets if r < cfg.rounds - 1 or g.node_params[n]]
            self.node_layers.append(nn.ModuleDict({key(n): NodeUpdate(cfg.d_node) for n in updated}))
            self.edge_layers.append(
                nn.ModuleDict(
                    {
                        key(b.param): EdgeBlockLayer(cfg.d_node, cfg.d_edge, b.rows in updated, b.cols in updated)
                        for b in g.edge_blocks
                    }
                )
            )
        for layer in self.edge_layers:
            for b in g.edge_blocks:
                freeze_if_centred(layer[key(b.param)].rows_x.bias, members=g.node_pe[b.rows].shape[0])
                freeze_if_centred(layer[key(b.param)].cols_x.bias, members=g.node_pe[b.cols].shape[0])
        # How many blocks touch each node set: messages are averaged over them.
        self.degree = {n: sum((b.rows == n) + (b.cols == n) for b in g.edge_blocks) for n in g.node_sets}
        self.calibrate(intent_dim)

    def mix(self, nodes: dict[str, Tensor], edges: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        for edge_layer, node_layer in zip(self.edge_layers, self.node_layers):
            msgs: dict[str, Tensor] = {}
            new_edges = {}
            for b in self.graph.edge_blocks:
                e, m_rows, m_cols = edge_layer[key(b.param)](edges[b.param], nodes[b.rows], nodes[b.cols])
                new_edges[b.param] = e
                for n, m in ((b.rows, m_rows), (b.cols, m_cols)):
                    if m is not None:
                        msgs[n] = msgs[n] + m / self.degree[n] if n in msgs else m / self.degree[n]
            nodes = {
                n: node_layer[key(n)](h, msgs.get(n, torch.zeros_like(h))) if key(n) in node_layer else h
                for n, h in nodes.items()
            }
            edges = new_edges
        return nodes, edges
