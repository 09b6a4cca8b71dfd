"""Models behind one registry: ``metagnn``, ``gmlp``, ``flat``, ``direct``."""

from __future__ import annotations

from typing import Any

from metagnn.config import from_dict
from metagnn.intent import NO_CONTRACT, IntentContract
from metagnn.models import direct, flat, gmlp, metagnn  # noqa: F401  (registers the built-ins)
from metagnn.models.base import CompiledSynthesis, Hypernetwork, Model
from metagnn.models.direct import Direct
from metagnn.models.tied import TiedHypernetwork
from metagnn.registry import MODELS
from metagnn.targets import TargetSpec


def build_model(
    name: str,
    spec: TargetSpec,
    intent_dim: int,
    config: dict[str, Any] | None = None,
    contract: IntentContract = NO_CONTRACT,
) -> Model:
    """Build registered model ``name`` for target ``spec`` from a (validated) config dict.

    ``contract`` is the task's declaration of how its intent meets the axes of ``spec``
    (:mod:`metagnn.intent`); every model but the flat one (which has no per-member input) reads it.
    """
    cls = MODELS.get(name)
    cfg = from_dict(cls.Config, config or {}, where=f"model config ({name})")
    if issubclass(cls, (TiedHypernetwork, Direct)):
        return cls(spec, intent_dim, cfg, contract)
    return cls(spec, intent_dim, cfg)


__all__ = ["CompiledSynthesis", "Hypernetwork", "Model", "build_model"]
