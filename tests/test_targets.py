"""Target specifications: declared symmetries hold, non-symmetries break the function, one forward pass
(``run`` == ``instantiate`` == ``run_with_cache``)."""

from __future__ import annotations

import pytest
import torch
from helpers import assert_changed, make_inputs, random_perm, to_double

from metagnn.errors import ConfigError, SpecError
from metagnn.targets import (
    Axis,
    NodeSet,
    ParamSpec,
    TargetSpec,
    build_target,
    instantiate,
    permute,
    permute_fixed_axis,
    run,
    run_with_cache,
)


def outputs(spec: TargetSpec, theta: dict, x: torch.Tensor) -> torch.Tensor:
    return spec.forward(theta, x, None)


def test_transformer_declares_the_symmetries_of_spec_2_1(transformer_spec: TargetSpec) -> None:
    """Heads, Q/K and V/O dimensions, MLP units and one shared residual permutation; vocab/positions/classes fixed."""
    block = lambda i: {f"blocks.{i}.head": 2, f"blocks.{i}.qk": 4, f"blocks.{i}.vo": 4, f"blocks.{i}.mlp": 12}
    assert transformer_spec.permutations == {"resid": 8, **block(0), **block(1)}
    perms = transformer_spec.perm_spec
    assert perms["embed.W_E"] == (None, "resid")
    assert perms["embed.W_pos"] == (None, "resid")
    assert perms["unembed.W_U"] == ("resid", None)
    assert perms["blocks.1.attn.W_Q"] == perms["blocks.1.attn.W_K"] == ("blocks.1.head", "blocks.1.qk", "resid")
    assert perms["blocks.1.attn.W_V"] == perms["blocks.1.attn.W_O"] == ("blocks.1.head", "blocks.1.vo", "resid")
    assert perms["blocks.0.mlp.W_in"] == ("blocks.0.mlp", "resid")
    assert perms["blocks.0.mlp.W_out"] == ("resid", "blocks.0.mlp")


def test_mlp_declares_one_permutation_per_hidden_layer(mlp_spec: TargetSpec) -> None:
    """Hidden layers are interchangeable neurons; input and output features are fixed."""
    assert mlp_spec.permutations == {"hidden0": 7, "hidden1": 6}
    assert mlp_spec.perm_spec["layers.0.weight"] == ("hidden0", None)
    assert mlp_spec.perm_spec["layers.1.weight"] == ("hidden1", "hidden0")
    assert mlp_spec.perm_spec["layers.2.weight"] == (None, "hidden1")
    assert mlp_spec.shapes["layers.1.bias"] == (6,)


def test_function_invariant_under_each_declared_permutation(spec: TargetSpec, gen: torch.Generator) -> None:
    """Every declared permutation moves the weights but leaves the computed function unchanged."""
    theta = to_double(spec.init_theta(gen))
    x = make_inputs(spec, 32, gen)
    ref = outputs(spec, theta, x)
    assert spec.permutations, "spec declares no symmetry"
    for name, size in spec.permutations.items():
        permuted = permute(spec, theta, name, random_perm(size, gen))
        assert any(not torch.equal(permuted[k], theta[k]) for k in theta), f"{name} did not move any weight"
        torch.testing.assert_close(outputs(spec, permuted, x), ref, atol=1e-10, rtol=1e-10, msg=name)


def test_function_invariant_under_all_permutations_composed(spec: TargetSpec, gen: torch.Generator) -> None:
    """Applying every declared permutation one after another still leaves the function unchanged."""
    theta = to_double(spec.init_theta(gen))
    x = make_inputs(spec, 32, gen)
    permuted = theta
    for name, size in spec.permutations.items():
        permuted = permute(spec, permuted, name, random_perm(size, gen))
    torch.testing.assert_close(outputs(spec, permuted, x), outputs(spec, theta, x), atol=1e-10, rtol=1e-10)


MLP_NON_SYMMETRIES = {
    "input features": lambda s, th, g: permute_fixed_axis(s, th, "input", 0, random_perm(5, g)),
    "output features": lambda s, th, g: permute_fixed_axis(s, th, "output", 0, random_perm(3, g)),
    "hidden0 in layer 0 only": lambda s, th, g: permute(s, th, "hidden0", random_perm(7, g), ["layers.0.weight"]),
}


@pytest.mark.parametrize("case", MLP_NON_SYMMETRIES)
def test_mlp_function_changes_under_non_symmetries(case: str, mlp_spec: TargetSpec, gen: torch.Generator) -> None:
    """Permuting fixed axes, or a hidden layer in one tensor only, changes the MLP's function."""
    theta = to_double(mlp_spec.init_theta(gen))
    x = make_inputs(mlp_spec, 32, gen)
    broken = MLP_NON_SYMMETRIES[case](mlp_spec, theta, gen)
    assert_changed(outputs(mlp_spec, broken, x), outputs(mlp_spec, theta, x))


TRANSFORMER_NON_SYMMETRIES = {
    "vocabulary rows": lambda s, th, g: permute_fixed_axis(s, th, "tokens", 0, random_perm(11, g)),
    "positions": lambda s, th, g: permute_fixed_axis(s, th, "positions", 0, random_perm(4, g)),
    "output classes": lambda s, th, g: permute_fixed_axis(s, th, "classes", 0, random_perm(5, g)),
    "qk in W_Q without W_K": lambda s, th, g: permute(s, th, "blocks.0.qk", random_perm(4, g), ["blocks.0.attn.W_Q"]),
    "vo in W_V without W_O": lambda s, th, g: permute(s, th, "blocks.1.vo", random_perm(4, g), ["blocks.1.attn.W_V"]),
    "heads in W_O only": lambda s, th, g: permute(s, th, "blocks.0.head", random_perm(2, g), ["blocks.0.attn.W_O"]),
    "resid in embeddings": lambda s, th, g: permute(s, th, "resid", random_perm(8, g), ["embed.W_E", "embed.W_pos"]),
}


@pytest.mark.parametrize("case", TRANSFORMER_NON_SYMMETRIES)
def test_transformer_function_changes_under_non_symmetries(
    case: str, transformer_spec: TargetSpec, gen: torch.Generator
) -> None:
    """Permuting vocabulary/positions/classes, or a symmetry applied to only some tensors, changes the function."""
    theta = to_double(transformer_spec.init_theta(gen))
    x = make_inputs(transformer_spec, 64, gen)
    broken = TRANSFORMER_NON_SYMMETRIES[case](transformer_spec, theta, gen)
    assert_changed(outputs(transformer_spec, broken, x), outputs(transformer_spec, theta, x))


def test_run_agrees_with_instantiated_modules(spec: TargetSpec, gen: torch.Generator) -> None:
    """Batched functional ``run`` equals a loop of ``instantiate(spec, theta_i)(x_i)``."""
    thetas = [to_double(spec.init_theta(gen)) for _ in range(3)]
    xs = torch.stack([make_inputs(spec, 9, gen) for _ in range(3)])
    batched = {k: torch.stack([th[k] for th in thetas]) for k in thetas[0]}
    out = run(spec, batched, xs)
    expected = torch.stack([instantiate(spec, th)(x) for th, x in zip(thetas, xs, strict=True)])
    assert out.shape[:2] == (3, 9)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-12)


def test_instantiate_gives_plain_module_with_spec_names(spec: TargetSpec, gen: torch.Generator) -> None:
    """``instantiate`` returns an ``nn.Module`` whose state_dict holds exactly the spec's tensors."""
    theta = spec.init_theta(gen)
    net = instantiate(spec, theta)
    assert isinstance(net, torch.nn.Module)
    sd = net.state_dict()
    assert sorted(sd) == sorted(p.name for p in spec.params)
    for name, value in theta.items():
        assert torch.equal(sd[name], value)
    # The module can be rebuilt from its own state_dict and computes the same function.
    x = make_inputs(spec, 5, gen, dtype=torch.float32)
    torch.testing.assert_close(instantiate(spec, dict(sd))(x), net(x))


def test_init_theta_has_declared_shapes(spec: TargetSpec, gen: torch.Generator) -> None:
    """``init_theta`` yields one tensor per ParamSpec, of the declared shape; counts add up."""
    theta = spec.init_theta(gen)
    assert {k: tuple(v.shape) for k, v in theta.items()} == spec.shapes
    assert sum(v.numel() for v in theta.values()) == spec.num_parameters
    spec.check(theta)


def test_check_rejects_wrong_shape_missing_and_extra_keys(mlp_spec: TargetSpec, gen: torch.Generator) -> None:
    """``check``/``instantiate``/``run`` reject a weight set that does not match the spec, naming the tensor."""
    theta = mlp_spec.init_theta(gen)
    with pytest.raises(SpecError, match="layers.1.weight"):
        mlp_spec.check({**theta, "layers.1.weight": torch.zeros(6, 8)})
    with pytest.raises(SpecError, match="layers.2.bias"):
        mlp_spec.check({k: v for k, v in theta.items() if k != "layers.2.bias"})
    with pytest.raises(SpecError, match="bogus"):
        mlp_spec.check({**theta, "bogus": torch.zeros(1)})
    with pytest.raises(SpecError):
        instantiate(mlp_spec, {**theta, "layers.0.bias": torch.zeros(3)})
    with pytest.raises(SpecError):  # unbatched weights given to run
        run(mlp_spec, theta, torch.zeros(7, 4, 5))
    batched = {k: v.expand(2, *v.shape) for k, v in theta.items()}
    with pytest.raises(SpecError, match="batch"):
        run(mlp_spec, batched, torch.zeros(3, 4, 5))


def test_inconsistent_specs_are_rejected() -> None:
    """Duplicate names, unknown node sets, a permutation on two sizes and 3-way params raise SpecError."""
    a, b = NodeSet("a", (Axis(3, perm="p"),)), NodeSet("b", (Axis(4, perm="p"),))
    fwd = lambda p, x, u: x  # noqa: E731
    with pytest.raises(SpecError, match="duplicate"):
        TargetSpec("t", {}, (a, a), (), fwd)
    with pytest.raises(SpecError, match="unknown node set"):
        TargetSpec("t", {}, (a,), (ParamSpec("w", ("a", "zzz"), 1.0),), fwd)
    with pytest.raises(SpecError, match="sizes"):
        TargetSpec("t", {}, (a, b), (), fwd)
    with pytest.raises(SpecError):
        ParamSpec("w", ("a", "a", "a"), 1.0)
    with pytest.raises(SpecError):
        Axis(0)


def test_build_target_rejects_unknown_family_and_arguments() -> None:
    """Unknown target families and bad keyword arguments raise ConfigError, bad sizes SpecError."""
    with pytest.raises(ConfigError, match="unknown target"):
        build_target("cnn")
    with pytest.raises(ConfigError):
        build_target("mlp", n_in=2, hidden=[3], n_out=1, colour="red")
    with pytest.raises(SpecError):
        build_target("mlp", n_in=2, hidden=[0], n_out=1)


def test_user_defined_target_works_end_to_end(user_spec: TargetSpec, gen: torch.Generator) -> None:
    """A TargetSpec written outside the package runs, instantiates and has the symmetry it declares."""
    theta = user_spec.init_theta(gen)
    x = torch.randn(4, 3, generator=gen)
    net = instantiate(user_spec, theta)
    assert sorted(net.state_dict()) == ["cell.W_hh", "cell.W_in", "cell.b", "readout.weight"]
    batched = {k: v[None] for k, v in theta.items()}
    torch.testing.assert_close(run(user_spec, batched, x[None])[0], net(x))
    # ``hid`` acts on both axes of the recurrent W_hh; permuting only its rows is not a symmetry.
    idx = random_perm(5, gen)
    assert permute(user_spec, theta, "hid", idx)["cell.W_hh"].equal(theta["cell.W_hh"][idx][:, idx])
    torch.testing.assert_close(net(x), instantiate(user_spec, permute(user_spec, theta, "hid", idx))(x))
    rows_only = {**theta, "cell.W_hh": theta["cell.W_hh"][idx]}
    assert_changed(instantiate(user_spec, rows_only)(x), net(x))


@pytest.mark.parametrize(
    "variant", [{}, {"causal": False}, {"rel_bias": True}, {"readout": "all"}, {"n_layers": 2, "layernorm": True}]
)
def test_run_with_cache_is_the_forward_pass_of_run(
    variant: dict, transformer_spec: TargetSpec, gen: torch.Generator
) -> None:
    """``run_with_cache`` returns ``run``'s outputs, and its cache holds the activations they are made of."""
    spec = build_target("transformer", **{**transformer_spec.kwargs, **variant})
    theta = to_double(spec.init_theta(gen))
    x = make_inputs(spec, 9, gen)
    out, cache = run_with_cache(spec, theta, x)
    batched = run(spec, {k: v[None] for k, v in theta.items()}, x[None])[0]
    torch.testing.assert_close(out, batched, atol=1e-12, rtol=1e-12)
    last = cache["resid_final"] if variant.get("readout") == "all" else cache["resid_final"][:, -1]
    torch.testing.assert_close(last @ theta["unembed.W_U"], out, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(cache["embed"], theta["embed.W_E"][x])
    n_layers, n_ctx = spec.kwargs["n_layers"], spec.kwargs["n_ctx"]
    for i in range(n_layers):
        b = f"blocks.{i}"
        assert cache[f"{b}.attn.pattern"].shape == (9, spec.kwargs["n_heads"], n_ctx, n_ctx)
        assert torch.allclose(cache[f"{b}.attn.pattern"].sum(-1), torch.tensor(1.0, dtype=torch.float64))
        assert torch.equal(cache[f"{b}.mlp.post"], cache[f"{b}.mlp.pre"].relu())
        mlp_out = cache[f"{b}.mlp.post"] @ theta[f"{b}.mlp.W_out"].T + theta[f"{b}.mlp.b_out"]
        torch.testing.assert_close(cache[f"{b}.resid_post"], cache[f"{b}.resid_mid"] + mlp_out)


def test_run_with_cache_rejects_targets_without_a_cache(mlp_spec: TargetSpec, gen: torch.Generator) -> None:
    with pytest.raises(SpecError, match="offers no activation cache"):
        run_with_cache(mlp_spec, mlp_spec.init_theta(gen), make_inputs(mlp_spec, 3, gen, dtype=torch.float32))
