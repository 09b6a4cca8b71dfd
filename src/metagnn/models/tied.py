"""Group-tied encoders and decoders, shared by Meta-GNN and Meta-gMLP.

Every node group of the neural graph has its own encoder, every weight tensor (edge group) and
every bias its own decoder; all members of a group go through the same functions and differ only by
their positional encodings, so interchangeable neurons are treated alike (SPEC 2.3).

State lives on the nodes only: node states are ``(B, n, D)`` per node set, and an edge's weight is
decoded as a bilinear form of its two endpoints' states, ``w_ij = <A h_i, B h_j>`` (rank ``d_edge``).
No ``d_edge``-wide state is carried per edge through the rounds: the only edge-sized tensor is the
decoded weight itself, so memory and time grow with the target's parameter count, not with
``parameters x d_edge x rounds``.

Where the task declares how its intent meets an axis of ``S`` (:mod:`metagnn.intent`), the members
of that axis are coded relative to the intent, in :meth:`TiedHypernetwork.encode` and nowhere else.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from metagnn.errors import ConfigError
from metagnn.graph import NeuralGraph
from metagnn.intent import NO_CONTRACT, IntentContract
from metagnn.models.base import Hypernetwork, mlp
from metagnn.targets import ParamSpec, TargetSpec, Theta


@dataclass
class TiedConfig:
    """The settings of a group-tied hypernetwork (Meta-GNN; Meta-gMLP adds ``d_context``)."""

    d_intent: int = 64
    d_node: int = 64
    d_edge: int = 32  # rank of the bilinear form that decodes a weight from its two endpoints
    rounds: int = 2
    pe_dim: int = 16
    pe_seed: int = 0
    pe_max_cycles: float = 4.0
    # Interchangeable members: None codes them with up to size/2 periods (as far apart as possible); a number
    # fixes the periods, so that every width of S samples the same curves (training on several sizes of S).
    pe_member_cycles: float | None = None
    resample_pe: bool = False  # redraw the PEs at every training step (an ablation)
    tie: bool = True  # False: one encoder/decoder for all groups, group id as input (an ablation)
    intent_axes: bool = True  # False: ignore the task's intent contract, read the intent as a code (an ablation)

    def __post_init__(self) -> None:
        if min(self.d_intent, self.d_node, self.d_edge, self.pe_dim) < 1 or self.rounds < 0:
            raise ConfigError(f"{self.name} config: sizes must be positive and rounds >= 0, got {self}")
        if self.rounds > 64:  # each round is a layer of modules: a typo like 1e6 would build for hours
            raise ConfigError(f"{self.name} config: rounds={self.rounds} is more than 64")
        for name in ("pe_max_cycles", "pe_member_cycles"):
            value = getattr(self, name)
            if name == "pe_max_cycles" or value is not None:
                if not math.isfinite(value) or value <= 0:
                    raise ConfigError(f"{self.name} config: {name}={value!r} must be a positive number")

    name = "tied"


class NodeEncoder(nn.Module):
    """``h0 = f([z_U || PE]) + A PE`` with a multiplicative U x PE term (lets codes depend on the intent)."""

    def __init__(self, d_u: int, d_pe: int, d_out: int) -> None:
        super().__init__()
        self.u, self.pe = nn.Linear(d_u, d_out), nn.Linear(d_pe, d_out, bias=False)
        self.u_mul, self.pe_mul = nn.Linear(d_u, d_out), nn.Linear(d_pe, d_out, bias=False)
        self.out = nn.Linear(d_out, d_out)

    def forward(self, z: Tensor, pe: Tensor) -> Tensor:
        # pe: (n, d_pe) shared by every intent, or (B, n, d_pe) per intent (coded relative to the intent)
        code, code_mul = self.pe(pe), self.pe_mul(pe)
        if pe.dim() == 2:
            code, code_mul = code[None], code_mul[None]
        a = self.u(z)[:, None] + code + self.u_mul(z)[:, None] * code_mul
        # The linear skip of the code keeps members apart: through the ReLU alone, distinct codes of
        # interchangeable members came out as near-parallel states (and near-copies of weights).
        return self.out(torch.relu(a)) + code


def freeze_if_centred(offset: Tensor | None, members: int) -> None:
    """Freeze an additive offset that a centring over ``members`` (> 1) removes.

    Its gradient is exactly zero, but in floating point it is rounding noise of about 1e-17, and
    Adam divides by the gradient's own scale: the offset would take lr-sized random steps, which
    change nothing in exact arithmetic yet make runs that differ only in summation order (one
    process vs DDP, other thread counts) drift apart. It stays a parameter (same checkpoint keys).
    """
    if offset is not None and members > 1:
        offset.requires_grad_(False)


def centred(x: Tensor, dim: int = -2) -> Tensor:
    """Subtract the mean over a group's members (the node axis); permutation-equivariant.

    A group of one member (e.g. a single output unit) is left as it is: centring would zero it.
    """
    return x if x.shape[dim] == 1 else x - x.mean(dim, keepdim=True)


class GroupEncoders(nn.Module):
    """One node encoder per node group; PEs enter here and nowhere else."""

    def __init__(self, graph: NeuralGraph, d_u: int, d_node: int) -> None:
        super().__init__()
        self.graph = graph
        self.nodes = nn.ModuleDict({key(n): NodeEncoder(d_u, pe.shape[1], d_node) for n, pe in graph.node_pe.items()})

    def forward(self, z: Tensor, pe: dict[str, Tensor]) -> dict[str, Tensor]:
        return {n: self.nodes[key(n)](z, pe[n]) for n in self.graph.node_sets}


class BilinearHead(nn.Module):
    """``w_ij = <A LN(h_i), B LN(h_j)> / sqrt(rank) + shift`` for a whole weight tensor at once.

    ``shift`` is used (trainable) only for a tensor with no interchangeable axis; the others are
    centred over their members by :class:`GroupDecoders`, which removes it.
    """

    def __init__(self, d_node: int, rank: int) -> None:
        super().__init__()
        # No LayerNorm shift: it would add one vector to every member's factor, i.e. a term constant along
        # the other axis (for W_U, the same logit offset for every class), which the target's output often
        # ignores; Adam then walks it on rounding noise, and runs that differ in summation order drift apart.
        self.norm_rows, self.norm_cols = nn.LayerNorm(d_node, bias=False), nn.LayerNorm(d_node, bias=False)
        self.rows, self.cols = nn.Linear(d_node, rank, bias=False), nn.Linear(d_node, rank, bias=False)
        for lin in (self.rows, self.cols):
            nn.init.normal_(lin.weight, std=d_node**-0.5)
        self.shift = nn.Parameter(torch.zeros(()))
        self.rank = rank

    def forward(self, h_rows: Tensor, h_cols: Tensor) -> Tensor:
        a = self.rows(self.norm_rows(h_rows))
        b = self.cols(self.norm_cols(h_cols))
        return torch.bmm(a, b.transpose(1, 2)) * self.rank**-0.5 + self.shift  # einsum "brk,bck->brc", less work

    @torch.no_grad()
    def rescale(self, shift: Tensor, size: Tensor) -> None:
        """Make the output ``(raw - shift) / size``."""
        self.rows.weight /= size
        self.shift.copy_((self.shift - shift) / size)


class GroupDecoders(nn.Module):
    """One head per weight tensor (bilinear in its endpoints' node states) and per bias (from node states).

    Output: ``value = init_mean + init_std * gain * (r - mean(r))`` with ``r`` the head's output, the
    mean taken over the tensor when it has an interchangeable axis (see :meth:`forward`). Once the
    whole hypernetwork is built, :meth:`calibrate` rescales each head on probe intents, and ``gain``
    (learned, per tensor) starts at 1, so at the first step every generated weight block has the
    spectral norm of a fan-in-scaled random init, ``init_std * (sqrt(n_rows) + sqrt(n_cols))``,
    and every bias the spec's mean and std.
    """

    def __init__(self, graph: NeuralGraph, d_node: int, d_edge: int) -> None:
        super().__init__()
        self.graph = graph
        self.interchangeable = interchangeable_node_sets(graph)
        self.heads = nn.ModuleDict()
        for p in graph.spec.params:
            if p.is_edge:
                head: nn.Module = BilinearHead(d_node, d_edge)
                if self.centres(p):
                    head.shift.requires_grad_(False)
            else:
                head = nn.Sequential(nn.LayerNorm(d_node), nn.Linear(d_node, 1, bias=not self.centres(p)))
                nn.init.normal_(head[1].weight, std=d_node**-0.5)
                if head[1].bias is not None:
                    nn.init.zeros_(head[1].bias)
                if self.centres(p):  # the tensor is centred: the LayerNorm's shift moves every entry alike
                    freeze_if_centred(head[0].bias, members=2)
            self.heads[key(p.name)] = head
        self.log_gain = nn.ParameterDict({key(p.name): nn.Parameter(torch.zeros(())) for p in graph.spec.params})

    def centres(self, p: ParamSpec) -> bool:
        """Whether tensor ``p`` is centred over its members (it has an interchangeable axis)."""
        return any(a.perm is not None for a in self.graph.spec.axes(p))

    def state(self, nodes: dict[str, Tensor], node_set: str) -> Tensor:
        """What a weight head reads of a node set: its states, centred over the members where they are
        interchangeable (equivariant; read uncentred, the part every member shares dominated, and the
        decoded rows of interchangeable neurons started as near-copies of each other)."""
        return centred(nodes[node_set]) if node_set in self.interchangeable else nodes[node_set]

    def raw(self, p: ParamSpec, nodes: dict[str, Tensor]) -> Tensor:
        """The head's output for ``p``: ``(B, n_rows, n_cols)`` for a weight, ``(B, n)`` for a bias."""
        head = self.heads[key(p.name)]
        if p.is_edge:
            return head(self.state(nodes, p.nodes[0]), self.state(nodes, p.nodes[1]))
        return head(nodes[p.nodes[0]]).squeeze(-1)

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
            head = self.heads[key(p.name)]
            if p.is_edge:
                head.rescale(raw.mean(), size)
                continue
            linear = head[1]
            linear.weight /= size
            if linear.bias is not None:
                linear.bias.copy_((linear.bias - raw.mean()) / size)

    @staticmethod
    def block_size(raw: Tensor, p: ParamSpec) -> Tensor:
        """Spectral norm per ``sqrt(n_rows) + sqrt(n_cols)`` of a centred weight block; std of a bias.

        An output that no probe moves (a bias the intent cannot reach) is not rescaled: dividing by its
        ~0 spread would give its head a gain of ~1e6, and the first step's gradient would blow the run up.
        """
        centred_raw = raw - raw.mean()
        if p.is_edge:
            nr, nc = raw.shape[1], raw.shape[2]
            size = torch.linalg.matrix_norm(centred_raw, ord=2).mean() / (nr**0.5 + nc**0.5)
        else:
            size = centred_raw.std()
        return torch.where(size > 1e-4, size, torch.ones_like(size))

    def forward(self, nodes: dict[str, Tensor], spec: TargetSpec | None = None) -> Theta:
        """The weights of ``spec`` (by default the spec the decoders were calibrated on) from final node states.

        At the calibration spec a tensor's scale is its declared fan-in scale ``init_std`` (``~ 1/sqrt(fan_in)``).
        At other sizes it follows the fan-in as ``1/fan_in`` instead, ``init_std**2 / init_std_calibrated``:
        where ``S`` sums over a population of interchangeable members, each member's contribution then shrinks
        as the population grows, so the same per-member codes give the same function at any width (a
        mean-field reading; with ``1/sqrt(fan_in)`` the sum would grow as ``sqrt(width)``).
        """
        spec = spec or self.graph.spec
        calibrated = {p.name: p.init_std for p in self.graph.spec.params}
        theta: Theta = {}
        for p in spec.params:
            raw = self.raw(p, nodes)
            if self.centres(p):
                # No shared shift of a whole tensor: a shift is one tied direction that moves every
                # member at once (all hidden units' biases down -> every ReLU dead).
                raw = raw - raw.flatten(1).mean(1).view(-1, *[1] * (raw.dim() - 1))
            ref = calibrated[p.name]
            std = p.init_std if p.init_std == ref or ref == 0 else p.init_std**2 / ref
            scale = std * self.log_gain[key(p.name)].exp()
            theta[p.name] = (p.init_mean + scale * raw).reshape(raw.shape[0], *spec.shape(p))
        return theta


def interchangeable_node_sets(graph: NeuralGraph) -> frozenset[str]:
    """The node sets with an interchangeable axis (read centred by the weight heads), found once per model."""
    return frozenset(s.name for s in graph.spec.node_sets if not all(a.fixed for a in s.axes))


def padded(pe: Tensor, width: int) -> Tensor:
    """PE features zero-padded to ``width`` columns: ``(..., n, width)``."""
    return torch.nn.functional.pad(pe, (0, width - pe.shape[-1]))


def with_group(z: Tensor, index: int, groups: int) -> Tensor:
    """``[z || one-hot(index)]`` for every intent of the batch: ``(B, d + groups)``."""
    one_hot = z.new_zeros(z.shape[0], groups)
    one_hot[:, index] = 1.0
    return torch.cat([z, one_hot], dim=1)


class SharedEncoders(nn.Module):
    """The no-tying ablation: one node encoder for every group; the group id enters beside the intent code."""

    def __init__(self, graph: NeuralGraph, d_u: int, d_node: int) -> None:
        super().__init__()
        self.graph = graph
        self.width = max(code.shape[1] for code in graph.node_pe.values())
        self.node = NodeEncoder(d_u + len(graph.node_sets), self.width, d_node)

    def forward(self, z: Tensor, pe: dict[str, Tensor]) -> dict[str, Tensor]:
        g = self.graph
        return {
            n: self.node(with_group(z, i, len(g.node_sets)), padded(pe[n], self.width))
            for i, n in enumerate(g.node_sets)
        }


class SharedDecoders(GroupDecoders):
    """The no-tying ablation: one bilinear head for all weight tensors and one head for all biases. The
    tensor's id is an input feature that scales the normalized states feature-wise, ``LN(h) * (1 + A one_hot)``
    (a shift would be a per-tensor constant, which the per-tensor centring removes). Calibration (per
    tensor, as in :class:`GroupDecoders`) is a fixed affine map per tensor, kept in buffers."""

    def __init__(self, graph: NeuralGraph, d_node: int, d_edge: int) -> None:
        nn.Module.__init__(self)
        self.graph = graph
        self.interchangeable = interchangeable_node_sets(graph)
        params = graph.spec.params
        self.ids = {p.name: i for i, p in enumerate(params)}
        self.edge_head = BilinearHead(d_node, d_edge)
        self.node_norm = nn.LayerNorm(d_node)
        self.node_head = nn.Linear(d_node, 1)
        self.film = nn.Linear(len(params), d_node, bias=False)
        nn.init.normal_(self.film.weight, std=1.0)  # tensors start different, as separate heads would
        nn.init.normal_(self.node_head.weight, std=d_node**-0.5)
        nn.init.zeros_(self.node_head.bias)
        self.log_gain = nn.ParameterDict({key(p.name): nn.Parameter(torch.zeros(())) for p in params})
        for is_edge, offsets in ((True, [self.edge_head.shift]), (False, [self.node_norm.bias, self.node_head.bias])):
            kind = [p for p in params if p.is_edge == is_edge]
            if kind and all(self.centres(p) for p in kind):  # a shared shift is removed from every tensor
                for offset in offsets:
                    freeze_if_centred(offset, members=2)
        self.register_buffer("calib_shift", torch.zeros(len(params)))
        self.register_buffer("calib_scale", torch.ones(len(params)))

    def raw(self, p: ParamSpec, nodes: dict[str, Tensor]) -> Tensor:
        i = self.ids[p.name]
        scale = 1 + self.film.weight[:, i]  # = film(one_hot(i))
        if p.is_edge:
            out = self.edge_head(self.state(nodes, p.nodes[0]) * scale, self.state(nodes, p.nodes[1]) * scale)
        else:
            out = self.node_head(self.node_norm(nodes[p.nodes[0]]) * scale).squeeze(-1)
        return (out - self.calib_shift[i]) / self.calib_scale[i]

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
    """Intent encoder -> group-tied node encoders -> a mixer of node states (subclass) -> group-tied decoders.

    Positional encodings are buffers (saved in every checkpoint, so a checkpoint always
    synthesizes the same weights for the same intent); with ``resample_pe`` they are redrawn at
    every training step (an ablation) and the saved ones are used at evaluation. An axis the task relates
    to the intent without a gate is coded relative to the intent instead (``rpe__<node set>``
    frequencies, not redrawn). ``contract`` is the
    task's declaration of how its intent meets the axes of ``spec`` (:class:`metagnn.intent.IntentContract`).
    """

    def __init__(
        self, spec: TargetSpec, intent_dim: int, cfg: TiedConfig, contract: IntentContract = NO_CONTRACT
    ) -> None:
        super().__init__()
        self.spec = spec
        self.cfg = cfg
        self.graph = self.neural_graph(spec)
        for n, pe in self.graph.node_pe.items():
            self.register_buffer(f"pe__{key(n)}", pe.clone())
        self.contract = contract.check(spec, intent_dim) if cfg.intent_axes else NO_CONTRACT
        self.intent = nn.Sequential(
            nn.Linear(intent_dim, cfg.d_intent), nn.ReLU(), nn.Linear(cfg.d_intent, cfg.d_intent), nn.ReLU()
        )
        encoders, decoders = (GroupEncoders, GroupDecoders) if cfg.tie else (SharedEncoders, SharedDecoders)
        self.encoders = encoders(self.graph, cfg.d_intent, cfg.d_node)
        self.decoders = decoders(self.graph, cfg.d_node, cfg.d_edge)
        self.pe_generator = torch.Generator().manual_seed(cfg.pe_seed + 1)
        # Per related axis: a ReLU MLP of what each member is relative to the intent (a step at any
        # offset is two units), and the frequencies of its smooth code at those relative values.
        self.axis_encoders = nn.ModuleDict(
            {key(n): mlp(self.contract.width(n), cfg.d_node, cfg.d_node) for n in self.contract.node_sets}
        )
        generator = torch.Generator().manual_seed(cfg.pe_seed + 2)
        for n in self.contract.node_sets:
            half = cfg.pe_dim // 2
            omega = 2 * math.pi * cfg.pe_max_cycles * torch.rand(half, generator=generator, dtype=torch.float64)
            phase = 2 * math.pi * torch.rand(half, generator=generator, dtype=torch.float64)
            self.register_buffer(f"rpe__{key(n)}", torch.stack([omega, phase]).float())

    def neural_graph(self, spec: TargetSpec) -> NeuralGraph:
        c = self.cfg
        return NeuralGraph(spec, c.pe_dim, c.pe_seed, c.pe_max_cycles, c.pe_member_cycles)

    def positional_encodings(self) -> dict[str, Tensor]:
        if self.training and self.cfg.resample_pe:
            fresh = self.graph.sample_encodings(self.pe_generator)
            return {n: pe.to(self.pe_device) for n, pe in fresh.items()}
        return {n: getattr(self, f"pe__{key(n)}") for n in self.graph.node_sets}

    def replayable(self) -> bool:
        return not self.cfg.resample_pe  # redrawn PEs would be frozen into a replay

    @property
    def pe_device(self) -> torch.device:
        return getattr(self, f"pe__{key(self.graph.node_sets[0])}").device

    def mix(self, nodes: dict[str, Tensor]) -> dict[str, Tensor]:
        raise NotImplementedError

    def freeze_shared_offsets(self, last_offsets: dict[str, Tensor]) -> None:
        """Freeze the last round's additive offset of each node set that only centring weight heads read
        (interchangeable members and no bias of their own): the centring removes it (see :func:`freeze_if_centred`).
        ``last_offsets`` maps node sets to the bias of the last linear map that writes their final states."""
        for n, offset in last_offsets.items():
            s = self.spec.node_set(n)
            if not all(a.fixed for a in s.axes) and not self.graph.node_params[n]:
                freeze_if_centred(offset, members=s.size)

    def calibrate(self, intent_dim: int) -> None:
        """Data-independent output calibration on random probe intents (call at the end of ``__init__``).

        A modulus feature of a probe is drawn so that the modulus lies in ``2..span`` (a random normal
        value could put it near 0, where the members' ratios explode)."""
        generator = torch.Generator().manual_seed(self.cfg.pe_seed)
        probe = torch.randn(16, intent_dim, generator=generator)
        for a in self.contract.axes:
            if a.kind == "modulus":
                span = a.span if a.span is not None else self.spec.node_set(a.node_set).size
                c = 2 + (span - 2) * torch.rand(16, generator=generator)
                probe[:, a.feature] = (c - a.origin) / a.scale
        with torch.no_grad():
            nodes = self.mix(self.encode(probe))
            raw = {p.name: self.decoders.raw(p, nodes) for p in self.spec.params}
        self.decoders.calibrate(raw)

    def encode(self, u: Tensor) -> dict[str, Tensor]:
        """Initial node states ``{node set: (B, n, d_node)}``; the intent contract is read here and only here."""
        pe = self.positional_encodings()
        for n in self.contract.node_sets:  # members coded relative to the intent, per intent
            value = self.contract.code_value(n, u, pe[n].shape[0])
            if value is not None:
                omega, phase = getattr(self, f"rpe__{key(n)}")
                angle = value[..., None] * omega + phase
                pe[n] = torch.cat([angle.cos(), angle.sin()], dim=-1)
        nodes = self.encoders(self.intent(self.contract.intent_code(u)), pe)
        for n in self.contract.node_sets:
            h = nodes[n]
            nodes[n] = h + self.axis_encoders[key(n)](self.contract.features(n, u, h.shape[1]))
        return nodes

    def synthesize(self, u: Tensor) -> Theta:
        return self.decoders(self.mix(self.encode(u)), self.spec)

    def for_target(self, spec: TargetSpec, contract: IntentContract = NO_CONTRACT) -> TiedHypernetwork:
        """This hypernetwork writing the weights of ``spec``, another size of its target: a view that shares
        every parameter and module (training it trains this one) and has its own positional codes, drawn
        for the new sizes from the same seed. ``spec`` must have the same node sets, with axes of the same
        kinds and the same fixed sizes, and the same weight tensors (:meth:`check_serves` says what differs).

        The view is a snapshot of this model's non-parameter state: move the model (``.to``) and set its
        mode (``.train``/``.eval``) before making views, as training and :func:`metagnn.train.load_run` do.
        """
        self.check_serves(spec)
        view = copy.copy(self)  # shallow: the parameter and module tables are this model's own
        view._buffers = dict(self._buffers)
        view.spec = spec
        view.graph = self.neural_graph(spec)
        for n, pe in view.graph.node_pe.items():
            view._buffers[f"pe__{key(n)}"] = pe.to(self.pe_device)
        view.contract = contract.check(spec, self.intent[0].in_features) if self.cfg.intent_axes else NO_CONTRACT
        return view

    def check_serves(self, spec: TargetSpec) -> None:
        """A one-line :class:`ConfigError` unless this hypernetwork can write ``spec``'s weights: the node sets
        and weight tensors it learned, with axes of the same kinds; fixed axes (tokens, positions, inputs,
        classes: what ``S`` reads and writes) of the same sizes. Only interchangeable widths may change."""
        old = self.spec
        for kind, names_of in (
            ("node sets", lambda s: [n.name for n in s.node_sets]),
            ("weights", lambda s: [p.name for p in s.params]),
        ):
            added = [n for n in names_of(spec) if n not in names_of(old)]
            gone = [n for n in names_of(old) if n not in names_of(spec)]
            if added or gone:
                raise ConfigError(
                    f"{self.cfg.name} trained on a {old.family} with other {kind} cannot serve this target"
                    + (f": it never learned {', '.join(added[:4])}" if added else "")
                    + (f"{';' if added else ':'} it has no {', '.join(gone[:4])}" if gone else "")
                )
        for s in spec.node_sets:
            was = old.node_set(s.name)
            kinds = lambda node_set: ["fixed" if a.fixed else "interchangeable" for a in node_set.axes]  # noqa: E731
            if kinds(s) != kinds(was):
                raise ConfigError(
                    f"{self.cfg.name} cannot serve this target: node set {s.name!r} has "
                    f"{'/'.join(kinds(s)) or 'no'} axes, it was trained on {'/'.join(kinds(was))} ones"
                )
            if any(a.fixed and a.size != b.size for a, b in zip(s.axes, was.axes)):
                raise ConfigError(
                    f"{self.cfg.name} cannot serve this target: node set {s.name!r} is fixed by the task's data "
                    f"(size {was.size}, asked {s.size}); only interchangeable widths can change"
                )
