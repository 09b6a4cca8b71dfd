"""Tasks behind one registry: ``addmod``, ``sumfirst``, ``arc1d``."""

from __future__ import annotations

from typing import Any

from metagnn.config import from_dict
from metagnn.registry import TASKS
from metagnn.tasks import addmod, arc1d, sumfirst  # noqa: F401  (registers the built-ins)
from metagnn.tasks.base import SPLITS, Intent, Task


def build_task(name: str, config: dict[str, Any] | None = None) -> Task:
    """Build registered task ``name`` from a (validated) config dict."""
    cls = TASKS.get(name)
    return cls(from_dict(cls.Config, config or {}, where=f"task config ({name})"))


__all__ = ["SPLITS", "Intent", "Task", "build_task"]
