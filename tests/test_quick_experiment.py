"""Experiment-sized check (marked slow): the README's quick Meta-GNN figures, as floors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metagnn.cli import load_config, main


def train_metagnn(task: str, cfg: dict, out: Path) -> dict:
    """Train Meta-GNN (seed 0) on ``task`` with the config ``cfg`` (written beside ``out``); its metrics."""
    path = out.with_suffix(".json")
    path.write_text(json.dumps(cfg))
    assert main(["train", task, "--model", "metagnn", "--config", str(path), "--out", str(out), "--no-progress"]) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.slow
def test_quick_metagnn_reaches_the_readme_floors(tmp_path: Path) -> None:
    """The quick AddMod-p Meta-GNN (the quickstart's first model, seed 0) learns the seen primes and is far
    above chance on unseen ones: ID >= 0.90 and OOD >= 0.30 (README reports ID 0.956, OOD 0.456 for this
    run; chance on the OOD primes is 0.038)."""
    out = tmp_path / "metagnn"
    assert main(["train", "addmod", "--model", "metagnn", "--config", "quick", "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["id_accuracy"] >= 0.90
    assert metrics["ood_accuracy"] >= 0.30


@pytest.mark.slow
def test_the_intent_anchor_is_what_lets_sumfirst_generalize(tmp_path: Path) -> None:
    """Quick SumFirst-n Meta-GNN, seed 0, with the shipped config (anchor + relative PEs) and without the
    anchor: only the anchored one is far above chance (0.05) on the unseen n. Measured here: shipped ID 0.998,
    OOD 0.928 (session 6, docs/results.md); without the anchor, with index PEs and the session-3 selection
    rule, ID 0.915, OOD 0.191. Training is chaotic at this budget (over 5 seeds this config gave OOD 0.36-0.99
    without select_tolerance, docs/results.md), so the floors are wide: what must hold is the contrast."""
    ood = {}
    for anchored in (True, False):
        cfg = load_config("quick", "sumfirst")  # shipped: pe_anchor and relative_pe
        if not anchored:
            cfg["models"] = {"metagnn": {}}
        metrics = train_metagnn("sumfirst", cfg, tmp_path / f"run-{anchored}")
        assert metrics["id_accuracy"] >= 0.6, metrics
        ood[anchored] = metrics["ood_accuracy"]
    assert ood[True] >= 0.4 and ood[False] <= 0.3, ood


@pytest.mark.slow
def test_anchored_attention_offsets_solve_the_unseen_shifts(tmp_path: Path) -> None:
    """Quick 1D-ARC Meta-GNN, seed 0, shipped config (relative attention bias, shift anchored on the
    offsets) and the same without the offset anchor: with it the two unseen shifts are solved, a distance
    never seen forward (shift-forward-4) and one never seen backward (shift-inverse-3); without it the new
    forward shift is not. Measured here over 3 seeds (docs/results.md): 0.96-1.00 on each with the anchor;
    without, shift-forward-4 0.00 (0.20 at most in any run without the offset anchor)."""
    per_intent = {}
    for anchored in (True, False):
        cfg = load_config("quick", "arc1d")
        cfg["task_config"]["offset_anchor"] = anchored
        metrics = train_metagnn("arc1d", cfg, tmp_path / f"arc-{anchored}")
        per_intent[anchored] = {k: v["accuracy"] for k, v in metrics["per_intent"].items()}
    with_anchor, without = per_intent[True], per_intent[False]
    assert with_anchor["shift-forward-4"] >= 0.8 and with_anchor["shift-inverse-3"] >= 0.8, with_anchor
    assert without["shift-forward-4"] <= 0.3, without  # at most 0.20 in every run without it (docs/results.md)
    assert with_anchor["recolour-7"] >= 0.5, with_anchor  # the colour anchor (0.84-1.00 measured)
