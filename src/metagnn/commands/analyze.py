"""``metagnn analyze``: the mechanistic analysis of AddMod-p networks (SPEC 5).

- ``analyze clock RUN_DIR``: clock figures of the network synthesized for each prime.
- ``analyze closed-form RUN_DIR``: fit the closed-form map ``p -> theta`` on the run's seen primes
  and score the networks it alone builds.
- ``analyze reference``: train the target directly on one prime (Nanda et al.) and analyse it at
  initialisation and after training: the check that the analysis finds a clock where there is one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from metagnn.checkpoint import read_json, write_json
from metagnn.commands import intent_items
from metagnn.errors import ConfigError
from metagnn.runtime import pick_device, provenance


def _primes(text: str | list[str] | None) -> list[int] | None:
    if text is None:
        return None
    items = intent_items(text)
    try:
        return [int(t) for t in items]
    except ValueError:
        raise ConfigError(f"--intents must be comma-separated integers, got {','.join(items)!r}") from None


def cmd_clock(args: argparse.Namespace) -> int:
    from metagnn.analysis.plots import plot_clocks, plot_r2_per_prime, plot_spectra
    from metagnn.analysis.runs import analyze_run, clock_table

    result = analyze_run(
        args.run_dir, _primes(args.intents), device=args.device, n_triples=args.triples, untrained=args.untrained
    )
    result["provenance"] = provenance(pick_device(args.device))
    if args.plot:
        rows = {f"p={k}": r for k, r in result["primes"].items() if r["split"] != "seen" or args.plot_seen}
        stem, model = Path(args.plot), result["model"] + (" at initialisation" if args.untrained else "")
        print(f"plot: {plot_spectra(rows, stem / 'spectra.png', title=f'{model}: spectra')}")
        print(f"plot: {plot_clocks(rows, stem / 'clocks.png', title=f'{model}: embedding clocks')}")
        reference = None
        if args.reference:
            ref = read_json(args.reference)
            reference = {f"p={ref['config']['p']} direct": ref["analysis"]["trained"]}
        print(f"plot: {plot_r2_per_prime(result, stem / 'r2-per-prime.png', reference=reference)}")
    if not args.keep_pcs:
        for r in result["primes"].values():
            r["pca"].pop("pcs", None)
            r.pop("key_plane", None)
    if args.out:
        write_json(args.out, result)
        print(f"wrote {args.out}")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(clock_table(result))
    return 0


def cmd_closed_form(args: argparse.Namespace) -> int:
    from metagnn.analysis.closed_form import closed_form_report, fit_closed_form, format_closed_form_report

    form = fit_closed_form(args.run_dir, device=args.device)
    if args.out:
        write_json(args.out, form)
        print(f"wrote {args.out}")
    report = closed_form_report(form, args.run_dir, device=args.device)
    report["provenance"] = provenance(pick_device(args.device))
    if args.report:
        write_json(args.report, report)
        print(f"wrote {args.report}")
    print(json.dumps(report, indent=2) if args.json else format_closed_form_report(report))
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    from metagnn.analysis.clock import analyze_clock
    from metagnn.analysis.plots import plot_clocks, plot_spectra
    from metagnn.analysis.reference import ReferenceRun, reference_init, train_reference
    from metagnn.checkpoint import load_tensors, save_tensors

    def log(row: dict[str, Any]) -> None:
        if not args.quiet:
            print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)

    dev = pick_device(args.device)
    out = Path(args.out)
    if args.analyze_only:  # re-analyse a finished reference run (same seed: same initial weights)
        saved = read_json(out / "reference.json")
        cfg = saved["config"]
        spec, theta_init, _ = reference_init(cfg["p"], cfg["seed"], cfg["target"])
        theta, _ = load_tensors(out / "weights.safetensors")
        ref = ReferenceRun(cfg["p"], spec, theta_init, theta, saved["history"], cfg)
    else:
        ref = train_reference(
            args.p,
            steps=args.steps,
            seed=args.seed,
            lr=args.lr,
            weight_decay=args.weight_decay,
            train_fraction=args.train_fraction,
            eval_every=args.eval_every,
            stop_test_accuracy=args.stop_accuracy,
            patience=args.patience,
            device=dev,
            log=log,
        )
        meta = {"kind": "reference", "spec": ref.spec.to_dict(), **ref.config}
        save_tensors(out / "weights.safetensors", ref.theta, meta)
    rows = {name: analyze_clock(ref.spec, th, ref.p) for name, th in (("init", ref.theta_init), ("trained", ref.theta))}
    if args.plot:
        plot_dir = Path(args.plot)
        labelled = {f"p={ref.p} {k}": v for k, v in rows.items()}
        print(f"plot: {plot_spectra(labelled, plot_dir / f'reference-p{ref.p}-spectra.png')}")
        print(f"plot: {plot_clocks(labelled, plot_dir / f'reference-p{ref.p}-clocks.png')}")
        plane = plot_dir / f"reference-p{ref.p}-key-plane.png"
        print(f"plot: {plot_clocks(labelled, plane, view='key_plane')}")
    for r in rows.values():
        r["pca"].pop("pcs")
        r.pop("key_plane")
    result = {
        "config": ref.config,
        "steps_run": ref.history[-1]["step"] if ref.history else 0,
        "history": ref.history,
        "analysis": rows,
        "provenance": provenance(dev),
    }
    write_json(out / "reference.json", result)
    for name, r in rows.items():
        print(
            f"{name:>8}: accuracy {r['accuracy']:.3f}  top-5 E {r['embedding']['top5_share']:.3f}  "
            f"key freqs E {r['embedding']['key_frequencies'][:8]}  top-5 U {r['unembedding']['top5_share']:.3f}  "
            f"PCA R^2 {r['pca']['r2']:.3f} (k={r['pca']['best_k_components']}; "
            f"one circle {r['pca']['r2_shared']:.3f})  "
            f"logit share {r['logit_share']:.3f}  key-only acc {r['key_only_accuracy']:.3f}  "
            f"restricted/excluded loss {r['restricted_loss']:.3g}/{r['excluded_loss']:.3g}  "
            f"grad sym {r['gradient_symmetricity']:.3f}  dist irr {r['distance_irrelevance']:.3f}"
        )
    print(f"wrote {out / 'reference.json'}")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``metagnn analyze {clock, closed-form, reference}``."""
    parser = sub.add_parser("analyze", help="mechanistic analysis of AddMod-p networks (clock, closed form)")
    inner = parser.add_subparsers(dest="analysis", required=True)

    p = inner.add_parser("clock", help="clock figures of the networks an AddMod run synthesizes, per prime")
    p.add_argument("run_dir")
    p.add_argument("--intents", default=None, help="comma-separated primes (default: every prime of the config)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON instead of a table")
    p.add_argument("--out", default=None, help="also write the result JSON here")
    p.add_argument("--plot", default=None, help="folder for spectra.png, clocks.png and r2-per-prime.png")
    p.add_argument("--plot-seen", action="store_true", help="also draw spectra and clocks of the seen primes")
    p.add_argument("--reference", default=None, help="a reference.json (analyze reference) to mark in the R^2 plot")
    p.add_argument("--keep-pcs", action="store_true", help="keep the 2-D views of W_E (PCs, key plane) in the JSON")
    p.add_argument("--triples", type=int, default=100, help="(a, b, c) triples for gradient symmetricity")
    p.add_argument("--untrained", action="store_true", help="analyse the run's model at initialisation (a control)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_clock)

    p = inner.add_parser("closed-form", help="fit the closed-form map p -> theta on the seen primes and score it")
    p.add_argument("run_dir")
    p.add_argument("--out", default=None, help="write the coefficients JSON here (rebuilds weights alone)")
    p.add_argument("--report", default=None, help="write the accuracy report JSON here")
    p.add_argument("--json", action="store_true")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_closed_form)

    p = inner.add_parser("reference", help="train S directly on one prime (Nanda et al.) and analyse it")
    p.add_argument("--p", type=int, default=113)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1.0)
    p.add_argument("--train-fraction", type=float, default=0.3)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--stop-accuracy", type=float, default=None, help="stop once test accuracy reaches this ...")
    p.add_argument("--patience", type=int, default=0, help="... plus this many steps")
    p.add_argument("--out", required=True, help="folder for reference.json and weights.safetensors")
    p.add_argument("--analyze-only", action="store_true", help="re-analyse the finished run in --out, no training")
    p.add_argument("--plot", default=None, help="folder for the spectra and clock plots")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_reference)
