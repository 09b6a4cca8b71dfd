"""Tiny shared targets: MLPs of 2, 3 and 4 hidden layers, Transformers of 2 and 3 layers (with and without
LayerNorm), a user target."""

from __future__ import annotations

import pytest
import torch
from helpers import TINY_SPECS, tiny_mlp, tiny_transformer, user_target

from metagnn.targets import TargetSpec

# Every tensor here is tiny: one thread is fastest and immune to OpenMP spin-waiting on a busy 2-core machine.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def mlp_spec() -> TargetSpec:
    return tiny_mlp()


@pytest.fixture(params=[False, True], ids=["plain", "layernorm"])
def transformer_spec(request: pytest.FixtureRequest) -> TargetSpec:
    return tiny_transformer(layernorm=request.param)


@pytest.fixture
def user_spec() -> TargetSpec:
    return user_target()


@pytest.fixture(params=list(TINY_SPECS))
def spec(request: pytest.FixtureRequest) -> TargetSpec:
    """Each tiny target of ``helpers.TINY_SPECS`` in turn: MLPs, Transformers with and without LayerNorm, a user one."""
    return TINY_SPECS[request.param]()
