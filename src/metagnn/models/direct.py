"""Direct baseline (SPEC 2.4): ``(U, X) -> Y`` with no weight generation.

One trainable network of the target's family, made wider (``target_overrides``) to be of similar
size to Meta-GNN, reading the same intent features through an intent encoder as an extra input
(an extra token for a Transformer, extra input features for an MLP).

Where the task relates its intent to an axis of ``S`` (:mod:`metagnn.intent`), Direct gets the same
per-member information in its own input: every parameter living on that axis (a token's embedding
row, a class's unembedding column, an input's weights) gets a learned term computed, per intent, from
what the member is relative to the intent (its offset, or ``i / p`` and whether it is used) and a
smooth code of that value, as the hypernetworks' encoders see it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from metagnn.errors import ConfigError
from metagnn.intent import NO_CONTRACT, IntentContract
from metagnn.models.base import Model, mlp
from metagnn.models.tied import key
from metagnn.registry import MODELS
from metagnn.targets import SynthesizedNetwork, TargetSpec, build_target


@dataclass
class DirectConfig:
    d_intent: int = 64
    d_axis: int = 64  # hidden width of the per-member terms of related axes
    pe_dim: int = 16  # width of the smooth code of a related member's value
    intent_axes: bool = True  # False: ignore the task's intent contract, read the intent as a code (an ablation)
    target_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if min(self.d_intent, self.d_axis) < 1 or self.pe_dim < 2 or self.pe_dim % 2:
            raise ConfigError(f"direct config: d_intent, d_axis must be positive, pe_dim positive and even: {self}")
        if "intent_dim" in self.target_overrides:
            raise ConfigError("direct config: target_overrides may not set intent_dim")


@MODELS.register("direct")
class Direct(Model):
    Config = DirectConfig

    def __init__(
        self, spec: TargetSpec, intent_dim: int, cfg: DirectConfig, contract: IntentContract = NO_CONTRACT
    ) -> None:
        super().__init__()
        self.spec, self.cfg = spec, cfg
        self.contract = contract.check(spec, intent_dim) if cfg.intent_axes else NO_CONTRACT
        kwargs = {**spec.kwargs, **cfg.target_overrides, "intent_dim": cfg.d_intent}
        self.net_spec = build_target(spec.family, **kwargs)
        self.intent = nn.Sequential(
            nn.Linear(intent_dim, cfg.d_intent), nn.ReLU(), nn.Linear(cfg.d_intent, cfg.d_intent)
        )
        # Drawn from torch's global RNG, which the training loop seeds with the run's seed.
        self.net = SynthesizedNetwork(self.net_spec, self.net_spec.init_theta())
        # (related node set, parameter, axis of the parameter that the node set is) per related parameter.
        # Direct's network may put the intent in front as one more position (a Transformer): its positions
        # and attention offsets then hold the task's members shifted by one, with extra members at the ends.
        self.terms: list[tuple[str, str, int]] = []
        self.axis_terms = nn.ModuleDict()
        generator = torch.Generator().manual_seed(0)
        for node_set in self.contract.node_sets:
            half = cfg.pe_dim // 2
            omega = 2 * math.pi * 4.0 * torch.rand(half, generator=generator, dtype=torch.float64)
            self.register_buffer(
                f"code__{key(node_set)}",
                torch.stack([omega, 2 * math.pi * torch.rand(half, generator=generator, dtype=torch.float64)]).float(),
            )
            for p in self.net_spec.params:
                if node_set not in p.nodes:
                    continue
                shape = self.net_spec.shape(p)
                axis = p.nodes.index(node_set) * (len(self.net_spec.node_set(p.nodes[0]).axes))
                other = math.prod(shape) // shape[axis]
                self.terms.append((node_set, p.name, axis))
                term = mlp(self.contract.width(node_set) + cfg.pe_dim, cfg.d_axis, other)
                nn.init.zeros_(term[-1].weight)  # starts as the plain network
                nn.init.zeros_(term[-1].bias)
                self.axis_terms[key(p.name)] = term

    def member_inputs(self, node_set: str, u: Tensor, size: int) -> Tensor:
        """What each member of a related node set in Direct's network is, per intent: its features and a smooth code,
        as the task's spec numbers the members, ``(B, size, w)``; members the task's axis does not have
        (the intent token's position, the offsets that reach it) get zeros."""
        n = self.spec.node_set(node_set).size
        value = self.contract.code_value(node_set, u, n)
        if value is None:
            value = torch.arange(n, device=u.device, dtype=u.dtype)[None].expand(len(u), -1) / max(n - 1, 1)
        omega, phase = getattr(self, f"code__{key(node_set)}")
        angle = value[..., None] * omega + phase
        inputs = torch.cat([self.contract.features(node_set, u, n), angle.cos(), angle.sin()], dim=-1)
        lead = 0 if size == n else 1  # an intent token in front: member m of the task's axis is member m + 1
        return torch.nn.functional.pad(inputs, (0, 0, lead, size - n - lead))

    def forward(self, u: Tensor, x: Tensor) -> Tensor:
        b, n = x.shape[:2]
        z = self.intent(self.contract.intent_code(u))
        if not self.terms:
            return self.net(x.flatten(0, 1), z.repeat_interleave(n, dim=0)).unflatten(0, (b, n))
        shared = dict(self.net.named_parameters())
        batched = {}
        for node_set, name, axis in self.terms:
            shape = self.net_spec.shape(name)
            delta = self.axis_terms[key(name)](self.member_inputs(node_set, u, shape[axis]))  # (B, size, other)
            rest = [s for i, s in enumerate(shape) if i != axis]
            delta = delta.reshape(b, shape[axis], *rest).movedim(1, axis + 1)
            batched[name] = batched.get(name, shared[name]) + delta
        shared = {k: v for k, v in shared.items() if k not in batched}

        def one(th: dict[str, Tensor], xb: Tensor, zb: Tensor) -> Tensor:
            return self.net_spec.forward({**shared, **th}, xb, zb.expand(len(xb), -1))

        return torch.vmap(one)(batched, x, z[:, None])
