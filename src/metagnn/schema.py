"""The version of what this package writes (run folders, checkpoints, programs), and why it last changed."""

from __future__ import annotations

SCHEMA_VERSION = 2
# Why a run or checkpoint of an older schema cannot be read (said in the one-line error).
SCHEMA_CHANGES = {
    2: "since schema 2 the tied hypernetworks keep node states only and read the intent through the task's "
    "intent contract (pe_anchor, anchor_only, relative_pe, shift_anchor and offset_anchor are gone): re-train it",
}


def schema_mismatch(found: object) -> str:
    """The end of the error for a file of schema ``found``: what this version reads, and why it changed."""
    older = isinstance(found, (int, str)) and str(found).isdigit() and int(found) < SCHEMA_VERSION
    why = SCHEMA_CHANGES.get(SCHEMA_VERSION, "") if older else ""
    return f"this metagnn reads {SCHEMA_VERSION}" + (f"; {why}" if why else "")
