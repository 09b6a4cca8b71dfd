"""One synthesized program as a standalone file: weights + the spec that runs them.

``save_program`` writes a safetensors file whose tensors are the weight set (named as the spec's
parameters) and whose metadata holds the spec (``family`` + ``kwargs``), the task and the intent.
``load_program`` rebuilds a plain ``nn.Module`` from that file alone, no run folder needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metagnn.checkpoint import load_tensors, save_tensors
from metagnn.errors import CheckpointError, MetaGNNError
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
    header = meta["spec"]
    if not (
        isinstance(header, dict) and isinstance(header.get("family"), str) and isinstance(header.get("kwargs"), dict)
    ):
        raise CheckpointError(f"{path}: malformed program header (spec needs a family name and kwargs)")
    wrong = [k for k, v in tensors.items() if not v.is_floating_point()]
    if wrong:
        raise CheckpointError(f"{path}: weights must be floating point; {wrong[0]!r} is {tensors[wrong[0]].dtype}")
    try:  # build_target bounds the work a header can ask for (sizes, depth) before building anything
        spec = build_target(header["family"], **header["kwargs"])
    except MetaGNNError as e:
        raise CheckpointError(f"{path}: its spec cannot be built ({e})") from None
    except Exception as e:  # noqa: BLE001 - a user's target builder may raise anything on a crafted header
        raise CheckpointError(f"{path}: its spec cannot be built ({type(e).__name__}: {e})") from None
    try:
        net = instantiate(spec, tensors)
    except (MetaGNNError, RuntimeError, TypeError, ValueError, KeyError) as e:  # wrong names, shapes or dtypes
        raise CheckpointError(f"{path}: its weights do not fit its spec ({e})") from None
    net.info = {k: v for k, v in meta.items() if k not in ("spec",)}
    return net
