"""``metagnn examples RUN [RUN ...]``: the runs' models reading each intent from k demonstrations.

Fits one intent encoder (:mod:`metagnn.examples`) on sets of 1 to ``max(--pairs)`` demonstrations of the
runs' train intents, or reuses ``OUT/encoder.safetensors`` when it was fitted on the same task and splits,
then scores every run with 1, 2, 4, ... demonstrations per intent in place of the intent's value. Writes
``OUT/results.json``, ``OUT/results.md`` (mean ± std over the runs of each model) and ``OUT/from-examples.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from statistics import mean, stdev
from typing import Any

from tqdm import tqdm

from metagnn.checkpoint import atomic_write, write_json, write_text
from metagnn.commands import add_weights_argument, seed_value, whole_number
from metagnn.config import from_dict
from metagnn.errors import ConfigError
from metagnn.evaluate import evaluate
from metagnn.examples import EncoderConfig, fit_encoder, load_encoder, save_encoder, score_from_examples
from metagnn.runtime import provenance
from metagnn.train import load_run

ENCODER = "encoder.safetensors"


def pair_counts(text: str) -> list[int]:
    try:
        counts = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        counts = []
    if not counts or any(not 1 <= k <= 4096 for k in counts):
        raise argparse.ArgumentTypeError(f"expected comma-separated pair counts in 1..4096, e.g. 1,2,4,8; got {text!r}")
    return sorted(set(counts))


def cmd_examples(args: argparse.Namespace) -> int:
    out = Path(args.out)
    loaded = [load_run(r, args.device, args.weights) for r in args.runs]
    first, task, _ = loaded[0]
    for (run, _, _), path in zip(loaded, args.runs):
        if run.task != first.task or run.resolved().task_config != first.resolved().task_config:
            raise ConfigError(f"{path}: another task or other splits than {args.runs[0]}; one encoder serves one task")
    device = next(loaded[0][2].parameters()).device
    splits = [s for s in ("train", "val", "ood", "extrapolation") if task.splits[s]]
    encoder_path = Path(args.encoder) if args.encoder else out / ENCODER
    if args.encoder and not encoder_path.is_file():
        raise ConfigError(f"--encoder {encoder_path}: no such file (leave --encoder out to fit one in --out)")
    cfg = from_dict(EncoderConfig, {"steps": args.steps, "seed": args.seed, "max_pairs": max(args.pairs),
                                    "kernel": args.kernel, "hidden": args.hidden}, where="encoder config")  # fmt: skip
    t0 = time.perf_counter()
    if encoder_path.exists():
        encoder, record = load_encoder(encoder_path, task)
        fitted = from_dict(EncoderConfig, record["config"], where=str(encoder_path))
        if not args.encoder and fitted != cfg:
            raise ConfigError(
                f"{encoder_path} was fitted with steps={fitted.steps}, seed={fitted.seed}, hidden={fitted.hidden}, "
                f"kernel={fitted.kernel}, up to {fitted.max_pairs} pairs; pass those settings, or another --out to "
                "fit a new one"
            )
        print(f"reusing the intent encoder {encoder_path}", file=sys.stderr)
    else:
        encoder, record = fit_encoder(task, cfg, device, progress=not args.no_progress)
        save_encoder(encoder_path, encoder, record, task)
    fit_s = time.perf_counter() - t0
    rows = []
    bar = tqdm(zip(loaded, args.runs), total=len(loaded), desc="scoring runs", disable=args.no_progress)
    for (run, run_task, model), path in bar:
        given = evaluate(model, run_task, device, splits=splits)
        scored = score_from_examples(model, run_task, encoder, args.pairs, args.draws, splits, device)
        rows.append({
            "run_dir": str(path), "model": run.model, "seed": run.seed,
            "given": {k: v for k, v in given.items() if k.endswith("_accuracy")}, **scored,
        })  # fmt: skip
    result = {
        "task": task.name, "pairs": args.pairs, "draws": args.draws, "weights": args.weights,
        "encoder": {**record, "path": str(encoder_path), "fit_s": fit_s},
        "runs": rows, "provenance": provenance(device),
    }  # fmt: skip
    write_json(out / "results.json", result)
    table = format_examples(result)
    write_text(out / "results.md", table + "\n")
    plot_examples(result, out / "from-examples.png")
    print(table)
    print(f"wrote {out / 'results.json'}, {out / 'results.md'} and {out / 'from-examples.png'}")
    return 0


def _cell(values: list[float]) -> str:
    return f"{mean(values):.3f}" + (f" ± {stdev(values):.3f}" if len(values) > 1 else "")


def format_examples(result: dict[str, Any]) -> str:
    """One row per model and split: exact match with the intent's value given, then with k demonstrations
    (mean ± std over the model's runs); last, how often the encoder put the intent at its own place."""
    ks = [str(k) for k in result["pairs"]]
    head = "| model | split | runs | value given | " + " | ".join(f"{k} pair{'s' * (k != '1')}" for k in ks) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in result["runs"]:
        by_model[r["model"]].append(r)
    splits = list(dict.fromkeys(k.removesuffix("_accuracy") for k in result["runs"][0]["per_k"][ks[0]]
                                if k.endswith("_accuracy")))  # fmt: skip
    for model, runs in by_model.items():
        for split in splits:
            given = _cell([r["given"][f"{split}_accuracy"] for r in runs])
            cells = [_cell([r["per_k"][k][f"{split}_accuracy"] for r in runs]) for k in ks]
            lines.append(f"| {model} | {split} | {len(runs)} | {given} | " + " | ".join(cells) + " |")
    first = result["runs"][0]["per_k"]
    for split in splits:
        if first[ks[0]].get(f"{split}_recovered") is not None:
            cells = [f"{first[k][f'{split}_recovered']:.3f}" for k in ks]
            lines.append(f"| intent recovered | {split} | — | 1 | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_examples(result: dict[str, Any], path: Path) -> Path:
    """Exact match against the number of demonstrations (log scale), one colour and marker per model (wider
    lines first, so that models with the same figures stay visible), OOD solid, the train intents dashed,
    the intent's value given as a mark at the right; in grey, how often the encoder placed an OOD intent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [str(k) for k in result["pairs"]]
    xs = [int(k) for k in ks]
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in result["runs"]:
        by_model[r["model"]].append(r)
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    for i, (model, runs) in enumerate(by_model.items()):
        colour, marker, width = f"C{i}", "osD^v<>p"[i % 8], max(1.0, 4.0 - 1.0 * i)
        for split, style in (("id", "--"), ("ood", "-")):
            if f"{split}_accuracy" not in runs[0]["per_k"][ks[0]]:
                continue
            ys = [mean(r["per_k"][k][f"{split}_accuracy"] for r in runs) for k in ks]
            ax.plot(xs, ys, style, color=colour, marker=marker, ms=4, lw=width, alpha=0.85,
                    label=f"{model} ({'OOD' if split == 'ood' else 'train intents'})")  # fmt: skip
            ax.scatter([xs[-1] * 1.6], [mean(r["given"][f"{split}_accuracy"] for r in runs)], color=colour,
                       marker="*" if split == "ood" else "x", s=50)  # fmt: skip
    found = [result["runs"][0]["per_k"][k].get("ood_recovered") for k in ks]
    if None not in found:
        ax.plot(xs, found, ":", color="grey", lw=1.5, label="intent recovered (OOD)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("demonstrations per intent (star / cross at the right: the value given)")
    ax.set_ylabel("exact-match accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{result['task']}: the intent read from examples", fontsize=10)
    ax.legend(fontsize=6.5, loc="lower right", ncol=2)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("examples", help="score runs with each intent read from k demonstrations, not its value")
    p.add_argument("runs", nargs="+", help="run folders of one task and one set of splits")
    p.add_argument("--out", required=True, help="folder for the encoder, results.json, results.md and the plot")
    p.add_argument("--pairs", type=pair_counts, default=[1, 2, 4, 8, 16, 32], help="demonstrations per intent")
    p.add_argument("--draws", type=whole_number(1, 10**7), default=5, help="fixed draws per intent and count")
    p.add_argument("--steps", type=whole_number(1, 10**7), default=EncoderConfig.steps, help="encoder steps")
    p.add_argument("--seed", type=seed_value, default=0, help="the encoder's seed")
    p.add_argument("--hidden", type=whole_number(1, 4096), default=EncoderConfig.hidden, help="the encoder's width")
    p.add_argument("--kernel", type=whole_number(0, 63), default=EncoderConfig.kernel,
                   help="0: the encoder reads each demonstration whole (an MLP); k > 0: by convolutions of width k "
                   "over its cells (tasks whose demonstrations are rows, e.g. arc1d)")  # fmt: skip
    p.add_argument("--encoder", help=f"an encoder saved by this command (default: OUT/{ENCODER}, fitted if absent)")
    p.add_argument("--device", default=None)
    add_weights_argument(p)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_examples)
