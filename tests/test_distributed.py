"""Runs that die or are split across processes: SIGKILL + --resume, SIGTERM, and 2-process DDP (gloo).

Every run here is a real ``metagnn train`` subprocess at one thread, on the tiny AddMod-p config.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from metagnn.distributed import World
from metagnn.errors import ConfigError
from metagnn.train import load_run

TASK = {
    "vocab": 20,
    "train": [5, 7, 11, 13],
    "val": [17],
    "ood": [3, 19],
    "target": {"d_model": 8, "n_heads": 2, "d_mlp": 16},
}
MODEL = {"d_intent": 16, "d_node": 16, "d_edge": 8, "rounds": 1}
ARC_TASK = {"test_examples": 8, "target": {"d_model": 8, "n_heads": 2, "d_mlp": 16, "n_layers": 1}}


def write_config(path: Path, task: str = "addmod", **train: int) -> str:
    cfg = {"steps": 6, "intents_per_step": 2, "examples_per_intent": 16, "eval_every": 3, "warmup": 2, **train}
    task_cfg = TASK if task == "addmod" else ARC_TASK
    path.write_text(json.dumps({"task_config": task_cfg, "train": cfg, "models": {"metagnn": MODEL}}))
    return str(path)


def train_cmd(config: str, out: Path, *extra: str, task: str = "addmod") -> list[str]:
    return [sys.executable, "-m", "metagnn.cli", "--threads", "1", "train", task, "--config", config,
            "--out", str(out), "--no-progress", "--log-batches", *extra]  # fmt: skip


def run_ok(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def checkpoint_step(run_dir: Path) -> int:
    with safe_open(str(run_dir / "checkpoint.safetensors"), framework="pt") as f:
        return json.loads(f.metadata()["state"])["step"]


def batches(run_dir: Path, rank: int = 0) -> list[dict]:
    return [json.loads(line) for line in (run_dir / f"batches.rank{rank}.jsonl").read_text().splitlines()]


def model_tensors(run_dir: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(run_dir / "checkpoint.safetensors")).items() if k.startswith("model.")}


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def wait_for_checkpoint(run_dir: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not (run_dir / "checkpoint.safetensors").exists():
        assert proc.poll() is None, f"the run ended before its first checkpoint: {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint within the timeout"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """One uninterrupted 200-step run: the reference for every interrupted one."""
    tmp = tmp_path_factory.mktemp("ref")
    config = write_config(tmp / "cfg.json", steps=200, eval_every=25)
    run_ok(train_cmd(config, tmp / "full"))
    return config, tmp / "full"


def assert_same_run(a: Path, b: Path) -> None:
    """Bitwise-equal final and selected weights, equal per-intent metrics and validation history."""
    ta, tb = load_file(str(a / "checkpoint.safetensors")), load_file(str(b / "checkpoint.safetensors"))
    for k in ta:
        if k.startswith(("model.", "best.")):
            assert torch.equal(ta[k], tb[k]), k
    ma, mb = metrics(a), metrics(b)
    assert ma["per_intent"] == mb["per_intent"] and ma["history"] == mb["history"] and ma["steps"] == mb["steps"]


@pytest.mark.parametrize("delay_seed", [0])
def test_sigkill_between_checkpoints_then_resume_is_exact(uninterrupted, tmp_path: Path, delay_seed: int) -> None:
    """A run killed with SIGKILL at a random moment and resumed ends bitwise equal to one never killed;
    the resumed process starts at the checkpoint's step (> 0) and trains only the remaining steps."""
    config, full = uninterrupted
    out = tmp_path / "killed"
    proc = subprocess.Popen(train_cmd(config, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_checkpoint(out, proc)
    time.sleep(random.Random(delay_seed).uniform(0.0, 0.6))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = checkpoint_step(out)
    assert 0 < killed_at < 200
    before = len(batches(out))  # steps trained before the kill, some of them after the checkpoint
    assert before >= killed_at
    assert not (out / "metrics.json").exists()

    run_ok(train_cmd(config, out, "--resume"))
    resumed = batches(out)[before:]
    assert [b["step"] for b in resumed] == list(range(killed_at, 200))
    assert resumed == batches(full)[killed_at:]  # the same data, from the same position
    assert_same_run(out, full)


def test_sigterm_stops_at_a_step_boundary_with_a_checkpoint(uninterrupted, tmp_path: Path) -> None:
    """SIGTERM (a cluster's preemption) ends the run with a one-line message and a checkpoint of the
    step it stopped at, so no finished step is lost; --resume then ends as if never stopped."""
    config, full = uninterrupted
    out = tmp_path / "stopped"
    proc = subprocess.Popen(train_cmd(config, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_checkpoint(out, proc)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "stopped by SIGTERM after step" in err and "Traceback" not in err
    step = int(err.split("after step ")[1].split(";")[0])
    assert checkpoint_step(out) == step == len(batches(out))  # every trained step is in the checkpoint
    run_ok(train_cmd(config, out, "--resume"))
    assert_same_run(out, full)


@pytest.mark.parametrize(
    ("task", "intents", "examples"),
    [("addmod", 2, 16), ("addmod", 3, 16), ("arc1d", 2, 8)],
    ids=["shard-intents", "shard-examples", "arc1d-rows-of-unequal-length"],
)
def test_two_processes_match_one(tmp_path: Path, task: str, intents: int, examples: int) -> None:
    """torchrun with 2 CPU processes (gloo): the ranks' intents and examples are disjoint and cover each
    global batch, and the final parameters equal a single-process run with the same global batch (on
    1D-ARC too, where the shards hold different numbers of loss terms)."""
    config = write_config(tmp_path / "cfg.json", task, steps=6, intents_per_step=intents, examples_per_intent=examples)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         *train_cmd(config, tmp_path / "ddp", task=task)[1:]],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    run_ok(train_cmd(config, tmp_path / "single", task=task))

    single = batches(tmp_path / "single")
    ranks = [batches(tmp_path / "ddp", r) for r in (0, 1)]
    assert len(single) == len(ranks[0]) == len(ranks[1]) == 6
    for step, whole in enumerate(single):
        cells: list[tuple[int, int]] = []
        keys: list[str] = []
        for log in ranks:
            rec = log[step]
            assert rec["step"] == step and rec["world_size"] == 2
            i0, i1 = rec["intent_slots"]
            e0, e1 = rec["example_slots"]
            cells += [(i, e) for i in range(i0, i1) for e in range(e0, e1)]
            keys += rec["intents"] if i1 - i0 < intents else []
        assert len(cells) == len(set(cells)), f"step {step}: ranks overlap"
        assert set(cells) == {(i, e) for i in range(intents) for e in range(examples)}, f"step {step}: not covered"
        if keys:  # sharded by intents: together the ranks train on exactly the single run's intents
            assert keys == whole["intents"]
        else:
            assert ranks[0][step]["intents"] == ranks[1][step]["intents"] == whole["intents"]
    assert model_tensors(tmp_path / "ddp").keys() == model_tensors(tmp_path / "single").keys()
    # The programs must agree. (Compared as synthesized weights, not as hypernetwork parameters: a parameter
    # whose gradient nearly cancels, e.g. a shift that the decoders' centring almost removes, is moved by Adam
    # on rounding noise, which differs with the summation order; its effect on the weights is that small too.)
    (_, task_a, model_a), (_, _, model_b) = (load_run(tmp_path / r, "cpu", "last") for r in ("ddp", "single"))
    u = task_a.intent_features(task_a.splits["train"])
    with torch.no_grad():
        a, b = model_a.synthesize(u), model_b.synthesize(u)
    worst, name = max(((a[k] - b[k]).abs().max().item() / a[k].abs().max().item(), k) for k in a)
    assert worst < 1e-4, f"DDP and single-process programs differ by {worst:.2e} of the largest weight ({name})"
    assert json.loads((tmp_path / "ddp" / "metrics.json").read_text())["provenance"]["world_size"] == 2


def test_world_shards_are_disjoint_equal_and_cover_the_batch() -> None:
    for size in (1, 2, 3, 4):
        for intents, examples in ((8, 64), (3, 12), (6, 5)):
            if intents % size and examples % size:
                with pytest.raises(ConfigError, match="cannot split a batch"):
                    World(0, size).shard(intents, examples)
                continue
            cells = []
            for rank in range(size):
                si, se = World(rank, size).shard(intents, examples)
                cells.append({(i, e) for i in range(si.start, si.stop) for e in range(se.start, se.stop)})
            assert len({len(c) for c in cells}) == 1
            assert set().union(*cells) == {(i, e) for i in range(intents) for e in range(examples)}
            assert sum(len(c) for c in cells) == intents * examples
