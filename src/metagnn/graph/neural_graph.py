"""The neural graph of a target spec: one node per neuron, one edge per weight.

Group ids are derived from the spec, never written per architecture: every node set is one node
group ("hidden neuron of layer 2", "Q dimension of block 0"), every weight tensor one edge group
("edge of W_Q"). Members of a group are told apart by positional encodings (PE) that are
smooth functions of the index (sinusoids of ``i / (n - 1)`` with frequencies and phases drawn from
a seed): on fixed axes (tokens, positions, inputs, classes) the index is a value, so an index that
training never exercised still gets a meaningful code; on interchangeable axes the codes only need
to be distinct. A nested node set such as ``(head, qk)`` concatenates the codes of its axes.

Because a layer's weights form a dense bipartite block, models consume the graph block by block
(``node_pe[name]`` of shape ``(n, P)``, and each edge block's two endpoint node sets); the flat
edge list (:meth:`edge_index`) exists for inspection, documentation and tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from metagnn.errors import SpecError
from metagnn.targets.core import Axis, NodeSet, TargetSpec, Theta


@dataclass(frozen=True)
class EdgeBlock:
    """The edges of one weight tensor: a dense bipartite block between two node sets."""

    param: str
    rows: str  # node set of the tensor's leading axes
    cols: str  # node set of the trailing axes
    group_id: int


def axis_encoding(
    axis: Axis, dim: int, generator: torch.Generator, max_cycles: float = 4.0, member_cycles: float | None = None
) -> Tensor:
    """Encode each index of ``axis`` as ``dim`` features (see module docstring). Shape ``(size, dim)``.

    ``member_cycles``: on an interchangeable axis, at most this many periods instead of ``size / 2``; the
    codes are then one set of curves of ``i / (size - 1)`` at every size, sampled more finely as the axis
    grows (for a hypernetwork that writes several widths of ``S``)."""
    half = dim // 2
    # Fixed axes get smooth codes: at most ``max_cycles`` periods over the axis. High frequencies would
    # make the code a lookup table of indices, and hypernetworks fed such codes memorize instead of
    # generalizing (measured on AddMod-p: see docs/results.md). Interchangeable members need only be
    # told apart, and as far apart as possible: up to ``size / 2`` periods (smooth codes there made
    # neighbouring hidden units near copies of each other once weights were decoded from node states).
    if not axis.fixed:
        max_cycles = max(max_cycles, axis.size / 2) if member_cycles is None else member_cycles
    t = torch.arange(axis.size, dtype=torch.float64) / max(axis.size - 1, 1)
    omega = 2 * math.pi * max_cycles * torch.rand(half, generator=generator, dtype=torch.float64)
    phase = 2 * math.pi * torch.rand(half, generator=generator, dtype=torch.float64)
    angle = t[:, None] * omega[None] + phase[None]
    return torch.cat([angle.cos(), angle.sin()], dim=1).float()


class NeuralGraph:
    """Nodes, edges, group ids and positional encodings of a :class:`TargetSpec`, built once.

    Attributes:
        node_sets: node set names, in spec order; node group id = position in this list.
        node_pe: node set -> PE of shape ``(size, n_axes * pe_dim)``.
        node_index: node set -> index values on its fixed axes, ``(size, n_fixed_axes)`` (token
            ``a`` has value ``a``); models may encode these values directly (they are the index).
        edge_blocks: one :class:`EdgeBlock` per weight tensor; its group id follows the node groups.
        node_params: node set -> names of the parameters living on it (biases, LayerNorm).
    """

    def __init__(
        self,
        spec: TargetSpec,
        pe_dim: int = 16,
        seed: int = 0,
        max_cycles: float = 4.0,
        member_cycles: float | None = None,
    ) -> None:
        if pe_dim < 2 or pe_dim % 2:
            raise SpecError(f"pe_dim must be a positive even number, got {pe_dim}")
        self.spec = spec
        self.pe_dim = pe_dim
        self.seed = seed
        self.max_cycles, self.member_cycles = max_cycles, member_cycles
        self.node_sets = [s.name for s in spec.node_sets]
        self.node_pe = self.sample_encodings(torch.Generator().manual_seed(seed))
        self.node_index = {s.name: index_values(s) for s in spec.node_sets}
        n_groups = len(self.node_sets)
        self.edge_blocks: list[EdgeBlock] = []
        self.node_params: dict[str, list[str]] = {name: [] for name in self.node_sets}
        for p in spec.params:
            if p.is_edge:
                self.edge_blocks.append(EdgeBlock(p.name, p.nodes[0], p.nodes[1], n_groups + len(self.edge_blocks)))
            else:
                self.node_params[p.nodes[0]].append(p.name)
        offsets, total = {}, 0
        for s in spec.node_sets:
            offsets[s.name] = total
            total += s.size
        self.node_offset = offsets
        self.num_nodes = total
        self.num_edges = sum(spec.node_set(b.rows).size * spec.node_set(b.cols).size for b in self.edge_blocks)

    def sample_encodings(self, generator: torch.Generator) -> dict[str, Tensor]:
        """Draw one PE per node set (axes cached so that a permutation shared by two node sets,
        e.g. Q's and K's ``qk``, gets the same code on both)."""
        cache: dict[str, Tensor] = {}
        out = {}
        for s in self.spec.node_sets:
            parts = []
            for k, axis in enumerate(s.axes):
                key = axis.perm if axis.perm is not None else f"{s.name}:{k}"
                if key not in cache:
                    cache[key] = axis_encoding(axis, self.pe_dim, generator, self.max_cycles, self.member_cycles)
                parts.append(cache[key])
            out[s.name] = outer_concat(parts)
        return out

    # ----- group ids and the flat view ------------------------------------------------------
    @property
    def num_groups(self) -> int:
        return len(self.node_sets) + len(self.edge_blocks)

    def group_names(self) -> list[str]:
        return [f"node:{n}" for n in self.node_sets] + [f"edge:{b.param}" for b in self.edge_blocks]

    def node_group_id(self) -> Tensor:
        """Group id of every node, shape ``(num_nodes,)``."""
        return torch.cat(
            [torch.full((self.spec.node_set(n).size,), g, dtype=torch.long) for g, n in enumerate(self.node_sets)]
        )

    def edge_group_id(self) -> Tensor:
        """Group id of every edge, shape ``(num_edges,)``, in :meth:`edge_index` order."""
        return torch.cat([torch.full((self._block_size(b),), b.group_id, dtype=torch.long) for b in self.edge_blocks])

    def edge_index(self) -> Tensor:
        """Global ``(row node, col node)`` of every edge, shape ``(2, num_edges)``, blocks row-major."""
        parts = []
        for b in self.edge_blocks:
            nr, nc = self.spec.node_set(b.rows).size, self.spec.node_set(b.cols).size
            r = torch.arange(nr).repeat_interleave(nc) + self.node_offset[b.rows]
            c = torch.arange(nc).repeat(nr) + self.node_offset[b.cols]
            parts.append(torch.stack([r, c]))
        return torch.cat(parts, dim=1)

    def _block_size(self, b: EdgeBlock) -> int:
        return self.spec.node_set(b.rows).size * self.spec.node_set(b.cols).size

    @property
    def node_channels(self) -> int:
        """Values per node: the most parameters living on any one node set."""
        return max([len(v) for v in self.node_params.values()] + [1])

    # ----- theta <-> graph features (exact round trip) ----------------------------------------
    def to_features(self, theta: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Flatten a weight set (unbatched) onto the graph.

        Returns ``(node_values (num_nodes, C), node_mask (num_nodes, C) bool, edge_values (num_edges,))``.
        """
        self.spec.check(theta)
        c = self.node_channels
        ref = next(iter(theta.values()))
        node_values = ref.new_zeros(self.num_nodes, c)
        node_mask = torch.zeros(self.num_nodes, c, dtype=torch.bool)
        for name, params in self.node_params.items():
            lo, n = self.node_offset[name], self.spec.node_set(name).size
            for k, p in enumerate(params):
                node_values[lo : lo + n, k] = theta[p].reshape(n)
                node_mask[lo : lo + n, k] = True
        edge_values = torch.cat([theta[b.param].reshape(-1) for b in self.edge_blocks])
        return node_values, node_mask, edge_values

    def from_features(self, node_values: Tensor, edge_values: Tensor) -> Theta:
        """Inverse of :meth:`to_features`."""
        theta: Theta = {}
        for name, params in self.node_params.items():
            lo, n = self.node_offset[name], self.spec.node_set(name).size
            for k, p in enumerate(params):
                theta[p] = node_values[lo : lo + n, k].reshape(self.spec.shape(p))
        start = 0
        for b in self.edge_blocks:
            size = self._block_size(b)
            theta[b.param] = edge_values[start : start + size].reshape(self.spec.shape(b.param))
            start += size
        return {p.name: theta[p.name] for p in self.spec.params}


def index_values(node_set: NodeSet) -> Tensor:
    """The index value of every node on each fixed axis, shape ``(size, n_fixed_axes)``, row-major."""
    grids = torch.meshgrid(*[torch.arange(a.size, dtype=torch.float32) for a in node_set.axes], indexing="ij")
    cols = [g.reshape(-1) for g, a in zip(grids, node_set.axes) if a.fixed]
    return torch.stack(cols, 1) if cols else torch.zeros(node_set.size, 0)


def outer_concat(parts: list[Tensor]) -> Tensor:
    """Codes of a nested node set: every index tuple gets the concatenation of its axes' codes.

    ``parts[k]`` has shape ``(n_k, P)``; the result has shape ``(n_0 * n_1 * ..., len(parts) * P)``
    in row-major order of the index tuple.
    """
    sizes = [p.shape[0] for p in parts]
    cols = []
    for k, p in enumerate(parts):
        view = [1] * len(parts) + [p.shape[1]]
        view[k] = sizes[k]
        cols.append(p.reshape(view).expand(*sizes, p.shape[1]))
    return torch.cat(cols, dim=-1).reshape(math.prod(sizes), -1)
