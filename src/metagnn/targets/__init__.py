"""Target specifications ``S``: declared symmetries, ``instantiate``, batched ``run``, ``run_with_cache``."""

from __future__ import annotations

import inspect
import typing
from typing import Any

from metagnn.config import check_value
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

# The built-in targets' numeric arguments are sizes and counts: none is negative, and none is near 2**24
# on any machine this runs on (a typo such as 1e9 fails here, at once, instead of while allocating).
# A user's target is checked against its own signature for types, finite numbers and 2**53 only.
TARGET_SIZE_LIMIT = 2**24


def build_target(family: str, **kwargs: Any) -> TargetSpec:
    """Build a registered target family from its keyword arguments (as stored in checkpoints)."""
    builder = TARGETS.get(family)
    where = f"target {family!r}"
    try:
        params = inspect.signature(builder).parameters
        hints = typing.get_type_hints(builder)
    except (TypeError, ValueError, NameError):  # a builder without a readable signature is checked by itself
        params, hints = {}, {}
    unknown = sorted(set(kwargs) - set(params))
    if params and unknown and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise ConfigError(f"{where}: unknown argument(s) {', '.join(unknown)}; allowed: {', '.join(params)}")
    sizes = (0, TARGET_SIZE_LIMIT) if builder.__module__.startswith("metagnn.") else (None, None)
    for key, value in kwargs.items():  # typed by the builder's own signature: "false" is not False
        if key in hints:
            check_value(value, hints[key], where, key, sizes)
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
