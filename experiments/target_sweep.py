"""Wider and deeper targets: ID and OOD, time per step and peak memory of each hypernetwork
at width x1, x2, x4 and two depths of a task's target, every run in its own process.

    python experiments/target_sweep.py sumfirst --out runs/sweep-sumfirst --seeds 1 --ends-seeds 3 --jobs 2
    python experiments/target_sweep.py sumfirst --out runs/sweep-sumfirst --report \
        --json docs/results/sweep/sumfirst.json --plot docs/img/sweep/sumfirst.png

Each point trains the task's quick config with only the target changed (``{"base": "quick", "task_config":
{"target": ...}}``), so one step budget holds for every size. ``--seeds`` seeds at every point, ``--ends-seeds``
at the smallest and the largest point. Runs already finished are kept (the command can be run again after an
interruption). Time per step is the run's wall time over its steps (evaluations included); peak memory is the
training process's maximum resident set (``wait4``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean, stdev

# Per task: the target at each (width multiple, depth level); depth level 1 is the quick config's.
POINTS = {
    "sumfirst": lambda w, d: {"hidden": [64 * w] * (2 * d)},  # 2 or 4 hidden layers
    "addmod": lambda w, d: {"d_model": 32 * w, "d_mlp": 128 * w, "n_layers": d},
    "arc1d": lambda w, d: {"d_model": 32 * w, "d_mlp": 128 * w, "n_layers": d},
}
WIDTHS, DEPTHS = (1, 2, 4), (1, 2)
MODELS = ("metagnn", "gmlp", "flat")
NAMES = {"metagnn": "Meta-GNN", "gmlp": "Meta-gMLP", "flat": "Meta-MLP"}


def jobs(task: str, out: Path, seeds: int, ends_seeds: int) -> list[dict]:
    points = [(w, d) for d in DEPTHS for w in WIDTHS]
    ends = {points[0], max(points, key=lambda p: p[0] * p[1])}
    todo = []
    for w, d in points:
        for model in MODELS:
            for seed in range(ends_seeds if (w, d) in ends else seeds):
                run = out / f"w{w}-d{d}" / model / f"seed{seed}"
                todo.append({"width": w, "depth": d, "model": model, "seed": seed, "run": run})
    return todo


def launch(task: str, job: dict) -> tuple[subprocess.Popen, Path]:
    run: Path = job["run"]
    run.parent.mkdir(parents=True, exist_ok=True)
    config = run.parent.parent / f"{task}.json"
    target = POINTS[task](job["width"], job["depth"])
    config.write_text(json.dumps({"base": "quick", "task_config": {"target": target}}))
    argv = ["metagnn", "--threads", "1", "train", task, "--model", job["model"], "--config", str(config),
            "--seed", str(job["seed"]), "--out", str(run), "--no-progress"]  # fmt: skip
    if (run / "config.json").exists():  # an interrupted run: continue it
        argv.append("--resume")
    log = open(run.parent / f"seed{job['seed']}.log", "w")  # noqa: SIM115 - closed by the child's exit
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), run


def train_all(task: str, out: Path, seeds: int, ends_seeds: int, parallel: int) -> None:
    todo = [j for j in jobs(task, out, seeds, ends_seeds) if not (j["run"] / "metrics.json").exists()]
    running: dict[int, Path] = {}
    done = 0
    while todo or running:
        while todo and len(running) < parallel:
            proc, run = launch(task, todo.pop(0))
            running[proc.pid] = run
        pid, status, usage = os.wait4(-1, 0)
        run = running.pop(pid)
        done += 1
        peak = usage.ru_maxrss / 1024  # KiB on Linux
        code = os.waitstatus_to_exitcode(status)  # negative: killed by that signal
        (run.parent / f"{run.name}.rusage.json").write_text(json.dumps({"peak_rss_mib": peak, "exit": code}))
        print(f"[{time.strftime('%H:%M:%S')}] {run} exit {code}, peak {peak:,.0f} MiB; {len(todo)} to go",
              flush=True)  # fmt: skip


def collect(task: str, out: Path) -> list[dict]:
    rows = []
    for metrics in sorted(out.glob("w*-d*/*/seed*/metrics.json")):
        m = json.loads(metrics.read_text())
        point = metrics.parent.parent.parent.name
        usage = metrics.parent.parent / f"{metrics.parent.name}.rusage.json"
        rows.append({
            "point": point, "width": int(point[1:].split("-")[0]), "depth": int(point.split("-d")[1]),
            "model": m["model"], "seed": m["seed"], "target_parameters": m["target_parameters"],
            "parameters": m["parameters"], "id": m["id_accuracy"], "ood": m["ood_accuracy"],
            "s_per_step": m["wall_time_s"] / m["steps"],
            "peak_rss_mib": json.loads(usage.read_text())["peak_rss_mib"] if usage.exists() else None,
        })  # fmt: skip
    return rows


def summary(rows: list[dict]) -> list[dict]:
    out = []
    for key in sorted({(r["depth"], r["width"], r["model"]) for r in rows}):
        group = [r for r in rows if (r["depth"], r["width"], r["model"]) == key]
        row = {"depth": key[0], "width": key[1], "model": key[2], "seeds": len(group),
               "target_parameters": group[0]["target_parameters"], "parameters": group[0]["parameters"]}  # fmt: skip
        for k in ("id", "ood", "s_per_step", "peak_rss_mib"):
            vals = [r[k] for r in group if r[k] is not None]
            row[k] = mean(vals) if vals else None
            row[f"{k}_std"] = stdev(vals) if len(vals) > 1 else 0.0
        out.append(row)
    return out


def table(rows: list[dict]) -> str:
    lines = ["| depth | width | model | target params | hypernet params | seeds | ID | OOD | s / step | peak RSS |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        id_, ood = (f"{r[k]:.3f}" + (f" ± {r[f'{k}_std']:.3f}" if r["seeds"] > 1 else "") for k in ("id", "ood"))
        lines.append(
            f"| {r['depth']} | x{r['width']} | {NAMES[r['model']]} | {r['target_parameters']:,} | "
            f"{r['parameters']:,} | {r['seeds']} | {id_} | {ood} | {r['s_per_step']:.3f} | "
            + (f"{r['peak_rss_mib']:,.0f} MiB |" if r["peak_rss_mib"] else "n/a |")
        )
    return "\n".join(lines)


def plot(task: str, rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for model in MODELS:
        for depth, style in zip(DEPTHS, ("-", "--")):
            pts = sorted((r for r in rows if r["model"] == model and r["depth"] == depth), key=lambda r: r["width"])
            if not pts:
                continue
            x = [r["target_parameters"] for r in pts]
            label = f"{NAMES[model]}, depth x{depth}"
            axes[0].errorbar(x, [r["ood"] for r in pts], [r["ood_std"] for r in pts], ls=style, marker="o", label=label)
            axes[1].plot(x, [r["s_per_step"] for r in pts], ls=style, marker="o", label=label)
            axes[2].plot(x, [r["peak_rss_mib"] or float("nan") for r in pts], ls=style, marker="o", label=label)
    for ax, title in zip(axes, ("OOD exact match", "seconds per step (evaluations included)", "peak RSS (MiB)")):
        ax.set_xscale("log")
        ax.set_xlabel("target parameters")
        ax.set_title(f"{task}: {title}")
    axes[0].set_ylim(-0.02, 1.02)
    axes[1].set_yscale("log")
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task", choices=sorted(POINTS))
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--ends-seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2, help="trainings at once (one thread each)")
    ap.add_argument("--report", action="store_true", help="only tabulate the finished runs")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    args = ap.parse_args()
    if not args.report:
        train_all(args.task, args.out, args.seeds, args.ends_seeds, args.jobs)
    rows = summary(collect(args.task, args.out))
    if not rows:
        sys.exit(f"no finished runs under {args.out}")
    print(table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"task": args.task, "command": " ".join(sys.argv), "rows": rows}, indent=1))
    if args.plot:
        plot(args.task, rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
