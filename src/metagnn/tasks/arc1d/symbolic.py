"""A symbolic baseline for 1D-ARC: enumerative search over a small DSL of row primitives.

A *program* is one primitive with its parameters (``shift 2``, ``fill``, ``recolour-by-size {1: 4, 2: 7}``)
or, when none fits, two in sequence. The search tries programs from the simplest, fits a primitive's
colour parameters on the task's train pairs where it has them, and keeps the first program that maps
every train input to its output; its outputs on the test inputs are the prediction. A time limit per
task bounds the search.

The primitives are the rules of :mod:`metagnn.tasks.arc1d.families` (written from the real tasks'
pairs) plus shifts both ways and the inverse rules, so on the real benchmark this search is an upper
bound of what a DSL written for it can do; its figures worth reading are the time per task and the
tasks it cannot explain.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from metagnn.tasks.arc1d import families as fam
from metagnn.tasks.arc1d.rules import Row, RuleUndefined, fill, flip, hollow, mirror, pcopy, recolour, shift

Pair = tuple[Row, Row]


@dataclass(frozen=True)
class Primitive:
    """A named row map; ``fit`` (if any) reads its parameters off the train pairs first."""

    name: str
    apply: Callable[[Sequence[int], Any], Row]
    fit: Callable[[Sequence[Pair]], Any] | None = None
    param: Any = None

    def bind(self, pairs: Sequence[Pair]) -> Callable[[Sequence[int]], Row] | None:
        """The row map with its parameters fitted on ``pairs`` (None if they cannot be fitted)."""
        if self.fit is None:
            return lambda row: self.apply(row, self.param)
        try:
            params = self.fit(pairs)
        except (fam.FitError, ValueError):
            return None
        return lambda row: self.apply(row, params)


def _fixed(name: str, f: Callable[[Sequence[int]], Row]) -> Primitive:
    return Primitive(name, lambda row, _: f(row))


def dsl() -> list[Primitive]:
    """Every primitive, simplest first: parameter-free maps, then those with fitted colours, fewest first."""
    out = [Primitive(f"shift {k:+d}", lambda row, k: shift(row, k), param=k) for k in (1, -1, 2, -2, 3, -3, 4, -4)]
    out += [
        _fixed("fill", fill),
        _fixed("hollow", hollow),
        _fixed("flip", flip),
        _fixed("mirror", mirror),
        _fixed("mirror inverse", lambda row: mirror(row, inverse=True)),
        _fixed("pcopy", pcopy),
        _fixed("pcopy inverse", lambda row: pcopy(row, inverse=True)),
        _fixed("denoise one colour", fam.denoise_one_colour),
        _fixed("denoise majority colour", fam.denoise_multicolour),
        _fixed("move to pixel", fam.move_to_pixel),
        _fixed("move 2 to pixel", fam.move_two_to_pixel),
        _fixed("scale to pixel", fam.scale_to_pixel),
        Primitive("recolour all", recolour, fit=lambda pairs: _one_colour(pairs)),
        Primitive("recolour largest", fam.recolour_longest, fit=fam.fit_longest_colour),
        # fewer fitted colours first: a parity table (2 colours) before a size table (one per size)
        Primitive("recolour by parity", fam.recolour_by_parity, fit=fam.fit_parity_colours),
        Primitive("recolour by size", fam.recolour_by_size, fit=fam.fit_size_colours),
    ]
    return out


def _one_colour(pairs: Sequence[Pair]) -> int:
    colours = {c for _, y in pairs for c in y if c}
    if len(colours) != 1:
        raise fam.FitError("the outputs do not use one colour")
    return colours.pop()


@dataclass
class Solution:
    program: str | None  # None: no program of the DSL explains the train pairs within the time limit
    predictions: list[Row | None]  # one per test input (None where the program is undefined on it)
    seconds: float
    tried: int


def programs(pairs: Sequence[Pair], depth: int = 2) -> Iterator[tuple[str, Callable[[Sequence[int]], Row]]]:
    """Candidate programs, simplest first: single primitives fitted on ``pairs``, then pairs of them, the
    second fitted on what the first makes of the train inputs."""
    primitives = dsl()
    bound = [(p.name, f) for p in primitives if (f := p.bind(pairs)) is not None]
    yield from bound
    if depth < 2:
        return
    for name_a, a in bound:
        try:
            middle = [(a(x), y) for x, y in pairs]
        except (RuleUndefined, IndexError, ValueError):
            continue
        for p in primitives:
            if (b := p.bind(middle)) is not None:
                yield f"{name_a}; {p.name}", (lambda row, a=a, b=b: b(a(row)))


def explains(f: Callable[[Sequence[int]], Row], pairs: Sequence[Pair]) -> bool:
    try:
        return all(f(x) == y for x, y in pairs)
    except (RuleUndefined, IndexError, ValueError):
        return False


def solve(train: Sequence[Pair], tests: Sequence[Row], time_limit: float = 10.0) -> Solution:
    """The first program that explains every train pair, and its outputs on ``tests``."""
    t0, tried = time.perf_counter(), 0
    for name, f in programs(train):
        tried += 1
        if explains(f, train):
            predictions: list[Row | None] = []
            for row in tests:
                try:
                    predictions.append(f(row))
                except (RuleUndefined, IndexError, ValueError):
                    predictions.append(None)
            return Solution(name, predictions, time.perf_counter() - t0, tried)
        if time.perf_counter() - t0 > time_limit:
            break
    return Solution(None, [None] * len(tests), time.perf_counter() - t0, tried)
