"""Target specifications ``S``: declared symmetries, ``instantiate``, batched ``run``, ``run_with_cache``."""

from __future__ import annotations

from typing import Any

from metagnn.errors import ConfigError
from metagnn.registry import TARGETS
from metagnn.targets import mlp, transformer  # noqa: F401  (registers the built-ins)
from metagnn.targets.core import (
    Axis,
    NodeSet,
    ParamSpec,
    SynthesizedNetwork,
    TargetSpec,
    Theta,
    instantiate,
    permute,
    permute_fixed_axis,
    run,
    run_with_cache,
)


def build_target(family: str, **kwargs: Any) -> TargetSpec:
    """Build a registered target family from its keyword arguments (as stored in checkpoints)."""
    builder = TARGETS.get(family)
    try:
        return builder(**kwargs)
    except TypeError as e:
        raise ConfigError(f"bad arguments for target {family!r}: {e}") from None


__all__ = [
    "Axis",
    "NodeSet",
    "ParamSpec",
    "SynthesizedNetwork",
    "TargetSpec",
    "Theta",
    "build_target",
    "instantiate",
    "permute",
    "permute_fixed_axis",
    "run",
    "run_with_cache",
]
