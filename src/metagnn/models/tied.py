"""Group-tied encoders and decoders, shared by Meta-GNN and Meta-gMLP.

Every node group and edge group of the neural graph has its own encoder and decoder; all members
of a group go through the same functions and differ only by their positional encodings, so
interchangeable neurons are treated alike (SPEC 2.3). Everything is dense per block: node states
are ``(B, n, D)`` per node set, edge states ``(B, n_rows, n_cols, De)`` per weight tensor.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from metagnn.graph import NeuralGraph
from metagnn.models.base import Hypernetwork
from metagnn.spec import ParamSpec, TargetSpec, Theta


class IndexCode(nn.Module):
    """Periodic code of a node's *index values* on its fixed axes, with intent-set frequencies.

    ``s_i = sin(t_i @ Omega(z) + Phi(z))`` for index values ``t_i`` (token ``a``, position, input
    feature). Weights of a program are a neural field over neuron indices, and sinusoids whose
    frequency and phase follow the intent let that field change its period with the intent (a
    token embedding ``cos(2 pi k a / p)`` for modulus ``p``) without a lookup table. Node sets
    without fixed axes have no index values and get no such code.
    """

    def __init__(self, d_u: int, n_axes: int, d_out: int) -> None:
        super().__init__()
        self.n_axes, self.d_out = n_axes, d_out
        self.omega, self.phi = nn.Linear(d_u, n_axes * d_out), nn.Linear(d_u, d_out)
        nn.init.normal_(self.omega.weight, std=0.1 / d_u**0.5)
        nn.init.uniform_(self.omega.bias, 0.0, torch.pi)
        nn.init.uniform_(self.phi.bias, 0.0, 2 * torch.pi)

    def forward(self, z: Tensor, index: Tensor) -> Tensor:
        omega = self.omega(z).view(-1, self.n_axes, self.d_out)  # (B, k, D)
        return torch.sin(torch.einsum("nk,bkd->bnd", index, omega) + self.phi(z)[:, None])


class NodeEncoder(nn.Module):
    """``h0 = f([z_U || PE || index code])`` with a multiplicative U x PE term."""

    def __init__(self, d_u: int, d_pe: int, n_index: int, d_out: int) -> None:
        super().__init__()
        self.u, self.pe = nn.Linear(d_u, d_out), nn.Linear(d_pe, d_out, bias=False)
        self.u_mul, self.pe_mul = nn.Linear(d_u, d_out), nn.Linear(d_pe, d_out, bias=False)
        self.index = IndexCode(d_u, n_index, d_out) if n_index else None
        self.out = nn.Linear(d_out, d_out)

    def forward(self, z: Tensor, pe: Tensor, index: Tensor) -> Tensor:
        a = self.u(z)[:, None] + self.pe(pe)[None] + self.u_mul(z)[:, None] * self.pe_mul(pe)[None]
        if self.index is not None:
            a = a + self.index(z, index)
        return self.out(torch.relu(a))


class EdgeEncoder(nn.Module):
    """``e0_ij = f([z_U || PE_i || PE_j])``, computed densely for a whole block.

    The endpoints enter as a product of codes centred over their group's members,
    ``(A PE_i + s_i - mean) * (B PE_j + s_j - mean)`` (``s``: the :class:`IndexCode` of fixed axes),
    modulated by the intent. Centring is equivariant, and it is what keeps the generated block
    decorrelated: an additive ``f(i) + g(j)`` (or an uncentred product) makes every neuron's
    weights share one direction, so the network starts with huge, coherent activations and
    nearly identical neurons.
    """

    def __init__(self, d_u: int, d_pe_rows: int, d_pe_cols: int, n_index_rows: int, n_index_cols: int, d_out: int) -> None:
        super().__init__()
        self.u, self.u_mul = nn.Linear(d_u, d_out), nn.Linear(d_u, d_out)
        self.rows, self.cols = nn.Linear(d_pe_rows, d_out), nn.Linear(d_pe_cols, d_out)
        for lin in (self.rows, self.cols):  # unit-variance factors (PE features have variance 1/2)
            nn.init.normal_(lin.weight, std=(2 / lin.in_features) ** 0.5)
        self.index_rows = IndexCode(d_u, n_index_rows, d_out) if n_index_rows else None
        self.index_cols = IndexCode(d_u, n_index_cols, d_out) if n_index_cols else None
        self.out = nn.Linear(d_out, d_out)

    def factor(self, z: Tensor, lin: nn.Linear, code: IndexCode | None, pe: Tensor, index: Tensor) -> Tensor:
        f = lin(pe)[None]
        if code is not None:
            f = f + code(z, index)
        return centred(f)  # (1 or B, n, D)

    def forward(self, z: Tensor, pe_rows: Tensor, pe_cols: Tensor, index_rows: Tensor, index_cols: Tensor) -> Tensor:
        r = self.factor(z, self.rows, self.index_rows, pe_rows, index_rows)
        c = self.factor(z, self.cols, self.index_cols, pe_cols, index_cols)
        pair = r[:, :, None] * c[:, None]  # (B or 1, nr, nc, D)
        a = self.u(z)[:, None, None] + (1 + self.u_mul(z))[:, None, None] * pair
        return self.out(a)


def centred(x: Tensor, dim: int = -2) -> Tensor:
    """Subtract the mean over a group's members (the node axis); permutation-equivariant."""
    return x - x.mean(dim, keepdim=True)


class GroupEncoders(nn.Module):
    """One encoder per node group and per edge group; PEs enter here and nowhere else."""

    def __init__(self, graph: NeuralGraph, d_u: int, d_node: int, d_edge: int) -> None:
        super().__init__()
        self.graph = graph
        pe, idx = graph.node_pe, graph.node_index
        self.nodes = nn.ModuleDict({
            key(n): NodeEncoder(d_u, pe[n].shape[1], idx[n].shape[1], d_node) for n in graph.node_sets
        })
        self.edges = nn.ModuleDict({
            key(b.param): EdgeEncoder(d_u, pe[b.rows].shape[1], pe[b.cols].shape[1], idx[b.rows].shape[1],
                                      idx[b.cols].shape[1], d_edge)
            for b in graph.edge_blocks
        })

    def forward(self, z: Tensor, pe: dict[str, Tensor], index: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        nodes = {n: self.nodes[key(n)](z, pe[n], index[n]) for n in self.graph.node_sets}
        edges = {
            b.param: self.edges[key(b.param)](z, pe[b.rows], pe[b.cols], index[b.rows], index[b.cols])
            for b in self.graph.edge_blocks
        }
        return nodes, edges


class GroupDecoders(nn.Module):
    """One scalar head per weight tensor (from edge states) and per bias (from node states).

    Output scale: ``value = init_mean + init_std * gain * head(LayerNorm(state))``. Once the whole
    hypernetwork is built, :meth:`calibrate` rescales each head on probe intents, and ``gain``
    (learned, per tensor) starts at 1, so at the first step every generated weight block has the
    spectral norm of a fan-in-scaled random init, ``init_std * (sqrt(n_rows) + sqrt(n_cols))``,
    and every bias the spec's mean and std.
    """

    def __init__(self, graph: NeuralGraph, d_node: int, d_edge: int) -> None:
        super().__init__()
        self.graph = graph
        spec = graph.spec
        self.heads = nn.ModuleDict()
        for p in spec.params:
            d = d_edge if p.is_edge else d_node
            head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 1))
            nn.init.normal_(head[1].weight, std=d**-0.5)
            nn.init.zeros_(head[1].bias)
            self.heads[key(p.name)] = head
        self.log_gain = nn.ParameterDict({key(p.name): nn.Parameter(torch.zeros(())) for p in spec.params})

    def raw(self, p: ParamSpec, nodes: dict[str, Tensor], edges: dict[str, Tensor]) -> Tensor:
        state = edges[p.name] if p.is_edge else nodes[p.nodes[0]]
        return self.heads[key(p.name)](state).squeeze(-1)

    @torch.no_grad()
    def calibrate(self, nodes: dict[str, Tensor], edges: dict[str, Tensor]) -> None:
        """Centre each head's output and scale it to the size of a random init of unit std.

        A weight block is scaled by its spectral norm, not its entry std: generated blocks have a
        more skewed spectrum than i.i.d. draws, and with the same entry std they would amplify
        activations along their top directions (the network then starts saturated and dies).
        After calibration each ``(n_rows, n_cols)`` block has the spectral norm of an i.i.d.
        matrix with std 1, ``sqrt(n_rows) + sqrt(n_cols)``; a bias has std 1.
        """
        for p in self.graph.spec.params:
            raw = self.raw(p, nodes, edges)
            centred_raw = raw - raw.mean()
            if p.is_edge:
                nr, nc = raw.shape[1], raw.shape[2]
                size = torch.linalg.matrix_norm(centred_raw, ord=2).mean() / (nr**0.5 + nc**0.5)
            else:
                size = centred_raw.std()
            size = size.clamp_min(1e-6)
            linear = self.heads[key(p.name)][1]
            linear.weight /= size
            linear.bias.copy_((linear.bias - raw.mean()) / size)

    def forward(self, nodes: dict[str, Tensor], edges: dict[str, Tensor]) -> Theta:
        spec = self.graph.spec
        theta: Theta = {}
        for p in spec.params:
            raw = self.raw(p, nodes, edges)
            scale = p.init_std * self.log_gain[key(p.name)].exp()
            theta[p.name] = (p.init_mean + scale * raw).reshape(raw.shape[0], *spec.shape(p))
        return theta


def key(name: str) -> str:
    """ModuleDict keys may not contain dots."""
    return name.replace(".", "__")


class TiedHypernetwork(Hypernetwork):
    """Intent encoder -> group-tied encoders -> a mixer (subclass) -> group-tied decoders.

    Positional encodings are buffers (saved in every checkpoint, so a checkpoint always
    synthesizes the same weights for the same intent); with ``resample_pe`` they are redrawn at
    every training step (an ablation) and the saved ones are used at evaluation.
    """

    def __init__(self, spec: TargetSpec, intent_dim: int, cfg) -> None:  # cfg: the subclass's config
        super().__init__()
        self.spec = spec
        self.cfg = cfg
        self.graph = NeuralGraph(spec, pe_dim=cfg.pe_dim, seed=cfg.pe_seed, max_cycles=cfg.pe_max_cycles)
        for n, pe in self.graph.node_pe.items():
            self.register_buffer(f"pe__{key(n)}", pe.clone())
            self.register_buffer(f"index__{key(n)}", self.graph.node_index[n].clone(), persistent=False)
        self.intent = nn.Sequential(
            nn.Linear(intent_dim, cfg.d_intent), nn.ReLU(), nn.Linear(cfg.d_intent, cfg.d_intent), nn.ReLU()
        )
        self.encoders = GroupEncoders(self.graph, intent_dim + cfg.d_intent, cfg.d_node, cfg.d_edge)
        self.decoders = GroupDecoders(self.graph, cfg.d_node, cfg.d_edge)
        self._pe_generator = torch.Generator().manual_seed(cfg.pe_seed + 1)

    def positional_encodings(self) -> dict[str, Tensor]:
        if self.training and self.cfg.resample_pe:
            fresh = self.graph.sample_encodings(self._pe_generator)
            return {n: pe.to(self.pe_device) for n, pe in fresh.items()}
        return {n: getattr(self, f"pe__{key(n)}") for n in self.graph.node_sets}

    @property
    def pe_device(self) -> torch.device:
        return getattr(self, f"pe__{key(self.graph.node_sets[0])}").device

    def mix(self, nodes: dict[str, Tensor], edges: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        raise NotImplementedError

    def calibrate(self, intent_dim: int) -> None:
        """Data-independent output calibration on random probe intents (call at the end of ``__init__``)."""
        probe = torch.randn(16, intent_dim, generator=torch.Generator().manual_seed(self.cfg.pe_seed))
        with torch.no_grad():
            nodes, edges = self.mix(*self.encode(probe))
        self.decoders.calibrate(nodes, edges)

    def encode(self, u: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Initial node and edge states; the intent enters raw and through an MLP."""
        z = torch.cat([u, self.intent(u)], dim=-1)
        index = {n: getattr(self, f"index__{key(n)}") for n in self.graph.node_sets}
        return self.encoders(z, self.positional_encodings(), index)

    def synthesize(self, u: Tensor) -> Theta:
        nodes, edges = self.encode(u)
        nodes, edges = self.mix(nodes, edges)
        return self.decoders(nodes, edges)
