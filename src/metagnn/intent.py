"""How a task's intent meets the target ``S``: one declaration, made by the task, read by the models.

SPEC 3: a task may declare that its intent is related to a *fixed* axis of ``S`` (tokens, positions,
inputs, classes, attention offsets), in one of two ways:

- **position**: the intent is a coordinate ``c`` on the axis (SumFirst's ``n`` counts input
  positions; a 1D-ARC shift ``s`` is the attention offset a copy head reads). Member ``i`` is
  coded by its offset ``i - c``: one function of the offset then serves every intent, seen or not.
- **modulus**: the intent is the modulus ``c`` of the axis (AddMod's ``p`` on the number tokens
  and on the classes). Member ``i`` is coded by ``i / c``, and members at or beyond ``c`` are
  marked unused: token ``a`` of the program for ``p`` sits at the same place on the circle as
  token ``a * q / p`` of the program for ``q``.

The declaration is structure, not an answer: it says *where* the intent sits on an axis, never
which frequencies, features or weights solve the task. :class:`IntentContract` also says whether
the rest of the intent reaches the hypernetwork's encoders as a code; with ``code=False`` the
intent reaches the model only through its axes, so an unseen intent is no new intent code, only
members at offsets or ratios that may be new (the robust choice where the axes say everything, as for
SumFirst-n and AddMod-p).

A node set may hold several relations if at most one is ungated (1D-ARC's colour rules put up to four
gated colours on the output classes); the models read each related node set's relations together, their
features concatenated in the order of ``axes``, and the smooth code of its ungated one. The tied
hypernetworks read a contract in one place, ``TiedHypernetwork.encode`` (through
:meth:`IntentContract.features`, :meth:`IntentContract.code_value` and :meth:`IntentContract.intent_code`);
Direct reads the same per-member information. A model built with ``intent_axes: false`` ignores the
axes and reads the whole intent as a code (the ablation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from metagnn.errors import SpecError
from metagnn.targets import TargetSpec

KINDS = ("position", "modulus")


@dataclass(frozen=True)
class AxisRelation:
    """The intent is a ``position`` on, or the ``modulus`` of, the one fixed axis of node set ``node_set``.

    The coordinate (or modulus) is ``origin + scale * u[feature]`` for intent features ``u``. A
    ``gate`` (an intent feature that is 1 or 0) restricts a position to the intents where it is 1
    (1D-ARC's ``k`` is a colour for ``recolour`` but a distance for ``shift``). ``private``: the
    intent features that carry the coordinate (``feature`` and, e.g., sinusoids of it), which the
    intent code does not carry; the coordinate then reaches the model only through the axis. ``span``
    (modulus only) limits the relation to the axis's first ``span`` members (AddMod's number tokens,
    not its ``=`` token); the others keep their index code.
    """

    node_set: str
    kind: str
    feature: int
    scale: float = 1.0
    origin: float = 0.0
    gate: int | None = None
    private: tuple[int, ...] = ()
    span: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SpecError(f"intent axis {self.node_set!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "modulus" and self.gate is not None:
            raise SpecError(f"intent axis {self.node_set!r}: a modulus has no gate")
        if self.kind == "position" and self.span is not None:
            raise SpecError(f"intent axis {self.node_set!r}: span is for a modulus only")
        if not math.isfinite(self.scale) or self.scale == 0 or not math.isfinite(self.origin):
            raise SpecError(f"intent axis {self.node_set!r}: scale must be finite and non-zero, origin finite")

    @property
    def width(self) -> int:
        """Features per member (see :meth:`features`)."""
        if self.kind == "modulus":
            return 3
        return 1 if self.gate is None else 2

    def coordinate(self, u: Tensor) -> Tensor:
        """The intent's coordinate (or modulus) on the axis, in index units: ``(B,)``.

        A modulus counts members, so it is rounded to a whole number (``p / vocab * vocab`` in float32 is
        not always exactly ``p``, and member ``p`` must be marked unused). Raises :class:`SpecError` for a
        modulus below 1."""
        c = self.origin + u[:, self.feature].double() * self.scale
        if self.kind == "modulus":
            c = c.round()
            # Not while torch.compile traces or a CUDA graph is captured: a graph cannot read a value back.
            # There the check is the caller's (:class:`metagnn.models.base.CompiledSynthesis` checks its inputs
            # first; training's CUDA graphs replay the task's own intents).
            tracing = torch.compiler.is_compiling() or (u.is_cuda and torch.cuda.is_current_stream_capturing())
            if not tracing and bool((c < 1).any()):
                raise SpecError(f"intent axis {self.node_set!r}: a modulus below 1 in {c.tolist()}")
        return c.to(u.dtype)

    def features(self, u: Tensor, size: int) -> Tensor:
        """What member ``i < size`` of the axis is for each intent row of ``u``: ``(B, size, width)``.

        position: ``[i - c]``, with a gate ``[g (i - c), g]``. The offset is in index units, not
        scaled down: neighbouring offsets differ by 1, so a ReLU unit with weights of order 1 can
        switch between them (an offset scaled to ``[-1, 1]`` made hypernetworks interpolate between
        seen intents instead).
        modulus: ``[i / c, unused, outside]`` where ``unused`` marks ``c <= i < span`` and
        ``outside`` the members beyond the span (their ratio is 0).
        """
        c = self.coordinate(u)[:, None]
        index = torch.arange(size, device=u.device, dtype=u.dtype)[None]
        if self.kind == "position":
            offset = index - c
            if self.gate is None:
                return offset[..., None]
            gate = u[:, self.gate, None].expand_as(offset)
            return torch.stack([offset * gate, gate], dim=-1)
        inside = (index < (self.span if self.span is not None else size)).to(u.dtype).expand(len(u), -1)
        unused = (index >= c).to(u.dtype) * inside
        return torch.stack([index / c * inside, unused, 1 - inside], dim=-1)

    def code_value(self, u: Tensor, size: int) -> Tensor | None:
        """The value a member's smooth positional code is evaluated at, ``(B, size)``; ``None`` where
        the relation keeps the index code (a gated position: where its gate is closed, no offset exists).

        position: ``(i - c) / (size - 1)`` (the index code's own scale); modulus: ``i / c`` inside the
        span, and the index code's ``i / (size - 1)`` outside it.
        """
        if self.gate is not None:
            return None
        f = self.features(u, size)
        if self.kind == "position":
            return f[..., 0] / max(size - 1, 1)
        index = torch.arange(size, device=u.device, dtype=u.dtype)[None] / max(size - 1, 1)
        return torch.where(f[..., 2] > 0, index, f[..., 0])

    def check(self, spec: TargetSpec, intent_dim: int) -> None:
        """Raise :class:`SpecError` unless the relation fits ``spec`` and the intent features."""
        names = [s.name for s in spec.node_sets]
        axes = spec.node_set(self.node_set).axes if self.node_set in names else ()
        if len(axes) != 1 or not axes[0].fixed:
            raise SpecError(f"intent axis: {self.node_set!r} is not a node set with one fixed axis; have {names}")
        for f in (self.feature, self.gate, *self.private):
            if f is not None and not 0 <= f < intent_dim:
                raise SpecError(
                    f"intent axis {self.node_set!r}: feature {f} is outside the {intent_dim} intent features"
                )
        if self.span is not None and not 1 <= self.span <= axes[0].size:
            raise SpecError(f"intent axis {self.node_set!r}: span {self.span} is not in 1..{axes[0].size}")


@dataclass(frozen=True)
class IntentContract:
    """Every relation of the intent to an axis of ``S``, and whether the intent also enters as a code.

    ``code=False``: the intent reaches the hypernetwork only through its axes (its code is the same
    for every intent). Needs at least one relation.
    """

    axes: tuple[AxisRelation, ...] = ()
    code: bool = True

    def __post_init__(self) -> None:
        if not self.code and not self.axes:
            raise SpecError(
                "intent contract: code=False needs at least one axis relation (the intent would not reach the model)"
            )
        for n in self.node_sets:
            if sum(a.gate is None for a in self.on(n)) > 1:
                raise SpecError(
                    f"intent contract: node set {n!r} has two ungated relations; at most one relation per node "
                    "set may be ungated (a member has one smooth code)"
                )

    def check(self, spec: TargetSpec, intent_dim: int) -> IntentContract:
        """Raise :class:`SpecError` unless every relation fits ``spec``; returns ``self``."""
        for a in self.axes:
            a.check(spec, intent_dim)
        return self

    def intent_code(self, u: Tensor) -> Tensor:
        """The intent features the encoders see as a code: zeros with ``code=False``; otherwise ``u``
        with the private coordinates zeroed."""
        if not self.code:
            return torch.zeros_like(u)
        private = sorted({f for a in self.axes for f in a.private})
        if not private:
            return u
        u = u.clone()
        for f in private:  # column by column: an index tensor would be copied from the host (not in a CUDA graph)
            u[:, f] = 0.0
        return u

    def check_features(self, u: Tensor) -> None:
        """Raise :class:`SpecError` where intent features ``u`` put a modulus below 1 (what every model's
        forward checks too, except inside a compiled or captured graph)."""
        for a in self.axes:
            if a.kind == "modulus":
                a.coordinate(u)

    def snap(self, u: Tensor) -> Tensor:
        """Estimated intent features (from examples, :mod:`metagnn.examples`) made valid for the axes: each
        coordinate rounded to a whole member (a modulus to at least 1), each gate to 0 or 1; the rest as is."""
        u = u.clone()
        for a in {a.feature: a for a in self.axes}.values():  # two axes may read one coordinate
            c = (a.origin + u[:, a.feature].double() * a.scale).round()
            if a.kind == "modulus":
                c = c.clamp(min=1)
            u[:, a.feature] = ((c - a.origin) / a.scale).to(u.dtype)
            if a.gate is not None:
                u[:, a.gate] = u[:, a.gate].round().clamp(0, 1)
        return u

    def relation(self, node_set: str) -> AxisRelation | None:
        """The first relation on ``node_set``, or None (a node set may hold several: :meth:`on` gives them all)."""
        return next((a for a in self.axes if a.node_set == node_set), None)

    # What a member of a related node set is relative to the intent: the models read these, per node set.
    # A node set may hold several gated relations (1D-ARC's colour-table rules give each output colour a
    # role: member i is the colour of role r where ``i - c_r`` is 0 and role r's gate is open); their
    # features are concatenated, in the order of ``axes``.
    @property
    def node_sets(self) -> tuple[str, ...]:
        """The related node sets, each once, in the order of their first relation."""
        return tuple(dict.fromkeys(a.node_set for a in self.axes))

    def on(self, node_set: str) -> tuple[AxisRelation, ...]:
        """Every relation on ``node_set``, in the order of ``axes``."""
        return tuple(a for a in self.axes if a.node_set == node_set)

    def width(self, node_set: str) -> int:
        """Features per member of ``node_set`` (see :meth:`features`)."""
        return sum(a.width for a in self.on(node_set))

    def features(self, node_set: str, u: Tensor, size: int) -> Tensor:
        """What member ``i < size`` of ``node_set`` is for each intent: every relation's
        :meth:`AxisRelation.features`, concatenated, ``(B, size, width)``."""
        return torch.cat([a.features(u, size) for a in self.on(node_set)], dim=-1)

    def code_value(self, node_set: str, u: Tensor, size: int) -> Tensor | None:
        """The value a member's smooth code is evaluated at (the one ungated relation's), or None."""
        return next((v for a in self.on(node_set) if (v := a.code_value(u, size)) is not None), None)


NO_CONTRACT = IntentContract()
