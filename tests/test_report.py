"""Tables over seeds: mean and sample standard deviation per model (SPEC 3b)."""

from __future__ import annotations

import json
from pathlib import Path

from metagnn.cli import main


def row(model: str, seed: int, ood: float) -> dict:
    return {
        "task": "addmod", "model": model, "seed": seed, "config": {"model": model, "seed": seed},
        "id_accuracy": 1.0, "val_accuracy": 0.5, "ood_accuracy": ood,
        "chance": {"ood": 0.1}, "parameters": 1000, "steps": 10, "examples_seen": 100, "wall_time_s": 2.0,
        "per_intent": {"13": {"accuracy": ood, "split": "ood", "n": 169, "chance": 1 / 13}},
    }  # fmt: skip


def test_summarize_gives_mean_and_sample_std_per_model(tmp_path: Path, capsys) -> None:
    """Three seeds of one model become one row with mean ± sample std; a single run has no spread."""
    paths = []
    for i, (model, ood) in enumerate([("metagnn", 0.5), ("metagnn", 0.7), ("metagnn", 0.9), ("flat", 0.25)]):
        path = tmp_path / f"m{i}.json"
        path.write_text(json.dumps(row(model, i, ood)))
        paths.append(str(path))
    assert main(["summarize", *paths]) == 0
    lines = capsys.readouterr().out.splitlines()
    metagnn = next(line for line in lines if "| metagnn |" in line)
    assert "| 3 |" in metagnn and "0.700 ± 0.200" in metagnn
    flat = next(line for line in lines if "| flat |" in line)
    assert "0.250 |" in flat and "±" not in flat.split("|")[6]


def test_summarize_keeps_different_configs_apart(tmp_path: Path, capsys) -> None:
    """Runs of one model with different configs are separate rows, never pooled; a non-metrics file is refused."""
    a, b = row("metagnn", 0, 0.5), row("metagnn", 1, 0.9)
    b["config"] = {"model": "metagnn", "seed": 1, "model_config": {"rounds": 4}}
    for name, r in (("a.json", a), ("b.json", b)):
        (tmp_path / name).write_text(json.dumps(r))
    assert main(["summarize", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "| metagnn | 1 |" in out and "| metagnn (config 2) | 1 |" in out
    (tmp_path / "c.json").write_text(json.dumps({"rows": []}))
    assert main(["summarize", str(tmp_path / "c.json")]) == 2
    assert "not a run's metrics.json" in capsys.readouterr().err


def test_summarize_pools_a_run_recorded_with_defaults_and_one_recorded_without(tmp_path: Path, capsys) -> None:
    """A run folder written before configs were recorded resolved pools with one written after, as the same
    config: defaults are filled in before runs are grouped."""
    from metagnn.train import RunConfig

    partial = RunConfig("addmod", {"vocab": 16, "train": [5, 7], "val": [13], "ood": [3]}, "flat", {}, {"steps": 4})
    a, b = row("flat", 0, 0.5), row("flat", 1, 0.9)
    a["config"] = partial.as_json()
    b["config"] = RunConfig(**{**partial.resolved().as_json(), "seed": 1}).as_json()
    assert a["config"] != b["config"]
    for name, r in (("a.json", a), ("b.json", b)):
        (tmp_path / name).write_text(json.dumps(r))
    assert main(["summarize", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    assert "| flat | 2 |" in capsys.readouterr().out
