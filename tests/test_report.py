"""Tables over seeds: mean and sample standard deviation per model (SPEC 3b)."""

from __future__ import annotations

import json
from pathlib import Path

from metagnn.cli import main


def row(model: str, seed: int, ood: float) -> dict:
    return {
        "task": "addmod", "model": model, "seed": seed, "id_accuracy": 1.0, "val_accuracy": 0.5, "ood_accuracy": ood,
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
