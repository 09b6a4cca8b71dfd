"""The CLI end to end on a tiny AddMod-p config: train, eval, synthesize, quickstart, resume, errors."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from metagnn.cli import main
from metagnn.errors import ConfigError, MetaGNNError
from metagnn.models.metagnn import MetaGNNConfig
from metagnn.program import load_program
from metagnn.synthesis import synthesize
from metagnn.train import RunConfig, TrainConfig, load_run, train

TINY_TASK = {
    "vocab": 16,
    "train": [5, 7, 11],
    "val": [13],
    "ood": [3],
    "target": {"d_model": 8, "n_heads": 2, "d_mlp": 16},
}
TINY_TRAIN = {"steps": 12, "intents_per_step": 2, "examples_per_intent": 16, "eval_every": 6, "warmup": 2}
TINY_MODELS = {
    "metagnn": {"d_intent": 16, "d_node": 16, "d_edge": 8, "rounds": 1},
    "gmlp": {"d_intent": 16, "d_node": 16, "d_edge": 8, "d_context": 16, "rounds": 1},
    "flat": {"d_hidden": 32, "layers": 2},
    "direct": {"d_intent": 16, "target_overrides": {"d_model": 16, "d_mlp": 32}},
}


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"task_config": TINY_TASK, "train": TINY_TRAIN, "models": TINY_MODELS}))
    return str(path)


@pytest.fixture
def run_dir(tmp_path: Path, config: str) -> Path:
    out = tmp_path / "run"
    assert main(["train", "addmod", "--model", "metagnn", "--config", config, "--out", str(out), "--no-progress"]) == 0
    return out


def test_train_writes_a_complete_run_folder(run_dir: Path) -> None:
    """A run folder holds config, checkpoint and metrics with SPEC 3b's aggregates and provenance."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["per_intent"]) == {"5", "7", "11", "13", "3"}
    for key in ("id_accuracy", "val_accuracy", "ood_accuracy", "parameters", "steps", "examples_seen", "wall_time_s"):
        assert key in metrics
    assert metrics["steps"] == 12 and metrics["examples_seen"] == 12 * 2 * 16
    assert metrics["chance"]["ood"] == pytest.approx(1 / 3)
    for key in ("schema_version", "git_commit", "torch_version", "threads", "device"):
        assert key in metrics["provenance"]
    tensors = load_file(str(run_dir / "checkpoint.safetensors"))
    assert any(k.startswith("best.") for k in tensors) and "rng.data" in tensors
    # every setting is recorded, defaults included, so the folder says what ran even once defaults change
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["train"] == {**asdict(TrainConfig()), **TINY_TRAIN} == metrics["config"]["train"]
    assert saved["model_config"] == {**asdict(MetaGNNConfig()), **TINY_MODELS["metagnn"]}
    assert saved["task_config"]["split_seed"] == 0 and saved["task_config"]["vocab"] == TINY_TASK["vocab"]
    with safe_open(str(run_dir / "checkpoint.safetensors"), "pt") as f:
        state = json.loads(f.metadata()["state"])
    assert state["config"] == {k: saved[k] for k in ("task", "task_config", "model", "model_config", "train", "seed")}
    # SPEC 3b: the headline is the last step; the selected weights' figures stand beside it, labelled
    assert metrics["weights"] == "last" and metrics["selected"]["step"] == metrics["best_step"]
    assert set(metrics["selected"]["per_intent"]) == set(metrics["per_intent"])
    # the learning curves: every evaluation scored the held-out splits; the OOD one is never used to select
    assert [h["step"] for h in metrics["history"]] == [6, 12]
    assert all(0 <= h["ood_accuracy"] <= 1 and 0 <= h["val_accuracy"] <= 1 for h in metrics["history"])


def test_summarize_plots_the_learning_curves_and_writes_the_table_json(run_dir: Path, tmp_path: Path, capsys) -> None:
    """``summarize --plot`` draws validation and OOD accuracy against the step from the runs' histories;
    ``--out`` writes the table with every run's metrics (the JSON that backs a table in the docs)."""
    out = tmp_path / "table.json"
    assert main(["summarize", str(run_dir), "--plot", str(tmp_path / "plots"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"plot: {tmp_path / 'plots' / 'addmod-curves.png'}" in printed
    assert (tmp_path / "plots" / "addmod-curves.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads(out.read_text())
    assert saved["table"] in printed and saved["rows"] == [json.loads((run_dir / "metrics.json").read_text())]


def test_eval_json_scores_any_prime_in_the_vocabulary(run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    """``eval --intents`` scores seen and unseen primes; each keeps its split, unknown ones are 'unseen'."""
    assert main(["eval", str(run_dir), "--intents", "2,13,5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {k: v["split"] for k, v in out["per_intent"].items()} == {"2": "unseen", "13": "val", "5": "id"}
    assert out["per_intent"]["2"]["n"] == 4  # every pair of an unseen prime
    assert out["per_intent"]["5"]["n"] == 25 - round(0.7 * 25)  # the held-out 30 % of a seen prime
    assert 0 <= out["val_accuracy"] <= 1 and "ood_accuracy" not in out


def test_eval_matches_the_metrics_written_at_the_end_of_training(run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    """One evaluation path: ``eval`` on the run folder reproduces metrics.json exactly."""
    assert main(["eval", str(run_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert out["per_intent"] == metrics["per_intent"]


def test_synthesized_program_loads_without_the_run_folder(run_dir: Path, tmp_path: Path, capsys) -> None:
    """``synthesize`` writes one program that a plain nn.Module reproduces exactly, and prints its exact-match
    accuracy, which is what the loaded module scores on every sum of the (unseen) prime."""
    path = tmp_path / "add13.safetensors"
    capsys.readouterr()
    assert main(["synthesize", str(run_dir), "--intent", "13", "--out", str(path)]) == 0
    printed = float(capsys.readouterr().out.strip().rsplit(" ", 1)[1])
    net = load_program(path)
    assert isinstance(net, torch.nn.Module) and net.info["intent"] == "13"
    _, task, model = load_run(run_dir)
    x, y = task.test_set(13)
    assert len(x) == 13 * 13
    with torch.no_grad():
        expected = model(task.intent_features([13]), x[None])[0]
        assert torch.allclose(net(x), expected, atol=1e-5)
        assert printed == pytest.approx((net(x)[:, :13].argmax(-1) == y).float().mean().item(), abs=1e-3)


def test_the_library_synthesizes_what_the_cli_writes(run_dir: Path, tmp_path: Path) -> None:
    """``metagnn.synthesize`` is what the command runs: the same weights bitwise, the same score, and a
    network that computes what the saved file computes."""
    path = tmp_path / "add13.safetensors"
    assert main(["synthesize", str(run_dir), "--intent", "13", "--out", str(path)]) == 0
    program = synthesize(run_dir, 13)
    saved = load_file(str(path))
    assert saved.keys() == program.theta.keys()
    assert all(torch.equal(saved[k], program.theta[k]) for k in saved)
    assert (program.split, program.examples, program.info["intent"]) == ("val", 13 * 13, "13")
    assert program.accuracy == synthesize(run_dir, "13").accuracy
    x, _ = load_run(run_dir)[1].test_set(13)
    with torch.no_grad():
        assert torch.equal(program.network()(x), load_program(path)(x))
    with pytest.raises(MetaGNNError, match="not a prime"):
        synthesize(run_dir, 9)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "addmod", "--model", "nope", "--out", "X"], "unknown model 'nope'"),
        (["train", "subtract", "--out", "X"], "unknown task 'subtract'"),
        (["train", "addmod", "--train-intents", "5,9", "--out", "X"], "p=9 is not a prime"),
        (["train", "addmod", "--ood-intents", "67", "--out", "X"], "p=67 is larger than the vocabulary"),
        (["train", "addmod", "--val-intents", "five", "--out", "X"], "'five' is not an integer"),
        (["train", "addmod", "--val-intents", "5", "--out", "X"], "in both the train and the val split"),
        (["train", "addmod", "--config", "nowhere.json", "--out", "X"], "neither 'quick', 'full' nor"),
        (["eval", "no/such/run"], "run folder not found"),
        (["--threads", "0", "eval", "no/such/run"], "--threads must be in 1.."),
        (["train", "addmod", "--device", "banana", "--out", "X"], "unknown device 'banana'"),
        (["train", "addmod", "--device", "cuda:99", "--out", "X"], "is not available here"),
    ],
)
def test_bad_input_is_one_line_error(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    """Bad input ends in exit status 2 and one line naming the value, never a traceback."""
    argv = [str(tmp_path / a) if a == "X" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_run_folder_errors(run_dir: Path, config: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Reusing a run folder needs --resume; eval of a non-prime intent and synthesize of Direct are refused."""
    base = ["train", "addmod", "--config", config, "--no-progress"]
    assert main([*base, "--out", str(run_dir)]) == 2
    assert "already holds a checkpoint" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "empty"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["eval", str(run_dir), "--intents", "15"]) == 2
    assert "p=15 is not a prime" in capsys.readouterr().err
    direct = tmp_path / "direct"
    assert main([*base, "--model", "direct", "--out", str(direct)]) == 0
    assert main(["synthesize", str(direct), "--intent", "13", "--out", str(tmp_path / "p.safetensors")]) == 2
    assert "does not generate weights" in capsys.readouterr().err


def test_unknown_config_key_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A typo in a config file names the key and the allowed ones."""
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"task_config": TINY_TASK, "train": {**TINY_TRAIN, "stepz": 3}}))
    assert main(["train", "addmod", "--config", str(path), "--out", str(tmp_path / "r")]) == 2
    assert "stepz" in capsys.readouterr().err


def test_resume_continues_exactly(tmp_path: Path) -> None:
    """A run stopped at step 6 and resumed ends with the same weights and metrics as an uninterrupted one."""
    run = RunConfig("addmod", TINY_TASK, "metagnn", TINY_MODELS["metagnn"], {**TINY_TRAIN, "eval_every": 4}, seed=3)
    full = train(run, tmp_path / "full", progress=False)
    assert train(run, tmp_path / "split", progress=False, stop_after=6) is None
    assert json.loads(load_file_state(tmp_path / "split"))["step"] == 6
    resumed = train(run, tmp_path / "split", resume=True, progress=False)
    assert resumed["per_intent"] == full["per_intent"] and resumed["history"] == full["history"]
    a, b = (load_file(str(tmp_path / d / "checkpoint.safetensors")) for d in ("full", "split"))
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith(("model.", "best.")))


def test_ema_averages_the_trajectory_without_touching_it_and_resumes_exactly(tmp_path: Path) -> None:
    """``ema: d``: after steps 1 and 2 the average is ``d w1 + (1 - d) w2``; the trained weights are those of
    a run without it; validation and selection read the average; a stop and resume changes nothing."""
    d = 0.75
    train_cfg = {**TINY_TRAIN, "steps": 2, "eval_every": 1, "warmup": 1}
    task = {**TINY_TASK, "val": []}  # no validation intents: the last step is selected
    run = RunConfig("addmod", task, "metagnn", TINY_MODELS["metagnn"], {**train_cfg, "ema": d}, seed=3)
    plain = RunConfig("addmod", task, "metagnn", TINY_MODELS["metagnn"], train_cfg, seed=3)
    assert train(run, tmp_path / "split", progress=False, stop_after=1) is None
    w1 = load_file(str(tmp_path / "split" / "checkpoint.safetensors"))
    resumed = train(run, tmp_path / "split", resume=True, progress=False)
    w2 = load_file(str(tmp_path / "split" / "checkpoint.safetensors"))
    full = train(run, tmp_path / "full", progress=False)
    assert resumed["per_intent"] == full["per_intent"] and resumed["history"] == full["history"]
    train(plain, tmp_path / "plain", progress=False)
    w_plain = load_file(str(tmp_path / "plain" / "checkpoint.safetensors"))
    params = [k[len("model.") :] for k in w2 if k.startswith("model.") and w2[k].is_floating_point()]
    moved = [k for k in params if not torch.equal(w1["model." + k], w2["model." + k])]
    assert moved  # the step changed some weights, so the average is not trivially equal to them
    for k in params:
        assert torch.equal(w2["model." + k], w_plain["model." + k])  # the average does not feed back
        assert torch.equal(w1["ema.module." + k], w1["model." + k])  # the first update copies
        expected = d * w1["model." + k] + (1 - d) * w2["model." + k]
        assert torch.allclose(w2["ema.module." + k], expected, atol=1e-6)
    assert full["best_step"] == 2  # the selected weights are the average, not the trained weights
    assert all(torch.equal(w2["best." + k], w2["ema.module." + k]) for k in params)
    with pytest.raises(ConfigError, match="ema"):
        train(RunConfig("addmod", TINY_TASK, "flat", TINY_MODELS["flat"], {**train_cfg, "ema": 1.0}), tmp_path / "x")


def load_file_state(run_dir: Path) -> str:
    from safetensors import safe_open

    with safe_open(str(run_dir / "checkpoint.safetensors"), framework="pt") as f:
        return f.metadata()["state"]


def test_quickstart_trains_every_model_and_reuses_finished_runs(config: str, tmp_path: Path, capsys) -> None:
    """quickstart prints the table, writes quickstart.json and the OOD plot, and reuses finished runs."""
    argv = ["quickstart", "--config", config, "--out", str(tmp_path / "qs"), "--models", "flat,direct", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| flat |" in out and "| direct |" in out
    results = json.loads((tmp_path / "qs" / "quickstart.json").read_text())
    assert [r["model"] for r in results["rows"]] == ["flat", "direct"]
    assert (tmp_path / "qs" / "ood_per_prime.png").stat().st_size > 1000
    assert main(argv) == 0
    assert capsys.readouterr().out.count("reusing the finished run") == 2


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """A loss that turns NaN at step 8 stops the run with a message naming that step; the checkpoint of
    step 6 stays intact and loadable."""
    from metagnn.errors import TrainingError
    from metagnn.tasks.addmod import AddMod

    calls = {"n": 0}
    real_loss = AddMod.loss

    def loss(self, out, y, intents):
        calls["n"] += 1
        value = real_loss(self, out, y, intents)
        return value * float("nan") if calls["n"] == 9 else value

    monkeypatch.setattr(AddMod, "loss", loss)
    run = RunConfig("addmod", TINY_TASK, "flat", TINY_MODELS["flat"], TINY_TRAIN)
    with pytest.raises(TrainingError, match=r"loss is nan at step 8; the last checkpoint \(step 6\) in .* is intact"):
        train(run, tmp_path / "nan", progress=False)
    assert json.loads(load_file_state(tmp_path / "nan"))["step"] == 6
    load_run(tmp_path / "nan")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ({"task_config": [1, 2]}, "'task_config' must be an object"),
        ({"train": [1]}, "'train' must be an object"),
        ({"models": {"metagnn": "abc"}}, "models.metagnn must be an object"),
        ({"task_config": {**TINY_TASK, "train_fraction": 0.001}}, "leaves p=5 without train or test pairs"),
    ],
)
def test_malformed_config_sections_are_one_line_errors(tmp_path: Path, content: dict, needle: str, capsys) -> None:
    """Wrongly shaped config sections and a train fraction that empties a split are named, not tracebacks."""
    path = tmp_path / "c.json"
    path.write_text(json.dumps(content))
    assert main(["train", "addmod", "--config", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_damaged_run_folders_and_output_paths_are_one_line_errors(run_dir: Path, tmp_path: Path, capsys) -> None:
    """A config.json whose provenance or model no longer fits the checkpoint, a checkpoint that is a program
    file, and an unwritable output path all end in one line and exit 2."""
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(run_dir, bad)
    config = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**config, "provenance": "x"}))
    assert main(["eval", str(bad)]) == 2
    assert "schema version" in capsys.readouterr().err
    config["model_config"] = {**config["model_config"], "d_node": 32}
    (bad / "config.json").write_text(json.dumps(config))
    assert main(["eval", str(bad)]) == 2
    assert "does not match the config its checkpoint was trained with" in capsys.readouterr().err
    assert main(["synthesize", str(run_dir), "--intent", "13", "--out", "/proc/metagnn/x.safetensors"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metagnn: error:") and err.count("\n") == 1
    assert main(["synthesize", str(run_dir), "--intent", "13", "--out", str(tmp_path / "p.safetensors")]) == 0
    shutil.copy(tmp_path / "p.safetensors", bad / "checkpoint.safetensors")
    (bad / "config.json").write_text((run_dir / "config.json").read_text())
    from metagnn.train import RunConfig as RC

    run = RC(**{k: config[k] for k in ("task", "task_config", "model", "train", "seed")},
             model_config=json.loads((run_dir / "config.json").read_text())["model_config"])  # fmt: skip
    from metagnn.errors import CheckpointError

    with pytest.raises(CheckpointError, match="not a resumable training checkpoint"):
        train(run, bad, resume=True, progress=False)

    # A run folder that is a dangling symbolic link, or a file: one line, not mkdir's FileExistsError.
    (tmp_path / "gone").symlink_to(tmp_path / "deleted-run")
    (tmp_path / "file").write_text("")
    for out, needle in (("gone", "symbolic link"), ("file", "is not a folder")):
        assert main(["train", "addmod", "--config", str(tmp_path / "tiny.json"), "--out", str(tmp_path / out)]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1


def test_out_of_memory_names_the_size_asked_for(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A size far beyond the machine (here d_node = 10**12) is a one-line out-of-memory error quoting the
    allocation the allocator refused, not a traceback."""
    path = tmp_path / "huge.json"
    models = {**TINY_MODELS, "metagnn": {**TINY_MODELS["metagnn"], "d_node": 10**12}}
    path.write_text(json.dumps({"task_config": TINY_TASK, "train": TINY_TRAIN, "models": models}))
    assert main(["train", "addmod", "--config", str(path), "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.search(r"out of memory \(tried to allocate \d+ bytes\)", err), err


def test_a_leftover_world_size_is_a_clear_error(tmp_path: Path, config: str, monkeypatch, capsys) -> None:
    """WORLD_SIZE set outside torchrun (no RANK, or no rendezvous address) is a one-line error."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    assert main(["train", "addmod", "--config", config, "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "launch with torchrun" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "two")
    assert main(["train", "addmod", "--config", config, "--out", str(tmp_path / "r2"), "--no-progress"]) == 2
    assert "launch with torchrun" in capsys.readouterr().err


def test_eval_reads_the_last_steps_weights_and_weights_best_the_selected_ones(run_dir: Path, capsys) -> None:
    """SPEC 3b: the last step's weights are the default everywhere; ``--weights best`` reads the selected ones."""
    from metagnn.checkpoint import CHECKPOINT, load_tensors, save_tensors, unprefixed

    tensors, state = load_tensors(run_dir / CHECKPOINT)
    # Make the selected weights certainly differ from the last step's.
    tensors = {k: v + 1 if k.startswith("best.") and v.is_floating_point() else v for k, v in tensors.items()}
    save_tensors(run_dir / CHECKPOINT, tensors, state)
    for weights, prefix in (("best", "best"), ("last", "model")):
        _, _, model = load_run(run_dir, weights=weights)
        expected = unprefixed(prefix, tensors)
        assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items()), weights
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--json"]) == 0
    last = json.loads(capsys.readouterr().out)
    assert main(["eval", str(run_dir), "--weights", "best", "--json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert (last["weights"], best["weights"]) == ("last", "best")
    assert last["per_intent"] != best["per_intent"]
    programs = {}
    for weights in ("best", "last"):
        out = run_dir.parent / f"{weights}.safetensors"
        assert main(["synthesize", str(run_dir), "--intent", "13", "--out", str(out), "--weights", weights]) == 0
        programs[weights] = load_file(out)
    assert any(not torch.equal(v, programs["last"][k]) for k, v in programs["best"].items())
    with pytest.raises(ConfigError, match="weights must be one of last, best"):
        load_run(run_dir, weights="final")


@pytest.mark.parametrize(("tolerance", "expected"), [(None, 3), (0.0, 5), (0.7, 6)])
def test_select_tolerance_keeps_the_last_evaluation_within_it_of_the_best(
    tmp_path: Path, monkeypatch, tolerance: float | None, expected: int
) -> None:
    """Validation 0.5, 0.9, 0.95, 0.8, 0.95, 0.3 at steps 1..6: by default the first best (step 3) is kept;
    ``select_tolerance: 0`` takes the last of the tied best (5), 0.7 the last within 0.7 of 0.95 (6), also
    across a stop and resume; the kept weights are those of that step."""
    import metagnn.train as train_module
    from metagnn.evaluate import SPLITS

    real, scores = train_module.evaluate, iter([0.5, 0.9, 0.95, 0.8, 0.95, 0.3])

    def scripted(model, task, device="cpu", splits=SPLITS, intents=None):  # validation scores from the script
        if "train" in splits:  # the final evaluation
            return real(model, task, device, splits, intents)
        return {"val_accuracy": next(scores), "ood_accuracy": 0.0}  # an evaluation during training

    monkeypatch.setattr(train_module, "evaluate", scripted)
    train_cfg = {**TINY_TRAIN, "steps": 6, "eval_every": 1, "warmup": 1}
    if tolerance is not None:
        train_cfg["select_tolerance"] = tolerance
    run = RunConfig("addmod", TINY_TASK, "flat", TINY_MODELS["flat"], train_cfg, seed=0)
    assert train(run, tmp_path / "r", progress=False, stop_after=4) is None
    metrics = train(run, tmp_path / "r", resume=True, progress=False)
    assert metrics["best_step"] == expected
    w = load_file(str(tmp_path / "r" / "checkpoint.safetensors"))
    same_as_last = all(torch.equal(w["best." + k[6:]], v) for k, v in w.items() if k.startswith("model."))
    assert same_as_last == (expected == 6)
    with pytest.raises(ConfigError, match="select_tolerance"):
        train(RunConfig("addmod", TINY_TASK, "flat", TINY_MODELS["flat"], {**train_cfg, "select_tolerance": 2}),
              tmp_path / "x")  # fmt: skip
