"""The benchmark runner: every measurement of ``suite.py``, side by side in one run, and the page it writes.

    python benchmarks/bench.py --threads 1 --out docs/performance.md     # the full suite (about an hour)
    python benchmarks/bench.py --quick                                  # a few minutes, prints the targets
    python benchmarks/bench.py --from-json docs/results/performance/bench-full.json   # re-render, no measuring
    python benchmarks/bench.py --device cuda                            # the GPU sections (their own part of the page)

Development tooling, not part of the package: it imports the public library and writes where it is told
(the Markdown page, its plots beside it, and the raw results under ``results/performance/`` beside that).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import performance_doc
import suite
import torch

from metagnn.errors import ConfigError, MetaGNNError
from metagnn.runtime import pick_device, tune_allocator

DEFAULT_DOC = "docs/performance.md"


def bench(args: argparse.Namespace) -> int:
    out = args.out if args.out is not None else (None if args.quick and not args.from_json else DEFAULT_DOC)
    device = pick_device(args.device)
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {args.device}: the runner measures on cpu or cuda")
    if out is not None:
        out_path = Path(out)
        try:
            out_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot write {out}: {e.strerror}") from None
        saved = out_path.parent / "results" / "performance"
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s] {msg}", file=sys.stderr, flush=True)

    if args.from_json:  # re-render a page from saved results, measuring nothing
        try:
            res = json.loads(Path(args.from_json).read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"{args.from_json}: not a readable results JSON ({type(e).__name__})") from None
        if res.get("machine", {}).get("device", "cpu") != "cpu":
            raise ConfigError(f"{args.from_json}: GPU results; give the CPU run's (the GPU run's beside it are read)")
    else:
        tune_allocator()  # as every training process does (metagnn.train, the CLI)
        json_path = saved / results_name(args.quick, device) if out is not None else None
        partial = json_path.with_suffix(".partial.json") if json_path is not None else None

        def save(res: dict[str, Any]) -> None:  # after every section: an interrupted run keeps what it measured
            if partial is not None:
                partial.parent.mkdir(parents=True, exist_ok=True)
                partial.write_text(json.dumps({**res, "command": command_line(args)}, indent=1) + "\n")

        res = suite.run_all(quick=args.quick, log=log, device=device, save=save)
        res["command"] = command_line(args)
        if partial is not None:  # the whole run replaces the saved one only now
            partial.replace(json_path)
    if out is not None:
        # The page: the CPU results (these, or the saved CPU run's beside a GPU run) and the saved GPU run's.
        cpu_json = Path(args.from_json) if args.from_json else saved / results_name(res["quick"], torch.device("cpu"))
        gpu_json = saved / results_name(res["quick"], torch.device("cuda"))
        page = res if res["machine"].get("device", "cpu") == "cpu" else read_json_if(cpu_json)
        if page is None:
            raise ConfigError(f"wrote {gpu_json}; no CPU results ({cpu_json}) to render the page around them")
        gpu = read_json_if(gpu_json)
        extra, accuracy = read_json_if(saved / "before-after.json"), read_json_if(saved / "accuracy.json")
        if accuracy:  # its summaries are named relative to the manifest
            accuracy["pairs"] = [{k: saved / v for k, v in pair.items()} for pair in accuracy["pairs"]]
        command = page.get("command") or command_line(args)
        gpu_run = (gpu, shown(gpu_json)) if gpu else None
        out_path.write_text(performance_doc.render(page, out_path, command, shown(cpu_json), extra, accuracy, gpu_run))
        log(f"wrote {out_path}" + ("" if args.from_json else f" and {json_path}"))
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        for target, measured, verdict in performance_doc.targets(res):
            print(f"{verdict:>8}  {target}: {measured}")
    return 0


def results_name(quick: bool, device: torch.device) -> str:
    """The raw results' file name: ``bench-full.json``, ``bench-quick.json``, ``bench-cuda-full.json`` ..."""
    return f"bench-{'' if device.type == 'cpu' else device.type + '-'}{'quick' if quick else 'full'}.json"


def command_line(args: argparse.Namespace) -> str:
    """The command that measured these results (a re-render names the saved run's)."""
    if args.from_json:
        return "python benchmarks/bench.py --threads {}{}".format(
            json.loads(Path(args.from_json).read_text())["machine"]["threads"],
            " --quick" if "quick" in Path(args.from_json).name else "",
        )
    flags = (["--quick"] if args.quick else []) + (["--out", args.out] if args.out else [])
    flags += ["--device", args.device] if args.device != "cpu" else []
    return " ".join(["python benchmarks/bench.py", f"--threads {torch.get_num_threads()}", *flags])


def shown(path: Path) -> Path:
    """``path`` relative to the current directory where it lies below it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def read_json_if(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/bench.py", description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--quick", action="store_true", help="a few minutes: fewer repeats, configs and sweep points")
    p.add_argument("--json", action="store_true", help="print the raw results as JSON")
    p.add_argument(
        "--out",
        default=None,
        help=f"Markdown report to write, with plots beside it (default: {DEFAULT_DOC}; none with --quick)",
    )
    p.add_argument("--device", default="cpu", help="where the models run: cpu (default), cuda or cuda:N")
    p.add_argument("--from-json", default=None, help="re-render the report from a saved results JSON (no measuring)")
    args = p.parse_args(argv)
    try:
        if args.threads is not None:
            if args.threads < 1:
                raise ConfigError(f"--threads must be at least 1, got {args.threads}")
            torch.set_num_threads(args.threads)
        return bench(args)
    except (MetaGNNError, OSError) as e:
        print(f"benchmarks/bench.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
