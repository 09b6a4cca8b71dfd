"""A new target and a new task defined outside the package train through the library unchanged."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from metagnn.registry import TARGETS, TASKS
from metagnn.targets import permute, run

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_family.py"


def load_example():
    if "custom_family" in sys.modules:  # registering twice would be refused
        return sys.modules["custom_family"]
    spec = importlib.util.spec_from_file_location("custom_family", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_family"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_custom_target_and_task_register_and_train(tmp_path: Path) -> None:
    """The example's target and task register by name, respect the declared symmetry, and Meta-GNN trains on
    them through the one training loop (the loss after 60 steps is below the loss at step 0)."""
    example = load_example()
    assert "gated_mlp" in TARGETS and "scale" in TASKS
    spec = example.gated_mlp(n_in=4, hidden=8, n_out=4)
    theta = spec.init_theta(torch.Generator().manual_seed(0))
    permuted = permute(spec, theta, "h", torch.randperm(8))
    x = torch.randn(1, 5, 4)
    batched = [{k: v[None] for k, v in t.items()} for t in (theta, permuted)]
    assert torch.allclose(run(spec, batched[0], x), run(spec, batched[1], x), atol=1e-6)
    metrics = example.main(steps=60, out=str(tmp_path / "run"))
    history = metrics["history"]
    assert history[-1]["loss"] < history[0]["loss"]
    assert set(metrics["per_intent"]) == {
        "-2.0",
        "-1.5",
        "-1.0",
        "-0.5",
        "0.5",
        "1.0",
        "1.5",
        "2.0",
        "0.75",
        "-0.25",
        "1.25",
    }
