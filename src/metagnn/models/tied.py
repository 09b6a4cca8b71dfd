"""Group-tied encoders and decoders, shared by Meta-GNN and Meta-gMLP.

Every node group and edge group of the neural graph has its own encoder and decoder; all members
of a group go through the same functions and differ only by their positional encodings, so
interchangeable neurons are treated alike (SPEC 2.3). Everything is dense per block: node states
are ``(B, n, D)`` per node set, edge states ``(B, n_rows, n_cols, De)`` per weight tensor.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from metagnn.errors import ConfigError
from metagnn.graph import Anchor, NeuralGraph
from metagnn.models.base import Hypernetwork, mlp
from metagnn.spec import ParamSpec, TargetSpec, Theta


class NodeEncoder(nn.Module):
    """``h0 = f([z_U || PE])`` with a multiplicative U x PE term (lets codes depend on the intent)."""

    def __init__(self, d_u: int, d_pe: int, d_out: int) -> None:
        super().__init__()
        self.u, self.pe = nn.Linear(d_u, d_out), nn.Linear(d_pe, d_out, bias=False)
        self.u_mul, self.pe_mul = nn.Linear(d_u, d_out), nn.Linear(d_pe, d_out, bias=False)
        self.out = nn.Linear(d_out, d_out)

    def forward(self, z: Tensor, pe: Tensor) -> Tensor:
        # pe: (n, d_pe) shared by every intent, or (B, n, d_pe) per intent (relative_pe)
        shared = pe.dim() == 2
        code, code_mul = self.pe(pe), self.pe_mul(pe)
        if shared:
            code, code_mul = code[None], code_mul[None]
        a = self.u(z)[:, None] + code + self.u_mul(z)[:, None] * code_mul
        return self.out(torch.relu(a))


class EdgeEncoder(nn.Module):
    """``e0_ij = f([z_U || PE_i || PE_j])``, computed densely for a whole block.

    The endpoints enter as a product of codes centred over their group's members,
    ``(A PE_i - mean) * (B PE_j - mean)``, modulated by the intent. Centring is equivariant, and
    it is what keeps the generated block decorrelated: an additive ``f(i) + g(j)`` (or an
    uncentred product) makes every neuron's weights share one direction, so the network starts
    with huge, coherent activations and nearly identical neurons.
    """

    def __init__(self, d_u: int, d_pe_rows: int, d_pe_cols: int, d_out: int) -> None:
        super().__init__()
        self.u, self.u_mul = nn.Linear(d_u, d_out), nn.Linear(d_u, d_out)
        self.rows, self.cols = nn.Linear(d_pe_rows, d_out), nn.Linear(d_pe_cols, d_out)
        for lin in (self.rows, self.cols):  # unit-variance factors (PE features have variance 1/2)
            nn.init.normal_(lin.weight, std=(2 / lin.in_features) ** 0.5)
        self.out = nn.Linear(d_out, d_out)

    def forward(self, z: Tensor, pe_rows: Tensor, pe_cols: Tensor) -> Tensor:
        # Each PE is (n, d_pe), or (B, n, d_pe) per intent (relative_pe): the pair is (1 or B, nr, nc, D).
        rows, cols = centred(self.rows(pe_rows)), centred(self.cols(pe_cols))
        rows, cols = (rows[None] if rows.dim() == 2 else rows), (cols[None] if cols.dim() == 2 else cols)
        pair = rows[:, :, None] * cols[:, None]
        # One pass over the (B, nr, nc, D) block instead of a product and a sum.
        a = torch.addcmul(self.u(z)[:, None, None], (1 + self.u_mul(z))[:, None, None], pair)
        return self.out(a)


def freeze_if_centred(offset: Tensor, members: int) -> None:
    """Freeze an additive offset that a centring over ``members`` (> 1) removes.

    Its gradient is exactly zero, but in floating point it is rounding noise of about 1e-17, and
    Adam divides by the gradient's own scale: the offset would take lr-sized random steps, which
    change nothing in exact arithmetic yet make runs that differ only in summation order (one
    process vs DDP, other thread counts) drift apart. It stays a parameter (same checkpoint keys).
    """
    if members > 1:
        offset.requires_grad_(False)


def centred(x: Tensor, dim: int = -2) -> Tensor:
    """Subtract the mean over a group's members (the node axis); permutation-equivariant.

    A group of one member (e.g. a single output unit) is left as it is: centring would zero it.
    """
    return x if x.shape[dim] == 1 else x - x.mean(dim, keepdim=True)


class GroupEncoders(nn.Module):
    """One encoder per node group and per edge group; PEs enter here and nowhere else."""

    def __init__(
        self, graph: NeuralGraph, d_u: int, d_node: int, d_edge: int, node_sets: list[str] | None = None
    ) -> None:
        super().__init__()
        self.graph = graph
        self.node_sets = graph.node_sets if node_sets is None else node_sets
        pe = graph.node_pe
        self.nodes = nn.ModuleDict({key(n): NodeEncoder(d_u, pe[n].shape[1], d_node) for n in self.node_sets})
        self.edges = nn.ModuleDict(
            {
                key(b.param): EdgeEncoder(d_u, pe[b.rows].shape[1], pe[b.cols].shape[1], d_edge)
                for b in graph.edge_blocks
            }
        )
        for b in graph.edge_blocks:
            enc = self.edges[key(b.param)]
            for lin, n in ((enc.rows, b.rows), (enc.cols, b.cols)):
                freeze_if_centred(lin.bias, members=pe[n].shape[0])

    def forward(self, z: Tensor, pe: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        nodes = {n: self.nodes[key(n)](z, pe[n]) for n in self.node_sets}
        edges = {b.param: self.edges[key(b.param)](z, pe[b.rows], pe[b.cols]) for b in self.graph.edge_blocks}
        return nodes, edges


class GroupDecoders(nn.Module):
    """One scalar head per weight tensor (from edge states) and per bias (from node states).

    Output: ``value = init_mean + init_std * gain * (r - mean(r))`` with ``r = head(LayerNorm(state))``,
    the mean taken over the tensor when it has an interchangeable axis (see :meth:`forward`). Once the whole
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
            head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 1, bias=not self.centres(p)))
            nn.init.normal_(head[1].weight, std=d**-0.5)
            if head[1].bias is not None:
                nn.init.zeros_(head[1].bias)
            if self.centres(p):  # the tensor is centred: the LayerNorm's shift moves every entry alike
                freeze_if_centred(head[0].bias, members=2)
            self.heads[key(p.name)] = head
        self.log_gain = nn.ParameterDict({key(p.name): nn.Parameter(torch.zeros(())) for p in spec.params})

    def centres(self, p: ParamSpec) -> bool:
        """Whether tensor ``p`` is centred over its members (it has an interchangeable axis)."""
        return any(a.perm is not None for a in self.graph.spec.axes(p))

    def raw(self, p: ParamSpec, nodes: dict[str, Tensor], edges: dict[str, Tensor]) -> Tensor:
        state = edges[p.name] if p.is_edge else nodes[p.nodes[0]]
        return self.heads[key(p.name)](state).squeeze(-1)

    @torch.no_grad()
    def calibrate(self, raw_outputs: dict[str, Tensor]) -> None:
        """Centre each head's output and scale it to the size of a random init of unit std.

        ``raw_outputs`` maps every parameter name to its head's output on probe intents,
        ``(n_probes, n_rows, n_cols)`` for a weight and ``(n_probes, n)`` for a bias.

        A weight block is scaled by its spectral norm, not its entry std: generated blocks have a
        more skewed spectrum than i.i.d. draws, and with the same entry std they would amplify
        activations along their top directions (the network then starts saturated and dies).
        After calibration each ``(n_rows, n_cols)`` block has the spectral norm of an i.i.d.
        matrix with std 1, ``sqrt(n_rows) + sqrt(n_cols)``; a bias has std 1.
        """
        for p in self.graph.spec.params:
            raw = raw_outputs[p.name]
            size = self.block_size(raw, p)
            linear = self.heads[key(p.name)][1]
            linear.weight /= size
            if linear.bias is not None:
                linear.bias.copy_((linear.bias - raw.mean()) / size)

    @staticmethod
    def block_size(raw: Tensor, p: ParamSpec) -> Tensor:
        """Spectral norm per ``sqrt(n_rows) + sqrt(n_cols)`` of a centred weight block; std of a bias.

        An output that no probe moves (a single bias the intent cannot reach, e.g. with ``anchor_only``
        when the anchor is more rounds away than there are) is not rescaled: dividing by its ~0 spread
        would give its head a gain of ~1e6, and the first step's gradient would blow the run up.
        """
        centred_raw = raw - raw.mean()
        if p.is_edge:
            nr, nc = raw.shape[1], raw.shape[2]
            size = torch.linalg.matrix_norm(centred_raw, ord=2).mean() / (nr**0.5 + nc**0.5)
        else:
            size = centred_raw.std()
        return torch.where(size > 1e-4, size, torch.ones_like(size))

    def forward(self, nodes: dict[str, Tensor], edges: dict[str, Tensor]) -> Theta:
        spec = self.graph.spec
        theta: Theta = {}
        for p in spec.params:
            raw = self.raw(p, nodes, edges)
            if self.centres(p):
                # No shared shift of a whole tensor: a shift is one tied direction that moves every
                # member at once (all hidden units' biases down -> every ReLU dead).
                raw = raw - raw.flatten(1).mean(1).view(-1, *[1] * (raw.dim() - 1))
            scale = p.init_std * self.log_gain[key(p.name)].exp()
            theta[p.name] = (p.init_mean + scale * raw).reshape(raw.shape[0], *spec.shape(p))
        return theta


def padded(pe: Tensor, width: int) -> Tensor:
    """PE features zero-padded to ``width`` columns: ``(n, width)``."""
    return torch.nn.functional.pad(pe, (0, width - pe.shape[1]))


def with_group(z: Tensor, index: int, groups: int) -> Tensor:
    """``[z || one-hot(index)]`` for every intent of the batch: ``(B, d + groups)``."""
    one_hot = z.new_zeros(z.shape[0], groups)
    one_hot[:, index] = 1.0
    return torch.cat([z, one_hot], dim=1)


class SharedEncoders(nn.Module):
    """The no-tying ablation: one node encoder and one edge encoder for every group; the group id is an
    input feature. It enters beside the intent code (``[z || one-hot]``), not beside the members' PEs:
    the endpoint codes are centred over a group's members, which would subtract a per-group constant."""

    def __init__(
        self, graph: NeuralGraph, d_u: int, d_node: int, d_edge: int, node_sets: list[str] | None = None
    ) -> None:
        super().__init__()
        self.graph = graph
        self.node_sets = graph.node_sets if node_sets is None else node_sets
        pe = graph.node_pe
        self.width = max(code.shape[1] for code in pe.values())
        self.node = NodeEncoder(d_u + len(graph.node_sets), self.width, d_node)
        self.edge = EdgeEncoder(d_u + len(graph.edge_blocks), self.width, self.width, d_edge)
        freeze_if_centred(self.edge.rows.bias, members=min(pe[b.rows].shape[0] for b in graph.edge_blocks))
        freeze_if_centred(self.edge.cols.bias, members=min(pe[b.cols].shape[0] for b in graph.edge_blocks))

    def forward(self, z: Tensor, pe: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        g, w = self.graph, self.width
        nodes = {
            n: self.node(with_group(z, g.node_sets.index(n), len(g.node_sets)), padded(pe[n], w))
            for n in self.node_sets
        }
        edges = {
            b.param: self.edge(with_group(z, i, len(g.edge_blocks)), padded(pe[b.rows], w), padded(pe[b.cols], w))
            for i, b in enumerate(g.edge_blocks)
        }
        return nodes, edges


class SharedDecoders(GroupDecoders):
    """The no-tying ablation: one scalar head for all weight tensors and one for all biases. The tensor's id
    is an input feature that scales the normalized state feature-wise, ``head(LN(s) * (1 + A one_hot))``
    (a shift would be a per-tensor constant, which the per-tensor centring removes). Calibration (per
    tensor, as in :class:`GroupDecoders`) is a fixed affine map per tensor, kept in buffers."""

    def __init__(self, graph: NeuralGraph, d_node: int, d_edge: int) -> None:
        nn.Module.__init__(self)
        self.graph = graph
        params = graph.spec.params
        self.ids = {p.name: i for i, p in enumerate(params)}
        self.edge_norm, self.node_norm = nn.LayerNorm(d_edge), nn.LayerNorm(d_node)
        self.edge_film = nn.Linear(len(params), d_edge, bias=False)
        self.node_film = nn.Linear(len(params), d_node, bias=False)
        self.edge_head, self.node_head = nn.Linear(d_edge, 1), nn.Linear(d_node, 1)
        for film, head, d in ((self.edge_film, self.edge_head, d_edge), (self.node_film, self.node_head, d_node)):
            nn.init.normal_(film.weight, std=1.0)  # tensors start different, as separate heads would
            nn.init.normal_(head.weight, std=d**-0.5)
            nn.init.zeros_(head.bias)
        self.log_gain = nn.ParameterDict({key(p.name): nn.Parameter(torch.zeros(())) for p in params})
        for is_edge, norm, head in ((True, self.edge_norm, self.edge_head), (False, self.node_norm, self.node_head)):
            kind = [p for p in params if p.is_edge == is_edge]
            if kind and all(self.centres(p) for p in kind):  # a shared shift is removed from every tensor
                freeze_if_centred(norm.bias, members=2)
                freeze_if_centred(head.bias, members=2)
        self.register_buffer("calib_shift", torch.zeros(len(params)))
        self.register_buffer("calib_scale", torch.ones(len(params)))

    def raw(self, p: ParamSpec, nodes: dict[str, Tensor], edges: dict[str, Tensor]) -> Tensor:
        state = edges[p.name] if p.is_edge else nodes[p.nodes[0]]
        norm, film, head = (
            (self.edge_norm, self.edge_film, self.edge_head)
            if p.is_edge
            else (self.node_norm, self.node_film, self.node_head)
        )
        i = self.ids[p.name]
        scale = 1 + film.weight[:, i]  # = film(one_hot(i))
        return (head(norm(state) * scale).squeeze(-1) - self.calib_shift[i]) / self.calib_scale[i]

    @torch.no_grad()
    def calibrate(self, raw_outputs: dict[str, Tensor]) -> None:
        for p in self.graph.spec.params:
            raw = raw_outputs[p.name]
            i = self.ids[p.name]
            self.calib_shift[i] += raw.mean() * self.calib_scale[i]
            self.calib_scale[i] *= self.block_size(raw, p)


def key(name: str) -> str:
    """ModuleDict keys may not contain dots."""
    return name.replace(".", "__")


class TiedHypernetwork(Hypernetwork):
    """Intent encoder -> group-tied encoders -> a mixer (subclass) -> group-tied decoders.

    Positional encodings are buffers (saved in every checkpoint, so a checkpoint always
    synthesizes the same weights for the same intent); with ``resample_pe`` they are redrawn at
    every training step (an ablation) and the saved ones are used at evaluation.
    """

    def __init__(self, spec: TargetSpec, intent_dim: int, cfg, anchors: tuple[Anchor, ...] = ()) -> None:
        # cfg: the subclass's config; anchors: the task's, used when cfg.pe_anchor is set
        super().__init__()
        self.spec = spec
        self.cfg = cfg
        self.graph = NeuralGraph(spec, pe_dim=cfg.pe_dim, seed=cfg.pe_seed, max_cycles=cfg.pe_max_cycles)
        for n, pe in self.graph.node_pe.items():
            self.register_buffer(f"pe__{key(n)}", pe.clone())
        self.intent = nn.Sequential(
            nn.Linear(intent_dim, cfg.d_intent), nn.ReLU(), nn.Linear(cfg.d_intent, cfg.d_intent), nn.ReLU()
        )
        # Without mixing rounds, node states are only read by the bias decoders.
        needed = None if cfg.rounds else [n for n in self.graph.node_sets if self.graph.node_params[n]]
        tied = getattr(cfg, "tie", True)  # False: the no-tying ablation (one shared encoder/decoder + group id)
        encoders, decoders = (GroupEncoders, GroupDecoders) if tied else (SharedEncoders, SharedDecoders)
        self.encoders = encoders(self.graph, cfg.d_intent, cfg.d_node, cfg.d_edge, needed)
        self.decoders = decoders(self.graph, cfg.d_node, cfg.d_edge)
        self._pe_generator = torch.Generator().manual_seed(cfg.pe_seed + 1)
        self.anchors = self._check_anchors(anchors, intent_dim) if cfg.pe_anchor else ()
        if cfg.anchor_only and not cfg.pe_anchor:
            raise ConfigError("anchor_only needs pe_anchor: without the anchor, the model would never see the intent")
        # A ReLU MLP of the offset i - n per anchored node set: a step at any offset is two units.
        self.anchor_encoders = nn.ModuleDict(
            {key(a.node_set): mlp(a.width, cfg.d_node, cfg.d_node) for a in self.anchors}
        )
        self.relative = self._relative_pe(cfg, tied)

    def _check_anchors(self, anchors: tuple[Anchor, ...], intent_dim: int) -> tuple[Anchor, ...]:
        if not anchors:
            raise ConfigError("pe_anchor is set, but the task declares no intent anchor (Task.anchors is empty)")
        for a in anchors:
            a.check(self.spec, intent_dim)
        if len({a.node_set for a in anchors}) < len(anchors):
            raise ConfigError(f"intent anchors: one node set is anchored twice: {anchors}")
        return tuple(anchors)

    def _relative_pe(self, cfg, tied: bool) -> tuple[Anchor, ...]:
        """With ``relative_pe``, the anchors whose node set is coded by offset, not index (and their frequencies)."""
        if not getattr(cfg, "relative_pe", False):
            return ()
        if not cfg.pe_anchor or not tied:
            raise ConfigError("relative_pe needs pe_anchor (it codes the anchored node sets) and tie: true")
        gated = [a.node_set for a in self.anchors if a.gate is not None]
        if gated:
            raise ConfigError(f"relative_pe: the anchor on {gated} has a gate; where it is closed, no offset exists")
        generator = torch.Generator().manual_seed(cfg.pe_seed + 2)
        for a in self.anchors:  # the smooth codes of axis_encoding, at offsets instead of indices
            half = self.graph.node_pe[a.node_set].shape[1] // 2
            omega = 2 * math.pi * cfg.pe_max_cycles * torch.rand(half, generator=generator, dtype=torch.float64)
            phase = 2 * math.pi * torch.rand(half, generator=generator, dtype=torch.float64)
            self.register_buffer(f"rpe__{key(a.node_set)}", torch.stack([omega, phase]).float())
        return self.anchors

    def relative_encoding(self, a: Anchor, u: Tensor) -> Tensor:
        """PE of member ``i`` of ``a.node_set`` at offset ``i - coordinate``, per intent: ``(B, size, d_pe)``."""
        size = self.graph.node_pe[a.node_set].shape[0]
        omega, phase = getattr(self, f"rpe__{key(a.node_set)}")
        angle = (a.features(u, size)[..., 0] / max(size - 1, 1))[..., None] * omega + phase
        return torch.cat([angle.cos(), angle.sin()], dim=-1)

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
        # Probes go through in chunks of at most 2**20 edges (the 16 at once up to ~65k edges), so
        # that construction never holds more edge states than a training step: each intent is
        # processed independently, so chunking changes nothing but memory (with resample_pe, each
        # chunk draws its own PEs: the probes then also average over PE draws).
        chunk = max(1, min(len(probe), 2**20 // max(1, self.graph.num_edges)))
        parts: dict[str, list[Tensor]] = {p.name: [] for p in self.spec.params}
        with torch.no_grad():
            for u in probe.split(chunk):
                nodes, edges = self.mix(*self.encode(u))
                for p in self.spec.params:
                    parts[p.name].append(self.decoders.raw(p, nodes, edges))
                del nodes, edges
        self.decoders.calibrate({name: torch.cat(v) for name, v in parts.items()})

    def encode(self, u: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Initial node and edge states."""
        # anchor_only: every intent gets the same code, so the intent enters through the anchors alone,
        # as offsets that seen intents have already shown (an unseen n is no new input to any module).
        private = [a.feature for a in self.anchors if a.private]
        seen = u.index_fill(1, torch.tensor(private, device=u.device), 0.0) if private else u
        z = self.intent(torch.zeros_like(u) if self.cfg.anchor_only else seen)
        pe = self.positional_encodings()
        for a in self.relative:  # relative_pe: members coded by their offset from the intent, per intent
            pe[a.node_set] = self.relative_encoding(a, u)
        nodes, edges = self.encoders(z, pe)
        for a in self.anchors:
            if a.node_set in nodes:  # (a node set that no decoder or mixer reads is not encoded)
                h = nodes[a.node_set]
                nodes[a.node_set] = h + self.anchor_encoders[key(a.node_set)](a.features(u, h.shape[1]))
        return nodes, edges

    def synthesize(self, u: Tensor) -> Theta:
        nodes, edges = self.encode(u)
        nodes, edges = self.mix(nodes, edges)
        return self.decoders(nodes, edges)
