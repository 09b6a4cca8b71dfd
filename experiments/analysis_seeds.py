"""Print the per-seed summary table of docs/analysis.md from docs/results/analysis/*.json.

python experiments/analysis_seeds.py [docs/results/analysis]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from statistics import mean


def main(folder: str = "docs/results/analysis") -> None:
    res = Path(folder)
    unseen = None
    rows = []
    for clock_path in sorted(res.glob("clock-metagnn-full-seed[0-9].json")):
        seed = clock_path.stem.split("seed")[-1]
        clock = json.loads(clock_path.read_text())
        report = json.loads((res / f"closed-form-report-metagnn-full-seed{seed}.json").read_text())
        primes = {int(p): r for p, r in clock["primes"].items() if r["split"] in ("unseen", "extrapolation")}
        unseen = sorted(primes)
        cells = [f"{primes[p]['pca']['r2']:.2f} / {primes[p]['test_accuracy']:.2f}" for p in unseen]
        ood = [r for r in clock["primes"].values() if r["split"] == "unseen"]
        n_clock = sum(r["pca"]["r2"] >= 0.94 for r in ood)
        min_top5 = min(r["embedding"]["top5_share"] for r in ood)
        rule = f"{report.get('offset', 0)} + {report['rate']:.4f} p"
        rows.append(
            f"| {seed} | {mean(r['test_accuracy'] for r in ood):.3f} | {mean(r['pca']['r2'] for r in ood):.3f} | "
            f"{n_clock}/{len(ood)} | {min_top5:.3f} | "
            f"{rule} | {report['unseen']['closed_form']:.3f} | " + " | ".join(cells) + " |"
        )
    if unseen is None:
        sys.exit(f"no clock-metagnn-full-seed*.json in {res}")
    print(
        "| seed | OOD acc. | mean PCA R^2 (unseen) | R^2 >= 0.94 | min top-5 | k(p) = k0 + c p | closed form OOD | "
        + " | ".join(f"p={p}: R^2 / acc." for p in unseen)
        + " |"
    )
    print("|" + "---|" * (7 + len(unseen)))
    print("\n".join(rows))


if __name__ == "__main__":
    main(*sys.argv[1:])
