"""``metagnn reproduce`` on tiny configs: every task x model x seed, the report, and reuse of finished runs."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
from test_cli import TINY_MODELS, TINY_TASK, TINY_TRAIN

from metagnn import checkpoint
from metagnn.checkpoint import CHECKPOINT, LOCK, run_lock
from metagnn.cli import main
from metagnn.errors import CheckpointError, ConfigError, RunFolderBusy
from metagnn.reproduce import run_grid, run_or_reuse
from metagnn.train import RunConfig, train


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "addmod.json").write_text(
        json.dumps({"task_config": TINY_TASK, "train": TINY_TRAIN, "models": TINY_MODELS})
    )
    sumfirst = {"task_config": {"target": {"hidden": [8, 8]}}, "train": TINY_TRAIN, "models": TINY_MODELS}
    (folder / "sumfirst.json").write_text(json.dumps({**sumfirst, "models": {"flat": TINY_MODELS["flat"]}}))
    return folder


def test_reproduce_trains_the_grid_writes_the_report_and_reuses_runs(configs: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "repro"
    argv = ["reproduce", "--configs", str(configs), "--tasks", "addmod,sumfirst", "--models", "flat,direct",
            "--out", str(out), "--no-progress"]  # fmt: skip
    assert main([*argv, "--seeds", "2"]) == 0
    results = json.loads((out / "results.json").read_text())
    grid = sorted((r["task"], r["model"], r["seed"]) for r in results["rows"])
    assert grid == sorted((t, m, s) for t in ("addmod", "sumfirst") for m in ("flat", "direct") for s in (0, 1))
    table = (out / "results.md").read_text()
    assert "paper OOD" in table and "| addmod | flat | 2 |" in table and "0.947" in table  # SPEC 4's Meta-MLP
    assert "| sumfirst | direct | 2 |" in table and "0.140" in table
    for name in ("addmod-ood.png", "sumfirst-ood.png", "sumfirst-extrapolation.png"):
        assert (out / name).stat().st_size > 1000, name
    assert (out / "addmod" / "flat" / "seed1" / "metrics.json").exists()
    capsys.readouterr()

    # A second call reuses all 8 runs; one more seed trains only the new runs.
    assert main([*argv, "--seeds", "2"]) == 0
    assert capsys.readouterr().out.count("reusing the finished run") == 8
    assert main([*argv, "--seeds", "3"]) == 0
    out3 = capsys.readouterr().out
    assert out3.count("reusing the finished run") == 8 and "| addmod | flat | 3 |" in out3


def test_reproduce_rejects_unknown_names(tmp_path: Path, capsys) -> None:
    assert main(["reproduce", "--tasks", "addmod,nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--tasks: unknown" in err and "nope" in err
    assert main(["reproduce", "--models", "metagnn,gpt", "--out", str(tmp_path)]) == 2
    assert "gpt" in capsys.readouterr().err


def test_reproduce_checks_the_arc_folder_before_training(tmp_path: Path, capsys) -> None:
    argv = ["reproduce", "--quick", "--tasks", "arc1d", "--arc-dir", str(tmp_path / "missing"), "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "not a folder of 1D-ARC tasks" in capsys.readouterr().err
    assert not (tmp_path / "arc1d").exists()


HOLD = """
import json, sys
from metagnn.checkpoint import run_lock
from metagnn.train import RunConfig, train
with run_lock(sys.argv[1]):
    print("held", flush=True)
    if sys.stdin.readline().strip() == "train":  # finish the run, then let go
        train(RunConfig(**json.loads(sys.argv[2])), sys.argv[1], progress=False)
"""


@pytest.fixture
def holder():
    """Start a process that holds a run folder's lock until it is killed, or told to train ``run`` there."""
    procs = []

    def start(folder: Path, run: RunConfig | None = None) -> subprocess.Popen:
        cmd = [sys.executable, "-c", HOLD, str(folder), json.dumps(asdict(run) if run else {})]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def tiny_run(seed: int) -> RunConfig:
    return RunConfig("addmod", TINY_TASK, "flat", TINY_MODELS["flat"], TINY_TRAIN, seed)


def test_a_run_folder_in_use_by_another_process_is_refused_until_that_process_ends(tmp_path: Path, holder) -> None:
    folder = tmp_path / "run"
    proc = holder(folder)
    with pytest.raises(RunFolderBusy, match=f"process {proc.pid} on"):
        train(tiny_run(0), folder, progress=False)
    assert not (folder / CHECKPOINT).exists()
    proc.kill()  # killed, not stopped cleanly: the kernel still drops its lock
    proc.wait()
    assert train(tiny_run(0), folder, progress=False)["steps"] == TINY_TRAIN["steps"]


def test_the_grid_leaves_a_busy_run_for_last_and_takes_it_once_free(tmp_path: Path, holder) -> None:
    runs = [tiny_run(0), tiny_run(1)]
    proc = holder(tmp_path / "addmod" / "flat" / "seed0")
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("waiting for"):
            proc.kill()  # the other process ends without finishing: this one trains the run itself

    rows = run_grid(runs, tmp_path, progress=False, log=log, poll_s=0.05)
    assert [r["seed"] for r in rows] == [0, 1]
    assert all(r["steps"] == TINY_TRAIN["steps"] for r in rows)
    said = "\n".join(lines)
    assert "addmod/flat/seed0: another process is training it; coming back to it last" in said
    assert said.index("seed 1") < said.index("waiting for addmod/flat/seed0")
    assert (tmp_path / "addmod" / "flat" / "seed0" / "metrics.json").exists()


def test_the_grid_reuses_a_run_that_another_process_finished_while_it_waited(tmp_path: Path, holder) -> None:
    runs = [tiny_run(0), tiny_run(1)]
    proc = holder(tmp_path / "addmod" / "flat" / "seed0", runs[0])
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("waiting for"):
            proc.stdin.write("train\n")
            proc.stdin.flush()

    rows = run_grid(runs, tmp_path, progress=False, log=log, poll_s=0.05)
    assert proc.wait(timeout=120) == 0
    said = "\n".join(lines)
    assert said.index("waiting for addmod/flat/seed0") < said.index("addmod/flat/seed0: reusing the finished run")
    assert [r["seed"] for r in rows] == [0, 1]
    saved = json.loads((tmp_path / "addmod/flat/seed0/metrics.json").read_text())
    assert rows[0] == {k: v for k, v in saved.items() if k != "history"}


def test_a_run_that_fails_before_writing_leaves_no_folder_behind(tmp_path: Path) -> None:
    bad = RunConfig("addmod", TINY_TASK, "flat", {"no_such_key": 1}, TINY_TRAIN, 0)
    with pytest.raises(ConfigError, match="no_such_key"):
        train(bad, tmp_path / "new" / "run", progress=False)
    assert not (tmp_path / "new" / "run").exists()


@pytest.mark.parametrize("folder_too", [False, True], ids=["file", "file and folder"])
def test_a_lock_file_removed_while_it_was_being_locked_is_locked_again_at_its_path(
    tmp_path: Path, monkeypatch, folder_too: bool
) -> None:
    # The race: a process giving up a folder it created removes the lock file (and the folder) between
    # this one's open and flock. A lock on the removed file would guard nothing, so the lock must end
    # up on the file at the path, which a second locker then finds busy.
    fcntl = pytest.importorskip("fcntl")
    real_flock, calls, run = fcntl.flock, [], tmp_path / "run"
    run.mkdir()  # made by the other process

    def flock_after_removal(fd: int, op: int) -> None:
        if not calls:
            (run / LOCK).unlink()
            if folder_too:
                run.rmdir()
        calls.append(fd)
        real_flock(fd, op)

    monkeypatch.setattr(checkpoint.fcntl, "flock", flock_after_removal)
    with run_lock(run):
        assert len(calls) == 2
        fd = os.open(run / LOCK, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                real_flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    # the folder this process had to make again, with nothing written into it, is removed again
    assert run.exists() is not folder_too


def test_a_lock_file_that_cannot_be_created_is_a_one_line_error_not_a_hang(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK).symlink_to(tmp_path / "missing" / "train.lock")  # open(O_CREAT) fails every time
    with pytest.raises(CheckpointError, match=f"could not lock {LOCK} in {checkpoint.LOCK_ATTEMPTS} attempts"):
        with run_lock(run):
            pass


def test_a_file_system_without_flock_trains_unlocked_with_a_warning(tmp_path: Path, monkeypatch) -> None:
    fcntl = pytest.importorskip("fcntl")
    real_flock = fcntl.flock

    def no_flock(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(checkpoint.fcntl, "flock", no_flock)
    with pytest.warns(UserWarning, match="cannot lock files"), run_lock(tmp_path / "held"):
        fd = os.open(tmp_path / "held" / LOCK, os.O_RDWR)
        try:
            real_flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it: not locked, as the warning says
        finally:
            os.close(fd)
    with pytest.warns(UserWarning, match="cannot lock files"):
        assert train(tiny_run(0), tmp_path / "run", progress=False)["steps"] == TINY_TRAIN["steps"]


def test_reproduce_refuses_to_run_under_torchrun(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="under torchrun"):
        run_or_reuse(tiny_run(0), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_reproduce_weights_best_judges_the_same_runs_again_with_their_selected_steps(
    configs: Path, tmp_path: Path, capsys
) -> None:
    """The default report holds every run's last step (as metrics.json does); ``--weights best`` trains nothing,
    scores each run with its ``best.*`` weights (as ``eval --weights best`` does) and writes
    ``results-best.*`` beside the default report, which it leaves alone."""
    from metagnn.checkpoint import load_tensors, save_tensors

    out = tmp_path / "repro"
    argv = ["reproduce", "--configs", str(configs), "--tasks", "sumfirst", "--models", "flat", "--out", str(out),
            "--seeds", "1", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    run_dir = out / "sumfirst" / "flat" / "seed0"
    (headline,) = json.loads((out / "results.json").read_text())["rows"]
    assert headline["per_intent"] == json.loads((run_dir / "metrics.json").read_text())["per_intent"]
    assert "each run's last step" in (out / "results.md").read_text()
    tensors, state = load_tensors(run_dir / CHECKPOINT)  # make the selected weights certainly differ
    save_tensors(run_dir / CHECKPOINT, {k: v + 1 if k.startswith("best.") and v.is_floating_point() else v
                                        for k, v in tensors.items()}, state)  # fmt: skip
    last, saved = (out / "results.json").read_text(), (run_dir / CHECKPOINT).read_bytes()
    capsys.readouterr()
    assert main([*argv, "--weights", "best"]) == 0
    assert "reusing the finished run" in capsys.readouterr().out
    assert (out / "results.json").read_text() == last and (out / "sumfirst-ood-best.png").exists()
    (row,) = json.loads((out / "results-best.json").read_text())["rows"]
    assert main(["eval", str(run_dir), "--weights", "best", "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    assert row["weights"] == "best" and row["per_intent"] == expected["per_intent"]
    assert row["per_intent"] != headline["per_intent"]
    assert "the step validation selected" in (out / "results-best.md").read_text()
    assert (run_dir / CHECKPOINT).read_bytes() == saved  # judged, not retrained


def test_reproduce_refuses_a_finished_run_of_an_earlier_schema(configs: Path, tmp_path: Path, capsys) -> None:
    """A finished run of the same config written by an earlier schema (other code; before schema 2 its
    metrics.json headlined the selected weights) is not reused: a one-line error says why."""
    out = tmp_path / "repro"
    argv = ["reproduce", "--configs", str(configs), "--tasks", "sumfirst", "--models", "flat", "--out", str(out),
            "--seeds", "1", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    metrics_path = out / "sumfirst" / "flat" / "seed0" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["provenance"]["schema_version"] = 1
    metrics_path.write_text(json.dumps(metrics))
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "a finished run of schema 1" in err and "intent contract" in err and len(err.strip().splitlines()) == 1


def test_reproduce_refuses_a_run_folder_of_another_config(configs: Path, tmp_path: Path, capsys) -> None:
    """A finished run whose config is not the one asked for (e.g. the shipped configs changed) is neither
    reused nor resumed: a one-line error names the folder, and its files are left as they were."""
    out = tmp_path / "repro"
    argv = ["reproduce", "--configs", str(configs), "--tasks", "sumfirst", "--models", "flat", "--out", str(out),
            "--seeds", "1", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    run_dir = out / "sumfirst" / "flat" / "seed0"
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and p.suffix != ".lock"}
    cfg = json.loads((configs / "sumfirst.json").read_text())
    (configs / "sumfirst.json").write_text(json.dumps({**cfg, "train": {**cfg["train"], "lr": 5e-4}}))
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{run_dir} holds a run of another config" in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and p.suffix != ".lock"} == before
