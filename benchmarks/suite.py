"""The benchmark suite behind ``benchmarks/bench.py``: every measurement, side by side in one run.

Sections (each returns plain JSON-able dicts; :mod:`performance_doc` renders them):

- ``training``: seconds per training step (forward + backward + gradient clipping + AdamW) of every
  model on every task config that ``docs/results.md`` uses (each registered task's quick config,
  plus its full config in a full run); the models take turns, a few steps each, so that machine
  noise hits all of them alike. Data sampling is outside the timed region; graph construction is
  too (it happens once, when a model is built, and is timed separately as ``build_s``).
- ``synthesis``: latency from intent to a complete weight set (intent features + ``synthesize``)
  for one intent, and for 1,000 intents in batches, eager and (Meta-GNN, in a full run) compiled by
  ``torch.compile`` (``CompiledSynthesis``). Nothing is cached: every call runs the whole hypernetwork
  (the library keeps no cache), and consecutive calls use different intents.
- ``scaling``: target size swept from about 1e4 to 1e6 parameters (MLP widths, Transformer
  ``d_model``) at a fixed intent batch and the models' default widths; each point is a fresh
  subprocess, so its peak RSS (``os.wait4``) is that of one model alone.
- ``efficiency``: Meta-GNN's matmul FLOPs per step (``torch.utils.flop_counter``) per second,
  against the fp32 matmul throughput measured in the same run, and a profile of where the step's
  time goes.
- ``run_s``: running ``S`` on a batch of weight sets with ``spec.run`` (vmap) vs a Python loop of
  ``torch.func.functional_call``.

Run ``python benchmarks/bench.py --help``; ``python benchmarks/suite.py --point '{...}'`` is the scaling child.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import torch

from metagnn.models import Hypernetwork, build_model
from metagnn.models.base import CompiledSynthesis, CudaGraphed
from metagnn.optim import build_optimizer, update
from metagnn.registry import TASKS
from metagnn.runtime import tune_allocator
from metagnn.targets import SynthesizedNetwork, run
from metagnn.tasks import build_task
from metagnn.train import TrainConfig, training_forward

MODELS = ("metagnn", "gmlp", "flat", "direct")
HYPERNETWORKS = ("metagnn", "gmlp", "flat")
# Scaling sweep: (family, size knob) -> about 1e4 .. 1e6 target parameters.
SWEEP = {
    "mlp": [96, 192, 384, 768, 1000],  # SumFirst's MLP 16 -> w -> w -> 1
    "transformer": [32, 64, 128, 256, 288],  # AddMod's Transformer, d_model = d, d_mlp = 4 d
}
QUICK_SWEEP = {"mlp": [96, 384], "transformer": [32, 128]}
SCALING_BATCH = {"intents": 8, "examples": 64}  # the quick AddMod-p and SumFirst-n configs' batch
SYNTHESIS_BATCH = 16  # intents per call for the 1,000-intent run (the fastest per intent on this CPU)
CPU = torch.device("cpu")


# ----- helpers ---------------------------------------------------------------------------------
def machine(device: torch.device = CPU) -> dict[str, Any]:
    """What the absolute figures were measured on (``device``: where the models ran)."""
    cpu = platform.processor() or "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "device": device.type,
        **({"gpu": torch.cuda.get_device_name(device), "cuda": torch.version.cuda,
            "cuda_graphs": os.environ.get("METAGNN_CUDA_GRAPHS", "1") != "0"} if device.type == "cuda" else {}),
    }  # fmt: skip


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read after it covers that work (CPU: nothing)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def task_configs(quick: bool) -> list[dict[str, Any]]:
    """Every registered task's quick config, plus its full config in a full run."""
    out = []
    for task in TASKS.names():
        for level in ("quick",) if quick else ("quick", "full"):
            res = resources.files("metagnn") / "configs" / f"{task}-{level}.json"
            if res.is_file():
                out.append({"name": f"{task}-{level}", "task": task, **json.loads(res.read_text())})
    return [c for c in out if any(c2["name"] == f"{c['task']}-quick" for c2 in out)]


def intents_of(task: Any) -> list[Any]:
    """Every intent the task's config names (train first), for latency runs."""
    seen: list[Any] = []
    for split in ("train", "val", "ood", "extrapolation"):
        seen += [i for i in task.splits[split] if i not in seen]
    return seen


class TrainingStep:
    """One model's real training step (as in ``metagnn.train``), timed without data sampling."""

    def __init__(
        self, task: Any, model_name: str, model_config: dict, intents: int, examples: int, seed: int = 0,
        optimizer: str = "packed", device: torch.device = CPU,
    ):  # fmt: skip
        self.task, self.intents, self.examples, self.device = task, intents, examples, device
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        self.model = build_model(model_name, task.spec, task.intent_dim, model_config, contract=task.contract)
        self.build_s = time.perf_counter() - t0
        self.model.to(device).train()
        self.forward = training_forward(self.model, device)  # as in training: on a GPU, CUDA graphs
        if optimizer == "packed":  # as in training
            self.opt = build_optimizer(self.model, 1e-4, 0.01, device)
        else:  # AdamW's own per-tensor kernels: "foreach" or "fused"
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4, weight_decay=0.01, **{optimizer: True})
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.train_intents = task.splits["train"]
        self.cpu_times: list[float] = []  # CPU seconds of each step (all threads), beside the wall time

    def batch(self) -> tuple[list, torch.Tensor, torch.Tensor, torch.Tensor]:
        k = min(self.intents, len(self.train_intents))
        pick = torch.randperm(len(self.train_intents), generator=self.gen)[:k].tolist()
        intents = [self.train_intents[i] for i in pick]  # distinct intents, a fresh draw every step
        x, y = self.task.sample(intents, self.examples, self.gen)
        return intents, self.task.intent_features(intents).to(self.device), x.to(self.device), y.to(self.device)

    def loss(self, intents: list, u: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.task.loss(self.forward(u, x), y, intents)

    def __call__(self) -> float:
        """One step; returns its seconds."""
        intents, u, x, y = self.batch()
        sync(self.device)
        c0, t0 = time.process_time(), time.perf_counter()
        loss = self.loss(intents, u, x, y)
        update(loss, self.opt, TrainConfig.grad_clip)
        sync(self.device)
        wall = time.perf_counter() - t0
        self.cpu_times.append(time.process_time() - c0)
        return wall

    @property
    def examples_per_step(self) -> int:
        return min(self.intents, len(self.train_intents)) * self.examples


def cold_compiles() -> contextlib.AbstractContextManager:
    """An empty inductor cache (on disk and in memory) for the compiles inside, removed afterwards: a first call
    then costs what it costs in a new process on a new machine (one that finds an earlier process's kernels on
    disk compiles faster). Kernels compiled inside stay loaded. Every compile of the runner runs inside one
    (compile workers that a GPU compile starts inside would keep its deleted cache folder for later compiles)."""
    try:
        from torch._inductor.utils import fresh_cache
    except ImportError:  # the older name
        from torch._inductor.utils import fresh_inductor_cache as fresh_cache
    return fresh_cache()


def interleaved(fns: dict[str, Callable[[], float]], rounds: int, per_round: int, warmup: int = 2) -> dict:
    """Run every function ``warmup`` times, then ``rounds`` rounds of ``per_round`` calls each, in turn."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            times[k] += [fn() for _ in range(per_round)]
    return times


# ----- sections --------------------------------------------------------------------------------
def training(
    configs: list[dict[str, Any]], rounds: int, per_round: int, models: tuple = MODELS, device: torch.device = CPU
) -> list[dict]:
    """Median seconds per training step and intent-examples per second, every model of every config."""
    rows = []
    for cfg in configs:
        task = build_task(cfg["task"], cfg.get("task_config", {}))
        tc = cfg.get("train", {})
        steps = {
            m: TrainingStep(task, m, cfg.get("models", {}).get(m, {}), tc.get("intents_per_step", 8), tc.get(
                "examples_per_intent", 64), device=device)
            for m in models
        }  # fmt: skip
        times = interleaved(steps, rounds, per_round)
        ref = median(times[models[0]])
        for m, s in steps.items():
            t = median(times[m])
            rows.append(
                {
                    "config": cfg["name"],
                    "model": m,
                    "parameters": s.model.num_parameters(),
                    "target_parameters": task.spec.num_parameters,
                    "examples_per_step": s.examples_per_step,
                    "step_s": t,
                    "step_s_min": min(times[m]),
                    "step_s_max": max(times[m]),
                    "cpu_s": median(s.cpu_times[-len(times[m]) :]),
                    "steps_timed": len(times[m]),
                    "examples_per_s": s.examples_per_step / t,
                    "time_vs_" + models[0]: t / ref,
                    "build_s": s.build_s,
                }
            )
        del steps
        gc.collect()
    return rows


OPTIMIZERS = ("foreach", "fused", "packed")


def optimizers(
    configs: list[dict[str, Any]], rounds: int, per_round: int, models: tuple = ("metagnn", "flat"),
    device: torch.device = CPU,
) -> list:  # fmt: skip
    """A whole training step under AdamW's per-tensor kernels (``foreach``, ``fused``) and under
    :class:`metagnn.optim.PackedAdamW` (fused; what training uses), in turns, on the quick configs."""
    rows = []
    for cfg in (c for c in configs if c["name"].endswith("-quick")):
        task = build_task(cfg["task"], cfg.get("task_config", {}))
        tc = cfg.get("train", {})
        steps = {
            (m, o): TrainingStep(task, m, cfg.get("models", {}).get(m, {}), tc.get("intents_per_step", 8),
                                 tc.get("examples_per_intent", 64), optimizer=o, device=device)
            for m in models for o in OPTIMIZERS
        }  # fmt: skip
        times = interleaved(steps, rounds, per_round)
        for (m, o), s in steps.items():
            rows.append({
                "config": cfg["name"], "model": m, "optimizer": o, "step_s": median(times[m, o]),
                "tensors": sum(p.requires_grad for p in s.model.parameters()),
                "stepped_tensors": sum(len(g["params"]) for g in s.opt.param_groups),
            })  # fmt: skip
        del steps
        gc.collect()
    return rows


def graph_construction(configs: list[dict[str, Any]]) -> list[dict]:
    """Seconds to build each config's neural graph alone (done once per model, never per step)."""
    from metagnn.graph import NeuralGraph

    rows = []
    for cfg in configs:
        spec = build_task(cfg["task"], cfg.get("task_config", {})).spec
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            g = NeuralGraph(spec)
            times.append(time.perf_counter() - t0)
        rows.append({"config": cfg["name"], "graph_s": median(times), "nodes": g.num_nodes, "edges": g.num_edges})
    return rows


def synthesis(
    cfg: dict[str, Any], singles: int, total: int, batch: int, repeats: int, models: tuple = HYPERNETWORKS,
    device: torch.device = CPU, compiled: tuple = (),
) -> list[dict]:  # fmt: skip
    """Latency, intent -> weight set: one intent at a time, and ``total`` intents in batches of ``batch``; each of
    ``models`` eager, and each of ``compiled`` also through :class:`metagnn.models.base.CompiledSynthesis` (its
    first calls, at batch 1 and at ``batch``, which compile, timed apart)."""
    task = build_task(cfg["task"], cfg.get("task_config", {}))
    pool = intents_of(task)
    rows = []
    built = {}
    for m in models:
        torch.manual_seed(0)
        built[m] = (
            build_model(m, task.spec, task.intent_dim, cfg.get("models", {}).get(m, {}), contract=task.contract)
            .to(device)
            .eval()
        )
    # (model, compiled) -> the function that writes the weights
    writers: dict[tuple[str, bool], Callable] = {(m, False): built[m].synthesize for m in models}
    if set(compiled) - set(models):
        raise ValueError(f"compiled {sorted(set(compiled) - set(models))} must be among the models {models}")
    writers |= {(m, True): CompiledSynthesis(built[m]) for m in compiled}
    counter = {"i": 0}

    def features(intents: list) -> torch.Tensor:  # the intents' features, on the device (in the timed region)
        return task.intent_features(intents).to(device)

    def next_intents(n: int) -> list:
        out = [pool[(counter["i"] + j) % len(pool)] for j in range(n)]
        counter["i"] += n
        return out

    first_calls: dict[tuple[str, bool], dict[str, float]] = {}
    with torch.no_grad(), cold_compiles():
        for w in (w for w in writers if w[1]):  # compile for both batch sizes before anything is timed
            first_calls[w] = {}
            for b in dict.fromkeys((1, batch)):
                t0 = time.perf_counter()
                writers[w](features(next_intents(b)))
                sync(device)
                first_calls[w][str(b)] = time.perf_counter() - t0
    cpu: dict[tuple, list[float]] = {(w, k): [] for w in writers for k in ("one", "many")}

    def one(w: tuple[str, bool]) -> Callable[[], float]:
        def f() -> float:
            intents = next_intents(1)
            c0, t0 = time.process_time(), time.perf_counter()
            with torch.no_grad():
                writers[w](features(intents))
            sync(device)
            wall = time.perf_counter() - t0
            cpu[w, "one"].append(time.process_time() - c0)
            return wall

        return f

    def many(w: tuple[str, bool]) -> Callable[[], float]:
        def f() -> float:
            c0, t0 = time.process_time(), time.perf_counter()
            with torch.no_grad():
                for start in range(0, total, batch):
                    writers[w](features(next_intents(min(batch, total - start))))
            sync(device)
            wall = time.perf_counter() - t0
            cpu[w, "many"].append(time.process_time() - c0)
            return wall

        return f

    single = interleaved({w: one(w) for w in writers}, rounds=repeats, per_round=max(1, singles // repeats))
    with torch.no_grad():
        for w in writers:  # warm-up: one batch (a whole run of ``total`` would double the section's time)
            writers[w](features(next_intents(batch)))
    batched = interleaved({w: many(w) for w in writers}, rounds=repeats, per_round=1, warmup=0)
    for w in writers:
        m, is_compiled = w
        rows.append(
            {
                "config": cfg["name"],
                "model": m,
                "compiled": is_compiled,
                "one_intent_s": median(single[w]),
                "one_intent_s_min": min(single[w]),
                "one_intent_s_max": max(single[w]),
                "one_intent_calls": len(single[w]),
                "one_intent_cpu_s": median(cpu[w, "one"][-len(single[w]) :]),
                "many_cpu_s": median(cpu[w, "many"]),
                "many_intents": total,
                "batch": batch,
                "many_s": median(batched[w]),
                "many_s_min": min(batched[w]),
                "many_s_max": max(batched[w]),
                "many_repeats": len(batched[w]),
                "distinct_intents": len(pool),
                **(
                    {"first_call_s": first_calls[w], "compile_failure": writers[w].failure, "cold_cache": True}
                    if is_compiled
                    else {}
                ),
            }
        )
    return rows


def synthesis_batches(
    cfg: dict[str, Any], batches: tuple[int, ...], intents: int, model: str = "metagnn"
) -> list[dict]:
    """Seconds per intent when ``intents`` intents are synthesized in batches of each size (models in turn)."""
    task = build_task(cfg["task"], cfg.get("task_config", {}))
    pool = intents_of(task)
    torch.manual_seed(0)
    net = build_model(
        model, task.spec, task.intent_dim, cfg.get("models", {}).get(model, {}), contract=task.contract
    ).eval()

    def per_batch(b: int) -> Callable[[], float]:
        def f() -> float:
            t0 = time.perf_counter()
            with torch.no_grad():
                for start in range(0, intents, b):
                    net.synthesize(task.intent_features([pool[(start + j) % len(pool)] for j in range(b)]))
            return (time.perf_counter() - t0) / (intents // b * b)

        return f

    times = interleaved({b: per_batch(b) for b in batches}, rounds=3, per_round=1, warmup=0)
    return [{"config": cfg["name"], "model": model, "batch": b, "s_per_intent": median(t)} for b, t in times.items()]


def matmul_gflops(n: int = 1024, reps: int = 5, clock: Callable[[], float] = time.perf_counter) -> float:
    """fp32 ``n x n`` matmul throughput at the current thread count (median of ``reps``), GFLOP/s.

    ``clock=time.process_time`` measures it per CPU second (what one busy core does, load aside).
    """
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(reps):
        t0 = clock()
        a @ b
        times.append(clock() - t0)
    return 2 * n**3 / max(median(times), 1e-9) / 1e9


def copy_gbytes(n: int = 1 << 22, reps: int = 9) -> float:
    """Memory bandwidth of a block-sized elementwise op (``out = a + b``, 3 x 4 bytes per element), GB/s."""
    a, b = torch.randn(n), torch.randn(n)
    out = torch.empty(n)
    torch.add(a, b, out=out)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.add(a, b, out=out)
        times.append(time.perf_counter() - t0)
    return 12 * n / median(times) / 1e9


GEMM_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addmv", "aten::mv", "aten::dot"}


def op_category(name: str) -> str:
    if name in GEMM_OPS:
        return "matmul"
    if "layer_norm" in name:
        return "layer norm"
    if name.startswith("aten::_foreach") or name.startswith("Optimizer") or name in ("aten::lerp_", "aten::addcdiv_"):
        return "optimizer"
    if name.startswith("aten::"):
        return "elementwise, reductions, copies"
    return "other"


def efficiency(cfg: dict[str, Any], rounds: int, per_round: int, model: str = "metagnn") -> dict[str, Any]:
    """Meta-GNN's matmul FLOPs per second per step, against measured matmul throughput; where time goes."""
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import FlopCounterMode

    task = build_task(cfg["task"], cfg.get("task_config", {}))
    tc = cfg.get("train", {})
    step = TrainingStep(task, model, cfg.get("models", {}).get(model, {}), tc.get("intents_per_step", 8),
                        tc.get("examples_per_intent", 64))  # fmt: skip
    intents, u, x, y = step.batch()
    counter = FlopCounterMode(display=False)
    with counter:
        loss = step.loss(intents, u, x, y)
        loss.backward()
    flops = counter.get_total_flops()
    step.opt.zero_grad(set_to_none=True)
    # Side by side: step time, matmul peak and memory bandwidth alternate.
    times = interleaved(
        {
            "step": step,
            "matmul": lambda: 1.0 / matmul_gflops(reps=3),
            "matmul_cpu": lambda: 1.0 / matmul_gflops(reps=3, clock=time.process_time),
            "bandwidth": lambda: 1.0 / copy_gbytes(reps=5),
        },
        rounds=rounds,
        per_round=per_round,
        warmup=1,
    )
    step_s = median(times["step"])
    step_cpu_s = median(step.cpu_times[-len(times["step"]) :])
    peak = 1.0 / median(times["matmul"])
    peak_cpu = 1.0 / median(times["matmul_cpu"])
    bandwidth = 1.0 / median(times["bandwidth"])
    # Where the time goes (the profiler adds a per-op cost, so shares are approximate).
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            step()
    by_cat: dict[str, float] = {}
    ops = 0
    for ev in prof.key_averages():
        by_cat[op_category(ev.key)] = by_cat.get(op_category(ev.key), 0.0) + ev.self_cpu_time_total
        if ev.key.startswith("aten::"):
            ops += ev.count
    total = sum(by_cat.values())
    achieved = flops / step_s / 1e9
    return {
        "config": cfg["name"],
        "model": model,
        "flops_per_step": flops,
        "step_s": step_s,
        "achieved_gflops": achieved,
        "matmul_peak_gflops": peak,
        "fraction_of_peak": achieved / peak,
        "step_cpu_s": step_cpu_s,
        "matmul_peak_gflops_cpu": peak_cpu,
        "fraction_of_peak_cpu": flops / step_cpu_s / 1e9 / peak_cpu,
        "matmul_time_at_peak_s": flops / (peak * 1e9),
        "bandwidth_gbs": bandwidth,
        "time_share": {k: v / total for k, v in sorted(by_cat.items(), key=lambda kv: -kv[1])},
        "aten_ops_per_step": ops / 2,
        "parameter_tensors": len(list(step.model.parameters())),
        "weights_bytes": step.examples_per_step // max(1, tc.get("examples_per_intent", 64)) * 4
        * task.spec.num_parameters,
    }  # fmt: skip


def run_s(cfg: dict[str, Any], batches: tuple[int, ...], rounds: int, per_round: int) -> list[dict]:
    """``spec.run`` (vmap over weight sets) vs a Python loop of ``functional_call``, forward and forward+backward."""
    task = build_task(cfg["task"], cfg.get("task_config", {}))
    torch.manual_seed(0)
    model = build_model("metagnn", task.spec, task.intent_dim, contract=task.contract).eval()
    n = cfg.get("train", {}).get("examples_per_intent", 64)
    return [{"config": cfg["name"], **_run_s_batch(task, model, b, n, rounds, per_round)} for b in batches]


def _run_s_batch(task: Any, model: Any, b: int, n: int, rounds: int, per_round: int) -> dict[str, Any]:
    train = task.splits["train"]
    intents = [train[i % len(train)] for i in range(b)]
    with torch.no_grad():
        theta = model.synthesize(task.intent_features(intents))
    x, _ = task.sample(intents, n, torch.Generator().manual_seed(0))
    net = SynthesizedNetwork(task.spec, {k: v[0] for k, v in theta.items()})

    def vmapped(th: dict) -> torch.Tensor:
        return run(task.spec, th, x)

    def loop(th: dict) -> torch.Tensor:
        return torch.stack(
            [torch.func.functional_call(net, {k: v[i] for k, v in th.items()}, (x[i],)) for i in range(b)]
        )

    def timed(fn: Callable, backward: bool) -> Callable[[], float]:
        def f() -> float:
            th = {k: v.detach().requires_grad_(backward) for k, v in theta.items()}
            t0 = time.perf_counter()
            if backward:
                fn(th).square().mean().backward()
            else:
                with torch.no_grad():
                    fn(th)
            return time.perf_counter() - t0

        return f

    with torch.no_grad():
        same = torch.allclose(vmapped(theta), loop(theta), rtol=1e-4, atol=1e-5)
    fns = {"vmap": timed(vmapped, False), "loop": timed(loop, False)}
    fns.update({"vmap_bwd": timed(vmapped, True), "loop_bwd": timed(loop, True)})
    med = {k: median(v) for k, v in interleaved(fns, rounds=rounds, per_round=per_round).items()}
    return {
        "weight_sets": b,
        "examples_each": n,
        "same_outputs": bool(same),
        **{f"{k}_s": v for k, v in med.items()},
        "loop_over_vmap": med["loop"] / med["vmap"],
        "loop_over_vmap_bwd": med["loop_bwd"] / med["vmap_bwd"],
    }


def compiled(
    cfg: dict[str, Any], rounds: int, per_round: int, model: str = "metagnn", device: torch.device = CPU,
    how: str = "compile",
) -> dict[str, Any]:  # fmt: skip
    """The hypernetwork's forward + backward (a training step's share of it), eager against ``how``: ``"compile"``
    (``torch.compile``, inductor) or ``"cuda graph"`` (:class:`metagnn.models.base.CudaGraphed`: forward and
    backward each replayed as one CUDA graph). In turns, with the first call's seconds (compilation or capture) and the
    largest difference of the generated weights."""
    task = build_task(cfg["task"], cfg.get("task_config", {}))
    tc = cfg.get("train", {})
    step = TrainingStep(task, model, cfg.get("models", {}).get(model, {}), tc.get("intents_per_step", 8), 64,
                        device=device)  # fmt: skip
    _, u, _, _ = step.batch()
    m = step.model
    probe = {k: torch.randn_like(v) for k, v in m.synthesize(u).items()}

    def fwd_bwd(fn: Callable) -> Callable[[], float]:
        def f() -> float:
            sync(device)
            t0 = time.perf_counter()
            theta = fn(u)
            sum((theta[k] * probe[k]).sum() for k in theta).backward()
            sync(device)
            return time.perf_counter() - t0

        return f

    try:
        t0 = time.perf_counter()
        if how == "compile":
            fast = torch.compile(m.synthesize)
            with cold_compiles():
                first = time.perf_counter() - t0 + fwd_bwd(fast)()
        else:
            fast = CudaGraphed(m).synthesize  # as training replays it
            first = time.perf_counter() - t0 + fwd_bwd(fast)()
        diff = max((fast(u)[k] - m.synthesize(u)[k]).abs().max().item() for k in probe)
    except Exception as e:  # a compiler missing or failing is a result here, not a crash of the runner
        return {"config": cfg["name"], "model": model, "how": how,
                "error": f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"}  # fmt: skip
    times = interleaved({"eager": fwd_bwd(m.synthesize), "compiled": fwd_bwd(fast)}, rounds, per_round)
    return {
        "config": cfg["name"],
        "model": model,
        "how": how,
        "first_call_s": first,
        "cold_cache": how == "compile",
        "eager_s": median(times["eager"]),
        "compiled_s": median(times["compiled"]),
        "max_abs_diff": diff,
    }


# ----- scaling (one fresh subprocess per point) -----------------------------------------------------
def scaling_task(family: str, size: int) -> tuple[str, dict[str, Any]]:
    if family == "mlp":
        return "sumfirst", {"target": {"hidden": [size, size]}}
    return "addmod", {"target": {"d_model": size, "n_heads": 4, "d_mlp": 4 * size, "n_layers": 1}}


def scaling_point(point: dict[str, Any]) -> dict[str, Any]:
    """Child side: build one model for one target size, time a few steps, report RSS figures."""
    tune_allocator()  # as every training process does
    torch.set_num_threads(point["threads"])
    device = torch.device(point.get("device", "cpu"))
    task_name, task_cfg = scaling_task(point["family"], point["size"])
    task = build_task(task_name, task_cfg)
    rss_start = _rss_kib("VmRSS")
    gpu = {"gpu_start_mib": torch.cuda.memory_allocated(device) / 2**20} if device.type == "cuda" else {}
    step = TrainingStep(task, point["model"], {}, point["intents"], point["examples"], device=device)
    rss_built = _rss_kib("VmRSS")
    peak_build = _rss_kib("VmHWM")
    reset = _reset_peak()
    if device.type == "cuda":  # the device's own peak: weights, optimizer state and the steps' activations
        gpu["gpu_built_mib"] = torch.cuda.memory_allocated(device) / 2**20
        torch.cuda.reset_peak_memory_stats(device)
    times = [step() for _ in range(point["warmup"])]
    before = resource.getrusage(resource.RUSAGE_SELF)
    times = [step() for _ in range(point["steps"])]
    after = resource.getrusage(resource.RUSAGE_SELF)
    if device.type == "cuda":
        gpu["gpu_peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    synthesis = []  # one program (one intent), no gradient: what a user waits for at this target size
    if isinstance(step.model, Hypernetwork):
        step.model.eval()
        u = task.intent_features(step.train_intents[:1])
        with torch.no_grad():
            for _ in range(3):
                sync(device)
                t0 = time.perf_counter()
                step.model.synthesize(u.to(device))
                sync(device)
                synthesis.append(time.perf_counter() - t0)
    return {
        **point,
        "target_parameters": task.spec.num_parameters,
        "parameters": step.model.num_parameters(),
        "build_s": step.build_s,
        "step_s": median(times),
        "step_times": times,
        "synthesize_one_s": median(synthesis) if synthesis else None,
        # Per timed step: CPU seconds in user and kernel mode, and minor page faults (fresh pages).
        "user_s_per_step": (after.ru_utime - before.ru_utime) / len(times),
        "sys_s_per_step": (after.ru_stime - before.ru_stime) / len(times),
        "page_faults_per_step": (after.ru_minflt - before.ru_minflt) / len(times),
        "rss_start_mib": rss_start / 1024,
        "rss_built_mib": rss_built / 1024,
        "peak_build_mib": peak_build / 1024,
        "peak_steps_mib": _rss_kib("VmHWM") / 1024 if reset else None,
        # The process's own high-water mark: start-up, build and steps (``VmHWM`` was only reset
        # after the build was recorded). Not ``ru_maxrss`` of the child: Linux carries the parent's
        # peak over ``fork`` into it, so a child of a large parent reports the parent's figure.
        "peak_process_mib": max(peak_build, _rss_kib("VmHWM")) / 1024,
        **gpu,
    }


def _rss_kib(field: str) -> float:
    try:
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux ``clear_refs`` 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def scaling(
    sweep: dict[str, list[int]], steps: int, models: tuple = HYPERNETWORKS, device: torch.device = CPU
) -> list[dict]:
    """Every (family, size, model) point in a fresh subprocess; models alternate within a size.

    On a GPU the points run in this process: the device's own peak (``torch.cuda.max_memory_allocated``,
    reset per point) is the memory figure there, and a CUDA context per subprocess would cost seconds each.
    """
    rows = []
    for family, sizes in sweep.items():
        for size in sizes:
            for m in models:
                point = {
                    "family": family,
                    "size": size,
                    "model": m,
                    "threads": torch.get_num_threads(),
                    "warmup": 1,
                    "steps": steps,
                    "device": device.type,
                    **SCALING_BATCH,
                }
                rows.append(_run_child(point) if device.type == "cpu" else _run_here(point))
    return rows


# glibc hands every block above its mmap threshold (32 MiB once metagnn tunes it, the most glibc
# allows) back to the OS when it is freed, so each step faults those pages in afresh; with mmap
# off every block comes from the heap and is reused.
NO_MMAP = {"MALLOC_MMAP_MAX_": "0"}


def allocator_check(sweep: dict[str, list[int]], steps: int, models: tuple = ("metagnn", "flat")) -> list[dict]:
    """The largest point of each family again, allocator as shipped vs no mmap, in turns."""
    rows = []
    for family, sizes in sweep.items():
        for m in models:
            point = {"family": family, "size": max(sizes), "model": m, "threads": torch.get_num_threads(),
                     "warmup": 1, "steps": steps, **SCALING_BATCH}  # fmt: skip
            for label, env in (("default", None), ("no mmap", NO_MMAP)):
                rows.append({**_run_child(point, env), "allocator": label})
    return rows


def _run_child(point: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one scaling point in a fresh interpreter (``env``: extra environment variables)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--point", json.dumps(point)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode:
        err = proc.stderr.strip()
        return {**point, "error": err.splitlines()[-1] if err else f"exit status {proc.returncode}"}
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["wall_s"] = time.perf_counter() - t0
    return row


def _run_here(point: dict[str, Any]) -> dict[str, Any]:
    """Run one scaling point in this process (on a GPU), after handing back what earlier work left allocated."""
    gc.collect()  # a graphed model is freed with its reference cycles
    if hasattr(torch._C, "_cuda_clearCublasWorkspaces"):  # cuBLAS keeps a workspace per stream it has run on
        torch._C._cuda_clearCublasWorkspaces()
    torch.cuda.empty_cache()
    t0 = time.perf_counter()
    try:
        row = scaling_point(point)
    except Exception as e:  # a failed point is a result (as in a subprocess), not the end of the run
        row = {**point, "error": "out of GPU memory" if isinstance(e, torch.cuda.OutOfMemoryError) else repr(e)}
    row["wall_s"] = time.perf_counter() - t0
    return row


def main_child(point_json: str) -> None:
    print(json.dumps(scaling_point(json.loads(point_json))))


# ----- the whole run -----------------------------------------------------------------------------
def run_all(
    quick: bool,
    log: Callable[[str], None] = lambda s: None,
    device: torch.device = CPU,
    save: Callable[[dict[str, Any]], None] = lambda res: None,
) -> dict[str, Any]:
    """Every section; ``quick`` shrinks repeats, configs and the sweep. ``save`` gets the results so far after
    each section (an interrupted run keeps what it measured). On a GPU the sections that measure the CPU
    itself (graph construction, all cores, matmul peak and profile, vmap vs loop, the allocator) are left out."""
    configs = task_configs(quick)
    addmod = next(c for c in configs if c["name"] == "addmod-quick")
    cpu = device.type == "cpu"
    res: dict[str, Any] = {
        "quick": quick, "machine": machine(device), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }  # fmt: skip
    t0 = time.perf_counter()

    def section(key: str, what: str, fn: Callable[[], Any]) -> None:
        log(what)
        res[key] = fn()
        res["wall_s"] = time.perf_counter() - t0
        save(res)

    if cpu:
        section("graph", "graph construction", lambda: graph_construction(configs))
    section("training", f"training steps ({', '.join(c['name'] for c in configs)})", lambda: training(
        configs, rounds=2 if quick else 4, per_round=2 if quick else 5, device=device))  # fmt: skip
    section("optimizers", "optimizers: per-tensor kernels and the packed one", lambda: optimizers(
        configs, rounds=2 if quick else 5, per_round=2 if quick else 6, device=device))  # fmt: skip
    section("synthesis", "synthesis latency", lambda: synthesis(
        addmod, singles=30 if quick else 60, total=1000, batch=SYNTHESIS_BATCH, repeats=2 if quick else 5,
        device=device, compiled=() if quick else ("metagnn",)))  # fmt: skip
    cores = res["machine"]["usable_cores"] or 1
    if cpu and cores > torch.get_num_threads():
        threads = torch.get_num_threads()
        torch.set_num_threads(cores)
        try:
            section("synthesis_all_cores", f"synthesis on all {cores} cores", lambda: {"threads": cores, "rows": (
                synthesis(addmod, singles=10, total=1000, batch=SYNTHESIS_BATCH, repeats=2 if quick else 5,
                          models=("metagnn",), compiled=() if quick else ("metagnn",)))})  # fmt: skip
        finally:
            torch.set_num_threads(threads)
    if cpu and not quick:
        section("synthesis_batches", "synthesis: batch size", lambda: synthesis_batches(addmod, (1, 4, 16, 64), 128))
    if cpu:
        section("efficiency", "efficiency", lambda: efficiency(addmod, rounds=3 if quick else 5, per_round=2))
        section("run_s", "running S: vmap vs loop", lambda: run_s(
            addmod, (8,) if quick else (8, 64), rounds=3, per_round=3))  # fmt: skip
    res["scaling_batch"] = SCALING_BATCH
    section("scaling", "scaling sweep" + (" (a subprocess per point)" if cpu else ""), lambda: scaling(
        QUICK_SWEEP if quick else SWEEP, steps=2 if quick else 3, device=device))  # fmt: skip
    if cpu and not quick:
        section("allocator", "allocator check at the largest sizes", lambda: allocator_check(SWEEP, steps=2))
    if not cpu:
        section("cuda_graph", "CUDA graphs vs eager", lambda: compiled(
            addmod, rounds=3, per_round=5, device=device, how="cuda graph"))  # fmt: skip
    if not quick:  # last: on a GPU the first compiled call is the slowest piece of the run
        section("compile", "torch.compile vs eager", lambda: compiled(addmod, rounds=3, per_round=5, device=device))
    res["machine_end"] = {"load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
    res["wall_s"] = time.perf_counter() - t0
    save(res)
    return res


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--point":
        main_child(sys.argv[2])
    else:
        sys.exit("usage: python benchmarks/bench.py [--quick] [--json] [--out PATH] (this file is the suite it runs)")
