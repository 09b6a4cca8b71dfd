"""Experiment-sized check (marked slow): the README's quick Meta-GNN figures, as floors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metagnn.cli import load_config, main


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
        path = tmp_path / f"anchor-{anchored}.json"
        path.write_text(json.dumps(cfg))
        out = tmp_path / f"run-{anchored}"
        assert main(["train", "sumfirst", "--model", "metagnn", "--config", str(path), "--out", str(out),
                     "--no-progress"]) == 0  # fmt: skip
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["id_accuracy"] >= 0.6, metrics
        ood[anchored] = metrics["ood_accuracy"]
    assert ood[True] >= 0.4 and ood[False] <= 0.3, ood


@pytest.mark.slow
def test_anchored_attention_offsets_solve_the_unseen_shifts(tmp_path: Path) -> None:
    """Quick 1D-ARC Meta-GNN, seed 0, shipped config (relative attention bias, shift anchored on the
    offsets): the two unseen shifts, a distance never seen forward (shift-forward-4) and one never seen
    backward (shift-inverse-3), are solved, as is the unseen colour. Before the offset anchor every model
    scored 0 on shift-forward-4 (docs/results.md). Measured here over 3 seeds: 0.96-1.00 on each shift."""
    out = tmp_path / "arc"
    assert main(["train", "arc1d", "--model", "metagnn", "--config", "quick", "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    per_intent = {k: v["accuracy"] for k, v in metrics["per_intent"].items()}
    assert per_intent["shift-forward-4"] >= 0.8 and per_intent["shift-inverse-3"] >= 0.8, per_intent
    assert per_intent["recolour-7"] >= 0.8 and metrics["id_accuracy"] >= 0.8, per_intent
