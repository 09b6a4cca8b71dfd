"""Models behind one registry: ``metagnn``, ``gmlp``, ``flat``, ``direct``."""

from __future__ import annotations

from typing import Any

from metagnn.config import from_dict
from metagnn.models import direct, flat, gmlp, metagnn  # noqa: F401  (registers the built-ins)
from metagnn.models.base import Hypernetwork, Model
from metagnn.registry import MODELS
from metagnn.spec import TargetSpec


def build_model(name: str, spec: TargetSpec, intent_dim: int, config: dict[str, Any] | None = None) -> Model:
    """Build registered model ``name`` for target ``spec`` from a (validated) config dict."""
    cls = MODELS.get(name)
    cfg = from_dict(cls.Config, config or {}, where=f"model config ({name})")
    return cls(spec, intent_dim, cfg)


__all__ = ["Hypernetwork", "Model", "build_model"]
