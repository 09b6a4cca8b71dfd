"""Dataclass configs built from JSON-like dicts with validation (``from_dict``); saved in checkpoints."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from metagnn.checkpoint import read_json
from metagnn.errors import ConfigError

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


def from_dict(cls: type[C], data: dict[str, Any], where: str = "config") -> C:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and wrongly typed values."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(fields))}")
    for key, value in data.items():
        if not _type_ok(value, hints[key]):
            raise ConfigError(f"{where}: {key}={value!r} should be of type {hints[key]}")
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
        if base in _seen or base == name:
            raise ConfigError(f"config {name}: 'base' {base!r} leads back to itself")
        data = merge(load_config(base, task, (*_seen, name)), data)
    unknown = sorted(set(data) - CONFIG_KEYS)
    if unknown:
        raise ConfigError(
            f"config {name}: unknown key(s) {', '.join(unknown)}; allowed: base, {', '.join(sorted(CONFIG_KEYS))}"
        )
    for key in CONFIG_KEYS & set(data):
        if not isinstance(data[key], dict):
            raise ConfigError(f"config {name}: {key!r} must be an object, got {type(data[key]).__name__}")
    for model, value in data.get("models", {}).items():
        if not isinstance(value, dict):
            raise ConfigError(f"config {name}: models.{model} must be an object, got {type(value).__name__}")
    return data
