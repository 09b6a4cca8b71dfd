"""Subcommand groups of the CLI, one module each; each exposes ``add_parser(subparsers)``."""
