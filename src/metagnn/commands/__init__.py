"""Subcommand groups of the CLI, one module each; each exposes ``add_parser(subparsers)``.

Shared argument helpers live here, so that no subcommand imports the CLI module that loads it.
"""

from __future__ import annotations

import argparse

from metagnn.train import WEIGHTS


def add_weights_argument(
    p: argparse.ArgumentParser,
    help: str = "last: the weights of the last step trained (default; SPEC 3b's headline); best: the weights "
    "validation selected",
) -> None:
    p.add_argument("--weights", choices=WEIGHTS, default="last", help=help)
