"""One hypernetwork, several sizes of S: views that share the parameters, synthesis for a size never trained,
training on a mix of sizes, and the targets a trained hypernetwork cannot serve."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from test_cli import TINY_MODELS, TINY_TASK, TINY_TRAIN

from metagnn.cli import main
from metagnn.config import from_dict
from metagnn.errors import ConfigError
from metagnn.models import build_model
from metagnn.program import load_program
from metagnn.synthesis import synthesize
from metagnn.targets import build_target
from metagnn.train import RunConfig, TrainConfig, load_run, train

INTENT_DIM = 3
SMALL = {"d_intent": 16, "d_node": 16, "d_edge": 8, "rounds": 1}


def mlp(*hidden: int):
    return build_target("mlp", n_in=5, hidden=list(hidden), n_out=3)


@pytest.mark.parametrize("name", ["metagnn", "gmlp"])
def test_a_view_at_the_trained_sizes_writes_bitwise_the_same_weights(name: str) -> None:
    """The codes of a view are drawn from the run's seed, so at the same sizes they are the trained ones."""
    model = build_model(name, mlp(7, 6), INTENT_DIM, SMALL).eval()
    u = torch.randn(4, INTENT_DIM)
    a, b = model.synthesize(u), model.for_target(mlp(7, 6)).synthesize(u)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", ["metagnn", "gmlp"])
def test_a_view_shares_every_parameter_and_writes_its_own_shapes(name: str) -> None:
    model = build_model(name, mlp(7, 6), INTENT_DIM, SMALL)
    wide = mlp(14, 9)
    view = model.for_target(wide)
    assert [id(p) for p in view.parameters()] == [id(p) for p in model.parameters()]
    u = torch.randn(2, INTENT_DIM)
    wide.check(view.synthesize(u), batch_dims=1)
    model.spec.check(model.synthesize(u), batch_dims=1)  # the model keeps its own sizes and codes
    before = {k: v.detach().clone() for k, v in model.synthesize(u).items()}
    sum(v.square().sum() for v in view.synthesize(u).values()).backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= 0.1 * p.grad
    after = model.synthesize(u)
    assert any(not torch.allclose(before[k], after[k]) for k in before)  # training the view trained the model


def test_away_from_the_calibrated_sizes_a_weight_scales_as_one_over_fan_in() -> None:
    """At the calibration spec a tensor's spread is ``init_std``; where a spec declares another ``init_std``
    (another fan-in), the same node states decode to ``init_std**2 / init_std_calibrated``: 1/fan_in."""
    spec = mlp(7, 6)
    model = build_model("metagnn", spec, INTENT_DIM, SMALL).eval()
    name = "layers.1.weight"
    halved = dataclasses.replace(
        spec,
        params=tuple(dataclasses.replace(p, init_std=p.init_std / 2) if p.name == name else p for p in spec.params),
    )
    with torch.no_grad():
        nodes = model.mix(model.encode(torch.randn(3, INTENT_DIM)))
        a, b = model.decoders(nodes), model.decoders(nodes, halved)
    mean = spec.param(name).init_mean
    assert torch.allclose(b[name] - mean, (a[name] - mean) / 4, atol=1e-6)
    assert all(torch.equal(a[k], b[k]) for k in a if k != name)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"task_config": TINY_TASK, "train": TINY_TRAIN, "models": TINY_MODELS}))
    return path


def train_tiny(tmp_path: Path, config: Path, model: str, name: str) -> Path:
    out = tmp_path / name
    assert main(["train", "addmod", "--model", model, "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    return out


def test_synthesize_and_eval_take_another_target_size(tmp_path: Path, config: Path, capsys) -> None:
    run_dir = train_tiny(tmp_path, config, "metagnn", "run")
    path = tmp_path / "wide.safetensors"
    argv = ["synthesize", str(run_dir), "--intent", "13", "--target", "d_model=12", "--target", "d_mlp=24"]
    assert main([*argv, "--out", str(path)]) == 0
    net = load_program(path)
    assert net.spec.kwargs["d_model"] == 12 and net.spec.shape("blocks.0.mlp.W_in") == (24, 12)
    program = synthesize(run_dir, 13, target={"d_model": 12, "d_mlp": 24})
    x, _ = load_run(run_dir)[1].test_set(13)
    with torch.no_grad():
        assert torch.equal(program.network()(x), net(x))
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--json", "--target", "d_model=12"]) == 0
    assert set(json.loads(capsys.readouterr().out)["per_intent"]) == {"5", "7", "11", "13", "3"}


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        (["n_layers=2"], "never learned blocks.1."),
        (["layernorm=true"], "never learned"),
        (["d_model"], "expected KEY=VALUE"),
        (["d_model=0"], "sizes must all be positive, got d_model=0"),
    ],
)
def test_a_target_the_hypernetwork_cannot_serve_is_refused_in_one_line(
    tmp_path: Path, config: Path, capsys, target: list[str], needle: str
) -> None:
    run_dir = train_tiny(tmp_path, config, "metagnn", "run")
    argv = ["eval", str(run_dir)] + [a for t in target for a in ("--target", t)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_a_flat_hypernetwork_is_refused_another_size(tmp_path: Path, config: Path) -> None:
    run_dir = train_tiny(tmp_path, config, "flat", "flat")
    with pytest.raises(ConfigError, match="is built for one target"):
        synthesize(run_dir, 13, target={"d_model": 12})


def tiny_run(targets: list[dict], steps: int, model: str = "metagnn") -> RunConfig:
    tc = {**TINY_TRAIN, "steps": steps, "eval_every": steps, "targets": targets}
    return RunConfig(
        task="addmod", model=model, seed=0, task_config=TINY_TASK, train=tc, model_config=TINY_MODELS[model]
    )


def test_training_on_several_sizes_goes_round_them_step_by_step(tmp_path: Path) -> None:
    """Step 1 trains the task's own target (the same update as a run without extra targets); step 2 trains
    the next size, through the shared parameters (the weights then differ from a one-size run's)."""
    wider = [{"d_model": 12, "d_mlp": 24}]
    weights = {}
    for label, targets, steps in (("one", [], 1), ("mix", wider, 1), ("one2", [], 2), ("mix2", wider, 2)):
        train(tiny_run(targets, steps), tmp_path / label, progress=False)
        weights[label] = load_run(tmp_path / label)[2].state_dict()
    assert all(torch.equal(weights["one"][k], weights["mix"][k]) for k in weights["one"])
    assert any(not torch.equal(weights["one2"][k], weights["mix2"][k]) for k in weights["one2"])
    saved = json.loads((tmp_path / "mix2" / "config.json").read_text())
    assert saved["train"]["targets"] == wider  # the run folder records the sizes it trained


def test_training_on_several_sizes_resumes_exactly(tmp_path: Path) -> None:
    """Stopped after step 3 (a step of the second size next) and resumed, the run ends where one run does."""
    wider = [{"d_model": 12, "d_mlp": 24}]
    train(tiny_run(wider, 6), tmp_path / "whole", progress=False)
    assert train(tiny_run(wider, 6), tmp_path / "split", progress=False, stop_after=3) is None
    train(tiny_run(wider, 6), tmp_path / "split", resume=True, progress=False)
    whole, split = load_run(tmp_path / "whole")[2].state_dict(), load_run(tmp_path / "split")[2].state_dict()
    assert all(torch.equal(whole[k], split[k]) for k in whole)


def test_a_view_refuses_a_target_it_never_learned() -> None:
    model = build_model("metagnn", mlp(7, 6), INTENT_DIM, SMALL)
    with pytest.raises(ConfigError, match="never learned hidden2"):
        model.for_target(mlp(7, 6, 5))
    with pytest.raises(ConfigError, match="fixed by the task's data"):
        model.for_target(build_target("mlp", n_in=6, hidden=[7, 6], n_out=3))


def test_several_sizes_need_a_tied_hypernetwork(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is built for one target"):
        train(tiny_run([{"d_model": 12}], 2, model="flat"), tmp_path / "flat", progress=False)
    with pytest.raises(ConfigError, match="should be of type list"):
        from_dict(TrainConfig, {"targets": [3]})
    with pytest.raises(ConfigError, match=r"train.targets\[0\] .*d_modle"):
        train(tiny_run([{"d_modle": 12}], 2), tmp_path / "typo", progress=False)


def test_with_member_cycles_every_width_samples_the_same_codes() -> None:
    """``pe_member_cycles`` codes interchangeable members as curves of ``i / (n - 1)``: the middle member of 5 and
    of 9 get one code, and so do the first and the last; without it the periods grow with the width."""
    from metagnn.graph.neural_graph import axis_encoding
    from metagnn.targets import Axis

    def codes(n: int, cycles: float | None) -> torch.Tensor:
        return axis_encoding(Axis(n, perm="h"), 8, torch.Generator().manual_seed(0), member_cycles=cycles)

    small, large = codes(5, 3.0), codes(9, 3.0)
    for i, j in ((0, 0), (2, 4), (4, 8)):
        assert torch.allclose(small[i], large[j], atol=1e-6)
    assert not torch.allclose(codes(5, None)[2], codes(9, None)[4], atol=1e-3)
    with pytest.raises(ConfigError, match="pe_member_cycles"):
        build_model("metagnn", mlp(7, 6), INTENT_DIM, {**SMALL, "pe_member_cycles": 0})
