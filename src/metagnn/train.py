"""The one training loop, for every model and task.

End to end through the program's output: per step, sample intents and examples, synthesize
weights (hypernetworks) or predict directly (Direct), take the task loss, step AdamW. Validation
accuracy picks a step for the labelled "selected" figures (SPEC 3b: the headline is the last step); the
OOD intents are scored at each evaluation for the learning curves and never read by any decision here.

The same loop runs under ``torchrun`` (see :mod:`metagnn.distributed`). SIGINT / SIGTERM stop it
at the next step boundary with a checkpoint of that step, so an interrupted run loses nothing.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from metagnn import checkpoint as ckpt
from metagnn.config import INT_LIMIT, bounds, check_value, from_dict, merge
from metagnn.distributed import World, close_world, init_world
from metagnn.errors import CheckpointError, ConfigError, RunFolderBusy, TrainingError
from metagnn.evaluate import evaluate
from metagnn.models import Model, build_model
from metagnn.models.base import CudaGraphed, Hypernetwork
from metagnn.optim import build_optimizer, update
from metagnn.registry import MODELS, TASKS
from metagnn.runtime import pick_device, provenance, tune_allocator
from metagnn.tasks import Task, build_task

# Besides every evaluation, a checkpoint at least this often (seconds), so that a run killed between two
# distant evaluations loses at most this much work.
CHECKPOINT_EVERY_S = 600.0


@dataclass
class TrainConfig:
    steps: int = field(default=2000, metadata=bounds(1, 10**8))  # 10**8 steps: months on any machine
    intents_per_step: int = field(default=8, metadata=bounds(1, 10**5))
    examples_per_intent: int = field(default=64, metadata=bounds(1, 10**7))
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    warmup: int = field(default=100, metadata=bounds(0, 10**8))
    grad_clip: float = 1.0
    eval_every: int = field(default=250, metadata=bounds(1, 10**8))
    ema: float = 0.0  # > 0: validate, select and keep an exponential moving average of the weights (decay/step)
    # Which evaluation's weights to keep (validation intents only, SPEC 3b). None: the first with the best
    # validation accuracy; t >= 0: the last within t of the best (validation that saturates early, e.g. at
    # 1.0 on two intents, then keeps the most-trained weights it cannot tell apart from the best).
    select_tolerance: float | None = None
    # Other settings of the target S to train on beside the task's own, e.g. [{"d_model": 24}, {"d_model": 48}]:
    # the steps go round the task's target and these in turn (one hypernetwork, several sizes of S; tied
    # hypernetworks only). Validation, selection and evaluation use the task's own target.
    targets: list[dict] = field(default_factory=list, metadata=bounds(-(10**8), 10**8))

    def __post_init__(self) -> None:
        if len(self.targets) > 64:
            raise ConfigError(f"train config: {len(self.targets)} targets; at most 64")
        for name in ("steps", "intents_per_step", "examples_per_intent", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train config: {name}={getattr(self, name)!r} must be at least 1")
        if self.warmup < 0:
            raise ConfigError(f"train config: warmup={self.warmup!r} must be >= 0")
        if not 0 < self.lr <= 10:  # also rejects NaN; torch overflows on absurd values
            raise ConfigError(f"train config: lr={self.lr!r} must be in (0, 10]")
        if not math.isfinite(self.grad_clip) or self.grad_clip <= 0:
            raise ConfigError(f"train config: grad_clip={self.grad_clip!r} must be a positive finite number")
        if not math.isfinite(self.weight_decay) or self.weight_decay < 0:
            raise ConfigError(f"train config: weight_decay={self.weight_decay!r} must be a finite number >= 0")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"train config: min_lr_ratio={self.min_lr_ratio!r} must be in [0, 1]")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"train config: ema={self.ema!r} must be in [0, 1) (0: off; e.g. 0.99)")
        if self.select_tolerance is not None and not 0 <= self.select_tolerance <= 1:
            raise ConfigError(
                f"train config: select_tolerance={self.select_tolerance!r} must be null or in [0, 1] (an accuracy)"
            )

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` (a pure function of the step)."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        t = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


@dataclass
class RunConfig:
    """Everything that defines a run; saved as the run folder's ``config.json``."""

    task: str
    task_config: dict[str, Any]
    model: str
    model_config: dict[str, Any]
    train: dict[str, Any]
    seed: int = 0

    def as_json(self) -> dict[str, Any]:
        """The config as its ``config.json`` holds it (JSON types: lists, not tuples)."""
        return json.loads(json.dumps(asdict(self)))

    def resolved(self) -> RunConfig:
        """This run with every default filled in (validated): what a run folder records, so that it says
        exactly what ran even after the defaults change."""

        def full(cls: type, data: dict[str, Any], where: str) -> dict[str, Any]:
            return json.loads(json.dumps(asdict(from_dict(cls, data, where=where))))

        check_value(self.seed, int, "run config", "seed", (0, INT_LIMIT))
        task_cfg = full(TASKS.get(self.task).Config, self.task_config, f"task config ({self.task})")
        model_cfg = full(MODELS.get(self.model).Config, self.model_config, f"model config ({self.model})")
        return RunConfig(self.task, task_cfg, self.model, model_cfg, full(TrainConfig, self.train, "train config"),
                         self.seed)  # fmt: skip

    @classmethod
    def saved(cls, data: dict[str, Any], where: str) -> RunConfig:
        """The run a ``config.json`` (or a metrics JSON's ``"config"``) describes."""
        if not isinstance(data, dict):
            raise CheckpointError(f"{where}: not a run config")
        try:
            return from_dict(cls, {k: data[k] for k in (f.name for f in fields(cls))}, where=where)
        except KeyError as e:
            raise CheckpointError(f"{where}: missing key {e}") from None


def same_run(a: RunConfig, b: RunConfig) -> bool:
    """Whether two configs describe the same run once their defaults are filled in."""
    try:
        return a.resolved().as_json() == b.resolved().as_json()
    except ConfigError:  # a config this version can no longer build is not this run
        return False


def started_with(run: RunConfig, out: Path) -> bool:
    """Whether the run folder ``out`` was started with ``run`` (its ``config.json``), defaults filled in."""
    return same_run(run, RunConfig.saved(ckpt.read_json(out / ckpt.CONFIG), str(out / ckpt.CONFIG)))


def build(run: RunConfig) -> tuple[Task, Model, TrainConfig]:
    task = build_task(run.task, run.task_config)
    torch.manual_seed(run.seed)
    model = build_model(run.model, task.spec, task.intent_dim, run.model_config, contract=task.contract)
    return task, model, from_dict(TrainConfig, run.train, where="train config")


class StopRequests:
    """While active, SIGINT and SIGTERM ask the loop to stop at the next step boundary; a second SIGINT
    interrupts at once. (Signal handlers can only be set from the main thread; elsewhere this is inert.)"""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def train(
    run: RunConfig,
    out: Path | str,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    log_batches: bool = False,
) -> dict[str, Any] | None:
    """Train one model on one task into run folder ``out``; returns the final metrics (also saved).

    ``stop_after=k`` ends this call after step ``k`` with a checkpoint written (returns ``None``);
    a later call with ``resume=True`` continues exactly where it stopped. Under ``torchrun`` every
    rank calls this; rank 0 returns the metrics, the others ``None``. ``log_batches`` appends, per
    step, the intents and example slots this process trained on to ``out/batches.rank<R>.jsonl``.
    """
    out = ckpt.check_run_folder(out)
    run = run.resolved()  # config.json, the checkpoint and metrics.json record every setting
    tune_allocator()
    world, dev = init_world(device)
    finished = False
    try:
        with lock_run_folder(out, world, dev), StopRequests() as stop:
            metrics = _train(run, out, world, dev, resume, progress, stop_after, log_batches, stop)
        finished = True
        return metrics
    finally:
        close_world(world, finished)


@contextmanager
def lock_run_folder(out: Path, world: World, dev: torch.device) -> Iterator[None]:
    """Rank 0 writes the run folder, so it alone holds its lock; under DDP every rank learns if it failed."""
    with ExitStack() as stack:
        busy: RunFolderBusy | None = None
        if world.rank == 0:
            try:
                stack.enter_context(ckpt.run_lock(out))
            except RunFolderBusy as e:
                busy = e
        if world.any([busy is not None], dev)[0]:
            raise busy or RunFolderBusy(f"run folder {out} is in use by another process (rank 0 could not lock it)")
        yield


def _train(
    run: RunConfig,
    out: Path,
    world: World,
    dev: torch.device,
    resume: bool,
    progress: bool,
    stop_after: int | None,
    log_batches: bool,
    stop: StopRequests,
) -> dict[str, Any] | None:
    task, model, cfg = build(run)
    model.to(dev)
    if dev.type == "cuda":  # work (and CUDA graph capture) on this device's streams, also for cuda:N
        torch.cuda.set_device(dev)
    # One hypernetwork, several sizes of S: a view per extra target, sharing every parameter (see retarget).
    if cfg.targets and world.size > 1:
        raise ConfigError("train.targets (several target sizes) trains in one process; run it without torchrun")
    hypernets = [model]
    for i, target in enumerate(cfg.targets):
        try:
            hypernets.append(retarget(run, model, target)[1])
        except ConfigError as e:
            raise ConfigError(f"train.targets[{i}] {target}: {e}") from None
    if world.is_main and out.is_dir():  # under the folder's lock: no write is in flight
        ckpt.remove_stale_temporaries(out)
    have_checkpoint = (out / ckpt.CHECKPOINT).exists()
    if have_checkpoint and not resume:
        raise CheckpointError(f"{out} already holds a checkpoint: resume it, or choose another run folder")
    if resume and not have_checkpoint:
        if not (out / ckpt.CONFIG).exists():
            raise CheckpointError(f"{out}: nothing to resume (no {ckpt.CONFIG}, no {ckpt.CHECKPOINT})")
        if not started_with(run, out):
            raise CheckpointError(f"{out}: resuming with a different config than the run was started with")
        resume = False  # stopped before its first checkpoint: the run starts again from its saved config
        if world.is_main:
            for log in out.glob("batches.rank*.jsonl"):  # the abandoned attempt's steps
                log.unlink()

    opt = build_optimizer(model, cfg.lr, cfg.weight_decay, dev)
    # The weights that are validated and selected: the model's own, or their moving average.
    average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True) if cfg.ema else None
    judged: torch.nn.Module = model if average is None else average.module
    gen = torch.Generator().manual_seed(run.seed + 1)
    state: dict[str, Any] = {"step": 0, "best_step": None, "best_val": -1.0, "history": [], "wall_time": 0.0}
    best_weights: dict[str, torch.Tensor] | None = None
    if resume:
        if not started_with(run, out):
            raise CheckpointError(f"{out}: resuming with a different config than the run was started with")
        tensors, state = ckpt.load_tensors(out / ckpt.CHECKPOINT)
        try:
            model.load_state_dict(ckpt.unprefixed("model", tensors))
            ckpt.load_optimizer(opt, ckpt.unprefixed("optim", tensors), state["optimizer"])
            gen.set_state(tensors["rng.data"])
            if "rng.pe" in tensors:
                model.pe_generator.set_state(tensors["rng.pe"])
            if average is not None:
                average.load_state_dict(ckpt.unprefixed("ema", tensors))
            start_step = int(state["step"])
        except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as e:
            raise CheckpointError(
                f"{out / ckpt.CHECKPOINT}: not a resumable training checkpoint ({type(e).__name__})"
            ) from None
        if not 0 <= start_step <= cfg.steps:
            raise CheckpointError(f"{out / ckpt.CHECKPOINT}: step {start_step} is outside 0..{cfg.steps}")
        best = ckpt.unprefixed("best", tensors)
        best_weights = best or None
    elif world.is_main:
        ckpt.write_json(
            out / ckpt.CONFIG,
            {**asdict(run), "spec": task.spec.to_dict(), "provenance": provenance(dev, world_size=world.size)},
        )

    def save(new_state: dict[str, Any]) -> None:
        """Write the checkpoint of ``new_state``; ``state`` follows only once the file is in place."""
        opt_tensors, opt_meta = ckpt.optimizer_tensors(opt)
        tensors = {
            **ckpt.prefixed("model", model.state_dict()),
            **ckpt.prefixed("optim", opt_tensors),
            "rng.data": gen.get_state(),
        }
        if isinstance(getattr(model, "pe_generator", None), torch.Generator):  # resampled PEs (an ablation)
            tensors["rng.pe"] = model.pe_generator.get_state()
        if best_weights is not None:
            tensors.update(ckpt.prefixed("best", best_weights))
        if average is not None:
            tensors.update(ckpt.prefixed("ema", average.state_dict()))
        ckpt.save_tensors(out / ckpt.CHECKPOINT, tensors, {**new_state, "optimizer": opt_meta, "config": asdict(run)})
        state.update(new_state)

    def validate(step: int) -> None:
        nonlocal best_weights
        # Every held-out split is scored for the learning curves (metagnn summarize --plot); only the
        # validation accuracy is ever read below.
        scored = evaluate(judged, task, dev, splits=[s for s in ("val", "ood", "extrapolation") if task.splits[s]])
        val = scored.get("val_accuracy")
        curves = {
            f"{s}_accuracy": scored[f"{s}_accuracy"] for s in ("ood", "extrapolation") if f"{s}_accuracy" in scored
        }
        state["history"].append(
            {"step": step, "val_accuracy": val, **curves, "loss": running_loss, "train_accuracy": running_acc}
        )
        score = val if val is not None else float(step)  # without validation intents: the last step
        tolerance = cfg.select_tolerance
        if tolerance is None:
            keep = score > state["best_val"]
        else:  # best_val is the best so far, so the last kept step is the last within tolerance of the final best
            keep = score >= max(state["best_val"], score) - tolerance
        if keep or best_weights is None:
            state["best_val"], state["best_step"] = max(state["best_val"], score), step
            best_weights = {k: v.detach().clone() for k, v in judged.state_dict().items()}

    state["world_size"] = world.size
    train_intents = task.splits["train"]
    k = min(cfg.intents_per_step, len(train_intents))
    weights = task.train_weights()
    if weights is not None:
        weights = weights.detach().cpu().double()
        if weights.shape != (len(train_intents),) or not bool(torch.isfinite(weights).all() and (weights >= 0).all()):
            raise ConfigError(f"task {run.task}: train_weights must be {len(train_intents)} finite weights >= 0")
        if int((weights > 0).sum()) < k:
            raise ConfigError(f"task {run.task}: fewer than {k} train intents (intents_per_step) have a weight > 0")
    mine_i, mine_x = world.shard(k, cfg.examples_per_intent)
    net: torch.nn.Module = model
    if world.size > 1:
        net = DistributedDataParallel(model, device_ids=[dev] if dev.type == "cuda" else None)
    forwards = [training_forward(net if h is model else h, dev) for h in hypernets]
    if log_batches:  # every rank writes its own log; rank 0 may not have created the folder yet
        out.mkdir(parents=True, exist_ok=True)
    batch_log = open(out / f"batches.rank{world.rank}.jsonl", "a") if log_batches else None  # noqa: SIM115
    start = state["step"]
    running_loss, running_acc = state.get("running", [float("nan"), float("nan")])
    t0 = time.perf_counter() - state["wall_time"]
    bar = tqdm(
        total=cfg.steps, initial=start, disable=not (progress and world.is_main), desc=f"{run.task}/{run.model}",
        dynamic_ncols=True, mininterval=0.1 if sys.stderr.isatty() else 30.0,  # a log file: a line every 30 s
    )  # fmt: skip
    model.train()
    last_save = time.monotonic()
    try:
        for step in range(start, cfg.steps):
            if weights is None:
                pick = torch.randperm(len(train_intents), generator=gen)[:k]
            else:
                pick = torch.multinomial(weights, k, replacement=False, generator=gen)
            intents = [train_intents[i] for i in pick.tolist()]
            x, y = task.sample(intents, cfg.examples_per_intent, gen)  # the global batch, the same on every rank
            global_terms = task.loss_terms(y)
            intents, x, y = intents[mine_i], x[mine_i, mine_x], y[mine_i, mine_x]
            if batch_log is not None:
                record = {
                    "step": step,
                    "rank": world.rank,
                    "world_size": world.size,
                    "intents": [task.intent_key(i) for i in intents],
                    "intent_slots": [mine_i.start, mine_i.stop],
                    "example_slots": [mine_x.start, mine_x.stop],
                }
                batch_log.write(json.dumps(record) + "\n")
                batch_log.flush()  # whole lines survive a SIGKILL
            u, x, y = task.intent_features(intents).to(dev), x.to(dev), y.to(dev)
            for group in opt.param_groups:
                group["lr"] = cfg.lr_at(step)
            out_ = forwards[step % len(hypernets)](u, x)
            loss = task.loss(out_, y, intents)
            if world.size > 1:  # DDP averages the ranks' gradients: weigh each shard's mean by its share
                loss = loss * (task.loss_terms(y) * world.size / global_terms)
            if world.any([not bool(torch.isfinite(loss))], dev)[0]:  # every rank stops before the gradient all-reduce
                raise TrainingError(f"loss is {loss.item()} at step {step}; {last_checkpoint(out, state)}")
            update(loss, opt, cfg.grad_clip)
            if average is not None:
                average.update_parameters(model)
            acc = task.correct(out_.detach(), y, intents).float().mean().item()
            running_loss = loss.item() if math.isnan(running_loss) else 0.9 * running_loss + 0.1 * loss.item()
            running_acc = acc if math.isnan(running_acc) else 0.9 * running_acc + 0.1 * acc
            bar.update(1)
            bar.set_postfix(loss=f"{running_loss:.3f}", acc=f"{running_acc:.3f}", refresh=False)
            done = step + 1
            interrupted = world.any([stop.signal is not None], dev)[0]
            pause = (interrupted or (stop_after is not None and done >= stop_after)) and done < cfg.steps
            evaluate_now = done % cfg.eval_every == 0 or done == cfg.steps
            due = time.monotonic() - last_save >= CHECKPOINT_EVERY_S  # read on rank 0 only, which writes
            if (evaluate_now or pause or due) and world.is_main:
                if evaluate_now:
                    validate(done)
                    val = state["history"][-1]["val_accuracy"]
                    bar.set_postfix(
                        loss=f"{running_loss:.3f}", acc=f"{running_acc:.3f}", val="n/a" if val is None else f"{val:.3f}"
                    )
                wall = time.perf_counter() - t0
                save({**state, "step": done, "wall_time": wall, "running": [running_loss, running_acc]})
                last_save = time.monotonic()
            if pause:
                if interrupted:
                    raise TrainingError(
                        f"stopped by {stop.signal or 'another process'} after step {done}; "
                        f"the checkpoint in {out} holds it: resume it "
                        "(or run the same command again)"
                    )
                return None
    except KeyboardInterrupt:
        raise TrainingError(f"interrupted; {last_checkpoint(out, state)}") from None
    finally:
        bar.close()
        if batch_log is not None:
            batch_log.close()
    return finish(task, model, run, cfg, out, dev, state, best_weights) if world.is_main else None


def training_forward(model: torch.nn.Module, dev: torch.device) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """What a training step calls for ``model(u, x)``: on a GPU, a :meth:`~Hypernetwork.replayable` hypernetwork
    (not wrapped for DDP) has its ``synthesize`` replayed as CUDA graphs (:class:`~metagnn.models.base.CudaGraphed`:
    the same kernels, launched once per pass instead of once each); elsewhere, and with ``METAGNN_CUDA_GRAPHS=0``
    in the environment, the model itself."""
    if (
        dev.type == "cuda"
        and isinstance(model, Hypernetwork)
        and model.replayable()
        and os.environ.get("METAGNN_CUDA_GRAPHS", "1") != "0"
    ):
        return CudaGraphed(model)
    return model


def last_checkpoint(out: Path, state: dict[str, Any]) -> str:
    if (out / ckpt.CHECKPOINT).exists():
        return f"the last checkpoint (step {state['step']}) in {out} is intact and can be resumed"
    return f"no checkpoint was written yet; resuming {out} starts the run again from its config"


def finish(
    task: Task,
    model: Model,
    run: RunConfig,
    cfg: TrainConfig,
    out: Path,
    dev: torch.device,
    state: dict[str, Any],
    best_weights: dict[str, torch.Tensor] | None,
) -> dict[str, Any]:
    """Evaluate the last step's weights on every split (the headline, SPEC 3b) and write ``metrics.json``.

    The weights validation selected are evaluated too, under ``"selected"`` (labelled, beside the headline)."""
    metrics = evaluate(model, task, dev)
    if best_weights is not None:
        model.load_state_dict(best_weights)
        selected = evaluate(model, task, dev)
        metrics["selected"] = {"step": state["best_step"], **selected}
    metrics.update(
        {
            "weights": "last",
            "task": run.task,
            "model": run.model,
            "seed": run.seed,
            "parameters": model.num_parameters(),
            "target_parameters": task.spec.num_parameters,
            "steps": state["step"],
            "best_step": state["best_step"],
            "examples_seen": state["step"]
            * min(cfg.intents_per_step, len(task.splits["train"]))
            * cfg.examples_per_intent,
            "wall_time_s": round(state["wall_time"], 2),
            "history": state["history"],
            "config": asdict(run),
            "provenance": provenance(dev, world_size=state.get("world_size", 1)),
        }
    )
    ckpt.write_json(out / ckpt.METRICS, metrics)
    return metrics


WEIGHTS = ("last", "best")


def load_run(
    path: Path | str, device: str | None = None, weights: str = "last", target: dict[str, Any] | None = None
) -> tuple[RunConfig, Task, Model]:
    """Rebuild a run's task and model from its folder alone.

    ``weights="last"``: the model's own weights at the last step trained (the headline, SPEC 3b);
    ``"best"``: the weights validation selected (the moving average's, with ``ema``). ``target``: settings
    of the target ``S`` that replace the run's (``{"d_model": 40}``); the task and the hypernetwork are
    rebuilt for that ``S`` with the trained weights (see :func:`retarget`).
    """
    if weights not in WEIGHTS:
        raise ConfigError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: run folder not found")
    saved = ckpt.read_json(path / ckpt.CONFIG)
    run = RunConfig.saved(saved, str(path / ckpt.CONFIG))
    prov = saved.get("provenance")
    schema = prov.get("schema_version") if isinstance(prov, dict) else None
    if schema != ckpt.SCHEMA_VERSION:
        raise CheckpointError(f"{path / ckpt.CONFIG}: schema version {schema!r}, {ckpt.schema_mismatch(schema)}")
    task, model, _ = build(run)
    tensors, state = ckpt.load_tensors(path / ckpt.CHECKPOINT)
    # The checkpoint records the run it belongs to: an edited config.json (other splits, another model
    # size) would otherwise relabel or misread what the weights were trained on.
    if "config" in state and not same_run(RunConfig.saved(state["config"], str(path / ckpt.CHECKPOINT)), run):
        raise CheckpointError(
            f"{path / ckpt.CONFIG}: does not match the config its checkpoint was trained with (edited?)"
        )
    # A checkpoint from before the first evaluation has no selected weights yet: then "best" is the model's.
    state = (weights == "best" and ckpt.unprefixed("best", tensors)) or ckpt.unprefixed("model", tensors)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError:  # shapes that do not fit the config's model
        raise CheckpointError(f"{path}: checkpoint weights do not fit the model its config.json describes") from None
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: checkpoint does not fit model {run.model!r} (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    if target:
        task, model = retarget(run, model, target)
    model.to(pick_device(device)).eval()
    return run, task, model


def retarget(run: RunConfig, model: Model, target: dict[str, Any]) -> tuple[Task, Model]:
    """The run's task with ``target`` settings over its own, and its hypernetwork writing that ``S``'s weights.

    Only a hypernetwork whose parameters do not depend on the sizes of ``S`` can write another size's weights:
    the group-tied ones (every member of a node set goes through its group's functions, told apart by its
    positional code, drawn afresh for the new sizes from the run's seed; see
    :meth:`metagnn.models.tied.TiedHypernetwork.for_target`). A tensor or node set it never learned to write
    (another depth, a LayerNorm it never saw) is refused in one line, as is a flat hypernetwork's fixed output.
    """
    from metagnn.models.tied import TiedHypernetwork

    if not isinstance(model, TiedHypernetwork):
        raise ConfigError(
            f"model {run.model!r} is built for one target ({model.spec.num_parameters:,} parameters of S); another "
            "size of S needs a hypernetwork whose parameters do not depend on its sizes (metagnn, gmlp)"
        )
    task = build_task(run.task, merge(run.task_config, {"target": target}))
    return task, model.for_target(task.spec, task.contract)
