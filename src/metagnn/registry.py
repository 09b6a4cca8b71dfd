"""The one registry of target architectures, tasks and models.

A new target, task or model is one new file plus one ``@REGISTRY.register("name")`` line; the
CLI and checkpoints look names up here, so user code registered before ``main`` is called works
exactly like the built-ins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from metagnn.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object mapping with a clear error for unknown names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ConfigError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        if name not in self._items:
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._items))}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items


TARGETS: Registry[Callable] = Registry("target")
TASKS: Registry[Callable] = Registry("task")
MODELS: Registry[Callable] = Registry("model")
