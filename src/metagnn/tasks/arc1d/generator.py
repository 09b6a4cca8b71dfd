"""Sampling 1D-ARC rows on which an intent's rule is well defined (the training data never comes from files).

Rows have a random length (``min_length..width``); objects, their number, sizes, colours, gaps and
positions are sampled widely, with the real families' layouts as special cases (one solid segment
to move; one pair to fill; one object and a pivot to mirror; a leftmost 3-block and single pixels
to copy; head-plus-body objects to flip). Inputs of an inverse intent are the outputs of the
forward rule on a sampled forward input, so both directions see the same family of rows.
"""

from __future__ import annotations

import random

from metagnn.errors import ConfigError
from metagnn.tasks.arc1d.rules import FAMILY_OF_RULE, PIVOT, Intent, Row, RuleUndefined, apply

MAX_TRIES = 100


def _compose(rng: random.Random, total: int, parts: int) -> list[int]:
    """``parts`` non-negative integers summing to ``total``, uniformly over compositions."""
    cuts = sorted(rng.randint(0, total) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def _place(rng: random.Random, sizes: list[int], lo: int, hi: int, min_gap: int = 1) -> list[int] | None:
    """Random starts for objects of ``sizes`` inside ``[lo, hi)``, left to right, ``>= min_gap`` apart."""
    slack = (hi - lo) - sum(sizes) - min_gap * (len(sizes) - 1)
    if slack < 0:
        return None
    extra = _compose(rng, slack, len(sizes) + 1)
    starts, pos = [], lo + extra[0]
    for size, e in zip(sizes, extra[1:], strict=True):
        starts.append(pos)
        pos += size + min_gap + e
    return starts


def _object(rng: random.Random, size: int, multicolour: float = 0.3, colours: range = range(1, 10)) -> list[int]:
    """A solid object of one colour, or (with probability ``multicolour``) cells of random colours."""
    if rng.random() < multicolour:
        return [rng.choice(colours) for _ in range(size)]
    return [rng.choice(colours)] * size


def _objects_row(
    rng: random.Random, length: int, n: int, lo: int, hi: int, multicolour: float = 0.3, min_size: int = 1
) -> Row | None:
    """A row of ``length`` with ``n`` objects (gaps >= 1) inside ``[lo, hi)``."""
    room = hi - lo - (n - 1)
    cap = room // n
    if cap < min_size:
        return None
    sizes = [rng.randint(min_size, cap) for _ in range(n)]
    starts = _place(rng, sizes, lo, hi)
    if starts is None:
        return None
    row = [0] * length
    for s, size in zip(starts, sizes, strict=True):
        row[s : s + size] = _object(rng, size, multicolour)
    return row


def _shift_input(rng: random.Random, length: int, offset: int) -> Row | None:
    lo, hi = (0, length - offset) if offset > 0 else (-offset, length)
    return _objects_row(rng, length, rng.choice([1, 1, 2, 3]), lo, hi)


def _fill_input(rng: random.Random, length: int) -> Row:
    """One pair of same-coloured pixels, at least one background cell apart."""
    span = rng.randint(3, length)
    a = rng.randint(0, length - span)
    row = [0] * length
    row[a] = row[a + span - 1] = rng.randint(1, 9)
    return row


def _mirror_input(rng: random.Random, length: int) -> Row:
    """A solid object left of the pivot, with a gap of 0 or more cells."""
    reach = (length - 1) // 2  # object size + gap must fit on both sides
    size = rng.randint(1, reach)
    gap = rng.randint(0, reach - size)
    p = rng.randint(gap + size, length - 1 - gap - size)
    row = [0] * length
    row[p] = PIVOT
    row[p - gap - size : p - gap] = [rng.randint(1, 8)] * size
    return row


def _pcopy_input(rng: random.Random, length: int) -> Row | None:
    """A leftmost solid 3-block, then 1..4 single pixels (one colour, or each its own)."""
    n = rng.randint(1, 4)
    gaps = [rng.randint(2, 5)] + [rng.randint(3, 6) for _ in range(n - 1)]
    span = 3 + sum(gaps) + n  # from the block's first cell to just past the last single
    if span > length - 1:  # the last single's block needs the cell to its right
        return None
    start = rng.randint(0, length - 1 - span)
    colour = rng.randint(1, 9)
    one_colour = rng.random() < 0.5
    row = [0] * length
    row[start : start + 3] = [colour] * 3
    pos = start + 3
    for g in gaps:
        pos += g
        row[pos] = colour if one_colour else rng.randint(1, 9)
        pos += 1
    return row


def _flip_input(rng: random.Random, length: int) -> Row | None:
    """One or two objects, each a head pixel at one end plus a one-coloured body (length >= 1)."""
    n = rng.choice([1, 1, 1, 2])
    row = _objects_row(rng, length, n, 0, length, multicolour=0.0, min_size=2)
    if row is None:
        return None
    for a in range(length):
        if row[a] and (a == 0 or not row[a - 1]):  # first cell of an object
            b = a
            while b < length and row[b]:
                b += 1
            head = rng.choice([c for c in range(1, 10) if c != row[a]])
            row[a if rng.random() < 0.5 else b - 1] = head
    return row


def _recolour_input(rng: random.Random, length: int) -> Row | None:
    return _objects_row(rng, length, rng.randint(1, 4), 0, length, multicolour=0.5)


def _forward_input(intent: Intent, rng: random.Random, length: int) -> Row | None:
    rule, _, k = intent
    if rule == "shift":
        assert k is not None
        return _shift_input(rng, length, k if intent.direction == "forward" else -k)
    if rule == "fill":
        return _fill_input(rng, length)
    if rule == "mirror":
        return _mirror_input(rng, length)
    if rule == "pcopy":
        return _pcopy_input(rng, length)
    if rule == "flip":
        return _flip_input(rng, length)
    return _recolour_input(rng, length)


def sample_pair(intent: Intent, rng: random.Random, width: int = 36, min_length: int = 7) -> tuple[Row, Row]:
    """One ``(input, output)`` pair of ``intent`` on a row of random length in ``min_length..width`` (for a
    family rule, up to the family's longest row).

    The rule is always defined on the input. For an inverse intent (other than shift, which is
    sampled directly), the input is the forward rule's output on a sampled forward input.
    """
    if intent.rule in FAMILY_OF_RULE:  # the family's own generator, on rows up to the family's longest
        from metagnn.tasks.arc1d.families import FAMILIES  # (families builds on this module)

        family = FAMILIES[FAMILY_OF_RULE[intent.rule]]
        length = rng.randint(max(min_length, family.min_length), min(width, family.max_length))
        return family.generate(rng, length, family.params_of(intent.k))
    for _ in range(MAX_TRIES):
        length = rng.randint(min_length, width)
        if intent.direction == "inverse" and intent.rule != "shift":
            row = _forward_input(intent._replace(direction="forward"), rng, length)
            if row is None:
                continue
            try:
                row = apply(intent._replace(direction="forward"), row)
            except RuleUndefined:
                continue
        else:
            row = _forward_input(intent, rng, length)
            if row is None:
                continue
        try:
            return row, apply(intent, row)
        except RuleUndefined:
            continue
    raise ConfigError(
        f"arc1d: no row for intent {intent.key} in {MAX_TRIES} tries (width {width}, min_length {min_length})"
    )
