"""SumFirst-n as SPEC 3 pins it: digits as scalars, the sum of the first n, rounding, exact match."""

from __future__ import annotations

import pytest
import torch

from metagnn.errors import IntentError
from metagnn.tasks import build_task


def test_targets_are_sums_of_the_first_n_digits() -> None:
    """y = x_1 + ... + x_n for every intent, on training batches and on test sets."""
    task = build_task("sumfirst")
    x, y = task.sample([1, 4, 16], 50, torch.Generator().manual_seed(0))
    assert x.shape == (3, 50, 16) and y.shape == (3, 50, 1)
    for i, n in enumerate([1, 4, 16]):
        assert torch.equal(y[i, :, 0], x[i, :, :n].sum(-1))
        tx, ty = task.test_set(n)
        assert torch.equal(ty[:, 0], tx[:, :n].sum(-1))
    assert x.min() >= 0 and x.max() <= 9


def test_exact_match_rounds_the_regression_output() -> None:
    """An output within 0.5 of the sum counts as right; the chance level is the most likely sum's probability."""
    task = build_task("sumfirst")
    y = torch.tensor([[[3.0], [3.0], [3.0]]])
    assert task.correct(torch.tensor([[[3.4], [2.6], [3.6]]]), y, [1]).tolist() == [[True, True, False]]
    assert task.chance(1) == pytest.approx(0.1) and task.chance(2) == pytest.approx(0.1)
    assert task.chance(3) == pytest.approx(75 / 1000)  # sums 13 and 14 each have 75 of 1000 digit triples


@pytest.mark.parametrize("bad", ["0", "17", "-3", "two"])
def test_intents_outside_1_to_16_are_refused(bad: str) -> None:
    with pytest.raises(IntentError, match="sumfirst"):
        build_task("sumfirst").parse_intent(bad)
