"""Data-parallel training on PyTorch's own engine: ``torchrun`` launches the processes, DDP averages gradients.

Every rank draws the same global batch from the same seeded generator (so the data stream is the
one a single process would see) and trains on its shard of it: whole intents when the intents
per step divide evenly among the ranks, else whole examples of every intent. Each rank's loss is a
mean over an equal-sized shard, so DDP's gradient average is the gradient of the global batch's
mean loss: ``N`` ranks compute what one process would, up to float summation order.

Only rank 0 validates, writes checkpoints and metrics; the other ranks only train. A rank that
sees a non-finite loss or a stop request (SIGINT / SIGTERM) tells the others in the same step,
so all ranks stop at one step boundary and none waits forever in a collective.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from metagnn.errors import ConfigError
from metagnn.runtime import pick_device


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (``size == 1``: plain single-process training)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, intents: int, examples: int) -> tuple[slice, slice]:
        """The slots of the global batch this rank trains on: ``(intent slice, example slice)``.

        The global batch is ``intents`` intents x ``examples`` examples each; shards are disjoint,
        equal in size and cover it. Raises :class:`ConfigError` when neither axis divides evenly.
        """
        if self.size == 1:
            return slice(0, intents), slice(0, examples)
        if intents % self.size == 0:
            m = intents // self.size
            return slice(self.rank * m, (self.rank + 1) * m), slice(0, examples)
        if examples % self.size == 0:
            m = examples // self.size
            return slice(0, intents), slice(self.rank * m, (self.rank + 1) * m)
        raise ConfigError(
            f"cannot split a batch of {intents} intents x {examples} examples evenly over {self.size} processes: "
            f"make intents_per_step or examples_per_intent a multiple of {self.size}"
        )

    def any(self, flags: list[bool], device: torch.device) -> list[bool]:
        """For each flag: is it set on any rank? (One small all-reduce; no communication for one process.)"""
        if self.size == 1:
            return flags
        t = torch.tensor([float(f) for f in flags], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]


def init_world(device: str | None = None) -> tuple[World, torch.device]:
    """Join the process group that ``torchrun`` set up (``WORLD_SIZE`` > 1), or run alone.

    Under torchrun each rank takes GPU ``LOCAL_RANK`` when CUDA is available (NCCL), else the CPU
    (gloo). An explicit ``device`` is honoured and checked.
    """
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size > 1:
            rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    except (KeyError, ValueError):
        raise ConfigError(
            "WORLD_SIZE / RANK / LOCAL_RANK are set but missing or not numbers; launch with torchrun or unset them"
        ) from None
    if size <= 1:
        return World(), pick_device(device)
    if device is None and torch.cuda.is_available():
        device = "cuda"
    if device == "cuda":  # one GPU per rank, not every rank on GPU 0
        device = f"cuda:{local_rank % max(1, torch.cuda.device_count())}"
    dev = pick_device(device or "cpu")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        try:
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        except (ValueError, RuntimeError) as e:  # e.g. a leftover WORLD_SIZE without MASTER_ADDR
            first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ConfigError(f"cannot join the process group (launch with torchrun): {first_line}") from None
    return World(rank, size, local_rank), dev


def close_world(world: World, finished: bool = True) -> None:
    """Leave the process group, if this process joined one.

    After a run that ``finished``, every rank first waits at a barrier: rank 0 still evaluates and
    writes the final metrics while the others are done, and a rank that tears down its gloo
    connections and exits while a peer is still connected can abort in gloo's C++ teardown
    ("terminate called without an active exception", seen once in CI). After a failure there is
    no barrier (a peer may never reach it; torchrun stops the others).
    """
    if world.size == 1 or not dist.is_initialized():
        return
    if finished:
        gc.collect()  # drop the DDP wrapper (and its reducer) while the process group still exists
        dist.barrier()
    dist.destroy_process_group()
