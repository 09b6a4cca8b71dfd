"""Models behind one registry: ``metagnn``, ``gmlp``, ``flat``, ``direct``."""

from __future__ import annotations

from typing import Any

from metagnn.config import from_dict
from metagnn.graph import Anchor
from metagnn.models import direct, flat, gmlp, metagnn  # noqa: F401  (registers the built-ins)
from metagnn.models.base import Hypernetwork, Model
from metagnn.models.tied import TiedHypernetwork
from metagnn.registry import MODELS
from metagnn.spec import TargetSpec


def build_model(
    name: str,
    spec: TargetSpec,
    intent_dim: int,
    config: dict[str, Any] | None = None,
    anchors: tuple[Anchor, ...] = (),
) -> Model:
    """Build registered model ``name`` for target ``spec`` from a (validated) config dict.

    ``anchors`` are the task's declarations (if any) that its intent is a coordinate on an axis of
    ``spec``; the tied hypernetworks use them when their config sets ``pe_anchor``.
    """
    cls = MODELS.get(name)
    cfg = from_dict(cls.Config, config or {}, where=f"model config ({name})")
    if issubclass(cls, TiedHypernetwork):
        return cls(spec, intent_dim, cfg, anchors=anchors)
    return cls(spec, intent_dim, cfg)


__all__ = ["Hypernetwork", "Model", "build_model"]
