"""Every task x every model x N seeds with one budget per task: the runs, the table and the plots.

Runs live in ``OUT/<task>/<model>/seed<S>``. A finished run whose ``metrics.json`` holds the same
config is reused; an unfinished one (a checkpoint, no metrics) is resumed; only missing runs are
trained. So an interrupted ``metagnn reproduce`` continues where it stopped, and one with more
seeds trains only the new ones. A run another process is training is waited for, not trained twice,
so two ``reproduce`` processes on one ``OUT`` share the grid.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from metagnn.checkpoint import (
    CHECKPOINT,
    METRICS,
    SCHEMA_VERSION,
    read_json,
    run_lock,
    schema_mismatch,
    write_json,
    write_text,
)
from metagnn.errors import CheckpointError, ConfigError, RunFolderBusy
from metagnn.report import PAPER_OOD, plot_per_intent, summarize
from metagnn.runtime import pick_device, provenance
from metagnn.train import RunConfig, same_run, started_with, train

TASK_ORDER = ("addmod", "sumfirst", "arc1d")
MODEL_ORDER = ("metagnn", "gmlp", "flat", "direct")


def finished_metrics(run: RunConfig, run_dir: Path) -> dict[str, Any] | None:
    """The metrics in ``run_dir`` if it holds a finished run of exactly ``run``, else ``None``.

    A finished run of an earlier schema is refused (:class:`CheckpointError`): its figures were measured
    by other code (and, before schema 2, headlined the selected weights), so reusing them would mix the two."""
    if not (run_dir / METRICS).exists():
        return None
    saved = read_json(run_dir / METRICS)
    try:
        if not same_run(run, RunConfig.saved(saved.get("config"), str(run_dir / METRICS))):
            return None
    except (CheckpointError, ConfigError):  # metrics of something else, or of a config no longer valid
        return None
    schema = (saved.get("provenance") or {}).get("schema_version")
    if schema != SCHEMA_VERSION:
        raise CheckpointError(f"{run_dir}: a finished run of schema {schema!r}, {schema_mismatch(schema)}")
    return saved


def run_or_reuse(
    run: RunConfig,
    run_dir: Path,
    device: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The metrics of ``run`` in ``run_dir``: reused when finished with this config, else trained or resumed.

    Raises :class:`RunFolderBusy` when another process is training in ``run_dir``.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("reproduce and quickstart train one run per process; run `metagnn train` under torchrun")
    saved = finished_metrics(run, run_dir)  # a finished run is reused without touching its folder
    if saved is None:
        with run_lock(run_dir):  # check again and decide train or resume once no one else can write here
            saved = finished_metrics(run, run_dir)
            if saved is None:
                resume = (run_dir / CHECKPOINT).exists()
                if resume and not started_with(run, run_dir):
                    raise ConfigError(
                        f"{run_dir} holds a run of another config (e.g. from before the shipped configs changed); "
                        "use another output folder, or remove that folder to train it again"
                    )
                if resume:
                    log(f"{run.task}/{run.model}/seed{run.seed}: resuming {run_dir}")
                metrics = train(run, run_dir, resume=resume, device=device, progress=progress)
                assert metrics is not None  # only stop_after or a non-zero rank returns None
                return metrics
    log(f"{run.task}/{run.model}/seed{run.seed}: reusing the finished run in {run_dir}")
    return saved


def run_grid(
    runs: Sequence[RunConfig],
    out: Path,
    device: str | None = None,
    progress: bool = True,
    after_run: Callable[[RunConfig, Path, dict[str, Any]], None] | None = None,
    log: Callable[[str], None] = print,
    poll_s: float = 30.0,
) -> list[dict[str, Any]]:
    """Train (or reuse) each run in ``out/<task>/<model>/seed<S>``; ``after_run`` may add to a run's row.

    A run that another process is training is left for last, then waited for (checked every
    ``poll_s`` seconds) and reused, or resumed if that process stopped early. So two ``reproduce``
    processes on one ``out`` share the grid instead of training the same runs twice.
    """
    rows: dict[int, dict[str, Any]] = {}
    busy: list[int] = []

    def attempt(i: int) -> bool:
        run = runs[i]
        run_dir = out / run.task / run.model / f"seed{run.seed}"
        try:
            metrics = run_or_reuse(run, run_dir, device, progress, log)
        except RunFolderBusy:
            return False
        rows[i] = {k: v for k, v in metrics.items() if k != "history"}
        if after_run is not None:
            after_run(run, run_dir, rows[i])
        return True

    for i, run in enumerate(runs):
        log(f"[{i + 1}/{len(runs)}] {run.task} / {run.model} / seed {run.seed}")
        if not attempt(i):
            log(f"{run.task}/{run.model}/seed{run.seed}: another process is training it; coming back to it last")
            busy.append(i)
    for i in busy:
        run = runs[i]
        log(f"waiting for {run.task}/{run.model}/seed{run.seed}, which another process is training")
        start = last = time.monotonic()
        while not attempt(i):
            time.sleep(poll_s)
            if time.monotonic() - last >= 600:
                last = time.monotonic()
                log(f"still waiting for {run.task}/{run.model}/seed{run.seed} ({(last - start) / 60:.0f} min)")
    return [rows[i] for i in range(len(runs))]


def write_report(
    rows: list[dict[str, Any]], out: Path, command: str, wall_time: float, weights: str = "last"
) -> dict[str, Path]:
    """``results.json``, ``results.md`` (SPEC 3b's columns beside the paper's OOD) and per-task plots.

    With ``weights="best"`` (rows judged with the weights validation selected) every file name gets ``-best``.
    """
    tag = "" if weights == "last" else f"-{weights}"
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_task[r["task"]].append(r)
    table = summarize(rows, reference=PAPER_OOD)
    paths = {"json": out / f"results{tag}.json", "markdown": out / f"results{tag}.md"}
    plots = {}
    for task, task_rows in by_task.items():
        for split in ("ood", "extrapolation"):
            if any(v["split"] == split for v in task_rows[0]["per_intent"].values()):
                plots[f"{task}-{split}"] = plot_per_intent(task_rows, out / f"{task}-{split}{tag}.png", split=split)
    real = [r for r in rows if "expressible_pair_accuracy" in r]
    lines = [
        "# metagnn reproduce",
        "",
        f"Command: `{command}` ({wall_time / 60:.1f} min of wall time here; reused runs count their own time).",
        "",
        "OOD exact match etc.: mean ± sample std over seeds; `paper OOD` is SPEC section 4 (their splits unknown).",
        "",
        "Weights: "
        + (
            "each run's last step (SPEC 3b: a budget fixed in advance, no step selected)."
            if weights == "last"
            else "the step validation selected (`--weights best`; beside the headline, not instead of it)."
        ),
        "",
        table,
    ]
    if real:
        lines += ["", "Real 1D-ARC tasks of the expressible families (pair accuracy, mean over seeds):", ""]
        lines += ["| model | seeds | expressible pair accuracy | tasks solved (expressible) |", "|---|---|---|---|"]
        for model in dict.fromkeys(r["model"] for r in real):
            rs = [r for r in real if r["model"] == model]
            pair = sum(r["expressible_pair_accuracy"] for r in rs) / len(rs)
            solved = sum(r["real_arc"]["expressible_tasks_solved"] for r in rs) / len(rs)
            lines.append(f"| {model} | {len(rs)} | {pair:.3f} | {solved:.3f} |")
    lines += ["", *(f"![{name}]({p.name})" for name, p in plots.items())]
    write_text(paths["markdown"], "\n".join(lines) + "\n")  # atomic: another reproduce may write it too
    write_json(
        paths["json"],
        {
            "command": command,
            "weights": weights,
            "rows": rows,
            "table": table,
            "wall_time_s": round(wall_time, 1),
            "provenance": provenance(pick_device(None)),
        },
    )
    return {**paths, **plots}
