"""Command-line interface: each subcommand is a thin call into the library.

Every subcommand is callable in-process as ``main(argv)``; bad input ends in a one-line
``metagnn: error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

from metagnn.checkpoint import METRICS, read_json, write_json
from metagnn.commands import add_target_argument, add_weights_argument, intent_items, seed_value, target_items
from metagnn.config import load_config
from metagnn.errors import ConfigError, MetaGNNError
from metagnn.evaluate import evaluate
from metagnn.registry import MODELS, TASKS
from metagnn.report import format_table, plot_curves, plot_per_intent, summarize
from metagnn.reproduce import run_or_reuse
from metagnn.runtime import pick_device, provenance, tune_allocator
from metagnn.synthesis import synthesize
from metagnn.tasks import build_task
from metagnn.train import RunConfig, load_run, train


def parse_intents(task_obj: Any, text: str | list[str]) -> list[Any]:
    return [task_obj.parse_intent(t) for t in intent_items(text)]


def run_config(args: argparse.Namespace, model: str) -> RunConfig:
    """Merge the config file, the flags and the model name into one validated :class:`RunConfig`."""
    TASKS.get(args.task)  # a one-line error naming the known tasks
    MODELS.get(model)
    cfg = load_config(args.config, args.task)
    task_cfg = dict(cfg.get("task_config", {}))
    probe = build_task(args.task, task_cfg)
    for flag, split in (
        ("train_intents", "train"),
        ("val_intents", "val"),
        ("ood_intents", "ood"),
        ("extrapolation_intents", "extrapolation"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            task_cfg[split] = parse_intents(probe, value)
    train_cfg = dict(cfg.get("train", {}))
    for flag in ("steps", "lr", "weight_decay", "intents_per_step", "examples_per_intent", "eval_every"):
        value = getattr(args, flag, None)
        if value is not None:
            train_cfg[flag] = value
    return RunConfig(args.task, task_cfg, model, dict(cfg.get("models", {}).get(model, {})), train_cfg, args.seed)


def cmd_train(args: argparse.Namespace) -> int:
    metrics = train(
        run_config(args, args.model),
        args.out,
        resume=args.resume,
        device=args.device,
        progress=not args.no_progress,
        log_batches=args.log_batches,
    )
    if metrics is not None:  # under torchrun, rank 0 reports
        print(format_table([metrics]))
        print(f"run folder: {args.out}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    run, task, model = load_run(args.run_dir, args.device, args.weights, target_items(args.target))
    intents = parse_intents(task, args.intents) if args.intents is not None else None
    device = next(model.parameters()).device
    result = evaluate(model, task, device, intents=intents)
    result.update(
        {"task": run.task, "model": run.model, "seed": run.seed, "run_dir": str(args.run_dir),
         "weights": args.weights, "target": task.spec.to_dict(), "provenance": provenance(device)}
    )  # fmt: skip
    arc_dir = args.arc_dir or (os.environ.get("METAGNN_ARC_DIR") if run.task == "arc1d" else None)
    if arc_dir:
        if run.task != "arc1d":
            raise ConfigError(f"--arc-dir runs arc1d programs on real 1D-ARC tasks; this run is of task {run.task!r}")
        from metagnn.tasks.arc1d.real import format_real_check, real_check

        real = real_check(model, task, arc_dir, device, progress=sys.stderr.isatty())
        result.update(real_arc=real, expressible_pair_accuracy=real["expressible_pair_accuracy"])
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        width = max([8, *(len(k) for k in result["per_intent"])])
        for key, row in result["per_intent"].items():
            print(
                f"{task.name} {key:>{width}} ({row['split']:<13}) accuracy {row['accuracy']:.4f}  "
                f"(n={row['n']}, chance {row['chance']:.3f})"
            )
        for split in ("id", "val", "ood", "extrapolation", "unseen"):
            if f"{split}_accuracy" in result:
                print(f"{split + ' accuracy':<24} {result[f'{split}_accuracy']:.4f}")
        if "real_arc" in result:
            print(format_real_check(result["real_arc"]))
    return 0


def cmd_synthesize(args: argparse.Namespace) -> int:
    program = synthesize(args.run_dir, args.intent, args.weights, args.device, target_items(args.target))
    program.save(args.out)
    print(
        f"wrote {args.out}: {program.spec.num_parameters} weights of a {program.spec.family} for "
        f"{program.info['task']} intent {program.info['intent']}; exact match on its {program.examples:,} test "
        f"examples ({'held out' if program.split == 'id' else 'never trained on'}): {program.accuracy:.3f}"
    )
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    args.task = "addmod"
    out = Path(args.out)
    models = [m.strip() for m in args.models.split(",")]
    rows = []
    start = time.perf_counter()
    for model in models:
        run = run_config(args, model)  # the layout of metagnn reproduce, which can reuse these runs
        rows.append(run_or_reuse(run, out / run.task / model / f"seed{run.seed}", args.device, not args.no_progress))
    table = format_table(rows)
    print(table)
    write_json(
        out / "quickstart.json",  # reproduce writes results.json into the same folder
        {
            "rows": [{k: v for k, v in r.items() if k != "history"} for r in rows],
            "table": table,
            "provenance": provenance(pick_device(args.device)),
        },
    )
    plot = plot_per_intent(rows, out / "ood_per_prime.png", split="ood")
    print(f"total wall time {time.perf_counter() - start:.0f} s; results in {out / 'quickstart.json'}, plot in {plot}")
    return 0


def cmd_summarize(args: argparse.Namespace) -> int:
    rows = []
    for path in args.paths:
        p = Path(path)
        row = read_json(p / METRICS if p.is_dir() else p)
        missing = [
            k for k in ("task", "model", "config", "per_intent", "chance", "parameters", "steps") if k not in row
        ]
        if missing:
            raise ConfigError(f"{path}: not a run's metrics.json (missing {', '.join(missing)})")
        rows.append(row)
    table = summarize(rows)
    print(table)
    if args.out:  # the small JSON that backs a table in the docs (each run's metrics, history included)
        command = "metagnn " + shlex.join(sys.argv[1:]) if sys.argv[0].endswith("metagnn") else "metagnn summarize ..."
        write_json(Path(args.out), {"command": command, "table": table, "rows": rows, "provenance": provenance("cpu")})
        print(f"wrote {args.out}")
    if args.plot:
        for split in args.plot_splits.split(","):
            path = Path(args.plot) / f"{rows[0]['task']}-{split}.png"
            print(f"plot: {plot_per_intent(rows, path, split=split)}")
        curves = plot_curves(rows, Path(args.plot) / f"{rows[0]['task']}-curves.png")
        if curves is not None:
            print(f"plot: {curves}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metagnn", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    sub = parser.add_subparsers(dest="command", required=True)

    def common_train(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", default="quick", help="quick, full, or a JSON file (default: quick)")
        p.add_argument("--seed", type=seed_value, default=0)
        p.add_argument("--steps", type=int, default=None, help="override the config's optimizer steps")
        p.add_argument("--lr", type=float, default=None)
        p.add_argument("--weight-decay", type=float, default=None)
        p.add_argument("--intents-per-step", type=int, default=None)
        p.add_argument("--examples-per-intent", type=int, default=None)
        p.add_argument("--eval-every", type=int, default=None)
        p.add_argument("--train-intents", default=None, help="comma-separated, e.g. 5,7,11")
        p.add_argument("--val-intents", default=None)
        p.add_argument("--ood-intents", default=None)
        p.add_argument("--extrapolation-intents", default=None)
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("train", help="train one model on one task")
    p.add_argument("task", help=f"task name ({', '.join(TASKS.names())})")
    p.add_argument("--model", default="metagnn", help=f"model name ({', '.join(MODELS.names())})")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    p.add_argument(
        "--log-batches", action="store_true", help="log each step's intents and examples to OUT/batches.rank<R>.jsonl"
    )
    common_train(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a run folder")
    p.add_argument("run_dir")
    p.add_argument("--intents", default=None, help="comma-separated intents, seen or not (default: every split)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--device", default=None)
    add_weights_argument(p)
    add_target_argument(p)
    p.add_argument(
        "--arc-dir",
        default=None,
        help="arc1d runs: also run the programs on every real 1D-ARC task in this folder (default: $METAGNN_ARC_DIR)",
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("synthesize", help="write the weights of one program")
    p.add_argument("run_dir")
    p.add_argument("--intent", required=True)
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.add_argument("--device", default=None)
    add_weights_argument(p)
    add_target_argument(p)
    p.set_defaults(func=cmd_synthesize)

    p = sub.add_parser("summarize", help="mean and std over seeds of finished runs, as a Markdown table")
    p.add_argument("paths", nargs="+", help="run folders or metrics.json files")
    p.add_argument(
        "--plot", default=None, help="folder for per-intent bar plots (mean and std over seeds) and learning curves"
    )
    p.add_argument("--plot-splits", default="ood", help="comma-separated splits to plot (default: ood)")
    p.add_argument("--out", default=None, help="also write the table and every run's metrics to this JSON file")
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("quickstart", help="train all four models on quick AddMod-p and print the table")
    p.add_argument("--out", default="runs/quickstart")
    p.add_argument("--models", default="metagnn,gmlp,flat,direct")
    common_train(p)
    p.set_defaults(func=cmd_quickstart)

    # Larger command groups (analyze, bench, reproduce, ...) live in metagnn.commands, one module each,
    # exposing ``add_parser(sub)`` that registers its subcommand(s) with ``set_defaults(func=...)``.
    import metagnn.commands

    for info in sorted(pkgutil.iter_modules(metagnn.commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"metagnn.commands.{info.name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tune_allocator()
    try:
        if args.threads is not None:
            limit = 4 * (os.cpu_count() or 1)  # far more threads than cores only thrashes (and can crash torch)
            if not 1 <= args.threads <= limit:
                raise ConfigError(f"--threads must be in 1..{limit} on this machine, got {args.threads}")
            torch.set_num_threads(args.threads)
        return args.func(args)
    except MetaGNNError as e:
        print(f"metagnn: error: {e}", file=sys.stderr)
        return 2
    except (torch.OutOfMemoryError, RuntimeError) as e:
        if not isinstance(e, torch.OutOfMemoryError) and "can't allocate memory" not in str(e):
            raise  # a bug, not bad input: keep the traceback
        sizes = re.findall(r"allocate (\d[\d.]* ?[A-Za-z]+)", str(e))  # "... you tried to allocate 4000 bytes"
        wanted = sizes[-1] if sizes else "more than is free"
        print(f"metagnn: error: out of memory (tried to allocate {wanted}): a size in the config or flags "
              "(vocab, widths, batch) is too large for this machine", file=sys.stderr)  # fmt: skip
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside a training loop
        print("metagnn: error: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # unwritable or missing output path, disk full, ...
        print(f"metagnn: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
