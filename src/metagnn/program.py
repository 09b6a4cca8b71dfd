"""One synthesized program as a standalone file: weights + the spec that runs them.

``save_program`` writes a safetensors file whose tensors are the weight set (named as the spec's
parameters) and whose metadata holds the spec (``family`` + ``kwargs``), the task and the intent.
``load_program`` rebuilds a plain ``nn.Module`` from that file alone, no run folder needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metagnn.checkpoint import load_tensors, save_tensors
from metagnn.errors import CheckpointError
from metagnn.targets import SynthesizedNetwork, TargetSpec, Theta, build_target, instantiate


def save_program(path: Path | str, spec: TargetSpec, theta: Theta, **info: Any) -> None:
    """Write one weight set (unbatched) with its spec and free-form ``info`` (task, intent, ...)."""
    spec.check(theta)
    save_tensors(path, dict(theta), {"kind": "program", "spec": spec.to_dict(), **info})


def load_program(path: Path | str) -> SynthesizedNetwork:
    """Load a file written by :func:`save_program` (or ``metagnn synthesize``) as an ``nn.Module``."""
    tensors, meta = load_tensors(path)
    if meta.get("kind") != "program" or "spec" not in meta:
        raise CheckpointError(f"{path}: not a synthesized program (kind {meta.get('kind')!r})")
    spec = build_target(meta["spec"]["family"], **meta["spec"]["kwargs"])
    net = instantiate(spec, tensors)
    net.info = {k: v for k, v in meta.items() if k not in ("spec",)}
    return net
