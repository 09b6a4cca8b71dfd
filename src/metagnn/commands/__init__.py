"""Subcommand groups of the CLI, one module each; each exposes ``add_parser(subparsers)``.

Shared argument helpers live here, so that no subcommand imports the CLI module that loads it.
"""

from __future__ import annotations

import argparse

from metagnn.errors import ConfigError
from metagnn.train import WEIGHTS


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
