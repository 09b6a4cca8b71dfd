"""The shipped configs are valid and honour SPEC 3b's budget rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from metagnn.config import load_config
from metagnn.errors import ConfigError
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


EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments" / "configs"


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*/*.json")), ids=lambda p: p.parent.name)
def test_experiment_configs_are_small_overrides_that_build(path: Path) -> None:
    """Each experiment config names a shipped base and holds only what it changes; every model it lists builds."""
    raw = json.loads(path.read_text())
    assert raw["base"] in ("quick", "full")
    base = load_config(raw["base"], path.stem)
    cfg = load_config(str(path), path.stem)
    assert cfg != base and set(cfg) == set(base)
    for key in ("task_config", "train"):  # an override never repeats a value the base already has
        for k, v in raw.get(key, {}).items():
            assert base[key].get(k) != v, (key, k)
    task = build_task(path.stem, cfg["task_config"])
    TrainConfig(**cfg["train"])
    for m, c in cfg["models"].items():
        build_model(m, task.spec, task.intent_dim, c, contract=task.contract)


def test_a_config_override_merges_objects_and_replaces_lists(tmp_path: Path) -> None:
    parent = tmp_path / "parent.json"
    parent.write_text(json.dumps({"base": "quick", "train": {"steps": 7}, "models": {"metagnn": {"rounds": 1}}}))
    child = tmp_path / "child.json"
    child.write_text(json.dumps({"base": "parent.json", "task_config": {"ood": [13]}, "models": {"gmlp": {"d": 3}}}))
    quick, cfg = load_config("quick", "addmod"), load_config(str(child), "addmod")
    assert cfg["train"] == {**quick["train"], "steps": 7}
    assert cfg["task_config"] == {**quick["task_config"], "ood": [13]}
    assert cfg["models"]["metagnn"] == {**quick["models"]["metagnn"], "rounds": 1}
    assert cfg["models"]["gmlp"] == {**quick["models"]["gmlp"], "d": 3}


@pytest.mark.parametrize(
    "text, says",
    [('{"base": "self.json"}', "leads back to itself"), ('{"base": 3}', "'base' must be"),
     ('{"base": "missing.json"}', "neither"), ('{"base": "quick", "trian": {}}', "unknown key(s) trian")],
)  # fmt: skip
def test_a_bad_override_is_one_line_error(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "self.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_config(str(path), "addmod")
