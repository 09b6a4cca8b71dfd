"""Run folders and checkpoints: safetensors for tensors, JSON for everything else, no pickle.

A run folder holds ``config.json`` (task, model, training config, seed, target spec, written once)
and ``checkpoint.safetensors``: model, optimizer and RNG tensors plus the best weights so far, with
the training state (step, best step, history) as JSON in the file's metadata. One file means the
state and the tensors can never disagree, and it is written atomically (temporary file, fsync,
rename), so a run killed at any moment leaves the previous checkpoint intact. ``train.lock``
keeps a second process from training into the same folder (:func:`run_lock`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: run folders are not locked
    fcntl = None  # type: ignore[assignment]

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from metagnn.errors import CheckpointError, RunFolderBusy
from metagnn.schema import SCHEMA_VERSION, schema_mismatch

CONFIG = "config.json"
CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.json"
LOCK = "train.lock"
FORMAT = "metagnn-checkpoint"


def check_run_folder(out: Path | str) -> Path:
    """``out`` as a path, if it can be a run folder (missing, or a folder); else a one-line error."""
    out = Path(out)
    if out.is_symlink() and not out.exists():
        raise CheckpointError(f"run folder {out} is a symbolic link to {os.readlink(out)}, which does not exist")
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"run folder {out} exists and is not a folder")
    return out


_HELD: set[str] = set()  # run folders this process has locked (so a nested lock is a no-op)


@contextmanager
def run_lock(out: Path | str) -> Iterator[None]:
    """Hold run folder ``out`` for this process, or raise :class:`RunFolderBusy` at once.

    Two processes training into one folder would overwrite each other's checkpoints. The lock is an
    advisory ``flock`` on ``out/train.lock``, so the kernel drops it when its process ends, however
    it ends: a killed run never leaves a stale lock. The file names the holder for the message. A
    folder this call created is removed again if nothing but the lock file was written into it.
    """
    out = check_run_folder(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(out)
    if fcntl is None or key in _HELD:
        yield
        return
    fd, locked, recreated = _open_locked(out)
    created = created or recreated
    try:
        if locked:
            os.ftruncate(fd, 0)
            os.write(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode())
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
            if locked:
                os.ftruncate(fd, 0)
            if created and os.listdir(out) == [LOCK]:  # e.g. a config error before anything was written
                with suppress(OSError):
                    (out / LOCK).unlink()
                    out.rmdir()
    finally:
        os.close(fd)  # closing releases the flock


LOCK_ATTEMPTS = 20  # tries at locking the file at the path before giving up (see _open_locked)


def _open_locked(out: Path) -> tuple[int, bool, bool]:
    """Open and lock ``out/train.lock``: ``(fd, locked, created)``.

    ``locked`` is False where the file system cannot lock (a warning says so); ``created``, that
    this call had to make the folder again. A process giving up a folder it created removes the lock
    file and the folder while it still holds the lock. A process that opened the file just before
    would lock a file no longer at the path, and a third could lock a new one: so after locking,
    check that the path still names the locked file, and start again if not (at most
    ``LOCK_ATTEMPTS`` times, then :class:`CheckpointError`).
    """
    path = out / LOCK
    created = False
    for _ in range(LOCK_ATTEMPTS):
        try:
            out.mkdir(parents=True)  # again: the folder may just have been removed
            created = True
        except FileExistsError:
            pass
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the folder went between mkdir and open
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 1024).decode(errors="replace").strip() or "another process"
                raise RunFolderBusy(
                    f"run folder {out} is in use: {holder} is training in it; "
                    "wait for it to finish, or choose another folder"
                ) from None
            except OSError as e:  # a file system without flock (some network mounts): train unlocked
                if e.errno not in (errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK, errno.EINVAL):
                    raise
                message = f"{out}: this file system cannot lock files ({e.strerror}); the run folder is not locked"
                warnings.warn(message, stacklevel=4)  # _open_locked, run_lock, contextlib, the caller
                return fd, False, created
            mine = os.fstat(fd)
            try:
                here = os.stat(path)
            except FileNotFoundError:
                here = None
            if here is not None and (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino):
                return fd, True, created
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the file was removed under us: that lock guards nothing
    raise CheckpointError(
        f"{out}: could not lock {LOCK} in {LOCK_ATTEMPTS} attempts (the file or its folder keeps disappearing)"
    )


def atomic_write(path: Path, write: Any) -> None:
    """Create ``path`` through ``write(tmp)`` and a rename: readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        try:
            write(tmp)
        except SafetensorError as e:  # safetensors reports a failed write (e.g. a full disk) as its own error
            raise CheckpointError(
                f"{path}: could not be written ({str(e).splitlines()[0]}); the previous file is intact"
            ) from None
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions of a new file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_json(path: Path | str, data: dict[str, Any]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=False)
            f.write("\n")

    atomic_write(Path(path), write)


def write_text(path: Path | str, text: str) -> None:
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text))


MAX_JSON_BYTES = 64 * 2**20  # configs, run records and 1D-ARC tasks are kilobytes


def remove_stale_temporaries(folder: Path | str) -> list[Path]:
    """Remove the temporary files that an interrupted :func:`atomic_write` of a run folder's own files
    (config, checkpoint, metrics) left in ``folder`` (call it while holding the folder's lock, so that no
    such write is in flight); returns what was removed."""
    stale = [p for name in (CONFIG, CHECKPOINT, METRICS) for p in Path(folder).glob(f".{name}.*.tmp") if p.is_file()]
    for p in stale:
        with suppress(FileNotFoundError):
            p.unlink()
    return stale


def read_json(path: Path | str, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """A JSON object from a regular file of at most ``max_bytes``; anything else is a one-line error
    (a FIFO or a device is never opened, so it can neither hang nor read without end)."""
    path = Path(path)
    if not path.is_file():  # follows links; False for FIFOs, devices and folders
        raise CheckpointError(f"{path}: file not found" if not path.exists() else f"{path}: not a regular file")
    size = path.stat().st_size
    if size > max_bytes:
        raise CheckpointError(f"{path}: {size:,} bytes, more than the {max_bytes:,} a JSON file here may have")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e.msg if hasattr(e, 'msg') else e})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def digest(tensors: dict[str, Tensor], state: str) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, and the JSON state.

    safetensors has no checksum: a flipped bit in tensor data would load as silently different
    weights. With this digest in the metadata, any damage is caught on load.
    """
    h = hashlib.sha256(state.encode())
    for k in sorted(tensors):
        v = tensors[k]
        h.update(f"{k}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.reshape(-1).view(torch.uint8).numpy().tobytes() if v.numel() else b"")
    return h.hexdigest()


def owned(t: Tensor) -> Tensor:
    """``t`` in storage of its own (safetensors refuses tensors that share memory, e.g. a model's parameters
    packed into one buffer by :class:`metagnn.optim.PackedAdamW`)."""
    whole = t.is_contiguous() and t.storage_offset() == 0 and t.untyped_storage().nbytes() == t.nbytes
    return t if whole else t.clone(memory_format=torch.contiguous_format)


def save_tensors(path: Path | str, tensors: dict[str, Tensor], metadata: dict[str, Any]) -> None:
    """Write tensors + JSON metadata atomically as one safetensors file, with a SHA-256 of both."""
    tensors = {k: owned(v.detach().to("cpu")) for k, v in tensors.items()}
    state = json.dumps(metadata)
    meta = {"format": FORMAT, "schema_version": str(SCHEMA_VERSION), "state": state, "sha256": digest(tensors, state)}
    atomic_write(Path(path), lambda tmp: save_file(tensors, tmp, metadata=meta))


def load_tensors(path: Path | str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a file written by :func:`save_tensors`; any damage becomes a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt") as f:  # one read: metadata and tensors
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: truncated or corrupted checkpoint ({str(e).splitlines()[0]})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a metagnn checkpoint (format {meta.get('format')!r})")
    if meta.get("schema_version") != str(SCHEMA_VERSION):
        raise CheckpointError(
            f"{path}: checkpoint schema version {meta.get('schema_version')!r}, "
            f"{schema_mismatch(meta.get('schema_version'))}"
        )
    if "sha256" not in meta:  # every file this project writes has one: without it, damage would go unseen
        raise CheckpointError(f"{path}: checkpoint has no SHA-256, so it cannot be verified")
    if meta["sha256"] != digest(tensors, meta.get("state", "")):
        raise CheckpointError(f"{path}: corrupted checkpoint (its SHA-256 does not match its contents)")
    try:
        state = json.loads(meta.get("state", "{}"))
    except json.JSONDecodeError:
        state = None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: corrupted checkpoint metadata (state is not a JSON object)")
    return tensors, state


def prefixed(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {f"{prefix}.{k}": v for k, v in tensors.items()}


def unprefixed(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Optimizer state as flat tensors (safetensors) + JSON (param groups)."""
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for k, v in state.items():
            tensors[f"{idx}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    return tensors, {"param_groups": sd["param_groups"]}


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Tensor]] = {}
    for key, v in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
