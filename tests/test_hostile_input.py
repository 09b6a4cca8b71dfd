"""Hostile input never hangs, crashes or lies: each case a hostile probe of the CLI and ``load_program``
found is a one-line error (exit 2) within seconds, or the right result.

Every case runs under an alarm, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError
from test_cli import TINY_MODELS, TINY_TASK, TINY_TRAIN

from metagnn import checkpoint as ckpt
from metagnn.cli import main
from metagnn.errors import CheckpointError, TrainingError
from metagnn.program import load_program, save_program
from metagnn.targets import build_target

FIXTURE = Path(__file__).parent / "data" / "tiny-addmod-run"


@contextmanager
def within(seconds: int) -> Iterator[None]:
    """Fail (TimeoutError) instead of hanging when the block runs longer than ``seconds``."""

    def alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture, needle: str, seconds: int = 10) -> str:
    capsys.readouterr()
    with within(seconds):
        rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("metagnn: error:") and err.count("\n") == 1, err
    assert needle in err, err
    return err


def config_file(tmp_path: Path, **changes: dict) -> str:
    data = {"task_config": TINY_TASK, "train": TINY_TRAIN, "models": TINY_MODELS}
    for section, values in changes.items():
        data[section] = {**data.get(section, {}), **values}
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(data))
    return str(path)


def train_argv(config: str, out: Path) -> list[str]:
    return ["train", "addmod", "--model", "metagnn", "--config", config, "--out", str(out), "--no-progress"]


# ----- hangs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--intents", "--ood-intents"])
def test_a_huge_prime_intent_is_refused_before_any_primality_test(flag: str, tmp_path: Path, capsys) -> None:
    huge = str(10**28 + 57)
    if flag == "--intents":
        one_line_error(["eval", str(FIXTURE), "--intents", huge], capsys, "larger than the vocabulary")
    else:
        argv = ["train", "addmod", "--out", str(tmp_path / "r"), flag, huge]
        one_line_error(argv, capsys, "larger than the vocabulary")


@pytest.mark.parametrize(
    "section, values, needle",
    [
        ("train", {"steps": 10**30}, "steps="),
        ("train", {"steps": 10**9}, "must be in 1..100000000"),
        ("task_config", {"target": {**TINY_TASK["target"], "n_layers": 100000}}, "n_layers"),
        ("task_config", {"target": {**TINY_TASK["target"], "layernorm": "false"}}, "layernorm='false' should be"),
        ("task_config", {"target": {**TINY_TASK["target"], "n_heads": 0}}, "must all be positive, got n_heads=0"),
        ("task_config", {"target": {**TINY_TASK["target"], "d_model": 1}}, "d_head would be 0"),
        ("task_config", {"split_seed": 2**70}, "split_seed="),
        ("models", {"metagnn": {**TINY_MODELS["metagnn"], "pe_seed": 2**70}}, "pe_seed="),
        ("models", {"metagnn": {**TINY_MODELS["metagnn"], "pe_max_cycles": float("nan")}}, "finite"),
        ("models", {"metagnn": TINY_MODELS["metagnn"], "metagn": {"rounds": 1}}, "unknown model 'metagn'"),
    ],
)  # fmt: skip
def test_a_config_value_out_of_range_is_refused_before_work_starts(
    section: str, values: dict, needle: str, tmp_path: Path, capsys
) -> None:
    """Types, ranges and caps come from the dataclasses and the target's signature; nothing is left in the run
    folder (no config.json, no lock) by a config that never started."""
    out = tmp_path / "run"
    one_line_error(train_argv(config_file(tmp_path, **{section: values}), out), capsys, needle)
    assert not out.exists()


def test_a_program_header_cannot_ask_for_unbounded_work(tmp_path: Path) -> None:
    spec = build_target("mlp", n_in=2, hidden=[3], n_out=1)
    path = tmp_path / "p.safetensors"
    save_program(path, spec, spec.init_theta())
    tensors, meta = ckpt.load_tensors(path)
    meta.pop("spec")
    crafted = {"family": "transformer", "kwargs": {"vocab": 5, "n_ctx": 3, "n_classes": 5, "n_layers": 10000}}
    ckpt.save_tensors(path, tensors, {**meta, "spec": crafted})
    with within(5), pytest.raises(CheckpointError, match="n_layers=10000 is more than 64"):
        load_program(path)


def test_special_files_in_an_arc_folder_are_refused_not_read(tmp_path: Path) -> None:
    from metagnn.errors import DataError
    from metagnn.tasks.arc1d.real import load_tasks

    fifo = tmp_path / "fifo" / "1d_move_1p"
    fifo.mkdir(parents=True)
    os.mkfifo(fifo / "1d_move_1p_0.json")
    with within(5), pytest.raises(DataError, match="not a regular file"):
        load_tasks(tmp_path / "fifo")
    zero = tmp_path / "zero" / "1d_move_1p"
    zero.mkdir(parents=True)
    (zero / "1d_move_1p_0.json").symlink_to("/dev/zero")
    with within(5), pytest.raises(DataError, match="not a regular file"):
        load_tasks(tmp_path / "zero")


# ----- silent wrong answers ------------------------------------------------------------------------


def test_an_empty_intent_list_is_an_error_not_an_empty_result(capsys) -> None:
    one_line_error(["eval", str(FIXTURE), "--intents", ","], capsys, "no intent in ','")
    # argparse reads the value of `--intents=--` as its own `--` marker and hands over []: still named
    one_line_error(["eval", str(FIXTURE), "--intents=--"], capsys, "intent '--' is not an integer")
    one_line_error(["analyze", "clock", str(FIXTURE), "--intents=--"], capsys, "'--'")


def test_an_edited_config_json_is_refused(tmp_path: Path, capsys) -> None:
    """The checkpoint records its run: moving an intent to another split in config.json (which would relabel
    what was trained on) is refused."""
    run = tmp_path / "run"
    assert main(train_argv(config_file(tmp_path), run)) == 0
    saved = json.loads((run / "config.json").read_text())
    saved["task_config"]["ood"], saved["task_config"]["val"] = [13], [3]
    (run / "config.json").write_text(json.dumps(saved))
    one_line_error(["eval", str(run)], capsys, "does not match the config its checkpoint was trained with")


def test_a_checkpoint_without_its_checksum_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    ckpt.save_tensors(path, {"w": torch.ones(2)}, {"step": 1})
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), "pt") as f:
        meta = {k: v for k, v in f.metadata().items() if k != "sha256"}
    save_file({"w": torch.ones(2)}, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="no SHA-256"):
        ckpt.load_tensors(path)


# ----- tracebacks and crashes ----------------------------------------------------------------------


def test_deeply_nested_json_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"train": ' + "[" * 100000 + "]" * 100000 + "}")
    one_line_error(["train", "addmod", "--config", str(path), "--out", str(tmp_path / "r")], capsys, "nested too")


def test_too_many_threads_is_refused(capsys) -> None:
    one_line_error(["--threads", "100000", "eval", str(FIXTURE)], capsys, "--threads must be in 1..")


@pytest.mark.parametrize(
    "header, needle",
    [
        ({"family": "transformer"}, "malformed program header"),
        ({"family": "nope", "kwargs": {}}, "unknown target 'nope'"),
        ({"family": "mlp", "kwargs": {"n_in": 2, "hidden": [3]}}, "bad arguments"),
        ({"family": "mlp", "kwargs": {"n_in": 2, "hidden": [4], "n_out": 1}}, "do not fit its spec"),
    ],
)
def test_a_malformed_program_raises_only_the_projects_errors(header: dict, needle: str, tmp_path: Path) -> None:
    spec = build_target("mlp", n_in=2, hidden=[3], n_out=1)
    path = tmp_path / "p.safetensors"
    save_program(path, spec, spec.init_theta())
    tensors, meta = ckpt.load_tensors(path)
    meta.pop("spec")
    ckpt.save_tensors(path, tensors, {**meta, "spec": header})
    with pytest.raises(CheckpointError, match=re.escape(needle)):
        load_program(path)


def test_integer_weights_in_a_program_are_refused(tmp_path: Path) -> None:
    spec = build_target("mlp", n_in=2, hidden=[3], n_out=1)
    path = tmp_path / "p.safetensors"
    theta = {k: v.long() for k, v in spec.init_theta().items()}
    ckpt.save_tensors(path, theta, {"kind": "program", "spec": spec.to_dict()})
    with pytest.raises(CheckpointError, match="must be floating point"):
        load_program(path)


def test_a_full_disk_during_a_checkpoint_write_is_one_line_and_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "c.safetensors"
    ckpt.save_tensors(path, {"w": torch.ones(2)}, {"step": 1})

    def full(*args: object, **kwargs: object) -> None:
        raise SafetensorError("Error while serializing: IoError(No space left on device)")

    monkeypatch.setattr(ckpt, "save_file", full)
    with pytest.raises(CheckpointError, match="could not be written .*No space left"):
        ckpt.save_tensors(path, {"w": torch.zeros(2)}, {"step": 2})
    assert ckpt.load_tensors(path)[1]["step"] == 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_resume_removes_the_temporary_files_of_an_interrupted_write(tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = config_file(tmp_path)
    assert main(train_argv(config, run) + ["--steps", "6"]) == 0
    stale = run / ".checkpoint.safetensors.abc123.tmp"
    stale.write_bytes(b"\0" * 1000)
    assert main(train_argv(config, run) + ["--steps", "6", "--resume"]) == 0
    assert not stale.exists()


# ----- interrupted runs ----------------------------------------------------------------------------


def test_a_run_killed_between_distant_evaluations_keeps_a_timed_checkpoint_and_resumes_exactly(
    tmp_path: Path, monkeypatch
) -> None:
    """Checkpoints come on a time cadence too (here: every step), so a run stopped long before its first
    evaluation resumes from its last step and ends bitwise equal to a run never stopped."""
    import metagnn.train as training
    from metagnn.tasks.addmod import AddMod
    from metagnn.train import RunConfig, train

    run = RunConfig("addmod", TINY_TASK, "metagnn", TINY_MODELS["metagnn"], {**TINY_TRAIN, "eval_every": 12})
    full = train(run, tmp_path / "full", progress=False)
    monkeypatch.setattr(training, "CHECKPOINT_EVERY_S", 0.0)
    sample, calls = AddMod.sample, []

    def killed_at_step_5(self, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return sample(self, *args, **kwargs)

    monkeypatch.setattr(AddMod, "sample", killed_at_step_5)
    with pytest.raises(TrainingError, match=r"last checkpoint \(step 5\)"):
        train(run, tmp_path / "split", progress=False)
    monkeypatch.setattr(AddMod, "sample", sample)
    resumed = train(run, tmp_path / "split", resume=True, progress=False)
    assert resumed["per_intent"] == full["per_intent"] and resumed["history"] == full["history"]


def test_resume_of_a_run_that_never_reached_a_checkpoint_starts_it_from_its_config(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    config = config_file(tmp_path)
    assert main(train_argv(config, run)) == 0
    reference = json.loads((run / "metrics.json").read_text())
    for name in ("checkpoint.safetensors", "metrics.json"):  # as if killed before its first checkpoint
        (run / name).unlink()
    assert main(train_argv(config, run) + ["--resume"]) == 0
    again = json.loads((run / "metrics.json").read_text())
    assert again["per_intent"] == reference["per_intent"]
    one_line_error(train_argv(config, tmp_path / "never") + ["--resume"], capsys, "nothing to resume")


def test_a_seed_beyond_what_a_run_folder_records_exactly_is_refused(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "addmod", "--seed", str(2**53 + 1), "--out", str(tmp_path / "r")])
    assert "seed must be in 0..2**53" in capsys.readouterr().err


def test_a_config_whose_base_leads_back_to_itself_by_another_path_is_refused(tmp_path: Path) -> None:
    from metagnn.config import load_config
    from metagnn.errors import ConfigError

    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "x.json").write_text(json.dumps({"base": "../a/y.json"}))
    (folder / "y.json").write_text(json.dumps({"base": "./x.json"}))
    with within(5), pytest.raises(ConfigError, match="leads back to itself"):
        load_config(str(folder / "x.json"), "addmod")


def test_a_users_target_is_checked_by_its_own_signature_only(tmp_path: Path) -> None:
    """Negative integers and floats are a user's business (only types and finiteness are checked); a builder
    without a readable signature still builds; the built-ins' sizes stay bounded."""
    import functools

    from metagnn.errors import ConfigError
    from metagnn.registry import TARGETS
    from metagnn.targets import mlp as mlp_module

    def padded_mlp(*, n_in: int, n_out: int, pad: int = -1, scale: float = -0.5) -> object:
        return mlp_module.mlp(n_in=n_in, hidden=[4], n_out=n_out)

    TARGETS.register("padded_mlp_test")(padded_mlp)
    TARGETS.register("partial_mlp_test")(functools.partial(mlp_module.mlp, hidden=[4]))
    assert build_target("padded_mlp_test", n_in=2, n_out=1, pad=-3, scale=-2.0).num_parameters > 0
    assert build_target("partial_mlp_test", n_in=2, n_out=1).num_parameters > 0
    with pytest.raises(ConfigError, match="finite"):
        build_target("padded_mlp_test", n_in=2, n_out=1, scale=float("nan"))
    with pytest.raises(ConfigError, match=r"n_in=-2 must be in 0\.\."):
        build_target("mlp", n_in=-2, hidden=[3], n_out=1)
