"""Draw the neural graph (SPEC 2.2) of a tiny Transformer target, and print its groups.

One dot per neuron (node), one line per weight (edge); nodes are coloured by node group (one per
node set), edges by edge group (one per weight tensor). Nested ``(head, d_head)`` node sets are
drawn head by head. Also prints the node/edge count of every group, for the tiny Transformer and
for the default AddMod target, and checks on the latter: positional encodings, index values, and
which permutations leave its function unchanged (the numbers in docs/neural-graph.md).

Run: python examples/plot_neural_graph.py [out.png]   (default: docs/img/neural-graph-transformer.png)
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch

from metagnn.graph import NeuralGraph
from metagnn.targets import TargetSpec, build_target, permute, permute_fixed_axis
from metagnn.tasks import build_task

HEAD_GAP, SET_GAP = 0.45, 1.2  # extra vertical space between the heads of a nested node set, and between node sets


def column_of(name: str) -> tuple[float, float, float]:
    """Left-to-right order of the node sets: (x, y of the column's centre, spacing of its nodes).

    Every weight tensor touches ``resid``, so the node sets right of it fan out from it, each lower
    than the previous one; the straight bundles to them then cross no node they do not touch.
    """
    if name in ("tokens", "positions"):
        return 0.0, 0.0, 0.8
    if name == "resid":
        return 2.0, 0.0, 0.9
    for k, suffix in enumerate((".q", ".k", ".v", ".mlp")):
        if name.endswith(suffix):
            return 3.6 + 1.45 * k, 8.0 - 3.4 * k, 0.55 if k < 3 else 0.75
    return 9.6, -6.6, 0.75  # classes (and anything else, e.g. an intent node set)


def node_positions(spec: TargetSpec, g: NeuralGraph) -> dict[str, tuple[float, list[float]]]:
    """node set -> (x, y of each node in row-major index order), heads of nested sets separated by gaps."""
    columns: dict[float, list[str]] = {}
    for name in g.node_sets:
        columns.setdefault(column_of(name)[0], []).append(name)
    out = {}
    for x, names in columns.items():
        _, centre, gap = column_of(names[0])
        ys, y = {}, 0.0
        for name in names:
            ns = spec.node_set(name)
            inner = ns.size // ns.axes[0].size if len(ns.axes) > 1 else ns.size
            pts = []
            for i in range(ns.size):
                if i and i % inner == 0:
                    y -= HEAD_GAP  # a new head (leading axis index) begins
                pts.append(y)
                y -= gap
            ys[name] = pts
            y -= SET_GAP
        shift = centre - (y + SET_GAP + gap) / 2  # y + SET_GAP + gap: the lowest node
        for name in names:
            out[name] = (x, [v + shift for v in ys[name]])
    return out


def label_side(name: str) -> str:
    if name in ("tokens", "positions"):
        return "left"
    if name == "resid":
        return "below"
    return "right"


def describe(spec: TargetSpec, name: str) -> str:
    axes = spec.node_set(name).axes
    if all(a.fixed for a in axes):
        return "fixed axis"
    return "interchangeable:\n" + " x ".join(f"{a.perm}" for a in axes)


def draw(spec: TargetSpec, g: NeuralGraph, path: Path) -> None:
    fig = Figure(figsize=(12, 7), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 0.66, 0.93))
    pos = node_positions(spec, g)
    node_cmap = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974"]
    edge_cmap = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]
    edge_cmap += ["#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"]

    # Edges: every weight is one line. A second block joining the same two node sets (W_O joins v and
    # resid like W_V, W_out joins mlp and resid like W_in) is drawn as arcs so that both stay visible.
    parallel: dict[frozenset[str], int] = {}
    handles = []
    for k, b in enumerate(g.edge_blocks):
        pair = frozenset((b.rows, b.cols))
        bend = [0.0, 0.3, -0.3, 0.6, -0.6][parallel.get(pair, 0)]
        parallel[pair] = parallel.get(pair, 0) + 1
        colour = edge_cmap[k % len(edge_cmap)]
        (xr, yr), (xc, yc) = pos[b.rows], pos[b.cols]
        t = torch.linspace(0, 1, 24)
        for i in range(len(yr)):
            for j in range(len(yc)):
                x0, y0, x1, y1 = xr, yr[i], xc, yc[j]
                # quadratic Bezier; control point pushed sideways from the chord's midpoint
                mx, my = (x0 + x1) / 2, (y0 + y1) / 2 + bend * abs(x1 - x0)
                xs = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * mx + t**2 * x1
                ys = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * my + t**2 * y1
                ax.plot(xs, ys, color=colour, lw=0.6, alpha=0.55, zorder=1)
        n_edges = len(yr) * len(yc)
        handles.append(Line2D([], [], color=colour, lw=2, label=f"{b.group_id:2d}  edge: {b.param}  ({n_edges})"))

    # Nodes: coloured by group id; fixed-axis nodes show their index value (node_index).
    node_handles = []
    for gid, name in enumerate(g.node_sets):
        x, ys = pos[name]
        ns = spec.node_set(name)
        colour = node_cmap[gid % len(node_cmap)]
        side = label_side(name)
        if len(ns.axes) > 1:  # nested (head, d_head): one box per head
            inner = ns.size // ns.axes[0].size
            for h in range(ns.axes[0].size):
                top, bottom = ys[h * inner], ys[(h + 1) * inner - 1]
                box = FancyBboxPatch(
                    (x - 0.2, bottom - 0.4),
                    0.4,
                    top - bottom + 0.8,
                    zorder=0,
                    boxstyle="round,pad=0.02,rounding_size=0.15",
                    fc="#eeeeee",
                    ec="#888888",
                    lw=0.8,
                )
                ax.add_patch(box)
                ax.text(x + 0.3, (top + bottom) / 2, f"head {h}", fontsize=7, color="#444444", va="center")
        ax.scatter([x] * len(ys), ys, s=70, color=colour, edgecolor="black", lw=0.6, zorder=4)
        if g.node_index[name].shape[1]:
            dx, ha = (0.2, "left") if side == "right" else (-0.2, "right")
            for y, v in zip(ys, g.node_index[name][:, 0].tolist(), strict=True):
                ax.text(x + dx, y, f"{int(v)}", fontsize=7, ha=ha, va="center", zorder=5)
        fixed = all(a.fixed for a in ns.axes)
        shape = " x ".join(str(a.size) for a in ns.axes)
        label = f"{name}  ({shape})\n{describe(spec, name)}"
        if g.node_params[name]:
            label += "\nbiases: " + ", ".join(g.node_params[name])
        style = dict(
            fontsize=7.5,
            zorder=6,
            color="#8b0000" if fixed else "#00008b",
            bbox=dict(fc="white", ec="none", alpha=0.85, pad=1),
        )
        mid = (max(ys) + min(ys)) / 2
        if side == "left":
            ax.text(x - 0.45, mid, label, ha="right", va="center", **style)
        elif side == "right":
            ax.text(x + (0.95 if len(ns.axes) > 1 else 0.45), mid, label, ha="left", va="center", **style)
        else:  # below
            ax.text(x - 0.2, min(ys) - 2.4, label, ha="center", va="top", **style)
        kind = "fixed" if fixed else "interchangeable"
        node_handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                ms=7,
                mfc=colour,
                mec="black",
                label=f"{gid:2d}  node: {name}  ({ns.size}, {kind})",
            )
        )

    all_y = [y for _, ys in pos.values() for y in ys]
    ax.set_xlim(-2.0, 11.8)
    ax.set_ylim(min(all_y) - 1.5, max(all_y) + 1.0)
    ax.axis("off")
    fig.text(
        0.01,
        0.975,
        f"Neural graph of build_target('transformer', {fmt_kwargs(spec)})",
        fontsize=10,
        weight="bold",
        va="top",
    )
    fig.text(
        0.01,
        0.945,
        f"{g.num_nodes} nodes (one per neuron), {g.num_edges} edges (one per weight), "
        f"{g.num_groups} groups; red labels: fixed axes, blue: interchangeable (permutation names)",
        fontsize=8,
        va="top",
    )
    leg = fig.legend(
        handles=node_handles + handles,
        loc="upper left",
        bbox_to_anchor=(0.665, 0.93),
        fontsize=7.5,
        title="group id  name  (members)",
        title_fontsize=8,
        frameon=False,
        handlelength=1.6,
    )
    leg.set_alignment("left")
    fig.text(0.675, 0.36, NOTES, fontsize=7.5, va="top", linespacing=1.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


NOTES = """Reading the figure
- one dot per neuron; one line per weight (a parameter tensor
  with two node sets); biases live on the nodes (listed per set)
- numbers: node_index, the index value on a fixed axis
- grey boxes: the heads of a nested (head, d_head) node set;
  q and k share both permutations, so their positional
  encodings are equal (they are still two node groups)
- resid is ONE node set shared by every block: W_E, W_pos, W_O
  and W_out write into it; W_Q, W_K, W_V, W_in and W_U read it
- W_O joins the same node sets as W_V (v, resid), W_out the
  same as W_in (mlp, resid): the second of each pair is drawn arced
- Meta-GNN has one encoder per group; the members of a group
  differ only by their positional encodings"""


def fmt_kwargs(spec: TargetSpec) -> str:
    keys = ("vocab", "n_ctx", "n_classes", "d_model", "n_heads", "d_head", "d_mlp", "n_layers")
    return ", ".join(f"{k}={spec.kwargs[k]}" for k in keys)


def group_table(spec: TargetSpec) -> str:
    """One row per group: id, name, axes (permutation names), members (nodes or edges)."""
    g = NeuralGraph(spec)
    node_ids, edge_ids = torch.bincount(g.node_group_id()), torch.bincount(g.edge_group_id())
    rows = ["| id | group | axes (permutation per axis) | count |", "|---:|---|---|---:|"]
    for gid, name in enumerate(g.group_names()):
        if gid < len(g.node_sets):
            axes = spec.node_set(g.node_sets[gid]).axes
            biases = g.node_params[g.node_sets[gid]]
            extra = f"; biases: {', '.join(biases)}" if biases else ""
            desc = ", ".join(f"{a.size}:{a.perm or 'fixed'}" for a in axes) + extra
            count = f"{int(node_ids[gid])} nodes"
        else:
            b = g.edge_blocks[gid - len(g.node_sets)]
            desc = f"{b.rows} x {b.cols}: " + ", ".join(p or "fixed" for p in spec.perm_spec[b.param])
            count = f"{int(edge_ids[gid])} edges"
        rows.append(f"| {gid} | `{name}` | {desc} | {count} |")
    rows.append(f"| | total | {spec.num_parameters} parameters | {g.num_nodes} nodes, {g.num_edges} edges |")
    return "\n".join(rows)


def facts(spec: TargetSpec) -> str:
    """Positional encodings, index values and symmetry checks of a one-block Transformer ``spec``."""
    g = NeuralGraph(spec)
    pe, p, q, k, v = g.node_pe, g.pe_dim, "blocks.0.q", "blocks.0.k", "blocks.0.v"
    tokens = g.node_index["tokens"][:, 0]
    lines = [
        f"PE widths (pe_dim={p}): { {n: tuple(t.shape) for n, t in pe.items()} }",
        f"PE q == PE k: {torch.equal(pe[q], pe[k])}; v's head code == q's head code: "
        f"{torch.equal(pe[v][:, :p], pe[q][:, :p])}; "
        f"v's vo code == q's qk code: {torch.equal(pe[v][:, p:], pe[q][:, p:])}",
        f"node_index widths: { {n: t.shape[1] for n, t in g.node_index.items()} }; "
        f"tokens: {tokens[:3].tolist()} ... {tokens[-1].item()}",
    ]
    theta = spec.init_theta(torch.Generator().manual_seed(0))
    x = torch.randint(0, spec.kwargs["vocab"], (64, spec.kwargs["n_ctx"]), generator=torch.Generator().manual_seed(0))
    y = spec.forward(theta, x, None)

    def change(t: dict[str, torch.Tensor]) -> str:
        return f"{(spec.forward(t, x, None) - y).abs().max().item():.1e}"

    def perm(n: int) -> torch.Tensor:
        return torch.randperm(n, generator=torch.Generator().manual_seed(1))

    checks = {name: change(permute(spec, theta, name, perm(n))) for name, n in spec.permutations.items()}
    qk = spec.permutations["blocks.0.qk"]
    checks["blocks.0.qk on W_Q only"] = change(permute(spec, theta, "blocks.0.qk", perm(qk), ["blocks.0.attn.W_Q"]))
    n_tok = spec.node_set("tokens").size
    checks["tokens (fixed axis)"] = change(permute_fixed_axis(spec, theta, "tokens", 0, perm(n_tok)))
    lines.append(f"max |change of logits| (logits up to {y.abs().max().item():.1f}) under a random permutation of:")
    lines += [f"  {name}: {value}" for name, value in checks.items()]
    return "\n".join(lines)


def main() -> None:
    torch.set_num_threads(1)
    out = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "docs/img/neural-graph-transformer.png"
    )
    spec = build_target("transformer", vocab=5, n_ctx=3, n_classes=4, d_model=4, n_heads=2, d_head=2, d_mlp=4)
    draw(spec, NeuralGraph(spec), out)
    print(f"wrote {out}\n\ntiny Transformer ({fmt_kwargs(spec)}):\n{group_table(spec)}")
    addmod = build_task("addmod").spec
    print(f"\ndefault AddMod target ({fmt_kwargs(addmod)}):\n{group_table(addmod)}\n\n{facts(addmod)}")


if __name__ == "__main__":
    main()
