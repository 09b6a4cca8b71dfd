"""Built-in target: a ReLU MLP of any depth. Hidden neurons of each layer are interchangeable."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from metagnn.errors import SpecError
from metagnn.registry import TARGETS
from metagnn.targets.core import Axis, NodeSet, ParamSpec, TargetSpec

MAX_HIDDEN_LAYERS = 64


@TARGETS.register("mlp")
def mlp(*, n_in: int, hidden: list[int] | tuple[int, ...], n_out: int, intent_dim: int = 0) -> TargetSpec:
    """An MLP ``n_in -> hidden[0] -> ... -> n_out`` with ReLU between layers.

    Parameters are ``layers.{i}.weight`` of shape ``(out, in)`` and ``layers.{i}.bias``, as in
    ``nn.Linear``. With ``intent_dim > 0`` (the Direct baseline only) the intent features are
    extra inputs of the first layer (``layers.0.weight_intent``).
    """
    if len(hidden) > MAX_HIDDEN_LAYERS:
        raise SpecError(f"MLP with {len(hidden)} hidden layers: at most {MAX_HIDDEN_LAYERS}")
    widths = [int(n_in), *[int(h) for h in hidden], int(n_out)]
    if any(w < 1 for w in widths):
        raise SpecError(f"MLP widths must be positive, got {widths}")
    node_sets = [NodeSet("input", (Axis(widths[0]),))]
    for i, w in enumerate(widths[1:-1]):
        node_sets.append(NodeSet(f"hidden{i}", (Axis(w, perm=f"hidden{i}"),)))
    node_sets.append(NodeSet("output", (Axis(widths[-1]),)))
    params = []
    for i in range(len(widths) - 1):
        fan_in = widths[i] + (intent_dim if i == 0 else 0)
        src, dst = node_sets[i].name, node_sets[i + 1].name
        params.append(ParamSpec(f"layers.{i}.weight", (dst, src), init_std=1 / math.sqrt(fan_in)))
        params.append(ParamSpec(f"layers.{i}.bias", (dst,), init_std=1 / math.sqrt(3 * fan_in)))
    if intent_dim:
        node_sets.append(NodeSet("intent", (Axis(intent_dim),)))
        params.append(
            ParamSpec("layers.0.weight_intent", (node_sets[1].name, "intent"), 1 / math.sqrt(widths[0] + intent_dim))
        )
    n_layers = len(widths) - 1

    def forward(p: Mapping[str, Tensor], x: Tensor, u: Tensor | None) -> Tensor:
        h = x
        for i in range(n_layers):
            h = h @ p[f"layers.{i}.weight"].T + p[f"layers.{i}.bias"]
            if i == 0 and intent_dim:
                h = h + u @ p["layers.0.weight_intent"].T
            if i < n_layers - 1:
                h = torch.relu(h)
        return h

    kwargs = {"n_in": widths[0], "hidden": widths[1:-1], "n_out": widths[-1], "intent_dim": intent_dim}
    return TargetSpec("mlp", kwargs, tuple(node_sets), tuple(params), forward)
