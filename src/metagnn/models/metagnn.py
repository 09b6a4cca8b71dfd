"""Meta-GNN (SPEC 2.3): message passing on the neural graph, tied per group, dense per block.

Node states only (see :mod:`metagnn.models.tied`): in a round, each weight tensor's block of edges
carries a message from each of its two node sets to the other, the mean over the sending members
of an MLP of their states. A block is dense and bipartite and its edges carry no state, so this mean
is the exact neighbourhood aggregation of every receiving member, computed once per block instead
of once per edge. Each member then updates from its own state and the mean of its blocks' messages.
Unlike Meta-gMLP's global context, a node set hears only the node sets it shares a weight with.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from metagnn.intent import NO_CONTRACT, IntentContract
from metagnn.models.base import mlp, split_linear
from metagnn.models.tied import TiedConfig, TiedHypernetwork, key
from metagnn.registry import MODELS
from metagnn.targets import TargetSpec


@dataclass
class MetaGNNConfig(TiedConfig):
    name = "metagnn"


class BlockMessages(nn.Module):
    """One round on one weight tensor's block: ``m_rows = mean_j relu(A h_j)`` over the columns and vice versa
    (the receiving node's update MLP maps the pooled message further)."""

    def __init__(self, d_node: int) -> None:
        super().__init__()
        self.to_rows, self.to_cols = nn.Linear(d_node, d_node), nn.Linear(d_node, d_node)

    def forward(self, h_rows: Tensor, h_cols: Tensor) -> tuple[Tensor, Tensor]:
        to_rows = torch.relu(self.to_rows(h_cols)).mean(1, keepdim=True)
        return to_rows, torch.relu(self.to_cols(h_rows)).mean(1, keepdim=True)


class NodeUpdate(nn.Module):
    """``h += MLP([LN(h) || messages])``, one per node group."""

    def __init__(self, d_node: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_node)
        self.mlp = mlp(2 * d_node, d_node, d_node)

    def forward(self, h: Tensor, msg: Tensor) -> Tensor:
        return h + self.mlp[1:](split_linear(self.mlp[0], self.norm(h), msg))


@MODELS.register("metagnn")
class MetaGNN(TiedHypernetwork):
    """Structure-aware graph hypernetwork: ``k`` rounds of tied message passing on the neural graph."""

    Config = MetaGNNConfig

    def __init__(
        self, spec: TargetSpec, intent_dim: int, cfg: MetaGNNConfig, contract: IntentContract = NO_CONTRACT
    ) -> None:
        super().__init__(spec, intent_dim, cfg, contract)
        g = self.graph
        self.block_layers = nn.ModuleList(
            nn.ModuleDict({key(b.param): BlockMessages(cfg.d_node) for b in g.edge_blocks}) for _ in range(cfg.rounds)
        )
        # How many blocks touch each node set: messages are averaged over them. A node set no weight touches
        # hears nothing and gets no update (an update that never runs would leave parameters without a gradient).
        self.degree = {n: sum((b.rows == n) + (b.cols == n) for b in g.edge_blocks) for n in g.node_sets}
        heard = [n for n in g.node_sets if self.degree[n]]
        self.node_layers = nn.ModuleList(
            nn.ModuleDict({key(n): NodeUpdate(cfg.d_node) for n in heard}) for _ in range(cfg.rounds)
        )
        if cfg.rounds:
            self.freeze_shared_offsets({n: self.node_layers[-1][key(n)].mlp[-1].bias for n in heard})
        self.calibrate(intent_dim)

    def mix(self, nodes: dict[str, Tensor]) -> dict[str, Tensor]:
        for block_layer, node_layer in zip(self.block_layers, self.node_layers):
            msgs: dict[str, Tensor] = {}
            for b in self.graph.edge_blocks:
                to_rows, to_cols = block_layer[key(b.param)](nodes[b.rows], nodes[b.cols])
                for n, m in ((b.rows, to_rows), (b.cols, to_cols)):
                    msgs[n] = msgs[n] + m / self.degree[n] if n in msgs else m / self.degree[n]
            nodes = {n: node_layer[key(n)](h, msgs[n]) if n in msgs else h for n, h in nodes.items()}
        return nodes
