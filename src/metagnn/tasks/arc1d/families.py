"""The 18 families of the real 1D-ARC benchmark as clean-room rules with row generators.

A *family* is one folder of the benchmark (``1d_<family>``, 35 tasks of three train pairs and one
test pair): every pair of every task of the family follows one rule, up to a few parameters that
are fixed within a task (a colour, a size-to-colour table). Here each family is a :class:`Family`:

* its **rule**, a pure function ``row -> row`` (same length) that raises :class:`RuleUndefined`
  where the rule is not defined on a row. Three families (``recolor_cmp``, ``recolor_cnt``,
  ``recolor_oe``) recolour objects to task-specific colours that no row shows; they have a ``fit``
  that reads those colours from a task's train pairs (:class:`FitError` if it cannot) and an
  ``apply(row, params)``. :meth:`Family.task_rule` gives the ``row -> row`` rule of a task either way;
* a **generator** ``generate(rng, length)`` of ``(input, output)`` pairs, the output being the rule
  applied to the input. It samples colours ``1..9``, object sizes, gaps and positions widely, with
  the real tasks' layouts as special cases, on rows of the given length (``min_length..max_length``;
  ``max_length`` is the longest real row of the family);
* a one-line description of the rule.

The rules were worked out from the real files alone (no other source) and are verified by
``tests/test_arc1d_families.py``: for every family and every task ``0..34``, the rule (fitted on the
task's three train pairs where it needs fitting) reproduces the output of every train and test pair,
and ``max_length`` is the longest real row; generated pairs are checked against the rule and for variety.
Where the real data fixes one orientation (the destination pixel of the ``*_dp`` families is always
right of the segment, a flipped object's head is always on its left), the rule is written for both
sides and the generators sample both; ``mirror`` keeps the one side of :func:`rules.mirror`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from metagnn.errors import IntentError
from metagnn.tasks.arc1d.generator import _place
from metagnn.tasks.arc1d.rules import PIVOT, Row, RuleUndefined, fill, flip, hollow, mirror, objects, pcopy, shift

Pair = tuple[Row, Row]
COLOURS = range(1, 10)
MAX_TRIES = 200


class FitError(ValueError):
    """A task's train pairs do not determine the parameters of its family's rule."""


# --- helpers -------------------------------------------------------------------------------
def _colour(rng: random.Random, *avoid: int) -> int:
    """A random colour ``1..9`` other than ``avoid``."""
    return rng.choice([c for c in COLOURS if c not in avoid])


def _two_objects(row: Sequence[int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """The segment (size >= 2) and the single destination pixel of a ``*_dp`` row, in that order."""
    objs = objects(row)
    if len(objs) != 2:
        raise RuleUndefined(f"a segment and a destination pixel are needed, found {len(objs)} objects")
    singles = [o for o in objs if o[1] - o[0] == 1]
    if len(singles) != 1:
        raise RuleUndefined("exactly one of the two objects must be a single pixel (the destination)")
    pixel = singles[0]
    segment = objs[0] if objs[1] == pixel else objs[1]
    if len(set(row[segment[0] : segment[1]])) != 1:
        raise RuleUndefined("the segment must be of one colour")
    return segment, pixel


def _gap(segment: tuple[int, int], pixel: tuple[int, int]) -> int:
    """Background cells between the segment and the pixel; positive if the pixel is on the right."""
    return pixel[0] - segment[1] if pixel[0] > segment[0] else -(segment[0] - pixel[1])


def _recolour_objects(row: Sequence[int], colour_of: Callable[[int, int], int]) -> Row:
    """Every object ``(start, stop)`` of ``row`` painted in ``colour_of(start, stop)``."""
    objs = objects(row)
    if not objs:
        raise RuleUndefined("there is no object to recolour")
    out = list(row)
    for a, b in objs:
        out[a:b] = [colour_of(a, b)] * (b - a)
    return out


def _fit_object_colours(pairs: Sequence[Pair], key: Callable[[Sequence[int], int, int], Any]) -> dict[Any, int]:
    """The output colour of each ``key(row, start, stop)`` of the input objects, read off ``pairs``.

    Objects whose key is ``None`` are skipped. Raises :class:`FitError` if an object is not painted in
    one colour or two objects with the same key get different colours.
    """
    table: dict[Any, int] = {}
    for x, y in pairs:
        for a, b in objects(x):
            k, colours = key(x, a, b), set(y[a:b])
            if k is None:  # an object the rule leaves alone
                continue
            if len(colours) != 1 or 0 in colours:
                raise FitError(f"the input object at {a}..{b - 1} is not painted in one colour")
            c = colours.pop()
            if table.setdefault(k, c) != c:
                raise FitError(f"objects with key {k!r} get colours {table[k]} and {c}")
    return table


def _place_sizes(rng: random.Random, sizes: list[int], length: int, min_gap: int = 1) -> list[int]:
    """Random starts for objects of ``sizes`` in a row of ``length``, in the given order; ValueError if no room."""
    starts = _place(rng, sizes, 0, length, min_gap)
    if starts is None:
        raise ValueError(f"objects of sizes {sizes} do not fit in a row of length {length}")
    return starts


def _random_sizes(rng: random.Random, length: int, lo: int, hi: int, n_max: int) -> list[int]:
    """1..``n_max`` sizes in ``lo..hi`` that fit, one cell apart, in a row of ``length`` (at least one)."""
    sizes = [rng.randint(lo, min(hi, length))]
    for _ in range(rng.randint(1, n_max) - 1):
        size = rng.randint(lo, hi)
        if sum(sizes) + len(sizes) + size > length:
            break
        sizes.append(size)
    rng.shuffle(sizes)
    return sizes


# --- the rules -----------------------------------------------------------------------------
def denoise_one_colour(row: Sequence[int]) -> Row:
    """Keep only the longest object (the segment); every other object (noise) becomes background.

    Undefined without objects or when the longest size is shared.
    """
    objs = objects(row)
    if not objs:
        raise RuleUndefined("denoising needs an object")
    sizes = sorted((b - a for a, b in objs), reverse=True)
    if len(sizes) > 1 and sizes[0] == sizes[1]:
        raise RuleUndefined("denoising: two objects share the longest size")
    a, b = max(objs, key=lambda o: o[1] - o[0])
    out = [0] * len(row)
    out[a:b] = row[a:b]
    return out


def denoise_multicolour(row: Sequence[int]) -> Row:
    """The single object takes its majority colour (the noise cells of other colours in it disappear).

    Undefined unless there is exactly one object with a unique majority colour.
    """
    objs = objects(row)
    if len(objs) != 1:
        raise RuleUndefined(f"denoising needs exactly one object, found {len(objs)}")
    (a, b) = objs[0]
    counts = Counter(row[a:b]).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        raise RuleUndefined("denoising: no unique majority colour")
    out = list(row)
    out[a:b] = [counts[0][0]] * (b - a)
    return out


def move_to_pixel(row: Sequence[int]) -> Row:
    """The one-coloured segment moves toward the single destination pixel until it touches it."""
    segment, pixel = _two_objects(row)
    return shift_segment(row, segment, _gap(segment, pixel))


def move_two_to_pixel(row: Sequence[int]) -> Row:
    """The one-coloured segment moves 2 cells toward the single destination pixel, which it then touches.

    Undefined unless exactly two background cells lie between them.
    """
    segment, pixel = _two_objects(row)
    gap = _gap(segment, pixel)
    if abs(gap) != 2:
        raise RuleUndefined(f"move_2p_dp: the segment is {abs(gap)} cells from the pixel, not 2")
    return shift_segment(row, segment, gap)


def shift_segment(row: Sequence[int], segment: tuple[int, int], offset: int) -> Row:
    """Move the cells of ``segment`` (``(start, stop)``) by ``offset``; the rest of the row stays."""
    a, b = segment
    out = list(row)
    out[a:b] = [0] * (b - a)
    out[a + offset : b + offset] = row[a:b]
    return out


def scale_to_pixel(row: Sequence[int]) -> Row:
    """The one-coloured segment grows toward the single destination pixel until it touches it (far end stays)."""
    (a, b), pixel = _two_objects(row)
    out = list(row)
    if pixel[0] > a:
        out[a : pixel[0]] = [row[a]] * (pixel[0] - a)
    else:
        out[pixel[1] : b] = [row[a]] * (b - pixel[1])
    return out


def recolour_longest(row: Sequence[int], colour: int) -> Row:
    """Every object of the largest size in the row is painted ``colour``; the others keep their colours."""
    objs = objects(row)
    if not objs:
        raise RuleUndefined("there is no object to recolour")
    longest = max(b - a for a, b in objs)
    out = list(row)
    for a, b in objs:
        if b - a == longest:
            out[a:b] = [colour] * (b - a)
    return out


def recolour_by_size(row: Sequence[int], colours: Mapping[int, int]) -> Row:
    """Every object is painted ``colours[its size]``. Undefined if a size has no colour."""

    def colour_of(a: int, b: int) -> int:
        if b - a not in colours:
            raise RuleUndefined(f"no colour for objects of size {b - a}")
        return colours[b - a]

    return _recolour_objects(row, colour_of)


def recolour_by_parity(row: Sequence[int], colours: Mapping[int, int]) -> Row:
    """Every object is painted ``colours[its size % 2]`` (odd sizes under key 1, even under 0)."""

    def colour_of(a: int, b: int) -> int:
        if (b - a) % 2 not in colours:
            raise RuleUndefined(f"no colour for objects of {'odd' if (b - a) % 2 else 'even'} size")
        return colours[(b - a) % 2]

    return _recolour_objects(row, colour_of)


# --- fitting -------------------------------------------------------------------------------
def fit_longest_colour(pairs: Sequence[Pair]) -> int:
    """``recolor_cmp``: the colour the longest objects of the train inputs are painted."""
    table = _fit_object_colours(pairs, lambda x, a, b: True if b - a == max(e - s for s, e in objects(x)) else None)
    if True not in table:
        raise FitError("the pairs hold no object to read the colour from")
    return table[True]


def fit_size_colours(pairs: Sequence[Pair]) -> dict[int, int]:
    """``recolor_cnt``: object size -> colour, as the train pairs show it."""
    return _fit_object_colours(pairs, lambda x, a, b: b - a)


def fit_parity_colours(pairs: Sequence[Pair]) -> dict[int, int]:
    """``recolor_oe``: size parity (1 odd, 0 even) -> colour, as the train pairs show it."""
    return _fit_object_colours(pairs, lambda x, a, b: (b - a) % 2)


# --- the generators --------------------------------------------------------------------------
def _gen_denoising_1c(rng: random.Random, length: int) -> Row:
    """A segment (size >= 2) and 1..8 single noise pixels of its colour, all apart."""
    size = rng.randint(2, length - 2)
    n_noise = rng.randint(1, min(8, (length - size) // 2))
    sizes = [size] + [1] * n_noise
    rng.shuffle(sizes)
    colour, row = _colour(rng), [0] * length
    for s, k in zip(_place_sizes(rng, sizes, length), sizes):
        row[s : s + k] = [colour] * k
    return row


def _gen_denoising_mc(rng: random.Random, length: int) -> Row:
    """One segment with fewer than half of its cells turned into noise of other colours."""
    size = rng.randint(3, length)
    start = rng.randint(0, length - size)
    colour, row = _colour(rng), [0] * length
    row[start : start + size] = [colour] * size
    for i in rng.sample(range(start, start + size), rng.randint(1, min(6, (size - 1) // 2))):
        row[i] = _colour(rng, colour)
    return row


def _gen_fill(rng: random.Random, length: int) -> Row:
    """One pair of same-coloured pixels with at least one background cell between them."""
    span = rng.randint(3, length)
    a, row = rng.randint(0, length - span), [0] * length
    row[a] = row[a + span - 1] = _colour(rng)
    return row


def _gen_padded_fill(rng: random.Random, length: int) -> Row:
    """Several pixel pairs, apart: the real layout (one block repeated 2..4 times) or pairs at random."""
    row = [0] * length
    colour = _colour(rng)
    copies = rng.randint(2, 4)
    if rng.random() < 0.5 and length // copies >= 4:
        width = length // copies
        span = rng.randint(3, width - 1)  # a background cell in every block keeps the pairs apart
        a = rng.randint(0, width - span)
        for k in range(copies):
            row[k * width + a] = row[k * width + a + span - 1] = colour
        return row
    spans = _random_sizes(rng, length, 3, max(3, length // 3), 6)
    mixed = rng.random() < 0.3
    for s, k in zip(_place_sizes(rng, spans, length), spans):
        row[s] = row[s + k - 1] = _colour(rng) if mixed else colour
    return row


def _gen_hollow(rng: random.Random, length: int) -> Row:
    """One solid segment of size >= 3."""
    size = rng.randint(3, length)
    a, row = rng.randint(0, length - size), [0] * length
    row[a : a + size] = [_colour(rng)] * size
    return row


def _gen_flip(rng: random.Random, length: int) -> Row:
    """One object: a one-coloured body (size >= 1) and a head pixel of another colour at either end."""
    size = rng.randint(2, length)
    a, row = rng.randint(0, length - size), [0] * length
    body = _colour(rng)
    row[a : a + size] = [body] * size
    row[a if rng.random() < 0.5 else a + size - 1] = _colour(rng, body)
    return row


def _gen_mirror(rng: random.Random, length: int) -> Row:
    """A solid object (not colour 9) left of the colour-9 pivot, ``gap >= 0`` cells away, room to reflect it."""
    reach = (length - 1) // 2
    size = rng.randint(1, reach)
    gap = rng.randint(0, reach - size)
    p = rng.randint(gap + size, length - 1 - gap - size)
    row = [0] * length
    row[p] = PIVOT
    row[p - gap - size : p - gap] = [_colour(rng, PIVOT)] * size
    return row


def _gen_move(offset: int) -> Callable[[random.Random, int], Row]:
    def gen(rng: random.Random, length: int) -> Row:
        """One solid segment with room to move ``offset`` cells right."""
        size = rng.randint(1, length - offset)
        a, row = rng.randint(0, length - offset - size), [0] * length
        row[a : a + size] = [_colour(rng)] * size
        return row

    return gen


def _gen_dp(gap_range: Callable[[random.Random, int], int]) -> Callable[[random.Random, int], Row]:
    def gen(rng: random.Random, length: int) -> Row:
        """A solid segment (size >= 2) and a pixel of another colour, ``gap`` cells apart, on either side."""
        gap = gap_range(rng, length)
        size = rng.randint(2, length - gap - 1)
        a = rng.randint(0, length - gap - 1 - size)
        colour, row = _colour(rng), [0] * length
        row[a : a + size] = [colour] * size
        row[a + size + gap] = _colour(rng, colour)
        return row[::-1] if rng.random() < 0.5 else row

    return gen


def _gen_pcopy(one_colour: bool) -> Callable[[random.Random, int], Row]:
    def gen(rng: random.Random, length: int) -> Row:
        """A solid 3-block, then single pixels far enough apart to grow into 3-blocks that touch nothing."""
        start = rng.randint(0, length - 7 if rng.random() < 0.5 else min(3, length - 7))  # often near the left
        colour, row = _colour(rng), [0] * length
        row[start : start + 3] = [colour] * 3
        end = start + 3  # just past the last (future) block
        for _ in range(rng.randint(1, 5)):
            lo, hi = end + 2, min(end + 8, length - 2)  # the pixel's block must leave a gap and fit in the row
            if lo > hi:
                break
            q = rng.randint(lo, hi)
            row[q] = colour if one_colour else _colour(rng)
            end = q + 2
        return row

    return gen


def _gen_recolour(max_size: int) -> Callable[[random.Random, int, Any], Row]:
    def gen(rng: random.Random, length: int, params: Any) -> Row:
        """1..7 solid objects of one colour (none of the task's colours), sizes ``1..max_size``, apart."""
        task_colours = params.values() if isinstance(params, Mapping) else (params,)
        sizes = _random_sizes(rng, length, 1, max_size, 7)
        colour, row = _colour(rng, *task_colours), [0] * length
        for s, k in zip(_place_sizes(rng, sizes, length), sizes):
            row[s : s + k] = [colour] * k
        return row

    return gen


def _sample_size_colours(rng: random.Random) -> dict[int, int]:
    return dict(zip((1, 2, 3), rng.sample(COLOURS, 3)))


def _sample_parity_colours(rng: random.Random) -> dict[int, int]:
    return dict(zip((1, 0), rng.sample(COLOURS, 2)))


# --- the registry --------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """One 1D-ARC family: its rule (or ``apply`` + ``fit``), its input sampler and its real row lengths.

    ``rule`` is set for the families whose rule needs no parameters; the others have
    ``apply(row, params)``, ``fit(train_pairs) -> params`` and ``sample_params(rng)``, and
    ``colours(params)`` / ``from_colours(colours)`` between their parameters and the tuple of task colours
    that an intent of :data:`~metagnn.tasks.arc1d.rules.COLOUR_RULES` carries as its ``k``.
    """

    name: str
    max_length: int  # the longest real row of the family
    min_length: int  # the shortest row the generator can fill (>= 3)
    description: str
    sample_input: Callable[..., Row]  # (rng, length), or (rng, length, params) for the families with a fit
    rule: Callable[[Sequence[int]], Row] | None = None
    apply: Callable[[Sequence[int], Any], Row] | None = None
    fit: Callable[[Sequence[Pair]], Any] | None = None
    sample_params: Callable[[random.Random], Any] | None = None
    colours: Callable[[Any], tuple[int, ...]] | None = None
    from_colours: Callable[[tuple[int, ...]], Any] | None = None

    @property
    def needs_fit(self) -> bool:
        return self.fit is not None

    def params_of(self, k: tuple[int, ...] | None) -> Any:
        """The parameters of the intent whose ``k`` is ``k`` (the task's colours): None for a family without
        colours; :class:`~metagnn.errors.IntentError` if ``k`` does not name the colours of one that has them."""
        if self.from_colours is None:
            return None
        if not isinstance(k, tuple) or len(k) != len(set(k)):
            raise IntentError(f"{self.name}: an intent of this family needs the task's colours as k, got {k!r}")
        return self.from_colours(k)

    def intent_rule(self, k: tuple[int, ...] | None = None) -> Callable[[Sequence[int]], Row]:
        """The ``row -> row`` rule of the intent whose ``k`` is ``k`` (the task's colours, families with a fit)."""
        if self.rule is not None:
            return self.rule
        assert self.apply is not None
        params, apply = self.params_of(k), self.apply
        return lambda row: apply(row, params)

    def task_colours(self, train_pairs: Sequence[Pair]) -> tuple[int, ...]:
        """The task colours that ``train_pairs`` show, in the order of the intent's ``k``; :class:`FitError`
        if the pairs do not show every one, or show one colour in two roles (no intent has it)."""
        assert self.fit is not None and self.colours is not None
        try:
            colours = self.colours(self.fit(train_pairs))
        except KeyError:
            raise FitError(f"{self.name}: the pairs do not show every colour of the task") from None
        if len(set(colours)) < len(colours):
            raise FitError(f"{self.name}: the pairs paint two roles in one colour ({colours})")
        return colours

    def task_rule(self, train_pairs: Sequence[Pair] = ()) -> Callable[[Sequence[int]], Row]:
        """The ``row -> row`` rule of one task, fitted on its ``train_pairs`` if the family needs fitting."""
        if self.rule is not None:
            return self.rule
        assert self.apply is not None and self.fit is not None
        params, apply = self.fit(train_pairs), self.apply
        return lambda row: apply(row, params)

    def generate(self, rng: random.Random, length: int, params: Any = None) -> Pair:
        """An ``(input, output)`` pair on a row of ``length``, the output being the rule applied to the input.

        ``params`` (families with a fit only) fixes the task parameters; by default they are sampled.
        Raises ``ValueError`` for a length outside ``min_length..max_length``.
        """
        if not self.min_length <= length <= self.max_length:
            raise ValueError(f"{self.name}: length {length} is outside {self.min_length}..{self.max_length}")
        if self.rule is None:
            assert self.apply is not None and self.sample_params is not None
            if params is None:
                params = self.sample_params(rng)
            apply, extra = self.apply, (params,)
            rule: Callable[[Sequence[int]], Row] = lambda row: apply(row, params)
        else:
            rule, extra = self.rule, ()
        for _ in range(MAX_TRIES):
            row = self.sample_input(rng, length, *extra)
            try:
                return row, rule(row)
            except RuleUndefined:
                continue
        raise RuntimeError(f"{self.name}: no row of length {length} in {MAX_TRIES} tries")


_dp_gap = lambda rng, n: rng.randint(1, n - 3)  # any gap that leaves room for a segment of size >= 2

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        # name, max_length (longest real row), min_length, description, input sampler, rule or apply + fit
        Family(
            "denoising_1c",
            33,
            4,
            "keep the longest object, erase the noise pixels",
            _gen_denoising_1c,
            rule=denoise_one_colour,
        ),
        Family(
            "denoising_mc",
            33,
            3,
            "the single object takes its majority colour",
            _gen_denoising_mc,
            rule=denoise_multicolour,
        ),
        Family("fill", 31, 3, "fill between two same-coloured pixels", _gen_fill, rule=fill),
        Family("flip", 32, 3, "reverse each object (its head pixel goes to the other end)", _gen_flip, rule=flip),
        Family("hollow", 31, 3, "keep only the two end cells of each solid segment", _gen_hollow, rule=hollow),
        Family("mirror", 32, 3, "reflect the object left of the colour-9 pivot to its right", _gen_mirror, rule=mirror),
        Family("move_1p", 30, 3, "move the object 1 cell right", _gen_move(1), rule=partial(shift, offset=1)),
        Family("move_2p", 30, 3, "move the object 2 cells right", _gen_move(2), rule=partial(shift, offset=2)),
        Family(
            "move_2p_dp",
            30,
            5,
            "move the segment 2 cells, onto the destination pixel",
            _gen_dp(lambda rng, n: 2),
            rule=move_two_to_pixel,
        ),
        Family("move_3p", 30, 4, "move the object 3 cells right", _gen_move(3), rule=partial(shift, offset=3)),
        Family(
            "move_dp",
            30,
            4,
            "move the segment until it touches the destination pixel",
            _gen_dp(_dp_gap),
            rule=move_to_pixel,
        ),
        Family("padded_fill", 93, 3, "fill between each pair of same-coloured pixels", _gen_padded_fill, rule=fill),
        Family(
            "pcopy_1c", 33, 7, "single pixels grow into copies of the leftmost 3-block", _gen_pcopy(True), rule=pcopy
        ),
        Family(
            "pcopy_mc", 33, 7, "single pixels grow into 3-blocks of their own colour", _gen_pcopy(False), rule=pcopy
        ),
        Family(
            "recolor_cmp",
            33,
            3,
            "paint the largest objects in the task's colour",
            _gen_recolour(8),
            apply=recolour_longest,
            fit=fit_longest_colour,
            sample_params=_colour,
            colours=lambda colour: (colour,),
            from_colours=lambda ks: ks[0],
        ),
        Family(
            "recolor_cnt",
            33,
            3,
            "paint objects of size 1, 2, 3 in the task's three colours",
            _gen_recolour(3),
            apply=recolour_by_size,
            fit=fit_size_colours,
            sample_params=_sample_size_colours,
            colours=lambda table: (table[1], table[2], table[3]),
            from_colours=lambda ks: dict(zip((1, 2, 3), ks)),
        ),
        Family(
            "recolor_oe",
            32,
            3,
            "paint odd- and even-sized objects in the task's two colours",
            _gen_recolour(8),
            apply=recolour_by_parity,
            fit=fit_parity_colours,
            sample_params=_sample_parity_colours,
            colours=lambda table: (table[1], table[0]),
            from_colours=lambda ks: dict(zip((1, 0), ks)),
        ),
        Family(
            "scale_dp",
            30,
            4,
            "grow the segment until it touches the destination pixel",
            _gen_dp(_dp_gap),
            rule=scale_to_pixel,
        ),
    ]
}
