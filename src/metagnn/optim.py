"""The optimizer of every training run, and the one parameter update.

A tied hypernetwork holds hundreds of small tensors (a few per node group and round). Clearing,
clipping and stepping them one by one costs a fixed amount of interpreter and dispatch work per tensor,
a noticeable share of Meta-GNN's training step at the small shipped targets (the benchmark runner's optimizer
section measures it). :class:`PackedAdamW` keeps
every small trainable tensor as a view into one flat buffer, and its gradient as a view into one flat
gradient, so that the three run once over the buffer. Modules, ``state_dict`` and checkpoints see the same
tensors as before; the update is AdamW's, elementwise, on the same numbers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from metagnn.errors import ConfigError

# Tensors of at most this many entries are packed. A packed gradient is accumulated into its buffer (one more
# pass over it) instead of being handed over, so large tensors, whose per-tensor overhead is small beside
# their size, stay on their own.
PACK_MAX_NUMEL = 1 << 14


class PackedAdamW(torch.optim.AdamW):
    """AdamW over ``model``'s trainable tensors, the small ones packed into one buffer (see the module).

    Build it after the model is on its device (moving the model afterwards gives its tensors new storage:
    :meth:`zero_grad` then refuses with a one-line error rather than step a buffer nothing reads), and after
    freezing what stays frozen: the packed set is fixed when it is built. Differences from a per-tensor AdamW:
    a packed tensor that gets no gradient in a step is stepped with a zero gradient (weight decay, momentum)
    instead of skipped; in the shipped models every trainable tensor gets a gradient at every step. Gradients
    must accumulate in place, so ``backward(create_graph=True)`` (which replaces them) is not supported.
    """

    def __init__(self, model: nn.Module, lr: float, weight_decay: float, **kwargs: Any) -> None:
        self.every = list(model.parameters())  # a per-tensor AdamW's order, frozen tensors included
        trainable = [p for p in self.every if p.requires_grad]
        self.members = [p for p in trainable if p.numel() <= PACK_MAX_NUMEL]
        self.large = [p for p in trainable if p.numel() > PACK_MAX_NUMEL]
        self.packed: nn.Parameter | None = None
        self.grad_views: list[Tensor] = []
        if self.members:
            with torch.no_grad():
                buffer = torch.cat([p.reshape(-1) for p in self.members])
            self.packed = nn.Parameter(buffer)
            self.packed.grad = torch.zeros_like(buffer)
            offset = 0
            for p in self.members:
                n = p.numel()
                p.data = buffer[offset : offset + n].view_as(p)
                self.grad_views.append(self.packed.grad[offset : offset + n].view_as(p))
                p.grad = self.grad_views[-1]
                offset += n
        super().__init__(([self.packed] if self.packed is not None else []) + self.large, lr=lr,
                         weight_decay=weight_decay, **kwargs)  # fmt: skip

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the packed gradient in place (backward accumulates into it) and drop the large tensors' ones."""
        if self.packed is not None:
            first = self.members[0]
            if first.untyped_storage().data_ptr() != self.packed.untyped_storage().data_ptr():
                raise ConfigError("the model's parameters moved after its optimizer was built: build it again")
            self.packed.grad.zero_()
            for p, view in zip(self.members, self.grad_views):
                if p.grad is not view:  # cleared or replaced by someone else: attach the view again
                    p.grad = view
        for p in self.large:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Also reads the state of a per-tensor AdamW over the same model (a checkpoint written before
        packing), by packing its moments the same way."""
        indices = state_dict["param_groups"][0]["params"]
        ours = len(self.param_groups[0]["params"])
        if len(state_dict["param_groups"]) == 1 and len(indices) != ours and self.packed is not None:
            state_dict = self.packed_state(state_dict)
        for index, state in state_dict["state"].items():  # torch does not compare shapes
            param = state_dict["param_groups"][0]["params"].index(index)
            wanted = self.param_groups[0]["params"][param].shape
            if "exp_avg" in state and state["exp_avg"].shape != wanted:
                raise ValueError(
                    f"optimizer state of shape {tuple(state['exp_avg'].shape)} for a tensor of {tuple(wanted)}"
                )
        super().load_state_dict(state_dict)

    def packed_state(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """A per-tensor AdamW's state over ``model.parameters()`` (frozen tensors included) in this optimizer's
        layout. A tensor without state (it never had a gradient) starts at zero moments."""
        indices = state_dict["param_groups"][0]["params"]
        if len(indices) != len(self.every):
            raise ValueError(f"optimizer state for {len(indices)} tensors, the model has {len(self.every)}")
        old = {id(p): state_dict["state"].get(i, {}) for i, p in zip(indices, self.every)}
        packed: dict[str, Tensor] = {}
        for name in ("exp_avg", "exp_avg_sq"):
            parts = [old[id(p)].get(name, torch.zeros(p.shape)).reshape(-1).cpu() for p in self.members]
            packed[name] = torch.cat(parts)  # on the CPU, as read from a checkpoint; loading moves it
        steps = [old[id(p)]["step"] for p in self.members if "step" in old[id(p)]]
        packed["step"] = max(steps, key=float).clone() if steps else torch.tensor(0.0)
        state = {0: packed, **{1 + i: old[id(p)] for i, p in enumerate(self.large) if old[id(p)]}}
        group = {**state_dict["param_groups"][0], "params": list(range(1 + len(self.large)))}
        return {"state": state, "param_groups": [group]}


def build_optimizer(model: nn.Module, lr: float, weight_decay: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW as every training run uses it: :class:`PackedAdamW`, with the fused kernel where torch has one
    (CPU, CUDA), which steps all its tensors in one call (the benchmark runner's optimizer section measures
    the per-tensor kernels and the packing against each other)."""
    kernel = {"fused": True} if device.type in ("cpu", "cuda") else {"foreach": True}
    return PackedAdamW(model, lr=lr, weight_decay=weight_decay, **kernel)


def update(loss: Tensor, opt: torch.optim.Optimizer, grad_clip: float | None) -> None:
    """The one parameter update of every trainer here (training, the benchmark, the reference trainer):
    clear the gradients, backpropagate ``loss``, clip the global norm of the optimizer's gradients to
    ``grad_clip`` (None: no clipping), and step the optimizer."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_([p for group in opt.param_groups for p in group["params"]], grad_clip)
    opt.step()
