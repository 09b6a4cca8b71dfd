"""``metagnn bench``: the benchmark suite of the repository's ``benchmarks/`` folder.

The measuring code is development tooling and lives outside the package (``benchmarks/suite.py``,
``benchmarks/performance_doc.py``); this command only finds that folder and runs it: first under the
current directory, then in the checkout the package was installed from (editable install).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from metagnn.errors import ConfigError

DEFAULT_DOC = "docs/performance.md"


def find_benchmarks(start: Path | None = None) -> Path:
    """The repository's ``benchmarks/`` folder, or a :class:`ConfigError` saying where it was looked for."""
    here = Path(__file__).resolve()
    candidates = [(start or Path.cwd()) / "benchmarks", here.parents[3] / "benchmarks"]
    for c in candidates:
        if (c / "suite.py").is_file() and (c / "performance_doc.py").is_file():
            return c
    raise ConfigError(
        f"metagnn bench needs the repository's benchmarks/ folder (looked in {', '.join(str(c) for c in candidates)}); "
        "run it from a checkout"
    )


def load_module(folder: Path, name: str) -> ModuleType:
    """Import ``folder/name.py`` (the folder goes on ``sys.path`` so its modules can import each other)."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {folder / name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def bench(args: argparse.Namespace) -> int:
    folder = find_benchmarks()
    suite = load_module(folder, "suite")
    doc_mod = load_module(folder, "performance_doc")
    out = args.out if args.out is not None else (None if args.quick else DEFAULT_DOC)
    if out is not None:
        out_path = Path(out)
        try:
            out_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot write {out}: {e.strerror}") from None
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s] {msg}", file=sys.stderr, flush=True)

    if args.from_json:  # re-render a page from saved results, measuring nothing
        try:
            res = json.loads(Path(args.from_json).read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"{args.from_json}: not a readable results JSON ({type(e).__name__})") from None
        if out is None:
            out_path = Path(DEFAULT_DOC)
            out = DEFAULT_DOC
    else:
        res = suite.run_all(quick=args.quick, log=log)
        res["command"] = command_line(args)
    if out is not None:
        json_path = out_path.parent / "results" / "performance" / f"bench-{'quick' if res['quick'] else 'full'}.json"
        if not args.from_json:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(res, indent=1) + "\n")
        saved = out_path.parent / "results" / "performance"
        extra, optimizer = read_json_if(saved / "before-after.json"), read_json_if(saved / "optimizer.json")
        command = res.get("command") or command_line(args)
        out_path.write_text(doc_mod.render(res, out_path, command, shown(json_path), extra, optimizer))
        log(f"wrote {out_path}" + ("" if args.from_json else f" and {json_path}"))
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        for target, measured, verdict in doc_mod.targets(res):
            print(f"{verdict:>8}  {target}: {measured}")
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The command as typed (when run as ``metagnn``), else its equivalent; a re-render names the saved run's."""
    if args.from_json:
        return "metagnn --threads {} bench{}".format(
            json.loads(Path(args.from_json).read_text())["machine"]["threads"],
            " --quick" if "quick" in Path(args.from_json).name else "",
        )
    if sys.argv and Path(sys.argv[0]).name == "metagnn":
        return " ".join(["metagnn", *sys.argv[1:]])
    flags = (["--quick"] if args.quick else []) + (["--out", args.out] if args.out else [])
    return " ".join(["metagnn", "bench", *flags])


def shown(path: Path) -> Path:
    """``path`` relative to the current directory where it lies below it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def read_json_if(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def add_parser(sub: Any) -> None:
    """Register ``metagnn bench``."""
    p = sub.add_parser("bench", help="run the benchmark suite (benchmarks/) and write docs/performance.md")
    p.add_argument("--quick", action="store_true", help="a few minutes: fewer repeats, configs and sweep points")
    p.add_argument("--json", action="store_true", help="print the raw results as JSON")
    p.add_argument(
        "--out",
        default=None,
        help=f"Markdown report to write, with plots beside it (default: {DEFAULT_DOC}; none with --quick)",
    )
    p.add_argument("--from-json", default=None, help="re-render the report from a saved results JSON (no measuring)")
    p.set_defaults(func=bench)
