"""``metagnn solve TASK.json|FOLDER``: solve 1D-ARC tasks from their train pairs.

For each task file (a folder is searched recursively for ``*.json``) the solver reads the train pairs,
finds a program that explains them, and writes its outputs on the test inputs in 1D-ARC's own layout
(``OUT/<name>.json``: ``{"test": [{"input": [[...]], "output": [[...]]}, ...]}``), with ``OUT/results.json``
holding, per task, the program, the time and, where the file holds the test outputs, whether every test
output is exactly right (the benchmark's protocol: one attempt per test input). Malformed files are named
on one line each and skipped; the exit status is then 2.

Solver: ``symbolic``, the enumerative search of :mod:`metagnn.tasks.arc1d.symbolic`; or a run folder of
task ``arc1d`` with ``--encoder`` (fitted by ``metagnn examples``): its model reads the train pairs as the
intent (:mod:`metagnn.tasks.arc1d.neural`).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from metagnn.checkpoint import write_json
from metagnn.commands import whole_number
from metagnn.errors import ConfigError, DataError
from metagnn.tasks.arc1d.real import family_of, parse_task_splits, read_task_file, task_paths
from metagnn.tasks.arc1d.symbolic import solve as symbolic_solve

# Published figures on the same 18 families, test outputs exactly right, one attempt per test input
# (khalil-research/LLM4ARC's logs of GPT-4): shown beside ours, never computed.
GPT4 = {"GPT-4, raw rows": 0.417, "GPT-4, object-based encoding": 0.839}


def task_files(path: Path, out: Path) -> tuple[Path, list[Path]]:
    """(root, files): one file, or every ``*.json`` under a folder but the ``out`` folder's; a one-line
    error for anything else, and for an ``out`` that would write over the tasks themselves."""
    root = path.parent if path.is_file() else path
    if not path.exists():
        raise DataError(f"{path}: no such task file or folder")
    if out.resolve() == root.resolve():
        raise DataError(f"--out {out}: the predictions would overwrite the task files; choose another folder")
    return root, [path] if path.is_file() else task_paths(path, outside=out)


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def cmd_solve(args: argparse.Namespace) -> int:
    out = Path(args.out)
    root, files = task_files(Path(args.path), out)
    solve = symbolic_solve
    if args.solver == "symbolic":
        if args.encoder or args.candidates is not None:
            raise ConfigError("--encoder and --candidates go with a run folder as --solver, not the symbolic solver")
    elif not Path(args.solver).is_dir():
        raise ConfigError(f"--solver {args.solver!r}: neither 'symbolic' nor a run folder")
    elif not args.encoder:
        raise ConfigError(f"--solver {args.solver}: a run folder needs --encoder (fitted by metagnn examples)")
    else:
        from metagnn.tasks.arc1d.neural import NeuralSolver

        solve = NeuralSolver(args.solver, args.encoder, args.device, args.candidates or 1)
    rows: list[dict[str, Any]] = []
    malformed = 0
    t0 = time.perf_counter()
    for path in tqdm(files, desc="1D-ARC tasks", disable=args.no_progress or len(files) < 2, dynamic_ncols=True):
        try:
            train, tests = parse_task_splits(read_task_file(path), str(path))
        except DataError as e:
            if len(files) == 1:
                raise
            print(f"skipped: {e}", file=sys.stderr)
            malformed += 1
            continue
        solution = solve(train, [x for x, _ in tests], time_limit=args.time_limit)
        name = path.relative_to(root).with_suffix("")
        predicted = [{"input": [x], "output": [y] if y is not None else None}
                     for (x, _), y in zip(tests, solution.predictions)]  # fmt: skip
        write_json(out / f"{name}.json", {"test": predicted})
        known = all(y is not None for _, y in tests)
        rows.append({
            "task": str(name), "family": family_of(path, root), "program": solution.program,
            "seconds": solution.seconds, "programs_tried": solution.tried,
            "correct": all(p == y for p, (_, y) in zip(solution.predictions, tests)) if known else None,
        })  # fmt: skip
    scored = [r for r in rows if r["correct"] is not None]
    by_family: dict[str, list[bool]] = {}
    for r in scored:
        by_family.setdefault(r["family"], []).append(r["correct"])
    per_family = {f: {"tasks": len(c), "correct": sum(c) / len(c)} for f, c in sorted(by_family.items())}
    summary = {
        "solver": args.solver,
        "candidates": getattr(solve, "candidates", None),  # intents tried at most per task (a run's solver)
        "time_limit_s": args.time_limit,
        "tasks": len(rows),
        "malformed": malformed,
        "scored": len(scored),
        "correct": sum(r["correct"] for r in scored) / len(scored) if scored else None,
        "explained": sum(r["program"] is not None for r in rows) / len(rows) if rows else None,
        "seconds_per_task": sum(r["seconds"] for r in rows) / len(rows) if rows else None,
        "wall_s": time.perf_counter() - t0,
        "per_family": per_family,
        "published": GPT4,
        "per_task": rows,
    }
    write_json(out / "results.json", summary)
    print(format_summary(summary, out))
    return 2 if malformed else 0


def format_summary(s: dict[str, Any], out: Path) -> str:
    lines = [f"{'family':<16} tasks  test outputs exactly right"]
    lines += [f"{f:<16} {r['tasks']:>5}  {r['correct']:.3f}" for f, r in s["per_family"].items()]
    if s["correct"] is not None:
        lines.append(f"{'all':<16} {s['scored']:>5}  {s['correct']:.3f}   ({s['solver']} solver)")
        lines += [f"{'':<16} {'':>5}  {v:.3f}   ({k}, published)" for k, v in s["published"].items()]
    if s["tasks"]:
        lines.append(
            f"{s['tasks']} task(s) solved in {s['wall_s']:.1f} s ({1e3 * s['seconds_per_task']:.1f} ms of search per "
            f"task); a program explains the train pairs of {s['explained']:.3f}"
        )
    if s["malformed"]:
        lines.append(f"{s['malformed']} malformed file(s) skipped (named above)")
    lines.append(f"wrote the predicted test outputs and {out / 'results.json'}")
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("solve", help="solve 1D-ARC tasks from their train pairs (a task file or a folder)")
    p.add_argument("path", help="a 1D-ARC task file, or a folder searched for *.json")
    p.add_argument("--out", default="solved", help="folder for the predicted test outputs and results.json")
    p.add_argument("--solver", default="symbolic", help="symbolic (default), or an arc1d run folder")
    p.add_argument("--encoder", help="with a run folder: the intent encoder metagnn examples fitted for it")
    p.add_argument("--device", default=None)
    p.add_argument("--candidates", type=whole_number(1, 1000), default=None,
                   help="with a run folder: intents tried (default 1), the estimate first, then the nearest known "
                   "ones; the first whose program maps the train pairs right answers")  # fmt: skip
    p.add_argument("--time-limit", type=positive_seconds, default=10.0, help="seconds of search per task")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_solve)
