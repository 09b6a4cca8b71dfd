"""PackedAdamW: the same AdamW on the same numbers, the small tensors packed into one buffer."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from metagnn import checkpoint as ckpt
from metagnn.errors import ConfigError
from metagnn.models import build_model
from metagnn.optim import PACK_MAX_NUMEL, PackedAdamW, update
from metagnn.tasks import build_task

SMALL = {"metagnn": {"d_node": 16, "d_edge": 8}, "flat": {"d_hidden": 64}}  # flat: a large output layer


def built(model_name: str = "metagnn"):
    task = build_task("sumfirst", {"target": {"hidden": [16, 16]}})
    torch.manual_seed(0)
    model = build_model(model_name, task.spec, task.intent_dim, SMALL[model_name], contract=task.contract)
    return task, model


def batches(task, n: int, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    train = task.splits["train"]
    for _ in range(n):
        intents = [train[i] for i in torch.randperm(len(train), generator=gen)[:4].tolist()]
        x, y = task.sample(intents, 16, gen)
        yield intents, task.intent_features(intents), x, y


def trained(task, model, opt, steps: int, seed: int = 1) -> None:
    for intents, u, x, y in batches(task, steps, seed):
        update(task.loss(model(u, x), y, intents), opt, grad_clip=0.05)


def per_tensor(model) -> torch.optim.AdamW:
    return torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01, fused=True)


@pytest.mark.parametrize("model_name", ["metagnn", "flat"])
def test_packed_adamw_takes_the_same_steps_as_the_per_tensor_one(model_name: str) -> None:
    task, a = built(model_name)
    b = copy.deepcopy(a)
    start = {k: v.clone() for k, v in b.state_dict().items()}
    packed = PackedAdamW(b, lr=1e-2, weight_decay=0.01, fused=True)
    trainable = [p for p in b.parameters() if p.requires_grad]
    assert len(packed.param_groups[0]["params"]) < len(trainable) // 3
    assert (model_name == "flat") == bool(packed.large)  # flat: the norm is clipped across packed and large
    trained(task, a, per_tensor(a), 6)
    trained(task, b, packed, 6)
    moved = 0
    for k, v in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[k], v, rtol=1e-4, atol=1e-5, msg=k)
        moved += not torch.equal(b.state_dict()[k], start[k])
    assert moved >= len(trainable) - 2  # every trained tensor moved (the clip at 0.05 was active)


def test_a_cleared_gradient_is_attached_again_and_large_tensors_stay_apart() -> None:
    task, model = built("flat")
    opt = PackedAdamW(model, lr=1e-2, weight_decay=0.0)
    large = [p for p in model.parameters() if p.numel() > PACK_MAX_NUMEL]
    assert large and all(any(p is q for q in opt.param_groups[0]["params"]) for p in large)
    small = next(p for p in model.parameters() if p.numel() <= PACK_MAX_NUMEL)
    before = small.detach().clone()
    model.zero_grad(set_to_none=True)  # someone else clears the gradients: the packed views must come back
    trained(task, model, opt, 2)
    assert not torch.equal(small, before)
    assert small.untyped_storage().data_ptr() == opt.packed.untyped_storage().data_ptr()


def test_moving_the_model_after_building_the_optimizer_is_refused() -> None:
    _, model = built()
    opt = PackedAdamW(model, lr=1e-2, weight_decay=0.0)
    model.double()  # new storage for every parameter: the packed buffer no longer holds them
    with pytest.raises(ConfigError, match="moved after its optimizer was built"):
        opt.zero_grad()


def test_a_per_tensor_optimizer_state_resumes_into_the_packed_layout(tmp_path: Path) -> None:
    task, a = built()
    b = copy.deepcopy(a)
    opt_a = per_tensor(a)
    trained(task, a, opt_a, 3)
    opt_tensors, meta = ckpt.optimizer_tensors(opt_a)  # a checkpoint of the per-tensor optimizer
    tensors = {**ckpt.prefixed("model", a.state_dict()), **ckpt.prefixed("optim", opt_tensors)}
    ckpt.save_tensors(tmp_path / "checkpoint.safetensors", tensors, {"optimizer": meta})
    tensors, state = ckpt.load_tensors(tmp_path / "checkpoint.safetensors")
    b.load_state_dict(ckpt.unprefixed("model", tensors))
    opt_b = PackedAdamW(b, lr=1e-2, weight_decay=0.01, fused=True)
    ckpt.load_optimizer(opt_b, ckpt.unprefixed("optim", tensors), state["optimizer"])
    trained(task, a, opt_a, 3, seed=2)
    trained(task, b, opt_b, 3, seed=2)
    for k, v in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[k], v, rtol=1e-4, atol=1e-5, msg=k)


def test_a_tensor_without_state_starts_at_zero_moments_and_a_wrong_shape_is_refused() -> None:
    task, a = built()
    opt_a = per_tensor(a)
    trained(task, a, opt_a, 2)
    sd = opt_a.state_dict()
    dropped = next(iter(sd["state"]))
    sd["state"].pop(dropped)  # as if that tensor never had a gradient
    opt_b = PackedAdamW(a, lr=1e-2, weight_decay=0.01, fused=True)
    opt_b.load_state_dict(copy.deepcopy(sd))
    n = next(p.numel() for i, p in zip(sd["param_groups"][0]["params"], a.parameters()) if i == dropped)
    assert opt_b.state[opt_b.packed]["exp_avg"][:n].eq(0).all() and opt_b.state[opt_b.packed]["exp_avg"].ne(0).any()
    assert float(opt_b.state[opt_b.packed]["step"]) == 2
    packed_sd = opt_b.state_dict()
    packed_sd["state"][0]["exp_avg"] = packed_sd["state"][0]["exp_avg"][:-1]
    with pytest.raises(ValueError, match="optimizer state of shape"):
        PackedAdamW(built()[1], lr=1e-2, weight_decay=0.01).load_state_dict(packed_sd)


def test_packed_parameters_save_and_load_like_any_others(tmp_path: Path) -> None:
    task, model = built()
    opt = PackedAdamW(model, lr=1e-2, weight_decay=0.0)
    trained(task, model, opt, 1)
    ckpt.save_tensors(tmp_path / "m.safetensors", model.state_dict(), {})  # shared storage: cloned on the way
    tensors, _ = ckpt.load_tensors(tmp_path / "m.safetensors")
    assert tensors.keys() == model.state_dict().keys()
    assert all(torch.equal(tensors[k], v) for k, v in model.state_dict().items())
    opt_tensors, meta = ckpt.optimizer_tensors(opt)
    again = PackedAdamW(built()[1], lr=1e-2, weight_decay=0.0)
    ckpt.load_optimizer(again, opt_tensors, meta)
    assert torch.equal(again.state[again.packed]["exp_avg"], opt.state[opt.packed]["exp_avg"])
