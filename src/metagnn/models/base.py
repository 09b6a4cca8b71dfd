"""What every model shares: the intent encoder and the hypernetwork interface."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metagnn.intent import NO_CONTRACT, IntentContract
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

    contract: IntentContract = NO_CONTRACT  # how the intent meets the axes of ``spec`` (none: read as a code)

    def synthesize(self, u: Tensor) -> Theta:
        """Intent features ``(B, F)`` -> weight sets ``{name: (B, *shape)}``."""
        raise NotImplementedError

    def forward(self, u: Tensor, x: Tensor) -> Tensor:
        return run(self.spec, self.synthesize(u), x)

    def replayable(self) -> bool:
        """Whether ``synthesize`` runs the same operations on the same tensors at every call in training (it draws
        nothing afresh), so that it can be captured once and replayed (:class:`CudaGraphed`)."""
        return True


class SynthesisModule(nn.Module):
    """``model.synthesize`` as a module returning a tuple in spec order (what CUDA graph capture takes)."""

    def __init__(self, model: Hypernetwork) -> None:
        super().__init__()
        self.model = model

    def forward(self, u: Tensor) -> tuple[Tensor, ...]:
        theta = self.model.synthesize(u)
        return tuple(theta[p.name] for p in self.model.spec.params)


class CudaGraphed:
    """``model(u, x)`` with ``model.synthesize`` replayed as CUDA graphs, forward and backward, one capture per
    batch shape (``torch.cuda.make_graphed_callables``).

    A step of a group-tied hypernetwork is thousands of small kernels, which the host launches one by one: on
    a GPU the step is bound by the host. Replayed, each pass is one launch, and the kernels (so the numbers)
    are the eager ones. Parameters are read in place, so optimizer steps between calls are seen; a model whose
    parameters get new storage (moved, or packed by an optimizer built later) is captured afresh.

    Made for a training step: one call, then one backward, before the next call. The weights a call returns
    live in the graph's memory and the next call overwrites them; so does the gradient that a backward hands
    to a parameter whose ``.grad`` is ``None`` (it becomes that ``.grad`` until the next backward). In
    evaluation mode, or for inputs that require a gradient, it runs the model itself. For a model that is
    :meth:`Hypernetwork.replayable` (see :func:`metagnn.train.training_forward`).
    """

    def __init__(self, model: Hypernetwork) -> None:
        self.model = model
        self.graphs: dict[tuple, Callable[[Tensor], tuple[Tensor, ...]]] = {}

    def __call__(self, u: Tensor, x: Tensor) -> Tensor:
        return run(self.model.spec, self.synthesize(u), x)

    def synthesize(self, u: Tensor) -> Theta:
        """``model.synthesize(u)``, replayed (captured at the first call of its shape)."""
        if not self.model.training or u.requires_grad:
            return self.model.synthesize(u)
        storage = next(self.model.parameters()).untyped_storage().data_ptr()
        key = (tuple(u.shape), u.dtype, u.device, storage)
        with torch.cuda.device(u.device):  # capture and replay on the streams of u's device, not device 0's
            if key not in self.graphs:
                self.graphs[key] = torch.cuda.make_graphed_callables(
                    SynthesisModule(self.model), (u,), allow_unused_input=True
                )
            return dict(zip((p.name for p in self.model.spec.params), self.graphs[key](u)))


class CompiledSynthesis:
    """``model.synthesize`` compiled by ``torch.compile`` (inductor), for synthesis without gradients.

    A group-tied hypernetwork writes a program in about a thousand small operations; compiled, they run as a few
    fused kernels (docs/performance.md, "Synthesis latency"). The first call compiles for its batch size, and the
    first call at a second size once more, for every size: tens of seconds each on a CPU (less where inductor's
    on-disk cache holds an earlier process's kernels). It pays for writing many programs, not one.

    In training mode or with gradients enabled it runs the model itself. Where compiling fails (no C++ compiler,
    an operation inductor cannot lower) it warns once and runs the model itself from then on. The intent features
    are checked first (:meth:`metagnn.intent.IntentContract.check_features`): the compiled graph cannot raise.
    """

    def __init__(self, model: Hypernetwork) -> None:
        self.model = model
        self.failure: str | None = None  # why compiling failed, once it has
        try:
            self.compiled = torch.compile(model.synthesize)
        except RuntimeError as e:  # torch.compile itself unavailable (e.g. a Python version it does not support)
            self.compiled, self.failure = model.synthesize, one_line(e)
            warnings.warn(f"torch.compile is unavailable ({self.failure}); synthesizing eagerly", stacklevel=2)

    def __call__(self, u: Tensor) -> Theta:
        if self.failure is not None or self.model.training or torch.is_grad_enabled():
            return self.model.synthesize(u)
        self.model.contract.check_features(u)
        from torch._dynamo.exc import TorchDynamoException  # imported here: importing dynamo takes about a second

        try:
            return self.compiled(u)
        except TorchDynamoException as e:  # compiling failed (inductor's errors arrive wrapped in these)
            theta = self.model.synthesize(u)  # an error of the input itself raises here, as it would eagerly
            self.failure = one_line(e)
            warnings.warn(f"torch.compile could not compile synthesis ({self.failure}); running eagerly", stacklevel=2)
            return theta


def one_line(e: BaseException) -> str:
    """``Type: message`` on one line: the message's first two lines (dynamo's first line names the backend, the
    second the error it raised), at most 200 characters."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return f"{type(e).__name__}: {' '.join(lines[:2])[:200]}"
