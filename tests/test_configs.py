"""The shipped configs are valid and honour SPEC 3b's budget rules."""

from __future__ import annotations

import pytest

from metagnn.cli import load_config
from metagnn.models import build_model
from metagnn.tasks import build_task
from metagnn.train import TrainConfig


@pytest.mark.parametrize("name", ["quick", "full"])
def test_shipped_addmod_config_is_valid_and_fair(name: str) -> None:
    """Every model builds from the config; Direct's parameter count is within 2x of Meta-GNN's; the splits are
    SPEC 3's (the full config's train primes are the primes 5..113 not held out)."""
    cfg = load_config(name, "addmod")
    TrainConfig(**cfg["train"])
    task = build_task("addmod", cfg["task_config"])
    sizes = {
        m: build_model(m, task.spec, task.intent_dim, c, contract=task.contract).num_parameters()
        for m, c in cfg["models"].items()
    }
    assert set(sizes) == {"metagnn", "gmlp", "flat", "direct"}
    assert 0.5 <= sizes["direct"] / sizes["metagnn"] <= 2.0, sizes
    held_out = {*task.splits["val"], *task.splits["ood"]}
    if name == "full":
        primes = [p for p in range(5, 114) if all(p % d for d in range(2, p))]
        assert task.splits["train"] == [p for p in primes if p not in held_out]
        assert task.splits["extrapolation"] == [127] and task.cfg.vocab == 128
    else:
        assert task.splits["ood"] == [13, 29, 43, 53] and task.splits["val"] == [23, 47] and task.cfg.vocab == 64


@pytest.mark.parametrize("name", ["quick", "full"])
def test_shipped_sumfirst_config_is_valid_and_fair(name: str) -> None:
    """SumFirst-n: SPEC 3's splits, the 16 -> 64 -> 64 -> 1 MLP target, Direct within 2x of Meta-GNN."""
    cfg = load_config(name, "sumfirst")
    TrainConfig(**cfg["train"])
    task = build_task("sumfirst", cfg["task_config"])
    assert task.splits == {"train": [1, 2, 3, 5, 6, 8, 10, 12, 14, 15], "val": [7, 11], "ood": [4, 9, 13],
                           "extrapolation": [16]}  # fmt: skip
    assert task.spec.shapes["layers.0.weight"] == (64, 16) and task.spec.shapes["layers.2.weight"] == (1, 64)
    sizes = {
        m: build_model(m, task.spec, task.intent_dim, c, contract=task.contract).num_parameters()
        for m, c in cfg["models"].items()
    }
    assert 0.5 <= sizes["direct"] / sizes["metagnn"] <= 2.0, sizes
