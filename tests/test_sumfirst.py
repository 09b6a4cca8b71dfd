"""SumFirst-n as SPEC 3 pins it: digits as scalars, the sum of the first n, rounding, exact match."""

from __future__ import annotations

import pytest
import torch

from metagnn.errors import IntentError
from metagnn.tasks import build_task


def test_targets_are_sums_of_the_first_n_digits() -> None:
    """y = x_1 + ... + x_n for every intent, on training batches and on test sets."""
    task = build_task("sumfirst")
    x, y = task.sample([1, 4, 16], 50, torch.Generator().manual_seed(0))
    assert x.shape == (3, 50, 16) and y.shape == (3, 50, 1)
    for i, n in enumerate([1, 4, 16]):
        assert torch.equal(y[i, :, 0], x[i, :, :n].sum(-1))
        tx, ty = task.test_set(n)
        assert torch.equal(ty[:, 0], tx[:, :n].sum(-1))
    assert x.min() >= 0 and x.max() <= 9


def test_exact_match_rounds_the_regression_output() -> None:
    """An output within 0.5 of the sum counts as right; the chance level is the most likely sum's probability."""
    task = build_task("sumfirst")
    y = torch.tensor([[[3.0], [3.0], [3.0]]])
    assert task.correct(torch.tensor([[[3.4], [2.6], [3.6]]]), y, [1]).tolist() == [[True, True, False]]
    assert task.chance(1) == pytest.approx(0.1) and task.chance(2) == pytest.approx(0.1)
    assert task.chance(3) == pytest.approx(75 / 1000)  # sums 13 and 14 each have 75 of 1000 digit triples


@pytest.mark.parametrize("bad", ["0", "17", "-3", "two"])
def test_intents_outside_1_to_16_are_refused(bad: str) -> None:
    with pytest.raises(IntentError, match="sumfirst"):
        build_task("sumfirst").parse_intent(bad)


# ----- the intent contract: n is a position on the input axis ------------------------------------


def test_axis_features_are_offsets_from_the_intent_in_index_units() -> None:
    """Input position i of the program for n is coded by i - n (no gate), for every intent in a batch."""
    task = build_task("sumfirst")
    (relation,) = task.contract.axes
    feats = relation.features(task.intent_features([4, 13]), 16)
    assert feats.shape == (2, 16, 1)
    assert torch.allclose(feats[:, :, 0], torch.arange(16.0) - torch.tensor([[4.0], [13.0]]))


def test_a_run_trains_reloads_and_refuses_the_old_flags(tmp_path, capsys) -> None:
    """The contract end to end: the run folder rebuilds its model (eval == metrics.json); a config that still
    names an old switch (pe_anchor) is a one-line config error, and so is an old run folder."""
    import json

    from metagnn.cli import main

    model = {"d_intent": 8, "d_node": 8, "d_edge": 4, "rounds": 1}
    train = {"steps": 4, "intents_per_step": 2, "examples_per_intent": 8, "eval_every": 2, "warmup": 1}
    cfg = {"task_config": {"test_examples": 50}, "train": train, "models": {"metagnn": model}}
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    out = tmp_path / "run"
    assert main(["train", "sumfirst", "--config", str(path), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)["per_intent"]
    assert evaluated == json.loads((out / "metrics.json").read_text())["per_intent"]
    path.write_text(json.dumps({**cfg, "models": {"metagnn": {**model, "pe_anchor": True}}}))
    assert main(["train", "sumfirst", "--config", str(path), "--out", str(tmp_path / "a"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "unknown key(s) pe_anchor" in err and len(err.strip().splitlines()) == 1
    saved = json.loads((out / "config.json").read_text())
    saved["provenance"]["schema_version"] = 1
    (out / "config.json").write_text(json.dumps(saved))
    assert main(["eval", str(out)]) == 2
    err = capsys.readouterr().err
    assert "schema version 1" in err and "intent contract" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("model_name", ["metagnn", "gmlp"])
def test_n_reaches_the_model_through_the_inputs_alone(model_name: str) -> None:
    """SumFirst's contract has no intent code: the synthesized weights depend on the intent features only
    through the related feature (n / 16); changing the others changes nothing. Ignoring the contract
    (``intent_axes: false``) they do."""
    from metagnn.models import build_model

    task = build_task("sumfirst")
    u = task.intent_features([4, 9])
    other = u.clone()
    other[:, 1:] = torch.randn(2, u.shape[1] - 1, generator=torch.Generator().manual_seed(0))
    small = {"d_node": 8, "d_edge": 4, "d_intent": 8}
    for intent_axes in (True, False):
        torch.manual_seed(0)
        model = build_model(model_name, task.spec, task.intent_dim, {**small, "intent_axes": intent_axes},
                            contract=task.contract)  # fmt: skip
        with torch.no_grad():
            a, b = model.synthesize(u), model.synthesize(other)
        same = all(torch.equal(a[k], b[k]) for k in a)
        assert same == intent_axes
        assert not torch.allclose(a["layers.0.weight"][0], a["layers.0.weight"][1])  # n = 4 and n = 9 still differ


def test_an_output_no_probe_moves_is_not_blown_up_by_calibration() -> None:
    """With no intent code and 2 rounds, the output unit's bias is 3 hops from the related inputs, so no
    intent moves it. Calibration must then leave its head's scale alone: dividing by its ~0 spread gave the
    head a gain of ~1e6, and the first training step a gradient norm of 1.5e8 (the run diverged)."""
    from metagnn.models import build_model

    task = build_task("sumfirst")
    torch.manual_seed(0)
    model = build_model("metagnn", task.spec, task.intent_dim, {"rounds": 2}, contract=task.contract)
    with torch.no_grad():
        bias = model.synthesize(task.intent_features([1, 8, 15]))["layers.2.bias"]
    assert torch.allclose(bias, bias[:1].expand_as(bias))  # constant over intents: the case under test
    heads = model.decoders.heads
    assert heads["layers__2__bias"][1].weight.abs().max() < 10 * heads["layers__1__bias"][1].weight.abs().max()
