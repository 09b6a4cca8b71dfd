"""Built-in target: a decoder-only Transformer (Nanda et al. style) of any depth.

Symmetries (SPEC 2.1): attention heads are interchangeable as blocks of Q, K, V, O; inside a
head the Q and K dimensions share one permutation and the V and O dimensions another; MLP
hidden units are interchangeable; the residual stream is one permutation shared by every block,
the embeddings, the unembedding and LayerNorm. Tokens, positions, classes and (with ``rel_bias``)
attention offsets are fixed.
LayerNorm (optional) has no mean subtraction issue here: it normalises per position over the
residual axis, which commutes with permuting that axis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from metagnn.errors import SpecError
from metagnn.registry import TARGETS
from metagnn.targets.core import Axis, NodeSet, ParamSpec, TargetSpec

MAX_LAYERS = 64


@TARGETS.register("transformer")
def transformer(
    *,
    vocab: int,
    n_ctx: int,
    n_classes: int,
    d_model: int = 32,
    n_heads: int = 4,
    d_head: int | None = None,
    d_mlp: int = 128,
    n_layers: int = 1,
    layernorm: bool = False,
    intent_dim: int = 0,
    readout: str = "last",
    causal: bool = True,
    rel_bias: bool = False,
) -> TargetSpec:
    """A Transformer reading ``n_ctx`` tokens and emitting ``n_classes`` logits.

    Weight layouts: ``W_E (vocab, d)``, ``W_pos (n_ctx, d)``, ``W_Q/W_K/W_V/W_O (heads, d_head, d)``,
    ``W_in (d_mlp, d)``, ``W_out (d, d_mlp)``, ``W_U (d, n_classes)``. With ``intent_dim > 0``
    (the Direct baseline only) the intent features enter as one extra token in front.

    ``readout="last"`` (default) emits logits at the last position only, output ``(N, n_classes)``;
    ``readout="all"`` emits them at every input position, output ``(N, n_ctx, n_classes)`` (a
    per-cell classifier, e.g. for 1D-ARC rows). ``causal=False`` lets every position attend to every
    other one. Neither option adds a parameter or changes a symmetry: positions stay a fixed axis,
    so the declared permutations are the same in every mode. The defaults are the original model.

    ``rel_bias=True`` adds, in every block, a learned attention bias per head and relative offset
    ``j - i`` (T5 / ALiBi style): ``blocks.i.attn.rel_bias (heads, offsets)``, on a new fixed axis of
    ``2 n_ctx - 1`` offsets (member ``m`` is offset ``m - (n_ctx - 1)``) and a node set of the heads
    alone (the head permutation, shared with Q, K and V). A head can then attend "``c`` cells to the
    left" for any ``c`` with one bias entry, and a hypernetwork can address that entry by its offset.
    """
    sizes = dict(vocab=vocab, n_ctx=n_ctx, n_classes=n_classes, d_model=d_model, n_heads=n_heads, d_mlp=d_mlp,
                 n_layers=n_layers, d_head=1 if d_head is None else d_head)  # fmt: skip
    bad = [f"{k}={v}" for k, v in sizes.items() if v < 1]
    if bad:
        raise SpecError(f"transformer sizes must all be positive, got {', '.join(bad)}")
    if n_layers > MAX_LAYERS:  # every block is a set of node sets and checks: a typo like 1e4 would build for minutes
        raise SpecError(f"transformer n_layers={n_layers} is more than {MAX_LAYERS}")
    d_head = d_head if d_head is not None else d_model // n_heads
    if d_head < 1:
        raise SpecError(f"transformer d_model={d_model} is smaller than n_heads={n_heads} (d_head would be 0)")
    if readout not in ("last", "all"):
        raise SpecError(f"transformer readout must be 'last' or 'all', got {readout!r}")
    for name, flag in (("causal", causal), ("rel_bias", rel_bias)):
        if not isinstance(flag, bool):
            raise SpecError(f"transformer {name} must be true or false, got {flag!r}")
    ctx = n_ctx + (1 if intent_dim else 0)
    resid = Axis(d_model, perm="resid")
    node_sets = [
        NodeSet("tokens", (Axis(vocab),)),
        NodeSet("positions", (Axis(ctx),)),
        NodeSet("resid", (resid,)),
        NodeSet("classes", (Axis(n_classes),)),
    ]
    emb_std = 1.0  # one-hot inputs: fan-in 1
    params = [
        ParamSpec("embed.W_E", ("tokens", "resid"), emb_std),
        ParamSpec("embed.W_pos", ("positions", "resid"), emb_std),
    ]
    if intent_dim:
        node_sets.append(NodeSet("intent", (Axis(intent_dim),)))
        params.append(ParamSpec("embed.W_intent", ("resid", "intent"), 1 / math.sqrt(intent_dim)))
    for i in range(n_layers):
        b = f"blocks.{i}"
        head = Axis(n_heads, perm=f"{b}.head")
        node_sets += [
            NodeSet(f"{b}.q", (head, Axis(d_head, perm=f"{b}.qk"))),
            NodeSet(f"{b}.k", (head, Axis(d_head, perm=f"{b}.qk"))),
            NodeSet(f"{b}.v", (head, Axis(d_head, perm=f"{b}.vo"))),
            NodeSet(f"{b}.mlp", (Axis(d_mlp, perm=f"{b}.mlp"),)),
        ]
        if layernorm:
            params += [
                ParamSpec(f"{b}.ln1.weight", ("resid",), 0.1, 1.0),
                ParamSpec(f"{b}.ln1.bias", ("resid",), 0.1),
                ParamSpec(f"{b}.ln2.weight", ("resid",), 0.1, 1.0),
                ParamSpec(f"{b}.ln2.bias", ("resid",), 0.1),
            ]
        params += [
            ParamSpec(f"{b}.attn.W_Q", (f"{b}.q", "resid"), 1 / math.sqrt(d_model)),
            ParamSpec(f"{b}.attn.W_K", (f"{b}.k", "resid"), 1 / math.sqrt(d_model)),
            ParamSpec(f"{b}.attn.W_V", (f"{b}.v", "resid"), 1 / math.sqrt(d_model)),
            ParamSpec(f"{b}.attn.W_O", (f"{b}.v", "resid"), 1 / math.sqrt(n_heads * d_head)),
            ParamSpec(f"{b}.mlp.W_in", (f"{b}.mlp", "resid"), 1 / math.sqrt(d_model)),
            ParamSpec(f"{b}.mlp.b_in", (f"{b}.mlp",), 1 / math.sqrt(3 * d_model)),
            ParamSpec(f"{b}.mlp.W_out", ("resid", f"{b}.mlp"), 1 / math.sqrt(d_mlp)),
            ParamSpec(f"{b}.mlp.b_out", ("resid",), 1 / math.sqrt(3 * d_mlp)),
        ]
    if rel_bias:  # appended last, so the other node sets keep their positional codes
        node_sets.append(NodeSet("offsets", (Axis(2 * ctx - 1),)))
        for i in range(n_layers):
            node_sets.append(NodeSet(f"blocks.{i}.heads", (Axis(n_heads, perm=f"blocks.{i}.head"),)))
            params.append(ParamSpec(f"blocks.{i}.attn.rel_bias", (f"blocks.{i}.heads", "offsets"), 1.0))
    if layernorm:
        params += [ParamSpec("ln_final.weight", ("resid",), 0.1, 1.0), ParamSpec("ln_final.bias", ("resid",), 0.1)]
    params.append(ParamSpec("unembed.W_U", ("resid", "classes"), 1 / math.sqrt(d_model)))
    causal_mask = torch.ones(ctx, ctx, dtype=torch.bool).tril()
    positions = torch.arange(ctx)
    offset_index = positions[None, :] - positions[:, None] + ctx - 1  # [i, j] -> member of j - i

    def norm(p: Mapping[str, Tensor], name: str, h: Tensor) -> Tensor:
        if not layernorm:
            return h
        return F.layer_norm(h, (d_model,), p[f"{name}.weight"], p[f"{name}.bias"])

    def forward(
        p: Mapping[str, Tensor], x: Tensor, u: Tensor | None, *, cache: dict[str, Tensor] | None = None
    ) -> Tensor:
        """One weight set on ``x (N, n_ctx)``; with ``cache`` (a dict) also fill it with the named
        activations (TransformerLens's ``run_with_cache`` names, ``T`` positions with the intent token):
        ``embed (N, n_ctx, d)`` (rows of ``W_E``, before ``W_pos``); per block ``i``:
        ``blocks.i.resid_pre``, ``blocks.i.attn.pattern (N, heads, T, T)``, ``blocks.i.resid_mid``,
        ``blocks.i.mlp.pre``, ``blocks.i.mlp.post (N, T, d_mlp)``, ``blocks.i.resid_post``; and
        ``resid_final (N, T, d)`` (after ``ln_final``), which ``W_U`` reads."""

        def keep(name: str, value: Tensor) -> Tensor:
            if cache is not None:
                cache[name] = value
            return value

        h = keep("embed", F.embedding(x, p["embed.W_E"]))  # (N, T, d)
        if intent_dim:
            h = torch.cat([(u @ p["embed.W_intent"].T).unsqueeze(1), h], dim=1)
        t = h.shape[1]
        h = h + p["embed.W_pos"][:t]
        for i in range(n_layers):
            b = f"blocks.{i}"
            hn = norm(p, f"{b}.ln1", keep(f"{b}.resid_pre", h))
            q = torch.einsum("ntd,hkd->nhtk", hn, p[f"{b}.attn.W_Q"])
            k = torch.einsum("ntd,hkd->nhtk", hn, p[f"{b}.attn.W_K"])
            v = torch.einsum("ntd,hkd->nhtk", hn, p[f"{b}.attn.W_V"])
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(d_head)
            if rel_bias:
                scores = scores + p[f"{b}.attn.rel_bias"][:, offset_index[:t, :t].to(scores.device)]
            if causal:
                scores = scores.masked_fill(~causal_mask[:t, :t].to(scores.device), float("-inf"))
            z = keep(f"{b}.attn.pattern", scores.softmax(dim=-1)) @ v
            h = keep(f"{b}.resid_mid", h + torch.einsum("nhtk,hkd->ntd", z, p[f"{b}.attn.W_O"]))
            hn = norm(p, f"{b}.ln2", h)
            pre = keep(f"{b}.mlp.pre", hn @ p[f"{b}.mlp.W_in"].T + p[f"{b}.mlp.b_in"])
            act = keep(f"{b}.mlp.post", torch.relu(pre))
            h = keep(f"{b}.resid_post", h + act @ p[f"{b}.mlp.W_out"].T + p[f"{b}.mlp.b_out"])
        h = keep("resid_final", norm(p, "ln_final", h))
        if readout == "all":
            return h[:, t - x.shape[1] :] @ p["unembed.W_U"]  # every input position (not the intent token)
        return h[:, -1] @ p["unembed.W_U"]

    kwargs = dict(
        vocab=vocab,
        n_ctx=n_ctx,
        n_classes=n_classes,
        d_model=d_model,
        n_heads=n_heads,
        d_head=d_head,
        d_mlp=d_mlp,
        n_layers=n_layers,
        layernorm=layernorm,
        intent_dim=intent_dim,
        readout=readout,
        causal=causal,
        rel_bias=rel_bias,
    )
    return TargetSpec("transformer", kwargs, tuple(node_sets), tuple(params), forward)
