"""Plain helper functions shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from metagnn.targets import Axis, NodeSet, ParamSpec, TargetSpec, Theta, build_target, permute, run


def random_perm(n: int, generator: torch.Generator) -> Tensor:
    """A random permutation of ``range(n)`` that is not the identity (``n >= 2``)."""
    while True:
        idx = torch.randperm(n, generator=generator)
        if not torch.equal(idx, torch.arange(n)):
            return idx


def to_double(theta: Mapping[str, Tensor]) -> Theta:
    return {k: v.double() for k, v in theta.items()}


def unbatch(theta: Mapping[str, Tensor], b: int) -> Theta:
    """Weight set number ``b`` of a batched ``{name: (B, *shape)}`` dict."""
    return {k: v[b] for k, v in theta.items()}


def make_inputs(spec: TargetSpec, n: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> Tensor:
    """``n`` valid inputs for ``spec``: token ids for a Transformer, real features otherwise."""
    names = [s.name for s in spec.node_sets]
    if "tokens" in names:
        vocab, n_ctx = spec.node_set("tokens").size, spec.kwargs["n_ctx"]
        return torch.randint(vocab, (n, n_ctx), generator=generator)
    return torch.randn(n, spec.node_set("input").size, generator=generator, dtype=dtype)


def assert_changed(new: Tensor, old: Tensor, rel: float = 1e-2) -> None:
    """The outputs differ by more than ``rel`` of their scale (a real change, not rounding)."""
    diff = (new - old).abs().max().item()
    scale = old.abs().max().item()
    assert diff > rel * scale, f"outputs barely changed: max diff {diff:.3g} vs scale {scale:.3g}"


def user_target() -> TargetSpec:
    """A target described outside the package: ``x -> tanh(W_in x + b) -> tanh(W_hh h + b) -> W_out h``.

    Its recurrent ``W_hh`` connects the hidden node set to itself, so one permutation acts on two axes.
    """
    node_sets = (
        NodeSet("input", (Axis(3),)),
        NodeSet("hid", (Axis(5, perm="hid"),)),
        NodeSet("output", (Axis(2),)),
    )
    params = (
        ParamSpec("cell.W_in", ("hid", "input"), init_std=3**-0.5),
        ParamSpec("cell.b", ("hid",), init_std=0.3),
        ParamSpec("cell.W_hh", ("hid", "hid"), init_std=5**-0.5),
        ParamSpec("readout.weight", ("output", "hid"), init_std=5**-0.5),
    )

    def forward(p: Mapping[str, Tensor], x: Tensor, u: Tensor | None) -> Tensor:
        h = torch.tanh(x @ p["cell.W_in"].T + p["cell.b"])
        h = torch.tanh(h @ p["cell.W_hh"].T + p["cell.b"])
        return h @ p["readout.weight"].T

    return TargetSpec("user_rnn", {}, node_sets, params, forward)


def tiny_mlp() -> TargetSpec:
    """An MLP with two hidden layers: ``5 -> 7 -> 6 -> 3``."""
    return build_target("mlp", n_in=5, hidden=[7, 6], n_out=3)


def tiny_transformer(layernorm: bool = False) -> TargetSpec:
    """A 2-layer, 2-head Transformer on 4 tokens from a vocabulary of 11, with 5 classes."""
    return build_target(
        "transformer", vocab=11, n_ctx=4, n_classes=5, d_model=8, n_heads=2, d_mlp=12, n_layers=2, layernorm=layernorm
    )


TINY_SPECS = {
    "mlp": tiny_mlp,
    "mlp3": lambda: build_target("mlp", n_in=5, hidden=[7, 6, 5], n_out=3),  # 3 hidden layers
    "mlp4": lambda: build_target("mlp", n_in=5, hidden=[7, 6, 5, 4], n_out=3),  # 4 hidden layers
    "transformer": tiny_transformer,
    "transformer_ln": lambda: tiny_transformer(layernorm=True),
    "transformer3": lambda: build_target(
        "transformer", vocab=11, n_ctx=4, n_classes=5, d_model=8, n_heads=2, d_mlp=12, n_layers=3
    ),
    "transformer3_ln": lambda: build_target(
        "transformer", vocab=11, n_ctx=4, n_classes=5, d_model=8, n_heads=2, d_mlp=12, n_layers=3, layernorm=True
    ),
    "user": user_target,
}


def pe_buffer(model: torch.nn.Module, node_set: str) -> Tensor:
    return getattr(model, "pe__" + node_set.replace(".", "__"))


def permute_pe(model: torch.nn.Module, perm: str, index: Tensor) -> None:
    """Permute the PE rows of every node set that ``perm`` acts on, as ``perm`` permutes its members."""
    with torch.no_grad():
        for s in model.spec.node_sets:
            if any(a.perm == perm for a in s.axes):
                rows = torch.arange(s.size).reshape(s.shape)
                for dim, axis in enumerate(s.axes):
                    if axis.perm == perm:
                        rows = rows.index_select(dim, index)
                buf = pe_buffer(model, s.name)
                buf.copy_(buf[rows.reshape(-1)])


def assert_pe_permutations_permute_weights(model: torch.nn.Module, u: Tensor, x: Tensor, gen: torch.Generator) -> None:
    """For every declared permutation of the model's target: permuting the PEs of the group permutes the
    synthesized weights the same way, and the programs compute the same outputs on ``x``."""
    spec = model.spec
    with torch.no_grad():
        theta = model.synthesize(u)
        reference = run(spec, theta, x)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for perm, size in spec.permutations.items():
        if size < 2:  # no permutation but the identity
            continue
        model.load_state_dict(state)
        index = random_perm(size, gen)
        permute_pe(model, perm, index)
        with torch.no_grad():
            got = model.synthesize(u)
        for b in range(len(u)):
            expected = permute(spec, unbatch(theta, b), perm, index)
            for k in expected:
                torch.testing.assert_close(got[k][b], expected[k], atol=1e-5, rtol=1e-5, msg=f"{perm}: {k}")
        torch.testing.assert_close(run(spec, got, x), reference, atol=1e-5, rtol=1e-4, msg=perm)
    model.load_state_dict(state)
