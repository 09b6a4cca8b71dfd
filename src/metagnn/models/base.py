"""What every model shares: the intent encoder and the hypernetwork interface."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from metagnn.targets import TargetSpec, Theta, run


def mlp(d_in: int, d_hidden: int, d_out: int, layers: int = 2) -> nn.Sequential:
    """A ReLU MLP with ``layers`` linear maps."""
    dims = [d_in] + [d_hidden] * (layers - 1) + [d_out]
    mods: list[nn.Module] = []
    for i in range(len(dims) - 1):
        mods.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def split_linear(linear: nn.Linear, own: Tensor, shared: Tensor) -> Tensor:
    """``linear([own || shared])`` where ``shared`` (``(B, 1, d)``) is the same for every member of ``own``
    (``(B, n, d')``): its half of the product is computed once per intent, not once per member, and the
    concatenation is never materialized (a quarter of a training step when it was)."""
    d = own.shape[-1]
    return F.linear(own, linear.weight[:, :d]) + F.linear(shared, linear.weight[:, d:], linear.bias)


class Model(nn.Module):
    """A model maps intent features ``u (B, F)`` and inputs ``x (B, N, ...)`` to outputs ``(B, N, ...)``."""

    spec: TargetSpec

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class Hypernetwork(Model):
    """A model that synthesizes a complete weight set of ``spec`` per intent and runs ``S`` on it."""

    def synthesize(self, u: Tensor) -> Theta:
        """Intent features ``(B, F)`` -> weight sets ``{name: (B, *shape)}``."""
        raise NotImplementedError

    def forward(self, u: Tensor, x: Tensor) -> Tensor:
        return run(self.spec, self.synthesize(u), x)
