"""1D-ARC rules: clean-room rule functions, a row generator, the ``arc1d`` task and the real-task check."""

from __future__ import annotations

from metagnn.tasks.arc1d.rules import FAMILY_INTENTS, Intent, RuleUndefined, apply, parse_intent
from metagnn.tasks.arc1d.task import Arc1D, Arc1DConfig

__all__ = ["FAMILY_INTENTS", "Arc1D", "Arc1DConfig", "Intent", "RuleUndefined", "apply", "parse_intent"]
