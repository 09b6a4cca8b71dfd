"""Subcommand groups of the CLI, one module each; each exposes ``add_parser(subparsers)``.

Shared argument helpers live here, so that no subcommand imports the CLI module that loads it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from metagnn.config import INT_LIMIT
from metagnn.errors import ConfigError
from metagnn.train import WEIGHTS


def whole_number(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number in ``lo..hi``, or a one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = lo - 1
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected a whole number in {lo}..{hi}, got {text!r}")
        return value

    return parse


def seed_value(text: str) -> int:
    value = int(text)
    if not 0 <= value <= INT_LIMIT:  # every number a run folder records is exact in JSON
        raise argparse.ArgumentTypeError(f"seed must be in 0..2**53, got {text}")
    return value


def intent_items(value: str | list[str]) -> list[str]:
    """The entries of an ``--intents`` value, split at commas; a one-line error when it names none.

    argparse reads the value of ``--intents=--`` as its own ``--`` marker and hands over ``[]``: that is
    the entry ``--`` (so the error names it), not an empty list."""
    text = (",".join(value) or "--") if isinstance(value, list) else value
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError(f"no intent in {text!r}; give one or more, comma-separated (e.g. 13,29)")
    return items


def add_weights_argument(
    p: argparse.ArgumentParser,
    help: str = "last: the weights of the last step trained (default; SPEC 3b's headline); best: the weights "
    "validation selected",
) -> None:
    p.add_argument("--weights", choices=WEIGHTS, default="last", help=help)


def add_target_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--target",
        action="append",
        metavar="KEY=VALUE",
        default=None,
        help="a setting of the target S other than the run's, e.g. d_model=40 or hidden=[96,96] (repeatable; "
        "Meta-GNN and Meta-gMLP write weights for target sizes they never trained on)",
    )


def target_items(values: list[str] | None) -> dict[str, Any] | None:
    """``["d_model=40", "hidden=[96,96]"]`` -> ``{"d_model": 40, "hidden": [96, 96]}`` (values read as JSON
    where they parse, else as text); None when none is given."""
    if not values:
        return None
    out: dict[str, Any] = {}
    for item in values:
        name, sep, text = item.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise ConfigError(f"--target {item!r}: expected KEY=VALUE, e.g. d_model=40")
        try:
            out[name.strip()] = json.loads(text)
        except ValueError:
            out[name.strip()] = text.strip()
    return out
