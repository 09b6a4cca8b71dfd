"""``metagnn reproduce``: every task x every model x N seeds, the table beside the paper's, and plots.

``--quick`` takes the quick configs and one seed; the default takes the full configs and 3 seeds.
Finished runs are reused and unfinished ones resumed (see :mod:`metagnn.reproduce`). The headline is every
run's last step (SPEC 3b: a budget fixed in advance); ``--weights best`` reports the same runs with the
weights validation selected instead: nothing is retrained, each run is evaluated again, and the report is
``results-best.*`` beside the default one.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from metagnn.commands import add_weights_argument
from metagnn.config import load_config
from metagnn.errors import ConfigError
from metagnn.evaluate import evaluate
from metagnn.registry import MODELS, TASKS
from metagnn.reproduce import MODEL_ORDER, TASK_ORDER, run_grid, write_report
from metagnn.train import RunConfig, load_run


def names(text: str, known: list[str], what: str) -> list[str]:
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in known]
    if unknown or not chosen:
        raise ConfigError(f"--{what}: unknown or empty {unknown or text!r}; known: {', '.join(known)}")
    return chosen


def cmd_reproduce(args: argparse.Namespace) -> int:
    tasks = names(args.tasks, [t for t in TASK_ORDER if t in TASKS.names()], "tasks")
    models = names(args.models, [m for m in MODEL_ORDER if m in MODELS.names()], "models")
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    config = "quick" if args.quick else "full"
    if args.configs is not None and not Path(args.configs).is_dir():
        raise ConfigError(f"--configs {args.configs}: not a folder")
    runs = []
    for task in tasks:
        cfg = load_config(str(Path(args.configs) / f"{task}.json") if args.configs else config, task)
        for model in models:
            for seed in range(seeds):
                runs.append(
                    RunConfig(task, dict(cfg.get("task_config", {})), model,
                              dict(cfg.get("models", {}).get(model, {})), dict(cfg.get("train", {})), seed)
                )  # fmt: skip
    arc_dir = args.arc_dir or os.environ.get("METAGNN_ARC_DIR")
    if arc_dir and "arc1d" in tasks and not Path(arc_dir).is_dir():  # fail now, not after hours of training
        raise ConfigError(f"--arc-dir / METAGNN_ARC_DIR {arc_dir}: not a folder of 1D-ARC tasks")

    def judge(run: RunConfig, run_dir: Path, row: dict) -> None:
        """With ``--weights best``, the run's figures from the step validation selected; on arc1d, the real check."""
        row["weights"] = args.weights
        real = run.task == "arc1d" and arc_dir
        if args.weights == "last" and not real:
            return
        _, task, model = load_run(run_dir, args.device, args.weights)
        device = next(model.parameters()).device
        if args.weights == "best":
            row.update(evaluate(model, task, device))
        if real:
            from metagnn.tasks.arc1d.real import real_check

            result = real_check(model, task, arc_dir, device, progress=not args.no_progress)
            row.update(real_arc=result, expressible_pair_accuracy=result["expressible_pair_accuracy"])

    out = Path(args.out)
    start = time.perf_counter()
    rows = run_grid(runs, out, device=args.device, progress=not args.no_progress, after_run=judge)
    command = "metagnn " + shlex.join(sys.argv[1:]) if sys.argv[0].endswith("metagnn") else "metagnn reproduce ..."
    paths = write_report(rows, out, command, time.perf_counter() - start, weights=args.weights)
    print(paths["markdown"].read_text())
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="every task x model x seed: results.json, results.md and plots")
    p.add_argument("--quick", action="store_true", help="the quick configs, 1 seed (default: full configs, 3 seeds)")
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 per task and model")
    p.add_argument("--configs", default=None, help="a folder of <task>.json configs to use instead of quick/full")
    p.add_argument("--tasks", default=",".join(TASK_ORDER), help="comma-separated (default: all)")
    p.add_argument("--models", default=",".join(MODEL_ORDER), help="comma-separated (default: all)")
    p.add_argument("--out", default="runs/reproduce", help="folder for the runs and the report")
    p.add_argument("--arc-dir", default=None, help="real 1D-ARC tasks for the arc1d check (default: $METAGNN_ARC_DIR)")
    add_weights_argument(
        p,
        help="last: every run's last step (SPEC 3b's headline, default); best: the step validation selected, "
        "evaluated again without retraining, reported in results-best.*",
    )
    p.add_argument("--device", default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_reproduce)
