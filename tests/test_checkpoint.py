"""Checkpoints: safetensors + JSON round trip; damaged or foreign files raise CheckpointError, pickles never run."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from metagnn.checkpoint import CHECKPOINT, CONFIG, SCHEMA_VERSION, digest, load_tensors, save_tensors
from metagnn.errors import CheckpointError
from metagnn.train import load_run

TENSORS = {
    "model.w": torch.randn(4, 3),
    "model.pe__hidden0": torch.randn(7, 16, dtype=torch.float64),
    "rng.data": torch.arange(10, dtype=torch.uint8),
    "optim.0.step": torch.tensor(5.0),
}
STATE = {"step": 40, "best_step": 30, "history": [{"step": 30, "val_accuracy": 0.5}], "note": "é"}


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / CHECKPOINT
    save_tensors(path, TENSORS, STATE)
    return path


class WritesMarker:
    """Unpickling this object would create ``path``: proof that a pickle was executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_round_trip(saved: Path) -> None:
    """Tensors (any dtype, shape, 0-d) and the JSON state come back exactly."""
    tensors, state = load_tensors(saved)
    assert state == STATE
    assert set(tensors) == set(TENSORS)
    for k, v in TENSORS.items():
        assert tensors[k].dtype == v.dtype and torch.equal(tensors[k], v), k


def test_save_overwrites_atomically_without_leftovers(saved: Path) -> None:
    """A second save replaces the file and leaves no temporary files behind."""
    save_tensors(saved, {"a": torch.ones(2)}, {"step": 41})
    tensors, state = load_tensors(saved)
    assert set(tensors) == {"a"} and state == {"step": 41}
    assert sorted(p.name for p in saved.parent.iterdir()) == [CHECKPOINT]


CUTS = {"empty": lambda n: 0, "in length": lambda n: 5, "in header": lambda n: 40, "half": lambda n: n // 2,
        "last byte": lambda n: n - 1}  # fmt: skip


@pytest.mark.parametrize("cut", CUTS)
def test_truncated_file_raises_checkpoint_error(saved: Path, cut: str) -> None:
    """A checkpoint cut anywhere (inside the length, the header or the data) is a CheckpointError."""
    data = saved.read_bytes()
    saved.write_bytes(data[: CUTS[cut](len(data))])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_tensors(saved)


@pytest.mark.parametrize("header_len", [None, 50])
def test_random_bytes_raise_checkpoint_error(tmp_path: Path, header_len: int | None) -> None:
    """Random bytes, with a random or a plausible header length, are a CheckpointError."""
    gen = torch.Generator().manual_seed(0)
    noise = bytes(torch.randint(256, (2000,), generator=gen, dtype=torch.uint8).tolist())
    path = tmp_path / CHECKPOINT
    path.write_bytes(noise if header_len is None else struct.pack("<Q", header_len) + noise)
    with pytest.raises(CheckpointError):
        load_tensors(path)


def test_missing_file_raises_checkpoint_error(tmp_path: Path) -> None:
    """A missing checkpoint (or a folder in its place) is a CheckpointError, not a crash."""
    with pytest.raises(CheckpointError, match="not found"):
        load_tensors(tmp_path / CHECKPOINT)
    (tmp_path / "dir.safetensors").mkdir()
    with pytest.raises(CheckpointError):
        load_tensors(tmp_path / "dir.safetensors")


def test_pickle_is_refused_and_never_executed(tmp_path: Path) -> None:
    """A pickle named checkpoint.safetensors is refused with CheckpointError and its payload never runs."""
    marker = tmp_path / "pwned"
    path = tmp_path / CHECKPOINT
    path.write_bytes(pickle.dumps({"model.w": WritesMarker(marker)}))
    assert not marker.exists()
    with pytest.raises(CheckpointError):
        load_tensors(path)
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the payload is live: unpickling it does create the marker
    assert marker.exists()


def test_pickle_in_a_run_folder_is_refused_by_load_run(tmp_path: Path) -> None:
    """Loading a run whose checkpoint is a pickle raises CheckpointError and executes nothing."""
    config = {
        "task": "addmod", "model": "flat", "train": {}, "seed": 0,
        "task_config": {"vocab": 7, "train": [5], "val": [], "ood": [7],
                        "target": {"d_model": 8, "n_heads": 2, "d_mlp": 8}},
        "model_config": {"d_hidden": 8, "layers": 1},
        "provenance": {"schema_version": SCHEMA_VERSION},
    }  # fmt: skip
    (tmp_path / CONFIG).write_text(json.dumps(config))
    marker = tmp_path / "pwned"
    (tmp_path / CHECKPOINT).write_bytes(pickle.dumps(WritesMarker(marker)))
    with pytest.raises(CheckpointError):
        load_run(tmp_path)
    assert not marker.exists()


def test_foreign_safetensors_file_is_refused(tmp_path: Path) -> None:
    """A valid safetensors file that metagnn did not write, or of another schema version, is refused."""
    path = tmp_path / CHECKPOINT
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a metagnn checkpoint"):
        load_tensors(path)
    meta = {"format": "metagnn-checkpoint", "schema_version": str(SCHEMA_VERSION + 1), "state": "{}"}
    save_file({"w": torch.zeros(2)}, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="schema version"):
        load_tensors(path)


def test_corrupted_state_json_is_refused(tmp_path: Path) -> None:
    """Metadata whose training state is not valid JSON is a CheckpointError."""
    path = tmp_path / CHECKPOINT
    meta = {"format": "metagnn-checkpoint", "schema_version": str(SCHEMA_VERSION), "state": '{"step": 4'}
    meta["sha256"] = digest({"w": torch.zeros(2)}, meta["state"])  # intact, so the state itself is judged
    save_file({"w": torch.zeros(2)}, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="metadata"):
        load_tensors(path)


def test_state_that_is_not_a_json_object_is_refused(tmp_path: Path) -> None:
    """Training state must be a JSON object; anything else is a damaged checkpoint."""
    path = tmp_path / CHECKPOINT
    meta = {"format": "metagnn-checkpoint", "schema_version": str(SCHEMA_VERSION), "state": "[1, 2]"}
    meta["sha256"] = digest({"w": torch.zeros(2)}, meta["state"])  # intact, so the state itself is judged
    save_file({"w": torch.zeros(2)}, str(path), metadata=meta)
    with pytest.raises(CheckpointError):
        load_tensors(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.floats(0.0, 1.0, exclude_max=True), xor=st.integers(1, 255))
def test_any_changed_byte_is_caught(saved: Path, where: float, xor: int) -> None:
    """Changing any single byte (header, JSON state or tensor data) gives a CheckpointError, unless the
    change means nothing (JSON whitespace in the header's padding): a damaged checkpoint never loads as
    silently different weights or state."""
    data = bytearray(saved.read_bytes())
    damaged = saved.parent / "damaged.safetensors"
    data[int(where * len(data))] ^= xor
    damaged.write_bytes(bytes(data))
    try:
        tensors, state = load_tensors(damaged)
    except CheckpointError:
        return
    assert state == STATE and all(torch.equal(tensors[k], v) for k, v in TENSORS.items())
