"""Figures of the clock analysis (matplotlib, Agg): spectra, the embedding clock, R^2 per prime."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SPLIT_STYLE = {
    "seen": ("tab:blue", "o"),
    "val": ("tab:purple", "s"),
    "unseen": ("tab:red", "D"),
    "extrapolation": ("tab:orange", "^"),
    "other": ("tab:gray", "x"),
    "reference": ("tab:green", "*"),
}


def _save(fig: Any, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_spectra(rows: dict[str, dict[str, Any]], path: Path | str, title: str = "") -> Path:
    """Bars of the embedding and unembedding power per frequency, one row of panels per network.

    ``rows``: label -> :func:`~metagnn.analysis.clock.analyze_clock` result.
    """
    n = len(rows)
    fig, axes = plt.subplots(n, 2, figsize=(11, 1.9 * n + 0.6), squeeze=False)
    for i, (label, r) in enumerate(rows.items()):
        for j, part in enumerate(("embedding", "unembedding")):
            ax = axes[i, j]
            power = r[part]["power"]
            keys = set(r[part]["key_frequencies"])
            colors = ["tab:red" if k + 1 in keys else "tab:blue" for k in range(len(power))]
            ax.bar(range(1, len(power) + 1), power, color=colors, width=0.8)
            ax.set_xlim(0.3, len(power) + 0.7)
            ax.set_ylabel("power share")
            acc = r.get("test_accuracy", r.get("accuracy"))
            ax.set_title(
                f"{label} {part}: top-5 {r[part]['top5_share']:.2f}, {len(keys)} key freq., acc {acc:.2f}", fontsize=9
            )
            if i == n - 1:
                ax.set_xlabel("frequency k  (red: key frequencies)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_clocks(rows: dict[str, dict[str, Any]], path: Path | str, title: str = "", view: str = "pca") -> Path:
    """The embedding ``W_E[:p]`` in 2-D, coloured by ``a / p``, one panel per network.

    ``view="pca"``: its top two principal components (SPEC 5); ``view="key_plane"``: its
    projection on the plane of its strongest frequency (a circle for a clean clock even when
    several frequencies share the power and the PCs mix them). The grey line visits the tokens
    in the order ``a = j * k^-1 mod p``, so a clock of frequency ``k`` shows as a circle traced once.
    """
    n = len(rows)
    cols = min(n, 4)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.9 * cols, 3.6 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (label, r) in zip(axes.flat, rows.items(), strict=False):
        if view == "key_plane":
            pcs, k = r["key_plane"]["xy"], r["key_plane"]["k"]
        else:
            pcs, k = r["pca"]["pcs"], r["pca"].get("k_shared", r["pca"]["k"])
        p = len(pcs)
        order = [(j * pow(k, -1, p)) % p for j in range(p + 1)]
        ax.plot([pcs[a][0] for a in order], [pcs[a][1] for a in order], color="0.8", lw=0.8, zorder=1)
        sc = ax.scatter(
            [v[0] for v in pcs], [v[1] for v in pcs], c=[a / p for a in range(p)], cmap="viridis", vmin=0, vmax=1,
            s=14, zorder=2,
        )  # fmt: skip
        acc = r.get("test_accuracy", r.get("accuracy"))
        if view == "key_plane":
            ax.set_title(f"{label}: plane of k={k}, acc {acc:.2f}", fontsize=9)
        else:
            ks = "/".join(str(v) for v in dict.fromkeys(r["pca"]["best_k_components"]))
            ax.set_title(f"{label}: PCA R² {r['pca']['r2']:.2f} (k={ks}), acc {acc:.2f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal", adjustable="datalim")
    fig.colorbar(sc, ax=axes.ravel().tolist(), shrink=0.6, label="token a / p")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_r2_per_prime(result: dict[str, Any], path: Path | str, reference: dict[str, Any] | None = None) -> Path:
    """PCA R^2, embedding top-5 share and accuracy against ``p``, marked by split (seen vs unseen).

    ``result``: :func:`~metagnn.analysis.runs.analyze_run` output; ``reference`` (optional): label ->
    analyze_clock result of directly trained networks, drawn as green stars.
    """
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    figures = [
        ("PCA R²", lambda r: r["pca"]["r2"]),
        ("embedding top-5 share", lambda r: r["embedding"]["top5_share"]),
        ("accuracy", lambda r: r.get("test_accuracy", r["accuracy"])),
    ]
    rows = [(int(k), r) for k, r in result["primes"].items()]
    for ax, (name, get) in zip(axes, figures, strict=True):
        for split, (color, marker) in SPLIT_STYLE.items():
            pts = [(p, get(r)) for p, r in rows if r["split"] == split]
            if pts:
                ax.scatter(*zip(*pts, strict=True), color=color, marker=marker, label=split, s=30)
        if reference:
            pts = [(r["p"], get(r)) for r in reference.values()]
            ax.scatter(*zip(*pts, strict=True), color="tab:green", marker="*", s=90, label="direct (reference)")
        ax.set_xlabel("p")
        ax.set_ylabel(name)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    axes[0].axhline(0.94, color="0.5", ls="--", lw=0.8)
    axes[1].axhline(0.9, color="0.5", ls="--", lw=0.8)
    axes[2].legend(fontsize=8, loc="lower left")
    state = " at initialisation" if result.get("untrained") else ""
    fig.suptitle(f"{result.get('model', '')} seed {result.get('seed', '')}{state}: clock figures per prime")
    fig.tight_layout()
    return _save(fig, path)
