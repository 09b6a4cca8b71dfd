"""Models: complete weight sets, PE equivariance of the tied hypernetworks, sane initial scale, training signal."""

from __future__ import annotations

import pytest
import torch
from helpers import (
    TINY_SPECS,
    assert_changed,
    assert_pe_permutations_permute_weights,
    make_inputs,
    pe_buffer,
    random_perm,
    unbatch,
)

from metagnn.errors import ConfigError
from metagnn.models import Model, build_model
from metagnn.models.tied import TiedHypernetwork
from metagnn.targets import TargetSpec, build_target
from metagnn.tasks import build_task

TINY = {
    "metagnn": {"d_intent": 16, "d_node": 16, "d_edge": 8, "rounds": 2},
    "metagnn-untied": {"d_intent": 16, "d_node": 16, "d_edge": 8, "rounds": 2, "tie": False},  # the ablation
    "gmlp": {"d_intent": 16, "d_node": 16, "d_edge": 8, "d_context": 16, "rounds": 2},
    "flat": {"d_hidden": 32, "layers": 2},
    "direct": {"d_intent": 16},
}
HYPERNETS = ["metagnn", "metagnn-untied", "gmlp", "flat"]
TIED = ["metagnn", "metagnn-untied", "gmlp"]  # untied still shares one code per group's members
INTENT_DIM = 3


def build(name: str, spec: TargetSpec, **overrides) -> Model:
    return build_model(name.split("-")[0], spec, INTENT_DIM, {**TINY[name], **overrides}).eval()


def batch_inputs(spec: TargetSpec, b: int, n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.stack([make_inputs(spec, n, gen, dtype=torch.float32) for _ in range(b)])


def permute_fixed_pe(model: TiedHypernetwork, node_set: str, index: torch.Tensor) -> None:
    with torch.no_grad():
        buf = pe_buffer(model, node_set)
        buf.copy_(buf[index])


# ----- complete weight sets ------------------------------------------------------------------


@pytest.mark.parametrize("spec_name", list(TINY_SPECS))
@pytest.mark.parametrize("name", HYPERNETS)
def test_generates_a_complete_weight_set(name: str, spec_name: str) -> None:
    """``synthesize`` emits every spec tensor with shape ``(B, *shape)``: exactly spec.num_parameters per intent."""
    spec = TINY_SPECS[spec_name]()
    model = build(name, spec)
    theta = model.synthesize(torch.randn(2, INTENT_DIM))
    assert list(theta) == [p.name for p in spec.params]
    assert {k: tuple(v.shape) for k, v in theta.items()} == {k: (2, *s) for k, s in spec.shapes.items()}
    assert sum(v[0].numel() for v in theta.values()) == spec.num_parameters
    assert all(torch.isfinite(v).all() for v in theta.values())
    assert any(not torch.allclose(v[0], v[1]) for v in theta.values()), "two intents got the same weights"


@pytest.mark.parametrize("name", list(TINY))
def test_forward_shape(name: str, gen: torch.Generator) -> None:
    """Every model maps ``u (B, F)`` and ``x (B, N, ...)`` to outputs ``(B, N, n_classes)``."""
    spec = TINY_SPECS["transformer"]()
    out = build(name, spec)(torch.randn(3, INTENT_DIM), batch_inputs(spec, 3, 7, gen))
    assert out.shape == (3, 7, 5)


# ----- equivariance and sensitivity of the tied hypernetworks --------------------------------


@pytest.mark.parametrize("spec_name", ["mlp", "transformer_ln", "user"])
@pytest.mark.parametrize("name", TIED)
def test_pe_permutation_permutes_generated_weights(name: str, spec_name: str, gen: torch.Generator) -> None:
    """Permuting the PEs of an interchangeable group permutes the generated weights the same way,
    so the synthesized function is unchanged (checked for every declared permutation)."""
    spec = TINY_SPECS[spec_name]()
    assert_pe_permutations_permute_weights(
        build(name, spec), torch.randn(2, INTENT_DIM), batch_inputs(spec, 2, 16, gen), gen
    )


DISTINCT_MEMBERS = {
    "mlp": ["layers.0.weight", "layers.1.weight", "layers.2.weight.T"],
    "transformer": ["blocks.0.attn.W_Q", "blocks.1.attn.W_V", "blocks.0.mlp.W_in", "blocks.1.mlp.W_out.T"],
}


@pytest.mark.parametrize("spec_name", list(DISTINCT_MEMBERS))
@pytest.mark.parametrize("name", TIED)
def test_group_members_are_not_generated_identical(name: str, spec_name: str) -> None:
    """Interchangeable neurons (hidden units, heads) get clearly different weights, not copies of one."""
    spec = TINY_SPECS[spec_name]()
    with torch.no_grad():
        theta = unbatch(build(name, spec).synthesize(torch.randn(1, INTENT_DIM)), 0)
    for entry in DISTINCT_MEMBERS[spec_name]:
        param, transposed = entry.removesuffix(".T"), entry.endswith(".T")
        w = theta[param].T if transposed else theta[param]
        members = w.reshape(w.shape[0], -1)  # one row per neuron (or per head)
        dist = torch.cdist(members, members) + torch.eye(len(members)) * 1e9
        typical = members.norm(dim=1).mean()
        assert dist.min() > 0.1 * typical, f"{entry}: two members nearly identical ({dist.min():.3g} vs {typical:.3g})"


FIXED_AXES = [("mlp", "input"), ("mlp", "output"), ("transformer", "tokens"), ("transformer", "positions"),
              ("transformer", "classes")]  # fmt: skip


@pytest.mark.parametrize(("spec_name", "node_set"), FIXED_AXES)
@pytest.mark.parametrize("name", TIED)
def test_fixed_axis_pe_permutation_changes_the_function(
    name: str, spec_name: str, node_set: str, gen: torch.Generator
) -> None:
    """PEs of fixed axes (inputs, tokens, positions, classes) matter: permuting them changes the program."""
    spec = TINY_SPECS[spec_name]()
    model = build(name, spec)
    u, x = torch.randn(2, INTENT_DIM), batch_inputs(spec, 2, 32, gen)
    with torch.no_grad():
        before = model(u, x)
        permute_fixed_pe(model, node_set, random_perm(spec.node_set(node_set).size, gen))
        assert_changed(model(u, x), before)


@pytest.mark.parametrize("name", TIED)
def test_pe_buffers_travel_with_the_state_dict(name: str) -> None:
    """Loading a state_dict restores the PEs, so a checkpoint always synthesizes the same weights."""
    spec = TINY_SPECS["mlp"]()
    a = build(name, spec)
    torch.manual_seed(1)
    b = build(name, spec, pe_seed=7)
    assert "pe__hidden0" in a.state_dict()
    u = torch.randn(2, INTENT_DIM)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        for k, v in a.synthesize(u).items():
            torch.testing.assert_close(b.synthesize(u)[k], v, atol=0, rtol=0)


@pytest.mark.parametrize("name", TIED)
def test_resample_pe_redraws_codes_only_in_training(name: str) -> None:
    """With ``resample_pe`` each training call sees fresh PEs; evaluation uses the saved ones."""
    model = build(name, TINY_SPECS["mlp"](), resample_pe=True)
    u = torch.randn(1, INTENT_DIM)
    with torch.no_grad():
        eval_a, eval_b = model.synthesize(u), model.synthesize(u)
        model.train()
        train_a, train_b = model.synthesize(u), model.synthesize(u)
    assert torch.equal(eval_a["layers.0.weight"], eval_b["layers.0.weight"])
    assert not torch.allclose(train_a["layers.0.weight"], train_b["layers.0.weight"])


# ----- initial scale ------------------------------------------------------------------------


def initial_weights(name: str) -> tuple[TargetSpec, dict[str, torch.Tensor]]:
    """Weights generated at step 0 for every intent of a small AddMod task (real intent features)."""
    task = build_task("addmod", {
        "vocab": 31, "train": [5, 7, 11, 17, 19], "val": [23], "ood": [13, 29],
        "target": {"d_model": 64, "n_heads": 2, "d_mlp": 64, "layernorm": True},
    })  # fmt: skip
    intents = [i for split in task.splits.values() for i in split]
    model = build_model(name.split("-")[0], task.spec, task.intent_dim, TINY[name])
    with torch.no_grad():
        return task.spec, model.synthesize(task.intent_features(intents))


@pytest.mark.parametrize("name", HYPERNETS)
def test_initial_biases_have_declared_mean_and_std(name: str) -> None:
    """At step 0 every bias / LayerNorm tensor has std within 0.7x-1.4x of ``init_std`` and mean near
    ``init_mean`` (LayerNorm gains around 1)."""
    spec, theta = initial_weights(name)
    for p in spec.params:
        if not p.is_edge:
            ratio = theta[p.name].std().item() / p.init_std
            offset = abs(theta[p.name].mean().item() - p.init_mean) / p.init_std
            assert 0.7 < ratio < 1.4, f"{p.name}: std is {ratio:.2f}x init_std"
            assert offset < 1.0, f"{p.name}: mean is {offset:.2f} init_std away from init_mean={p.init_mean}"


@pytest.mark.parametrize("name", ["flat"])
def test_initial_weight_entries_have_declared_mean_and_std(name: str) -> None:
    """At step 0 the flat hypernetwork's weight tensors have entry std within 0.7x-1.4x of ``init_std`` and
    mean near 0 (its output layer is an i.i.d. init; tied models are held to the spectral-norm contract below)."""
    spec, theta = initial_weights(name)
    for p in spec.params:
        if p.is_edge:
            ratio = theta[p.name].std().item() / p.init_std
            offset = abs(theta[p.name].mean().item() - p.init_mean) / p.init_std
            assert 0.7 < ratio < 1.4, f"{p.name}: std is {ratio:.2f}x init_std"
            assert offset < 0.5, f"{p.name}: mean is {offset:.2f} init_std away from init_mean={p.init_mean}"


@pytest.mark.parametrize("name", HYPERNETS)
def test_initial_weight_blocks_have_random_init_spectral_norm(name: str) -> None:
    """At step 0 no generated weight block amplifies more than a fan-in-scaled random init: per intent, its
    spectral norm is within 0.5x-2x of ``init_std * (sqrt(n_rows) + sqrt(n_cols))``."""
    spec, theta = initial_weights(name)
    for p in spec.params:
        if p.is_edge:
            n_rows, n_cols = (spec.node_set(n).size for n in p.nodes)
            blocks = theta[p.name].reshape(-1, n_rows, n_cols)
            ratio = torch.linalg.matrix_norm(blocks, ord=2) / (p.init_std * (n_rows**0.5 + n_cols**0.5))
            assert 0.5 < ratio.min() and ratio.max() < 2.0, f"{p.name}: spectral norm ratios {ratio.tolist()}"


# ----- training signal ----------------------------------------------------------------------


@pytest.mark.parametrize("spec_name", ["mlp", "transformer"])
@pytest.mark.parametrize("name", list(TINY))
def test_gradients_reach_every_parameter(name: str, spec_name: str, gen: torch.Generator) -> None:
    """In float64, every trainable parameter gets a real gradient, and every frozen one (an offset that
    a centring removes) would get exactly none: freezing removes rounding noise, never a live weight."""
    spec = TINY_SPECS[spec_name]()
    model = build(name, spec).double().train()
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    for p in model.parameters():
        p.requires_grad_(True)
    x = batch_inputs(spec, 3, 8, gen)
    out = model(torch.randn(3, INTENT_DIM, dtype=torch.float64), x.double() if x.is_floating_point() else x)
    (out * torch.randn(out.shape, generator=gen, dtype=torch.float64)).sum().backward()
    size = {n: 0.0 if p.grad is None else p.grad.abs().max().item() for n, p in model.named_parameters()}
    scale = max(size.values())
    dead = [n for n in size if n not in frozen and size[n] < 1e-9 * scale]
    assert not dead, f"{len(dead)} trainable parameter tensors get no gradient, e.g. {dead[:4]}"
    live = [n for n in frozen if size[n] > 1e-12 * scale]
    assert not live, f"frozen parameters with a real gradient: {live[:4]}"
    assert bool(frozen) == (name in ("metagnn", "metagnn-untied", "gmlp"))  # the tied models have centred codes


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", list(TINY))
def test_overfits_a_tiny_regression(name: str, seed: int) -> None:
    """200 AdamW steps fit two intents' different ReLU-feature regressions (targets standardized per
    intent): the final MSE is below 0.3, i.e. well under the 1.0 of the best constant per intent."""
    torch.manual_seed(seed)
    spec = build_target("mlp", n_in=3, hidden=[16], n_out=1)
    u, x, w = torch.randn(2, 4), torch.randn(2, 32, 3), torch.randn(2, 1, 3)
    y = (torch.relu(x) * w).sum(-1, keepdim=True)
    y = (y - y.mean(1, keepdim=True)) / y.std(1, keepdim=True)  # predicting a mean alone cannot pass
    config = {**TINY[name], "target_overrides": {"hidden": [32]}} if name == "direct" else TINY[name]
    if name in TIED:
        config = {**config, "rounds": 1}
    model = build_model(name.split("-")[0], spec, 4, config)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(200):
        loss = (model(u, x) - y).square().mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # as in the training loop
        opt.step()
    with torch.no_grad():
        per_intent = (model(u, x) - y).square().mean((1, 2))
    message = f"final MSE per intent {per_intent.tolist()} (1.0 = constant prediction)"
    if isinstance(model, TiedHypernetwork):
        with torch.no_grad():
            theta = model.synthesize(u)
        pre = torch.einsum("bni,bhi->bnh", x, theta["layers.0.weight"]) + theta["layers.0.bias"][:, None]
        message += f"; hidden units still active per intent: {(pre > 0).any(1).sum(-1).tolist()} of 16"
    assert per_intent.mean() < 0.3, message


# ----- configuration ------------------------------------------------------------------------

BAD_VALUES = {"metagnn": {"rounds": -1}, "gmlp": {"d_context": 0}, "flat": {"d_hidden": 0}, "direct": {"d_intent": 0}}


@pytest.mark.parametrize("name", list(BAD_VALUES))
def test_bad_model_config_raises_config_error(name: str) -> None:
    """Unknown keys, wrongly typed values and impossible sizes are rejected with ConfigError."""
    spec = TINY_SPECS["mlp"]()
    with pytest.raises(ConfigError, match="unknown key"):
        build_model(name, spec, INTENT_DIM, {"not_a_key": 1})
    first_key = next(iter(TINY[name]))
    with pytest.raises(ConfigError):
        build_model(name, spec, INTENT_DIM, {first_key: "big"})
    with pytest.raises(ConfigError):
        build_model(name, spec, INTENT_DIM, BAD_VALUES[name])


def test_unknown_model_name_raises_config_error() -> None:
    """Model names are looked up in the registry with a clear error."""
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("transformer-xl", TINY_SPECS["mlp"](), INTENT_DIM)


def test_untied_ablation_tells_groups_apart(gen: torch.Generator) -> None:
    """With one shared encoder and decoder, the group id must still reach the output: without message
    passing, W_Q and W_K (same node sets, same shapes) must not come out proportional, and every tensor's
    id column gets a real gradient (in float64)."""
    spec = TINY_SPECS["transformer"]()
    model = build("metagnn-untied", spec, rounds=0).double().train()
    theta = model.synthesize(torch.randn(2, INTENT_DIM, dtype=torch.float64, generator=gen))
    q, k = theta["blocks.0.attn.W_Q"].flatten(1), theta["blocks.0.attn.W_K"].flatten(1)
    cosine = torch.nn.functional.cosine_similarity(q, k, dim=1).abs().max().item()
    assert cosine < 0.99, f"W_Q and W_K are proportional (|cos| {cosine:.3f}): the group id is lost"
    loss = sum((v * torch.randn(v.shape, generator=gen, dtype=torch.float64)).sum() for v in theta.values())
    loss.backward()
    enc, dec = model.encoders, model.decoders
    groups = {
        "node encoder": enc.node.u.weight.grad[:, -len(spec.node_sets) :],
        "edge decoder": dec.film.weight.grad[:, [dec.ids[p.name] for p in spec.params if p.is_edge]],
        "node decoder": dec.film.weight.grad[:, [dec.ids[p.name] for p in spec.params if not p.is_edge]],
    }
    for name, grad in groups.items():
        dead = (grad.abs().amax(0) < 1e-9 * grad.abs().max()).nonzero().flatten().tolist()
        assert not dead, f"{name}: id columns {dead} get no gradient"


def test_split_linear_is_the_linear_map_of_the_concatenation(gen: torch.Generator) -> None:
    """The node updates apply their first linear map to ``[own || shared]`` without building it."""
    from metagnn.models.base import split_linear

    linear = torch.nn.Linear(5 + 3, 4).double()
    own, shared = torch.randn(2, 7, 5, generator=gen).double(), torch.randn(2, 1, 3, generator=gen).double()
    expected = linear(torch.cat([own, shared.expand(2, 7, 3)], dim=-1))
    torch.testing.assert_close(split_linear(linear, own, shared), expected)


@pytest.mark.parametrize("name", ["metagnn", "gmlp", "flat"])
def test_a_moving_average_of_the_model_synthesizes_like_it(name: str) -> None:
    """Training's ``ema`` averages buffers too (``use_buffers``): every buffer must survive the average."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    task = build_task("addmod", {})
    model = build_model(name, task.spec, task.intent_dim, {"d_hidden": 32} if name == "flat" else {},
                        contract=task.contract)  # fmt: skip
    average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    for _ in range(3):
        average.update_parameters(model)
    for (key, mine), theirs in zip(model.named_buffers(), average.module.buffers()):
        assert torch.equal(theirs, mine), key
    u = task.intent_features(task.splits["train"][:2])
    with torch.no_grad():
        mine, theirs = model.synthesize(u), average.module.synthesize(u)
    assert all(torch.equal(theirs[k], v) for k, v in mine.items())


def test_training_replays_only_what_draws_nothing_afresh() -> None:
    """``training_forward``: CUDA graphs only on a GPU, and only for a hypernetwork whose ``synthesize`` can be
    replayed (redrawn PEs cannot); off the GPU a step calls the model itself."""
    from metagnn.train import training_forward

    task = build_task("sumfirst", {"target": {"hidden": [8]}})
    plain = build_model("metagnn", task.spec, task.intent_dim, {"d_node": 8, "d_edge": 4}, contract=task.contract)
    redrawn = build_model("metagnn", task.spec, task.intent_dim, {"d_node": 8, "d_edge": 4, "resample_pe": True},
                          contract=task.contract)  # fmt: skip
    direct = build_model("direct", task.spec, task.intent_dim, {}, contract=task.contract)
    assert plain.replayable() and not redrawn.replayable()
    assert training_forward(plain, torch.device("cpu")) is plain
    assert training_forward(direct, torch.device("cpu")) is direct


def tiny_addmod() -> tuple:
    """A tiny Meta-GNN on AddMod-p (modulus axes: the intent check runs before any compiled graph)."""
    task = build_task("addmod", {"vocab": 16, "train": [5, 7, 11], "val": [], "ood": [13], "extrapolation": [],
                                 "target": {"d_model": 8, "d_mlp": 16, "n_heads": 2}})  # fmt: skip
    model = build_model("metagnn", task.spec, task.intent_dim, TINY["metagnn"], contract=task.contract).eval()
    return task, model


def modulus_zero(task, u: torch.Tensor) -> torch.Tensor:
    bad = u.clone()
    for a in task.contract.axes:
        if a.kind == "modulus":
            bad[:, a.feature] = (0 - a.origin) / a.scale
    return bad


def test_compiled_synthesis_falls_back_to_eager_once_compiling_fails(monkeypatch) -> None:
    """Where the compiler fails (here: a backend that finds no C++ compiler, behind dynamo's own wrapping), it warns
    once and the model runs itself; in training mode or with gradients on it never compiles; bad intent features
    raise before anything is compiled."""
    from torch._inductor.exc import InvalidCxxCompiler

    from metagnn.errors import SpecError
    from metagnn.models import CompiledSynthesis

    calls = []

    def no_compiler(graph, inputs):  # a torch.compile backend
        calls.append(graph)
        raise InvalidCxxCompiler()

    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn: real_compile(fn, backend=no_compiler))
    torch._dynamo.reset()
    task, model = tiny_addmod()
    fast = CompiledSynthesis(model)
    u = task.intent_features(task.splits["train"][:2])
    with torch.no_grad():
        expected = model.synthesize(u)
        with pytest.raises(SpecError, match="modulus below 1"):
            fast(modulus_zero(task, u))
        assert not calls
        with pytest.warns(UserWarning, match="could not compile synthesis .* InvalidCxxCompiler"):
            theta = fast(u)
        assert len(calls) == 1 and "InvalidCxxCompiler" in fast.failure
        assert all(torch.equal(theta[k], v) for k, v in expected.items())
        fast(u)
        assert len(calls) == 1  # not tried again
        fresh = CompiledSynthesis(model.train())
        fresh(u)  # training mode: the model itself
    theta = CompiledSynthesis(model.eval())(u)  # gradients on: the model itself
    assert len(calls) == 1 and theta[task.spec.params[0].name].requires_grad
    torch._dynamo.reset()


@pytest.mark.slow
def test_compiled_synthesis_writes_the_eager_weights_in_one_graph() -> None:
    """Compiled (inductor, tens of seconds): the same weights as eager to rounding, at two batch sizes, with
    no graph break (the modulus check, which reads a value back, is skipped while tracing)."""
    from torch._dynamo.utils import counters

    from metagnn.models import CompiledSynthesis

    torch._dynamo.reset()  # compile afresh, whatever this process compiled before
    task, model = tiny_addmod()
    fast = CompiledSynthesis(model)
    counters.clear()
    with torch.no_grad():
        for k in (1, 3):
            u = task.intent_features(task.splits["train"][:k])
            theta, expected = fast(u), model.synthesize(u)
            assert fast.failure is None
            for name, v in expected.items():
                torch.testing.assert_close(theta[name], v, rtol=1e-5, atol=1e-5)
    assert counters["stats"]["unique_graphs"] >= 1 and not counters["graph_break"]
