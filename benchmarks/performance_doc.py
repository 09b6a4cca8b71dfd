"""Render the suite's results as ``docs/performance.md`` with plots (every figure comes from ``results``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from metagnn.optim import PACK_MAX_NUMEL
from metagnn.report import mean_std

NAMES = {"metagnn": "Meta-GNN", "gmlp": "Meta-gMLP", "flat": "Meta-MLP", "direct": "Direct"}
COLOURS = {"metagnn": "tab:blue", "gmlp": "tab:orange", "flat": "tab:green", "direct": "tab:gray"}


def loglog_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    den = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / den if den else float("nan")


def scaling_summary(rows: list[dict[str, Any]], model: str, family: str) -> dict[str, Any] | None:
    """Growth of time and memory per step with target size, for one model and target family."""
    pts = sorted((r for r in rows if r["model"] == model and r["family"] == family and "error" not in r),
                 key=lambda r: r["target_parameters"])  # fmt: skip
    if len(pts) < 2:
        return None
    params = [r["target_parameters"] for r in pts]
    step = [r["step_s"] for r in pts]
    mem = [max(added_memory(r), 1e-3) for r in pts]
    pairwise_time = max((step[i + 1] / step[i]) / (params[i + 1] / params[i]) for i in range(len(pts) - 1))
    pairwise_mem = max((mem[i + 1] / mem[i]) / (params[i + 1] / params[i]) for i in range(len(pts) - 1))
    user = [r["user_s_per_step"] for r in pts if "user_s_per_step" in r]
    return {
        "user_cpu_slope": loglog_slope(params, user) if len(user) == len(pts) else None,
        "time_slope": loglog_slope(params, step),
        "memory_slope": loglog_slope(params, mem),
        "worst_time_growth_vs_params": pairwise_time,
        "worst_memory_growth_vs_params": pairwise_mem,
        "largest": pts[-1],
    }


def peak_memory(r: dict[str, Any]) -> float:
    """A scaling point's peak memory, MiB: on a GPU the device's peak above what was allocated before the model
    was built (where recorded), else the process's high-water mark."""
    if "gpu_peak_mib" in r:
        return r["gpu_peak_mib"] - r.get("gpu_start_mib", 0.0)
    return r["peak_process_mib"]


def added_memory(r: dict[str, Any]) -> float:
    """Memory the model and its steps add: on the CPU, on top of the bare interpreter with torch and the task."""
    return peak_memory(r) if "gpu_peak_mib" in r else r["peak_process_mib"] - r["rss_start_mib"]


def targets(res: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) rows for the speed goals the benchmark reports against."""
    out = []
    steps = {(r["config"], r["model"]): r for r in res.get("training", [])}
    for config in dict.fromkeys(c for c, _ in steps):
        g, f = steps.get((config, "metagnn")), steps.get((config, "flat"))
        if g and f:
            ratio = g["step_s"] / f["step_s"]
            out.append(
                (
                    f"Meta-GNN's training step <= 2x Meta-MLP's ({config})",
                    f"{fmt_s(g['step_s'])} vs {fmt_s(f['step_s'])}: {ratio:.2f}x",
                    "met" if ratio <= 2.0 else "not met",
                )
            )
    sc = res.get("scaling", [])
    batch = res.get("scaling_batch", {})
    per_step = f"{batch.get('intents', '?')} intents x {batch.get('examples', '?')} examples per step"
    # GPU figures from before the runner recorded what each point starts with carry what the process held.
    unknown = any("gpu_peak_mib" in r and "gpu_start_mib" not in r for r in sc)
    held = " (each with what the process held before the point, not recorded)" if unknown else ""
    for family in ("mlp", "transformer"):
        s = scaling_summary(sc, "metagnn", family)
        if s is None:
            continue
        g = s["largest"]
        flat = scaling_summary(sc, "flat", family)
        if flat is not None:
            f = flat["largest"]
            out.append(
                (
                    f"at {g['target_parameters']:,} target parameters ({family}), {per_step}: Meta-GNN's peak "
                    "memory below Meta-MLP's",
                    f"Meta-GNN {peak_memory(g):,.0f} MiB, Meta-MLP {peak_memory(f):,.0f} MiB"
                    + (held or f" (ratio {peak_memory(g) / peak_memory(f):.2f})"),
                    "met" if peak_memory(g) < peak_memory(f) else "not met",
                )
            )
        memory_ok = s["memory_slope"] <= 1.05 and s["worst_memory_growth_vs_params"] <= 1.25
        growth = (
            f"log-log slope of the memory added by the steps {s['memory_slope']:.2f}, worst step-to-step growth over "
            f"parameter growth {s['worst_memory_growth_vs_params']:.2f} (time: slope {s['time_slope']:.2f})"
        )
        out.append(
            (
                f"Meta-GNN's memory grows at most linearly with the target's size ({family} sweep)",
                "n/a" + held if unknown else growth,
                "not measured" if unknown else ("met" if memory_ok else "not met"),
            )
        )
        if g.get("synthesize_one_s") is not None:
            out.append(
                (
                    f"a {g['target_parameters']:,}-parameter target ({family}) synthesized in <= 1 s",
                    f"{fmt_s(g['synthesize_one_s'])} (one intent, median of 3)",
                    "met" if g["synthesize_one_s"] <= 1.0 else "not met",
                )
            )
    cpu = res["machine"].get("device", "cpu") == "cpu"  # on a GPU, CPU time is no measure of the work
    for r in (r for r in res.get("synthesis", []) if r["model"] == "metagnn" and not r.get("compile_failure")):
        how = _compiled_label(r)
        out.append(
            (
                f"one AddMod program synthesized in <= 5 ms (median{how})",
                f"{1e3 * r['one_intent_s']:.1f} ms wall"
                + (f" ({1e3 * r['one_intent_cpu_s']:.1f} ms CPU)" if cpu and r.get("one_intent_cpu_s") else ""),
                _timed_verdict(r["one_intent_s"], r.get("one_intent_cpu_s") if cpu else None, 0.005),
            )
        )
        rate = r["many_intents"] / r["many_s"]
        out.append(
            (
                f">= 1,000 AddMod programs synthesized per second (batched{how}, "
                + ("one thread; the goal is for 2 cores)" if cpu else "GPU)"),
                f"{rate:,.0f} per second: {r['many_intents']:,} in {r['many_s']:.2f} s wall"
                + (f" ({r['many_cpu_s']:.2f} s CPU)" if cpu and r.get("many_cpu_s") else "")
                + f", batches of {r['batch']}",
                _timed_verdict(
                    r["many_s"] / r["many_intents"], r.get("many_cpu_s", 0) / r["many_intents"] if cpu else None, 1e-3
                ),  # fmt: skip
            )
        )
    every = res.get("synthesis_all_cores")
    for r in (every or {}).get("rows", []):
        if r.get("compile_failure"):
            continue
        rate = r["many_intents"] / r["many_s"]
        out.append(
            (
                f">= 1,000 AddMod programs synthesized per second on {every['threads']} cores "
                f"(batched{_compiled_label(r)})",
                f"{rate:,.0f} per second: {r['many_intents']:,} in {r['many_s']:.2f} s wall, batches of {r['batch']}",
                "met" if rate >= 1000 else "not met",
            )
        )
    return out


def _synthesis_name(r: dict[str, Any]) -> str:
    return NAMES.get(r["model"], r["model"]) + (", compiled" if r.get("compiled") else "")


def _compiled_label(r: dict[str, Any]) -> str:
    return ", `CompiledSynthesis`" if r.get("compiled") else ""


def _cache_note(r: dict[str, Any]) -> str:
    if r.get("cold_cache"):
        return " (from an empty inductor cache; less in a process that finds an earlier one's kernels on disk)"
    return " (less when inductor's on-disk cache holds an earlier run's kernels)"


def _compiled_synthesis_note(rows: list[dict[str, Any]]) -> list[str]:
    """What the compiled rows of the synthesis table are, and what their first calls cost."""
    out = []
    for r in (r for r in rows if r.get("compiled")):
        name = NAMES.get(r["model"], r["model"])
        if r.get("compile_failure"):
            out += ["", f"{name}, compiled: `torch.compile` failed here ({r['compile_failure']}); the row is eager."]
            continue
        first = ", ".join(f"{fmt_s(s)} at batch {b}" for b, s in r["first_call_s"].items())
        out += [
            "",
            f"{name}, compiled: `metagnn.models.CompiledSynthesis`, the same `synthesize` through `torch.compile`"
            " (inductor). Its first call compiles for that batch size, and its first call at a second size compiles"
            f" once more, for every size; neither is in the table: {first}" + _cache_note(r) + ".",
        ]
    return out


def _compile_section(c: dict[str, Any] | None, where: str = "CPU", level: str = "##") -> list[str]:
    """``torch.compile`` (or, with ``c["how"] == "cuda graph"``, CUDA graphs) against eager, from ``compiled``."""
    if not c:
        return []
    graph = c.get("how") == "cuda graph"
    title, what = ("CUDA graphs", "captured as CUDA graphs") if graph else ("`torch.compile`", "compiled (inductor)")
    lines = ["", f"{level} {title}", ""]
    if "error" in c:
        return lines + [f"{title} of {NAMES[c['model']]}'s `synthesize` failed here: {c['error']}"]
    faster = c["compiled_s"] < c["eager_s"]
    first = "capture" if graph else "compiled call"
    cache = "" if graph else _cache_note(c)
    return lines + [
        f"{NAMES[c['model']]}'s `synthesize`, forward and backward (a training step's share of the hypernetwork), on",
        f"{c['config']}, eager and {what} in turns: eager {fmt_s(c['eager_s'])}, {'graphed' if graph else 'compiled'} "
        f"{fmt_s(c['compiled_s'])} (ratio {c['compiled_s'] / c['eager_s']:.2f}); the first {first} took "
        f"{fmt_s(c['first_call_s'])}{cache}, and the weights differ by at most {c['max_abs_diff']:.1g}. "
        + {
            (
                False,
                True,
            ): "Compilation pays here; training does not compile (it runs eager, or as CUDA graphs on a GPU).",
            (False, False): f"On this {where} compilation does not pay; training does not compile."
            if where != "CPU"
            else "On this CPU compilation does not pay for training, which runs eager.",
            (True, True): "CUDA graphs pay here: training replays them on a GPU (`metagnn.train.training_forward`).",
            (True, False): f"On this {where} CUDA graphs do not pay.",
        }[graph, faster],
    ]


def _timed_verdict(wall: float, cpu: float | None, bound: float) -> str:
    """Met on the wall clock; else say whether the CPU time alone (the machine's load aside) meets it."""
    if wall <= bound:
        return "met"
    if cpu and cpu <= bound:
        return "not met on the wall clock under this load; met in CPU time (one thread)"
    return "not met"


# ----- plots ---------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_scaling(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = _plt()
    families = [f for f in ("mlp", "transformer") if any(r["family"] == f for r in rows)]
    fig, axes = plt.subplots(2, len(families), figsize=(5.5 * len(families), 8), squeeze=False)
    for j, family in enumerate(families):
        for model in ("metagnn", "gmlp", "flat"):
            pts = sorted((r for r in rows if r["family"] == family and r["model"] == model and "error" not in r),
                         key=lambda r: r["target_parameters"])  # fmt: skip
            if not pts:
                continue
            x = [r["target_parameters"] for r in pts]
            kw = {"marker": "o", "color": COLOURS[model], "label": NAMES[model]}
            axes[0][j].plot(x, [r["step_s"] for r in pts], **kw)
            axes[1][j].plot(x, [r["peak_process_mib"] for r in pts], **kw)
        if rows:
            xs = sorted({r["target_parameters"] for r in rows if r["family"] == family})
            ref = [r for r in rows if r["family"] == family and r["model"] == "metagnn" and "error" not in r]
            if ref and xs:
                r0 = min(ref, key=lambda r: r["target_parameters"])
                axes[0][j].plot(xs, [r0["step_s"] * x / r0["target_parameters"] for x in xs], "k:", label="linear")
        for i, label in enumerate(("seconds per training step", "peak RSS of the process (MiB)")):
            ax = axes[i][j]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("target parameters")
            ax.set_ylabel(label)
            ax.set_title(f"{family} target")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_training(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = _plt()
    configs = list(dict.fromkeys(r["config"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, ax = plt.subplots(figsize=(1.6 * len(configs) + 3, 4))
    width = 0.8 / len(models)
    for k, m in enumerate(models):
        vals = [next((r["examples_per_s"] for r in rows if r["config"] == c and r["model"] == m), 0) for c in configs]
        ax.bar([i + k * width for i in range(len(configs))], vals, width, color=COLOURS.get(m), label=NAMES.get(m, m))
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(configs))], configs)
    ax.set_yscale("log")
    ax.set_ylabel("intent-examples per second (training)")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ----- the document ----------------------------------------------------------------------------------
def fmt_s(s: float) -> str:
    return f"{1e3 * s:.1f} ms" if s < 1 else f"{s:.2f} s"


def render(
    res: dict[str, Any],
    doc: Path,
    command: str,
    json_path: Path,
    extra: dict[str, Any] | None = None,
    accuracy: dict[str, Any] | None = None,
    gpu: tuple[dict[str, Any], Path] | None = None,
) -> str:
    """Write the plots next to ``doc`` (``img/performance/``) and return the Markdown.

    ``extra``: the saved before/after timing comparison; ``accuracy``: the manifest of the saved accuracy
    comparison, its summaries read by path; ``gpu``: a GPU run's results and where they are saved (each
    rendered as its own section when given).
    """
    img = doc.parent / "img" / "performance"
    img.mkdir(parents=True, exist_ok=True)
    rel = lambda p: str(Path(p).relative_to(doc.parent))  # noqa: E731
    m = res["machine"]
    lines = [
        "# Performance",
        "",
        "How fast the hypernetworks train and synthesize, how they scale with the target, and how close",
        "Meta-GNN runs to this machine's limit. **Every figure on this page is written by the",
        f"benchmark runner**: `{command}` (raw results: `{json_path}`). Comparisons are measured side by side",
        "in one run (the models take turns, a few steps each) and given as ratios; absolute figures hold for",
        "this machine only.",
        "",
        "| machine | |",
        "|---|---|",
        f"| CPU | {m['cpu']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable) |",
        f"| torch / Python | {m['torch']} / {m['python']} |",
        f"| torch threads | {m['threads']} |",
        f"| load average at start / end (1, 5, 15 min) | {_load(m.get('load_average'))} / "
        f"{_load(res.get('machine_end', {}).get('load_average'))} |",
        f"| mode, run time | {'--quick' if res['quick'] else 'full'}, {res['wall_s'] / 60:.1f} min, "
        f"started {res['started']} |",
        "",
        "The machine is shared with other jobs at times (the load averages above say how busy it was), so",
        "absolute times are noisy; the ratios between models, measured in turns within one process, are the",
        "robust figures, and even they move by 0.1-0.3 between runs, and by up to 0.6 from one day to the next",
        "(docs/notes/2026-12-04-gpu.md). Medians are quoted, with min–max where it matters.",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    lines += [f"| {t} | {v} | {ok} |" for t, v, ok in targets(res)]
    lines += ["", "## Training step throughput", ""]
    lines += [
        "One real training step (forward through the hypernetwork and `S`, task loss, backward, gradient",
        "clipping, AdamW), with each config's intents per step and examples per intent; the intents of a step",
        "are distinct and drawn afresh every step. Data sampling is not timed. **Graph construction is not in",
        "the step**: the neural graph is built once when a model is constructed (`build` column: graph plus",
        "calibration; graph alone in the next table).",
        "",
        "| config | model | params | target params | examples/step | step (median) | min–max | CPU / step | "
        "examples/s | time vs Meta-GNN | build |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["training"]:
        lines.append(
            f"| {r['config']} | {NAMES.get(r['model'], r['model'])} | {r['parameters']:,} | "
            f"{r['target_parameters']:,} | "
            f"{r['examples_per_step']} | {fmt_s(r['step_s'])} | {fmt_s(r['step_s_min'])}–{fmt_s(r['step_s_max'])} | "
            f"{_opt_s(r.get('cpu_s'))} | {r['examples_per_s']:,.0f} | {r['time_vs_metagnn']:.2f} | "
            f"{fmt_s(r['build_s'])} |"
        )
    p = plot_training(res["training"], img / "training-throughput.png")
    lines += ["", f"![training throughput]({rel(p)})", ""]
    lines += ["| config | nodes | edges | graph construction (median of 5) |", "|---|---|---|---|"]
    lines += [f"| {g['config']} | {g['nodes']} | {g['edges']:,} | {fmt_s(g['graph_s'])} |" for g in res["graph"]]
    lines += ["", "## Synthesis latency", ""]
    lines += [
        "Intent -> complete weight set (intent features + `synthesize`, `torch.no_grad`, eval mode), on the",
        "AddMod-p quick config. Consecutive calls use different intents (the config's intents in turn); nothing",
        "is cached, every call runs the whole hypernetwork. Graph construction is not included (built once).",
        "",
        "| model | one intent (median) | min–max | CPU | calls | 1,000 intents (median) | min–max | CPU | batch | "
        "repeats |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["synthesis"]:
        lines.append(
            f"| {_synthesis_name(r)} | {fmt_s(r['one_intent_s'])} | {fmt_s(r['one_intent_s_min'])}–"
            f"{fmt_s(r['one_intent_s_max'])} | {_opt_s(r.get('one_intent_cpu_s'))} | {r['one_intent_calls']} | "
            f"{fmt_s(r['many_s'])} | {fmt_s(r['many_s_min'])}–{fmt_s(r['many_s_max'])} | "
            f"{_opt_s(r.get('many_cpu_s'))} | {r['batch']} | {r['many_repeats']} |"
        )
    lines += _compiled_synthesis_note(res["synthesis"])
    if res.get("synthesis_batches"):
        lines += [
            "",
            "Meta-GNN, seconds per intent against the batch size (128 intents per measurement, median of 3):",
            "",
        ]
        lines += ["| batch | per intent | 1,000 intents at this rate |", "|---|---|---|"]
        lines += [f"| {r['batch']} | {fmt_s(r['s_per_intent'])} | {fmt_s(1000 * r['s_per_intent'])} |"
                  for r in res["synthesis_batches"]]  # fmt: skip
    lines += _compile_section(res.get("compile"))
    lines += _scaling_section(res, img, rel)
    lines += _efficiency_section(res)
    lines += ["", "## Running S: `spec.run` (vmap) vs a loop of `functional_call`", ""]
    lines += [
        "The same generated weight sets and inputs; forward alone (`no_grad`) and forward + backward into the",
        "weights (what training does). `same outputs` checks that both paths agree.",
        "",
        "| weight sets | examples each | vmap fwd | loop fwd | loop / vmap | vmap fwd+bwd | loop fwd+bwd | "
        "loop / vmap | same outputs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["run_s"]:
        lines.append(
            f"| {r['weight_sets']} | {r['examples_each']} | {fmt_s(r['vmap_s'])} | {fmt_s(r['loop_s'])} | "
            f"{r['loop_over_vmap']:.2f} | {fmt_s(r['vmap_bwd_s'])} | {fmt_s(r['loop_bwd_s'])} | "
            f"{r['loop_over_vmap_bwd']:.2f} | {r['same_outputs']} |"
        )
    if extra:
        lines += _before_after_section(extra, res)
    if res.get("optimizers"):
        lines += _optimizer_section(res["optimizers"])
    if accuracy:
        lines += _accuracy_section(accuracy)
    if gpu:
        lines += _gpu_section(*gpu)
    lines += _design_section()
    return "\n".join(lines) + "\n"


def _opt_s(s: float | None) -> str:
    return "n/a" if s is None else fmt_s(s)


def _load(la: Any) -> str:
    return ", ".join(f"{x:.1f}" for x in la) if la else "n/a"


def _cpu(r: dict[str, Any]) -> str:
    if "user_s_per_step" not in r:
        return "n/a"
    return f"{fmt_s(r['user_s_per_step'])} + {fmt_s(r['sys_s_per_step'])}"


def _faults(r: dict[str, Any]) -> str:
    return f"{r['page_faults_per_step']:,.0f}" if "page_faults_per_step" in r else "n/a"


def _point_rows(rows: list[dict[str, Any]], empty: int, cells: Any) -> list[str]:
    """Table rows of scaling points: ``| target | size | model |``, then ``cells(row)``, or for a point that
    failed its error and ``empty`` blank cells."""
    return [
        f"| {r['family']} | {r['size']} | {NAMES[r['model']]} |"
        + (f" failed: {r['error']} |" + " |" * empty if "error" in r else cells(r))
        for r in rows
    ]


def _scaling_section(res: dict[str, Any], img: Path, rel: Any) -> list[str]:
    sc = res.get("scaling", [])
    if not sc:
        return []
    b = res.get("scaling_batch", {})
    lines = [
        "",
        "## Scaling with the target",
        "",
        "Target size swept from about 1e4 to 1e6 parameters: SumFirst's MLP `16 -> w -> w -> 1` (width `w`) and",
        "AddMod's one-layer Transformer (`d_model = d`, 4 heads, `d_mlp = 4 d`). Fixed intent batch: "
        f"**{b.get('intents')} intent(s) x {b.get('examples')} examples per step**; every hypernetwork at its",
        "default width (Meta-GNN / Meta-gMLP: `d_node 64`, weights decoded at rank `d_edge 32`, 2 rounds; Meta-MLP:",
        "3 layers of 256).",
        "Each point is a fresh subprocess: `build` (graph + calibration), then one warm-up step and timed steps.",
        "Peak memory is the process's own high-water mark (`VmHWM`: interpreter, build and steps); `added` is",
        "that peak minus the RSS before the model was built. (`ru_maxrss` of a child is not used: Linux carries",
        "the parent's peak into a forked child, so every child of a large parent reports the parent's figure.)",
        "",
        "| target | size | model | target params | hypernet params | step (median) | CPU user+sys / step | "
        "page faults / step | build | peak RSS | added | step peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += _point_rows(sc, 8, lambda r: (
        f" {r['target_parameters']:,} | {r['parameters']:,} | {fmt_s(r['step_s'])} | {_cpu(r)} | {_faults(r)} | "
        f"{fmt_s(r['build_s'])} | {r['peak_process_mib']:,.0f} MiB | {r['peak_process_mib'] - r['rss_start_mib']:,.0f} "
        f"MiB | {(r['peak_steps_mib'] or float('nan')):,.0f} MiB |"))  # fmt: skip
    p = plot_scaling(sc, img / "scaling.png")
    lines += ["", f"![scaling]({rel(p)})", ""]
    lines += ["| target | model | time slope (log-log) | user-CPU slope | added-memory slope | largest: step | "
              "largest: peak RSS |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for family in ("mlp", "transformer"):
        for model in ("metagnn", "gmlp", "flat"):
            s = scaling_summary(sc, model, family)
            if s:
                g = s["largest"]
                lines.append(
                    f"| {family} | {NAMES[model]} | {s['time_slope']:.2f} | "
                    f"{'n/a' if s['user_cpu_slope'] is None else format(s['user_cpu_slope'], '.2f')} | "
                    f"{s['memory_slope']:.2f} | "
                    f"{fmt_s(g['step_s'])} | {g['peak_process_mib']:,.0f} MiB |"
                )
    al = res.get("allocator", [])
    if al:
        lines += [
            "",
            "Where the growth above linear comes from: at the largest sizes the CPU time in the kernel (`sys`)",
            "and the page faults per step jump. A block-sized tensor there exceeds glibc's mmap threshold (32 MiB",
            "after `metagnn.runtime.tune_allocator`, the most glibc allows), so every such tensor is mapped fresh",
            "and returned to the OS when freed: each step faults its pages in again. The largest points once more,",
            "the allocator as shipped against `MALLOC_MMAP_MAX_=0` (no mmap: every block comes from the heap and",
            "is reused), in turns:",
            "",
            "| target | model | allocator | step (median) | CPU user+sys / step | page faults / step | peak RSS |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in al:
            if "error" in r:
                lines.append(f"| {r['family']} | {NAMES[r['model']]} | {r['allocator']} | failed: {r['error']} | | | |")
                continue
            lines.append(
                f"| {r['family']} {r['size']} | {NAMES[r['model']]} | {r['allocator']} | {fmt_s(r['step_s'])} | "
                f"{_cpu(r)} | {_faults(r)} | {r['peak_process_mib']:,.0f} MiB |"
            )
        pairs = []
        for family in ("mlp", "transformer"):
            got = {
                r["allocator"]: r for r in al if r["family"] == family and r["model"] == "metagnn" and "error" not in r
            }
            if {"default", "no mmap"} <= set(got):
                d, n = got["default"], got["no mmap"]
                user = (
                    f" (user CPU {fmt_s(n['user_s_per_step'])} against {fmt_s(d['user_s_per_step'])})"
                    if "user_s_per_step" in n and "user_s_per_step" in d
                    else ""
                )
                pairs.append(
                    f"{family}: a step {fmt_s(n['step_s'])} against {fmt_s(d['step_s'])}{user}, "
                    f"{n['peak_process_mib'] / d['peak_process_mib']:.2f}x the peak RSS"
                )
        if pairs:
            lines += [
                "",
                "For Meta-GNN at the largest sizes, without mmap against the default (" + "; ".join(pairs) + ").",
                "The policy belongs to `metagnn.runtime.tune_allocator` and was not changed in this work: it trades",
                "memory for speed and would deserve its own switch.",
            ]
    lines += [
        "",
        "Why the memory differs: Meta-MLP's output layer holds `256 x P` weights, and AdamW keeps a gradient and",
        "two moments of each (about `4 x 256 x P` floats whatever the intent batch); Meta-GNN's parameters do",
        "not grow with the target: it keeps node states (`intents x nodes x d_node` per round) and, like every",
        "hypernetwork, the decoded weights themselves (`intents x P` floats and their gradient).",
    ]
    cross = []
    for family in ("mlp", "transformer"):
        g, f = scaling_summary(sc, "metagnn", family), scaling_summary(sc, "flat", family)
        if g and f:
            ga = g["largest"]["peak_process_mib"] - g["largest"]["rss_start_mib"]
            fa = f["largest"]["peak_process_mib"] - f["largest"]["rss_start_mib"]
            cross.append(f"{family}: {fa / ga:.1f} intents")
    if cross:
        lines += [
            "At the largest sizes the memory Meta-GNN adds is below Meta-MLP's by a factor that, if it grows in",
            "proportion to the intent batch (an estimate, not measured here), puts the crossover at about "
            + "; ".join(cross)
            + " per step: structure-awareness saves memory at small intent batches, not at any batch.",
        ]
    return lines


def _efficiency_section(res: dict[str, Any]) -> list[str]:
    e = res.get("efficiency")
    if not e:
        return []
    lines = [
        "",
        "## Efficiency: Meta-GNN against the machine's matmul throughput",
        "",
        f"Config {e['config']} (the default AddMod-p size). FLOPs of one training step (forward + backward) counted",
        "by `torch.utils.flop_counter.FlopCounterMode` (matrix products only; elementwise work, LayerNorm and the",
        "optimizer count zero); the step time, an fp32 1024x1024 matmul and a 16 MiB elementwise add took turns.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| matmul FLOPs per step | {e['flops_per_step'] / 1e9:.2f} GFLOP |",
        f"| step time (median) | {fmt_s(e['step_s'])} |",
        f"| achieved | {e['achieved_gflops']:.1f} GFLOP/s |",
        f"| fp32 matmul throughput, same run | {e['matmul_peak_gflops']:.1f} GFLOP/s |",
        f"| **fraction of matmul throughput** | **{100 * e['fraction_of_peak']:.0f} %** |",
        *(
            [
                f"| step CPU time; matmul per CPU second | {fmt_s(e['step_cpu_s'])}; "
                f"{e['matmul_peak_gflops_cpu']:.1f} GFLOP/s |",
                f"| fraction, both per CPU second | {100 * e['fraction_of_peak_cpu']:.0f} % |",
            ]
            if e.get("step_cpu_s")
            else []
        ),
        f"| the step's FLOPs at that throughput would take | {fmt_s(e['matmul_time_at_peak_s'])} |",
        f"| elementwise bandwidth (`a + b`, 16 MiB), same run | {e['bandwidth_gbs']:.1f} GB/s |",
        f"| the decoded weights of one step (intents x P x 4 B) | {e['weights_bytes'] / 2**20:.1f} MiB |",
        f"| aten ops per step (dispatches) | {e['aten_ops_per_step']:,.0f} |",
        "",
        "Where the step's time goes (self time per op category under `torch.profiler`, 2 steps; the profiler adds",
        "a cost per op, so small ops are over-weighted):",
        "",
        "| category | share |",
        "|---|---|",
    ]
    lines += [f"| {k} | {100 * v:.0f} % |" for k, v in e["time_share"].items()]
    mm = e["time_share"].get("matmul", 0.0)
    bound_s = e["step_s"] * (1 - mm) + e["matmul_time_at_peak_s"]
    bound_fraction = e["flops_per_step"] / 1e9 / bound_s / e["matmul_peak_gflops"]
    lines += [
        "",
        f"What bounds it: the matrix products are {100 * mm:.0f} % of the time; the rest is work that does no",
        "counted FLOP: elementwise ops, normalisations, reductions, the target's own forward and backward pass",
        "on the decoded weights, and per-op dispatch of the per-group modules. If every matrix product ran at",
        f"the measured peak and nothing else changed, the step would take about {fmt_s(bound_s)}, i.e.",
        f"{100 * bound_fraction:.0f} % of peak.",
    ]
    return lines


def _before_after_section(extra: dict[str, Any], res: dict[str, Any]) -> list[str]:
    graph_max = max((g["graph_s"] for g in res.get("graph", [])), default=float("nan"))
    ops = res.get("efficiency", {}).get("aten_ops_per_step", float("nan"))
    tensors = res.get("efficiency", {}).get("parameter_tensors")
    tensors = f"{tensors} parameter" if tensors else "the hundreds of parameter"
    lines = [
        "",
        "## An earlier optimisation (the edge-state models before 2026-12-03): what the profile showed",
        "",
        "The Meta-GNN training step at the default AddMod-p size was profiled with `torch.profiler` (per op and",
        "per input shape) and `py-spy --native`. What was suspected (per-edge loops) is not what dominates here:",
        "",
        "- **No Python loop over nodes or edges** exists: message passing was already dense per block (one",
        "  loop over the target's weight tensors per round, each a `(intents, n_rows, n_cols, d_edge)` tensor).",
        f"- **No repeated graph construction**: the neural graph is built once per model (at most {fmt_s(graph_max)}",
        "  for these configs, table above); synthesis and training steps never rebuild it.",
        "- **No edge-list scatters**: the flat edge list exists only for inspection and tests.",
        "- What dominates is (1) memory sweeps over the block-sized edge states by elementwise ops, LayerNorm",
        "  and their backward passes, (2) the per-edge linear maps (matmuls), and (3) a fixed per-step cost of",
        f"  dispatching about {ops:,.0f} aten ops (forward, backward, clipping and AdamW over {tensors}",
        "  tensors of many small per-group modules); see Efficiency for the measured shares.",
        "",
        "Changes (outputs equal up to float rounding; state_dict keys unchanged, so old checkpoints load):",
        "",
        "- `EdgeBlockLayer` (Meta-GNN's round on one weight tensor) sums its row, column and product terms in",
        "  place into the LayerNorm's output and adds the residual in place into the update's output: one",
        "  block-sized buffer per block and round instead of six. `EdgeEncoder`'s intent modulation is one",
        "  `addcmul` over the block instead of a product and a sum; Meta-gMLP's edge update and Meta-MLP's",
        "  output layer likewise.",
        "- Construction calibrates the decoders on 16 probe intents; they now go through in chunks of at most",
        "  2^20 edges (bitwise the same below about 65k edges), so a 1e6-parameter target is built without",
        "  holding 16 intents' edge states at once.",
        "",
        f"Measured by `{extra['command']}`: the same step benchmark on the code before the optimisation",
        f"(`{extra['base']}`) and after (`{extra['head']}`), each a fresh process, alternating A B A B",
        f"({extra['repeats']} pairs of {extra['steps']} timed steps; {extra['threads']} thread; load average "
        f"{_load(extra.get('load_average'))}). The step is that of `metagnn.train` on the task's default config.",
        "The range also holds commit 7b57e17 (distributed training), which freezes offsets that a centring",
        "removes (their gradient is exactly zero); it leaves the work per step as it was.",
        "",
        "| task | model | before: step | after: step | after / before (median of pairs) | before: peak RSS | "
        "after: peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in extra["rows"]:
        lines.append(
            f"| {r['task']} | {NAMES[r['model']]} | {fmt_s(r['before_s'])} | {fmt_s(r['after_s'])} | "
            f"{r['ratio']:.2f} ({r['ratio_min']:.2f}–{r['ratio_max']:.2f}) | {r['before_peak_mib']:,.0f} MiB | "
            f"{r['after_peak_mib']:,.0f} MiB |"
        )
    lines += [
        "",
        "The in-place sums cut that edge-state step's peak memory but not its time: it was bound by sweeps over",
        "block-sized edge states. What followed on 2026-12-03, node states only with each weight decoded as a",
        "bilinear form of its endpoints' states, removed those states; the tables above measure it.",
    ]
    return lines


def _optimizer_section(rows: list[dict[str, Any]]) -> list[str]:
    """A whole training step under AdamW's per-tensor kernels and under ``PackedAdamW``, from ``res["optimizers"]``."""
    lines = [
        "",
        "## Optimizer",
        "",
        "Training uses `metagnn.optim.PackedAdamW` (`build_optimizer`): every trainable tensor of at most",
        f"{PACK_MAX_NUMEL:,} entries lives as a view into one flat buffer, and its gradient as a view into one",
        "flat gradient, so that clearing the gradients, clipping their norm and the AdamW step (its `fused`",
        "kernel) run once over the buffer instead of once per tensor; the larger tensors stay apart. Below, a whole",
        "training step (as in the step table) of each quick config under AdamW's per-tensor `foreach` and `fused`",
        "kernels and under the packed optimizer, in turns in one run:",
        "",
        "| config | model | trainable tensors | tensors stepped (packed) | foreach | fused | packed | fused / packed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by = {(r["config"], r["model"], r["optimizer"]): r for r in rows}
    for config, model in dict.fromkeys((r["config"], r["model"]) for r in rows):
        foreach, fused, packed = (by[config, model, o] for o in ("foreach", "fused", "packed"))
        lines.append(
            f"| {config} | {NAMES.get(model, model)} | {packed['tensors']} | {packed['stepped_tensors']} | "
            f"{fmt_s(foreach['step_s'])} | {fmt_s(fused['step_s'])} | {fmt_s(packed['step_s'])} | "
            f"{fused['step_s'] / packed['step_s']:.2f} |"
        )
    saved = [
        1 - by[c, m, "packed"]["step_s"] / by[c, m, "fused"]["step_s"]
        for c, m, o in by
        if m == "metagnn" and o == "fused"
    ]
    lines += [
        "",
        "The tied hypernetworks hold hundreds of small tensors (a few per node group and round): per tensor, the",
        "three operations cost interpreter and dispatch work, which the packing saves"
        + (f" (from {min(saved):.0%} to {max(saved):.0%} of Meta-GNN's step in this run)." if saved else "."),
        "The flat hypernetwork's few tensors are mostly large, and packing changes little there.",
    ]
    return lines


def _gpu_section(res: dict[str, Any], path: Path) -> list[str]:
    """The GPU run (``bench.py --device cuda``): its targets, training steps, synthesis, memory and compile."""
    m = res["machine"]
    lines = [
        "",
        "## On a GPU",
        "",
        f"`{res.get('command', 'python benchmarks/bench.py --device cuda')}` on {m.get('gpu', 'a GPU')} "
        f"(torch {m['torch']}, CUDA {m.get('cuda')}), started {res['started']}, {res['wall_s'] / 60:.1f} min; raw",
        f"results: `{path}`. The same measurements as above, each clock read after the device has finished its",
        "queued work (`torch.cuda.synchronize`); the sections that measure the CPU itself are left out.",
        "As in training (`metagnn.train.training_forward`), each hypernetwork's `synthesize` runs as CUDA graphs in"
        " a training step (see the CUDA graphs section below)."
        if m.get("cuda_graphs")
        else "The training steps ran eager (`METAGNN_CUDA_GRAPHS=0`, or a run from before the graphs).",
        "Memory is the GPU's own peak (`torch.cuda.max_memory_allocated`, reset per point: weights, optimizer",
        "state, the steps' activations and the graphs' buffers).",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        *(f"| {t} | {v} | {ok} |" for t, v, ok in targets(res)),
    ]
    if res.get("training"):
        lines += ["", "### Training step on the GPU", "",
                  "| config | model | params | step (median) | min–max | time vs Meta-MLP |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        flat = {r["config"]: r["step_s"] for r in res["training"] if r["model"] == "flat"}
        for r in res["training"]:
            vs = f"{r['step_s'] / flat[r['config']]:.2f}" if r["config"] in flat else "n/a"
            lines.append(
                f"| {r['config']} | {NAMES.get(r['model'], r['model'])} | {r['parameters']:,} | {fmt_s(r['step_s'])} | "
                f"{fmt_s(r['step_s_min'])}–{fmt_s(r['step_s_max'])} | {vs} |"
            )
    if res.get("synthesis"):
        lines += ["", "### Synthesis on the GPU", "",
                  "| config | model | one intent (median) | 1,000 intents | per second | batch |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for r in res["synthesis"]:
            lines.append(
                f"| {r['config']} | {_synthesis_name(r)} | {fmt_s(r['one_intent_s'])} | "
                f"{fmt_s(r['many_s'])} | {r['many_intents'] / r['many_s']:,.0f} | {r['batch']} |"
            )
        lines += _compiled_synthesis_note(res["synthesis"])
    if res.get("scaling"):
        b = res.get("scaling_batch", {})
        per_step = f"{b.get('intents')} intents x {b.get('examples')} examples per step"
        lines += ["", "### Memory with the target's size on the GPU", "", f"{per_step}, as in the CPU sweep above.", ""]
        held = [r["gpu_built_mib"] for r in res["scaling"] if "gpu_built_mib" in r and "gpu_start_mib" not in r]
        if held:  # results from before the runner recorded what a point starts with
            lines += [
                "This run did not record what the process held before each model was built: right after a build,",
                f"{min(held):,.0f} MiB or more was allocated, almost all of it left by earlier sections of the run",
                "(the models hold a few MiB each). It is in every peak below, for every model alike.",
                "",
            ]
        lines += ["| target | size | model | target params | step (median) | peak GPU memory | one program |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        lines += _point_rows(res["scaling"], 3, lambda r: (
            f" {r['target_parameters']:,} | {fmt_s(r['step_s'])} | {peak_memory(r):,.0f} MiB | "
            f"{_opt_s(r.get('synthesize_one_s'))} |"))  # fmt: skip
    if res.get("optimizers"):
        by = {(r["config"], r["model"], r["optimizer"]): r["step_s"] for r in res["optimizers"]}
        lines += [
            "",
            "### Optimizer on the GPU",
            "",
            "| config | model | foreach | fused | packed |",
            "|---|---|---|---|---|",
        ]
        for c, mod in dict.fromkeys((r["config"], r["model"]) for r in res["optimizers"]):
            cells = " | ".join(fmt_s(by[c, mod, o]) for o in ("foreach", "fused", "packed"))
            lines.append(f"| {c} | {NAMES.get(mod, mod)} | {cells} |")
    return (
        lines
        + _compile_section(res.get("cuda_graph"), "GPU", "###")
        + _compile_section(res.get("compile"), "GPU", "###")
    )


def _accuracy_section(manifest: dict[str, Any]) -> list[str]:
    """The shipped quick configs trained before and after a speed change, from ``metagnn summarize`` JSONs
    (``manifest["pairs"]``: paths of the before and after summaries, already resolved by the caller). Runs are
    pooled per task and model: each summary holds one config per task and model, as ``reproduce --quick`` writes."""
    lines = [
        "",
        "## Accuracy before and after",
        "",
        f"{manifest['change']} Before: the summaries behind docs/results.md (commit {manifest['before_commit']});",
        f"after: the same configs and seeds retrained at commit {manifest['after_commit']}:",
        "",
        *(f"    {c}" for c in manifest["commands"]),
        "",
        "| task | model | seeds | before: ID | after: ID | before: val | after: val | before: OOD | after: OOD |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for pair in manifest["pairs"]:
        before, after = (_by_model(json.loads(Path(pair[k]).read_text())["rows"]) for k in ("before", "after"))
        for key in (k for k in after if k in before):
            b, a = before[key], after[key]
            cells = [mean_std(side, f"{split}_accuracy") for split in ("id", "val", "ood") for side in (b, a)]
            seeds = str(len(a)) if len(a) == len(b) else f"{len(b)} / {len(a)}"
            lines.append(f"| {key[0]} | {NAMES.get(key[1], key[1])} | {seeds} | " + " | ".join(cells) + " |")
    return lines


def _by_model(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault((r["task"], r["model"]), []).append(r)
    return out


def _design_section() -> list[str]:
    return [
        "",
        "## How the runner is organised",
        "",
        "The measuring code lives in `benchmarks/` (`suite.py`: the measurements; `performance_doc.py`: this page",
        "and its plots; `compare_trees.py`: before/after on two source trees), outside the package, like",
        "examples and experiments: it is development tooling, imports only the public library, and ships in no",
        "wheel. `benchmarks/bench.py` runs the suite and writes this page where it is told (`--out`).",
        "`tests/test_bench.py` runs the smallest pieces of every section in-process and",
        "checks the structure and sanity of the results (no timed assertions).",
    ]
