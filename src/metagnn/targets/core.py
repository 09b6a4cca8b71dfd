"""Declarative target specifications: named parameter tensors whose axes declare their symmetry.

A target ``S`` is described by *node sets* (layers of neurons) and *parameters* that live on one
node set (a bias: one value per neuron) or connect two (a weight: one value per pair of neurons).
Every axis of a node set names the permutation acting on it, or ``None`` for a fixed axis such as
input features, vocabulary, positions or output classes. Parameter shapes, the symmetry of every
tensor axis, group ids and the neural graph are all derived from this one declaration.

``forward(params, x, u)`` is the functional single-network forward pass; :func:`run` executes it
for a batch of weight sets in one call, :func:`instantiate` wraps one weight set in a plain
``torch.nn.Module`` and :func:`run_with_cache` runs one weight set and hands out its intermediate
activations. All use the same function, so they cannot disagree.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from metagnn.errors import SpecError

Theta = dict[str, Tensor]
ForwardFn = Callable[[Mapping[str, Tensor], Tensor, "Tensor | None"], Tensor]


@dataclass(frozen=True)
class Axis:
    """One axis of a node set: its size, and the permutation acting on it (``None``: fixed)."""

    size: int
    perm: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 1:
            raise SpecError(f"axis size must be a positive int, got {self.size!r}")

    @property
    def fixed(self) -> bool:
        return self.perm is None


@dataclass(frozen=True)
class NodeSet:
    """A layer of neurons, indexed by one or more axes (e.g. attention ``(head, qk)``)."""

    name: str
    axes: tuple[Axis, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class ParamSpec:
    """A parameter tensor: on one node set (a bias) or between two (a weight).

    Its shape is the concatenation of its node sets' shapes. ``init_mean`` / ``init_std`` describe
    an i.i.d. initialisation (fan-in aware for weights). Hypernetworks start at that scale: a bias
    with this mean and std, a weight block (as an ``n_rows x n_cols`` matrix) with the spectral
    norm of such an i.i.d. draw, ``init_std * (sqrt(n_rows) + sqrt(n_cols))``.
    """

    name: str
    nodes: tuple[str, ...]
    init_std: float
    init_mean: float = 0.0

    def __post_init__(self) -> None:
        if len(self.nodes) not in (1, 2):
            raise SpecError(f"parameter {self.name!r} must live on 1 or 2 node sets, got {self.nodes}")

    @property
    def is_edge(self) -> bool:
        return len(self.nodes) == 2


@dataclass(frozen=True)
class TargetSpec:
    """A target architecture ``S``: node sets, parameters and a functional forward pass.

    ``forward(params, x, u)`` maps one weight set and a batch of inputs ``x`` (shape ``(N, ...)``)
    to outputs ``(N, ...)``; ``u`` (``(N, F)``) is only used by intent-conditioned variants (the
    Direct baseline) and is ``None`` otherwise. A forward that also takes a keyword ``cache`` (a
    dict it fills with named intermediate activations, as the built-in Transformer does) can be
    run through :func:`run_with_cache`. ``family`` and ``kwargs`` rebuild the spec from the
    target registry, which is how checkpoints store it.
    """

    family: str
    kwargs: Mapping[str, Any]
    node_sets: tuple[NodeSet, ...]
    params: tuple[ParamSpec, ...]
    forward: ForwardFn = field(compare=False, repr=False)

    def __post_init__(self) -> None:
        names = [s.name for s in self.node_sets]
        if len(set(names)) != len(names):
            raise SpecError(f"duplicate node set names in {names}")
        pnames = [p.name for p in self.params]
        if len(set(pnames)) != len(pnames):
            raise SpecError(f"duplicate parameter names in {pnames}")
        for p in self.params:
            for n in p.nodes:
                if n not in names:
                    raise SpecError(f"parameter {p.name!r} refers to unknown node set {n!r}")
        # Every permutation name must act on axes of one size only.
        sizes: dict[str, int] = {}
        for s in self.node_sets:
            for a in s.axes:
                if a.perm is not None and sizes.setdefault(a.perm, a.size) != a.size:
                    raise SpecError(f"permutation {a.perm!r} acts on axes of sizes {sizes[a.perm]} and {a.size}")

    # ----- derived structure -------------------------------------------------------------
    def node_set(self, name: str) -> NodeSet:
        for s in self.node_sets:
            if s.name == name:
                return s
        raise SpecError(f"unknown node set {name!r}")

    def axes(self, param: str | ParamSpec) -> tuple[Axis, ...]:
        """The axes of a parameter tensor, in order (each says which permutation acts on it)."""
        p = self.param(param) if isinstance(param, str) else param
        return tuple(a for n in p.nodes for a in self.node_set(n).axes)

    def shape(self, param: str | ParamSpec) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes(param))

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise SpecError(f"unknown parameter {name!r}")

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {p.name: self.shape(p) for p in self.params}

    @property
    def num_parameters(self) -> int:
        return sum(math.prod(s) for s in self.shapes.values())

    @property
    def perm_spec(self) -> dict[str, tuple[str | None, ...]]:
        """UNF-style view: for every parameter, the permutation acting on each axis."""
        return {p.name: tuple(a.perm for a in self.axes(p)) for p in self.params}

    @property
    def permutations(self) -> dict[str, int]:
        """Every declared permutation and the size of the axes it acts on."""
        return {a.perm: a.size for s in self.node_sets for a in s.axes if a.perm is not None}

    # ----- validation & execution ---------------------------------------------------------
    def check(self, theta: Mapping[str, Tensor], batch_dims: int = 0) -> None:
        """Raise :class:`SpecError` unless ``theta`` has exactly this spec's keys and shapes."""
        missing = [n for n in self.shapes if n not in theta]
        extra = [n for n in theta if n not in self.shapes]
        if missing or extra:
            raise SpecError(f"weight set does not match spec {self.family!r}: missing {missing}, unexpected {extra}")
        for name, shape in self.shapes.items():
            got = tuple(theta[name].shape[batch_dims:])
            if got != shape:
                raise SpecError(f"parameter {name!r} has shape {got}, spec {self.family!r} expects {shape}")

    def init_theta(self, generator: torch.Generator | None = None) -> Theta:
        """A random weight set with each parameter's declared mean and std (for tests, Direct)."""
        return {p.name: p.init_mean + p.init_std * torch.randn(self.shape(p), generator=generator) for p in self.params}

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "kwargs": dict(self.kwargs)}


def run(spec: TargetSpec, theta: Mapping[str, Tensor], x: Tensor) -> Tensor:
    """Execute ``S`` for a batch of weight sets in one call.

    Args:
        theta: parameter name -> tensor of shape ``(B, *shape)``.
        x: inputs of shape ``(B, N, ...)``, ``N`` examples per weight set.
    Returns:
        outputs of shape ``(B, N, ...)``.
    """
    spec.check(theta, batch_dims=1)
    batch = {v.shape[0] for v in theta.values()}
    if len(batch) != 1 or x.shape[0] not in batch:
        raise SpecError(f"weight sets and inputs disagree on the batch size: {sorted(batch)} vs {x.shape[0]}")
    return torch.vmap(lambda th, xb: spec.forward(th, xb, None))(dict(theta), x)


def run_with_cache(
    spec: TargetSpec, theta: Mapping[str, Tensor], x: Tensor, u: Tensor | None = None
) -> tuple[Tensor, dict[str, Tensor]]:
    """Run one weight set (unbatched tensors) on ``x (N, ...)`` and keep its intermediate activations.

    The same forward pass as :func:`run` (TransformerLens's ``run_with_cache`` pattern): returns
    ``(outputs (N, ...), {activation name: tensor})``, names and shapes as the target's forward
    documents them. With a parameter that requires grad, ``torch.autograd.grad(out, cache[name])``
    gives the gradient with respect to an activation. Raises :class:`SpecError` for a target whose forward
    takes no ``cache``.
    """
    if "cache" not in inspect.signature(spec.forward).parameters:
        raise SpecError(f"target {spec.family!r} offers no activation cache (its forward takes no 'cache')")
    spec.check(theta)
    cache: dict[str, Tensor] = {}
    out = spec.forward(dict(theta), x, u, cache=cache)
    return out, cache


class SynthesizedNetwork(nn.Module):
    """A plain ``nn.Module`` holding one weight set of a target spec.

    Parameter names are the spec's (dotted names become submodules), so ``state_dict()`` keys
    equal the spec's parameter names.
    """

    def __init__(self, spec: TargetSpec, theta: Mapping[str, Tensor]) -> None:
        super().__init__()
        spec.check(theta)
        self.spec = spec
        for name, value in theta.items():
            *path, leaf = name.split(".")
            module: nn.Module = self
            for part in path:
                if not hasattr(module, part):
                    module.add_module(part, nn.Module())
                module = getattr(module, part)
            module.register_parameter(leaf, nn.Parameter(value.detach().clone()))

    def forward(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        return self.spec.forward(dict(self.named_parameters()), x, u)


def instantiate(spec: TargetSpec, theta: Mapping[str, Tensor]) -> SynthesizedNetwork:
    """Wrap one weight set (unbatched tensors) in a plain ``nn.Module``."""
    return SynthesizedNetwork(spec, theta)


def permute(
    spec: TargetSpec, theta: Mapping[str, Tensor], perm: str, index: Tensor, params: list[str] | None = None
) -> Theta:
    """Apply permutation ``index`` to every axis that ``perm`` acts on (optionally only in ``params``).

    With ``params=None`` this is a declared symmetry and leaves the function unchanged; restricting
    it to some parameters (e.g. ``W_Q`` without ``W_K``) generally breaks the function.
    """
    out = dict(theta)
    for p in spec.params:
        if params is not None and p.name not in params:
            continue
        t = out[p.name]
        for dim, axis in enumerate(spec.axes(p)):
            if axis.perm == perm:
                t = t.index_select(dim, index)
        out[p.name] = t
    return out


def permute_fixed_axis(spec: TargetSpec, theta: Mapping[str, Tensor], node_set: str, axis: int, index: Tensor) -> Theta:
    """Permute one axis of a node set in every parameter touching it (a non-symmetry when fixed)."""
    out = dict(theta)
    for p in spec.params:
        offset = 0
        for n in p.nodes:
            ns = spec.node_set(n)
            if n == node_set:
                out[p.name] = out[p.name].index_select(offset + axis, index)
            offset += len(ns.axes)
    return out
