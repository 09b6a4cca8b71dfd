"""Intents given as examples (metagnn.examples): the set encoder is invariant to the order of the
demonstrations, learns to place the intent from them, and the CLI scores runs with it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from test_cli import config, run_dir  # noqa: F401  (fixtures: a tiny AddMod-p run)

from metagnn import checkpoint as ckpt
from metagnn.cli import main
from metagnn.errors import CheckpointError, ConfigError, IntentError
from metagnn.examples import (
    EncoderConfig,
    SetEncoder,
    estimate,
    feature_loss,
    fit_encoder,
    load_encoder,
    recovered,
    save_encoder,
)
from metagnn.intent import AxisRelation, IntentContract
from metagnn.tasks import Task, build_task

SMALL = EncoderConfig(hidden=64, steps=600, max_pairs=16, intents_per_step=32)


def test_the_encoder_reads_a_set_in_any_order_and_of_any_size(gen: torch.Generator) -> None:
    encoder = SetEncoder(5, 3, EncoderConfig(hidden=16))
    pairs = torch.randn(4, 7, 5, generator=gen)
    out = encoder(pairs)
    assert out.shape == (4, 3)
    torch.testing.assert_close(encoder(pairs[:, torch.randperm(7, generator=gen)]), out)
    assert encoder(pairs[:, :1]).shape == (4, 3)  # a single demonstration
    assert not torch.allclose(encoder(pairs[:, :1]), out)  # ... that says less than seven
    for bad in (pairs[:, :0], pairs[0], pairs[..., :4]):
        with pytest.raises(IntentError, match="demonstrations: expected") as info:
            encoder(bad)
        assert "\n" not in str(info.value)


def test_a_convolutional_encoder_reads_rows_of_cells_the_same_wherever_they_happen(
    gen: torch.Generator, tmp_path: Path
) -> None:
    """With a kernel, each demonstration is read as cells by convolutions pooled over the cells: the estimate is
    invariant to the order of the demonstrations and to moving a pattern inside the row (away from its ends);
    it needs a task whose demonstrations are rows, and it round-trips through its file."""
    arc = build_task("arc1d", {"test_examples": 8})
    cfg = EncoderConfig(hidden=16, kernel=5, layers=2)
    encoder = SetEncoder(36 * 22, arc.intent_dim, cfg, arc.pair_cells)
    rows = torch.zeros(2, 36, dtype=torch.long)  # two demonstrations: an object moved one cell right
    rows[0, 10:14], rows[1, 16:18] = 3, 5
    outs = rows.roll(1, 1)
    x, y = torch.stack([rows, rows.roll(7, 1)]), torch.stack([outs, outs.roll(7, 1)])  # (2 intents, 2 pairs, 36)
    pairs = arc.pair_features(x, y)
    estimated = encoder(pairs)
    torch.testing.assert_close(estimated[0], estimated[1])  # the same demonstrations, 7 cells to the right
    torch.testing.assert_close(encoder(pairs.flip(1)), estimated)
    assert not torch.allclose(encoder(arc.pair_features(x, x)), estimated)  # rows left as they are read otherwise
    addmod = build_task("addmod", {})
    with pytest.raises(ConfigError, match="needs demonstrations read as cells") as info:
        SetEncoder(10, addmod.intent_dim, cfg, addmod.pair_cells)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="kernel must be odd"):
        SetEncoder(36 * 22, arc.intent_dim, EncoderConfig(hidden=16, kernel=4), arc.pair_cells)
    save_encoder(tmp_path / "enc.safetensors", encoder, {"config": asdict(cfg), "d_pair": 36 * 22,
                 "intent_dim": arc.intent_dim, "cells": arc.pair_cells}, arc)  # fmt: skip
    torch.testing.assert_close(load_encoder(tmp_path / "enc.safetensors", arc)[0](pairs), estimated)


def test_snap_rounds_coordinates_to_whole_members_and_gates_to_zero_or_one() -> None:
    contract = IntentContract(
        (AxisRelation("input", "position", 0, scale=16, gate=1), AxisRelation("classes", "modulus", 2, scale=64))
    )
    u = torch.tensor([[4.3 / 16, 0.8, 12.6 / 64, 0.5], [-0.2 / 16, 0.1, 0.2 / 64, -3.0]])
    snapped = contract.snap(u)
    torch.testing.assert_close(snapped[:, 0] * 16, torch.tensor([4.0, 0.0]))
    torch.testing.assert_close(snapped[:, 1], torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(snapped[:, 2] * 64, torch.tensor([13.0, 1.0]))  # a modulus is at least 1
    torch.testing.assert_close(snapped[:, 3], u[:, 3])  # not a coordinate: left as estimated


def test_the_loss_weighs_coordinates_in_index_units() -> None:
    """SumFirst's n is a position on the input axis: an estimate one position off costs 1, as much as every
    other feature (sinusoids of n, read by the flat hypernetwork) off by 1 together."""
    task = build_task("sumfirst")
    true = task.intent_features([5, 9])
    off = true.clone()
    off[:, 0] += 1 / 16
    assert feature_loss(task, off, true).item() == pytest.approx(1.0)
    off[:, 1:] += 1.0
    assert feature_loss(task, off, true).item() == pytest.approx(2.0)
    assert feature_loss(task, true, true).item() == 0.0


def test_an_arc1d_estimate_is_the_intent_only_if_its_rule_is_too() -> None:
    """arc1d's intent enters as a code besides its axes: an estimate with the right (zero) shift and colour but
    another rule is not the intent; with the relative attention bias, two axes read the shift, and its error
    counts for each."""
    task = build_task("arc1d", {"target": {"d_model": 8, "n_heads": 2, "d_mlp": 16, "rel_bias": True}})
    true = task.intent_features(["fill-forward", "shift-forward-2"])
    guess = task.intent_features(["flip", "shift-forward-2"])
    assert recovered(task, task.contract.snap(guess), ["fill-forward", "shift-forward-2"]) == [False, True]
    off = true.clone()
    off[1, 8] += 1 / 4  # the shift one cell off
    assert feature_loss(task, off, true).item() == pytest.approx(2 * 1 / 2)  # two axes, the mean of two rows


def test_pair_features_are_the_examples_themselves(gen: torch.Generator) -> None:
    addmod = build_task("addmod")
    x = torch.tensor([[[3, 4, 64], [10, 12, 64]]])
    y = torch.tensor([[0, 3]])  # (3 + 4) mod 7, (10 + 12) mod 19
    torch.testing.assert_close(addmod.pair_features(x, y), torch.tensor([[[3, 4, 0], [10, 12, 3]]]) / 64.0)
    demo = build_task("sumfirst").demonstrations([3, 16], 5, gen)
    assert demo.shape == (2, 5, 17) and 0 <= float(demo.min()) and float(demo.max()) <= 1
    arc = build_task("arc1d")
    x, y = arc.sample(["flip"], 2, gen)
    one_hot = arc.pair_features(x, y).view(1, 2, 36, 2, 11)  # per cell: (input, output) x (10 colours, padding)
    assert torch.equal(one_hot[..., 0, :].argmax(-1), x) and torch.equal(one_hot.sum(-1), torch.ones(1, 2, 36, 2))

    class NoPairs(type(addmod)):
        pair_features = Task.pair_features

    with pytest.raises(IntentError, match="cannot be given as examples"):
        NoPairs(addmod.cfg).demonstrations([5], 2, gen)


def test_a_fitted_encoder_places_seen_and_unseen_intents_from_demonstrations(tmp_path: Path) -> None:
    """Fitted on SumFirst-n's train intents only, the encoder finds n from 16 demonstrations for most draws,
    for the OOD intents too; an untrained one never does. Saved and loaded, it answers the same."""
    task = build_task("sumfirst")
    encoder, record = fit_encoder(task, SMALL)
    untrained = SetEncoder(record["d_pair"], task.intent_dim, SMALL)
    g = torch.Generator().manual_seed(5)
    for split, floor in (("train", 0.8), ("ood", 0.6)):
        intents = task.splits[split] * 10
        pairs = task.demonstrations(intents, 16, g)
        assert sum(recovered(task, estimate(encoder, task, pairs), intents)) / len(intents) >= floor, split
        assert sum(recovered(task, estimate(untrained, task, pairs), intents)) / len(intents) <= 0.2, split
    save_encoder(tmp_path / "enc.safetensors", encoder, record, task)
    loaded, meta = load_encoder(tmp_path / "enc.safetensors", task)
    torch.testing.assert_close(loaded(pairs), encoder(pairs))
    assert meta["config"]["steps"] == SMALL.steps
    with pytest.raises(CheckpointError, match="another task or other splits"):
        load_encoder(tmp_path / "enc.safetensors", build_task("sumfirst", {"ood": [4]}))
    # an encoder saved before a task config field existed (here: test_examples) reads with its default
    tensors, meta = ckpt.load_tensors(tmp_path / "enc.safetensors")
    del meta["task_config"]["test_examples"]
    ckpt.save_tensors(tmp_path / "older.safetensors", tensors, meta)
    assert load_encoder(tmp_path / "older.safetensors", task)[1]["task"] == "sumfirst"


def test_cli_scores_a_run_from_examples_and_reuses_its_encoder(
    run_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    out = tmp_path / "ex"
    args = ["examples", str(run_dir), "--out", str(out), "--steps", "30", "--pairs", "4,1", "--draws", "2"]
    assert main([*args, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "| metagnn | ood | 1 |" in printed and "| intent recovered | id |" in printed
    result = json.loads((out / "results.json").read_text())
    assert result["pairs"] == [1, 4] and result["draws"] == 2
    row = result["runs"][0]
    assert set(row["per_k"]) == {"1", "4"}
    assert set(row["per_k"]["4"]["per_intent"]) == {"5", "7", "11", "13", "3"}  # train, val and OOD intents
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert row["given"]["ood_accuracy"] == metrics["ood_accuracy"]  # the value given: the run's own figure
    assert (out / "from-examples.png").stat().st_size > 0 and (out / "encoder.safetensors").exists()
    before = (out / "encoder.safetensors").read_bytes()
    assert main([*args, "--no-progress"]) == 0
    assert "reusing the intent encoder" in capsys.readouterr().err
    assert (out / "encoder.safetensors").read_bytes() == before
    assert json.loads((out / "results.json").read_text())["runs"] == result["runs"]  # fixed draws: the same figures
    other = [a if a != "30" else "31" for a in args]  # another budget than the saved encoder's
    assert main([*other, "--no-progress"]) == 2
    assert "was fitted with steps=30" in capsys.readouterr().err
    assert main([*args, "--encoder", str(tmp_path / "none.safetensors")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "needle"), [(["--pairs", "0,2"], "pair counts in 1..4096"),
                                               (["--draws", "0"], "whole number in 1..10000000")])  # fmt: skip
def test_cli_refuses_bad_counts_in_one_line(
    run_dir: Path,  # noqa: F811
    tmp_path: Path,
    extra: list[str],
    needle: str,
    capsys: pytest.CaptureFixture,
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["examples", str(run_dir), "--out", str(tmp_path / "o"), *extra])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
