"""Dataclass configs built from JSON-like dicts with validation (``from_dict``); saved in checkpoints."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from metagnn.checkpoint import read_json
from metagnn.errors import ConfigError
from metagnn.registry import MODELS

C = TypeVar("C")


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        args = typing.get_args(hint)
        return isinstance(value, (list, tuple)) and (not args or all(_type_ok(v, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


# Every number in a config is bounded before any work starts: integers to what JSON holds exactly (seeds
# times a small factor still fit torch's 64-bit seeds), floats finite. A field narrows its own range with
# ``field(metadata=bounds(lo, hi))``; the dataclass is the one list of what a config may hold.
INT_LIMIT = 2**53


def bounds(lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    """Field metadata: the closed range a number (or every number in a list) must lie in."""
    return {"range": (lo, hi)}


def check_value(value: Any, hint: Any, where: str, key: str, limits: tuple[Any, Any] = (None, None)) -> None:
    """A one-line :class:`ConfigError` unless ``value`` has type ``hint`` and its numbers are in range."""
    if not _type_ok(value, hint):
        raise ConfigError(f"{where}: {key}={_short(value)} should be of type {hint}")
    for number in _numbers(value):
        lo, hi = limits
        if isinstance(number, float) and not math.isfinite(number):
            raise ConfigError(f"{where}: {key}={_short(value)} must be a finite number")
        if abs(number) > INT_LIMIT:
            raise ConfigError(f"{where}: {key}={_short(value)} is out of range (at most 2**53 in size)")
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            span = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
            raise ConfigError(f"{where}: {key}={_short(value)} must be in {span}")


def _numbers(value: Any) -> list[int | float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _numbers(v)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    return []


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def from_dict(cls: type[C], data: dict[str, Any], where: str = "config") -> C:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys, wrongly typed values and numbers out
    of range (non-finite, beyond 2**53, or outside a field's own ``bounds``)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(fields))}")
    for key, value in data.items():
        check_value(value, hints[key], where, key, fields[key].metadata.get("range", (None, None)))
    values = {k: (float(v) if hints[k] is float else v) for k, v in data.items()}
    return cls(**values)


CONFIG_KEYS = {"task_config", "train", "models"}
SHIPPED = ("quick", "full")


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied: objects merge key by key, anything else (lists too) is replaced."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(name: str, task: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A run config: ``quick`` / ``full`` (shipped with the package) or a path to a JSON file.

    A file may name a ``"base"`` (``quick``, ``full`` or another file, relative to it) and hold only the keys
    it changes, e.g. ``{"base": "full", "task_config": {"ood": [13, 29]}}``.
    """
    if name in SHIPPED:
        res = resources.files("metagnn") / "configs" / f"{task}-{name}.json"
        if not res.is_file():
            raise ConfigError(f"task {task!r} has no {name!r} config")
        data = json.loads(res.read_text())
    elif Path(name).is_file():
        data = read_json(name)
    else:
        raise ConfigError(f"config {name!r} is neither 'quick', 'full' nor an existing JSON file")
    if "base" in data:
        base = data.pop("base")
        if not isinstance(base, str):
            raise ConfigError(f"config {name}: 'base' must be 'quick', 'full' or a path, got {base!r}")
        if base not in SHIPPED:
            base = str(Path(name).parent / base)
            if str(Path(base).resolve()) in {*_seen, str(Path(name).resolve())}:
                raise ConfigError(f"config {name}: 'base' {base!r} leads back to itself")
        data = merge(load_config(base, task, (*_seen, str(Path(name).resolve()))), data)
    unknown = sorted(set(data) - CONFIG_KEYS)
    if unknown:
        raise ConfigError(
            f"config {name}: unknown key(s) {', '.join(unknown)}; allowed: base, {', '.join(sorted(CONFIG_KEYS))}"
        )
    for key in CONFIG_KEYS & set(data):
        if not isinstance(data[key], dict):
            raise ConfigError(f"config {name}: {key!r} must be an object, got {type(data[key]).__name__}")
    for model, value in data.get("models", {}).items():
        if model not in MODELS:  # ignoring it would silently run the defaults instead
            raise ConfigError(
                f"config {name}: unknown model {model!r} under models; known: {', '.join(MODELS.names())}"
            )
        if not isinstance(value, dict):
            raise ConfigError(f"config {name}: models.{model} must be an object, got {type(value).__name__}")
    return data
