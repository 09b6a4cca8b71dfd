"""Error types: one per class of bad input, each carrying a one-line message for the CLI."""

from __future__ import annotations


class MetaGNNError(Exception):
    """Base class: the CLI prints ``error: <message>`` and exits non-zero, never a traceback."""


class IntentError(MetaGNNError, ValueError):
    """An intent outside its task's domain (e.g. a non-prime ``p``)."""


class ConfigError(MetaGNNError, ValueError):
    """An unknown config key, a wrongly typed value, or an unknown task / model / target name."""


class SpecError(MetaGNNError, ValueError):
    """An inconsistent target specification or a weight set that does not match it."""


class CheckpointError(MetaGNNError, OSError):
    """A missing, truncated, corrupted or incompatible checkpoint or run folder."""


class RunFolderBusy(CheckpointError):
    """Another live process is training in this run folder (it holds the folder's lock)."""


class DataError(MetaGNNError, ValueError):
    """A malformed data file (e.g. 1D-ARC JSON)."""


class TrainingError(MetaGNNError, RuntimeError):
    """A numerical fault during training (NaN or inf loss)."""
