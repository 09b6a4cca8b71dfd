"""Refactors change no number: a fixed checkpoint writes the same weights, bit for bit.

``tests/data/tiny-addmod-run`` is a tiny Meta-GNN (12 AddMod-p steps, hypernetwork weights only) trained at
commit bec2a3b, with the program that commit's ``metagnn synthesize`` wrote for p = 13. Float results are
reproducible on one machine type and torch version (the pinned CPU build); a change that moves any weight
of the program, however little, fails here.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from metagnn.synthesis import synthesize

FIXTURE = Path(__file__).parent / "data" / "tiny-addmod-run"


def test_a_fixed_checkpoint_synthesizes_bitwise_the_same_weights() -> None:
    program = synthesize(FIXTURE, 13, device="cpu")
    expected = load_file(str(FIXTURE / "program-13.safetensors"))
    assert program.theta.keys() == expected.keys()
    for name, value in expected.items():
        diff = (program.theta[name] - value).abs().max().item()
        assert torch.equal(program.theta[name], value), f"{name} moved by up to {diff:.3g}"
