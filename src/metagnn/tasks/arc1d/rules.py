"""Clean-room 1D-ARC rules (SPEC 3), forward and inverse, on single rows of colours.

A row is a sequence of colours ``0..9`` (``0`` is background). An *object* is a maximal run of
non-background cells. Every rule function maps a row to a new row of the same length, or raises
:class:`RuleUndefined` when the rule is not well defined on that row (e.g. an object would leave
the row). The functions are written from the rule descriptions of SPEC 3 alone; a test checks that
they reproduce every real task of the families they cover.

Intents are ``(rule, direction, k)`` (:class:`Intent`); the canonical text form, used on the
command line, in configs and in result tables, joins the parts with ``-`` and leaves out what the
rule does not have: ``shift-forward-3``, ``shift-inverse-1``, ``fill-forward``, ``fill-inverse``,
``mirror-forward``, ``mirror-inverse``, ``pcopy-forward``, ``pcopy-inverse``, ``flip``,
``recolour-7``. (``-`` rather than ``,``, because ``--intents`` lists are comma-separated.)

Besides these six rules (:data:`RULES`, the arc1d task's default vocabulary), five rules of other real
families are intents too (:data:`FAMILY_RULES`, forward only and without ``k``): ``denoise``
(denoising_1c), ``majority`` (denoising_mc), ``movedp`` (move_dp), ``move2dp`` (move_2p_dp) and
``scaledp`` (scale_dp), the rules of :mod:`metagnn.tasks.arc1d.families`. Three more paint objects in
colours that a task fixes (:data:`COLOUR_RULES`): their ``k`` is the tuple of those colours, distinct, and
the key lists them: ``longest-7`` (recolor_cmp: the largest objects become 7), ``bysize-1-8-5``
(recolor_cnt: objects of size 1, 2, 3 become 1, 8, 5), ``parity-8-1`` (recolor_oe: odd sizes 8, even 1).
A task trains on these rules only when its config lists them among its rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations
from typing import Any, NamedTuple

from metagnn.errors import IntentError

N_COLOURS = 10
PIVOT = 9  # mirror's pivot colour
RULES = ("shift", "fill", "mirror", "pcopy", "flip", "recolour")
# Real families' rules as intents (rule name -> family of metagnn.tasks.arc1d.families).
FAMILY_RULES = {"denoise": "denoising_1c", "majority": "denoising_mc", "movedp": "move_dp",
                "move2dp": "move_2p_dp", "scaledp": "scale_dp"}  # fmt: skip
# Real families whose rule paints objects in colours that each task fixes: rule -> (family, number of colours).
COLOUR_RULES = {"longest": ("recolor_cmp", 1), "bysize": ("recolor_cnt", 3), "parity": ("recolor_oe", 2)}
ALL_RULES = (*RULES, *FAMILY_RULES, *COLOUR_RULES)
# Every rule that is a real family's own (FAMILY_RULES and COLOUR_RULES) -> that family.
FAMILY_OF_RULE = {**FAMILY_RULES, **{rule: family for rule, (family, _) in COLOUR_RULES.items()}}
DIRECTIONS = ("forward", "inverse")
SHIFT_K = range(1, 5)
RECOLOUR_K = range(1, 10)
# Rules with an inverse intent, and rules whose intent carries k.
INVERTIBLE = ("shift", "fill", "mirror", "pcopy")
WITH_K = {"shift": SHIFT_K, "recolour": RECOLOUR_K}

Row = list[int]


class RuleUndefined(ValueError):
    """The rule is not well defined on this row (not a user-facing error: generators avoid it)."""


class Intent(NamedTuple):
    """A 1D-ARC intent: ``rule``, ``direction`` (``forward`` / ``inverse``) and ``k`` (``None`` if unused; the
    tuple of the task's colours for a rule of :data:`COLOUR_RULES`)."""

    rule: str
    direction: str = "forward"
    k: Any = None  # int, tuple[int, ...] (COLOUR_RULES) or None

    @property
    def key(self) -> str:
        """Canonical text form (see the module docstring); :func:`parse_intent` reads it back."""
        if self.rule == "flip" or self.rule in FAMILY_RULES:
            return self.rule
        if self.rule == "recolour":
            return f"recolour-{self.k}"
        if self.rule in COLOUR_RULES:
            return "-".join([self.rule, *map(str, self.k or ())])
        return "-".join([self.rule, self.direction, *([str(self.k)] if self.k is not None else [])])


def all_intents(rules: Sequence[str] = RULES) -> list[Intent]:
    """Every intent of ``rules``, in a fixed order (24 for the default six rules; family rules come last)."""
    out = [Intent("shift", d, k) for d in DIRECTIONS for k in SHIFT_K] if "shift" in rules else []
    out += [Intent(r, d) for r in ("fill", "mirror", "pcopy") if r in rules for d in DIRECTIONS]
    out += [Intent("flip")] if "flip" in rules else []
    out += [Intent("recolour", "forward", k) for k in RECOLOUR_K] if "recolour" in rules else []
    out += [Intent(r) for r in FAMILY_RULES if r in rules]
    for rule, (_, n) in COLOUR_RULES.items():  # 9, 504 and 72 intents
        out += [Intent(rule, "forward", ks) for ks in permutations(RECOLOUR_K, n)] if rule in rules else []
    return out


def check_intent(intent: Intent) -> Intent:
    """Return ``intent`` if it exists in the family, else raise :class:`IntentError` naming what is wrong."""
    rule, direction, k = intent
    if rule not in ALL_RULES:
        raise IntentError(f"arc1d: unknown rule {rule!r}; rules: {', '.join(ALL_RULES)}")
    if direction not in DIRECTIONS:
        raise IntentError(f"arc1d: direction must be forward or inverse, got {direction!r}")
    if direction == "inverse" and rule not in INVERTIBLE:
        raise IntentError(f"arc1d: rule {rule} has no inverse intent (inverse exists for {', '.join(INVERTIBLE)})")
    if rule in COLOUR_RULES:
        n = COLOUR_RULES[rule][1]
        ks = tuple(k) if isinstance(k, (tuple, list)) else ()
        if len(ks) != n or len(set(ks)) != n or not all(type(c) is int and c in RECOLOUR_K for c in ks):
            raise IntentError(f"arc1d: {rule} needs {n} distinct colour{'s' * (n > 1)} in 1..9, got {k!r}")
        return Intent(rule, direction, ks)
    if rule in WITH_K:
        ks = WITH_K[rule]
        if isinstance(k, bool) or not isinstance(k, int) or k not in ks:
            raise IntentError(f"arc1d: {rule} needs k in {ks.start}..{ks.stop - 1}, got {k!r}")
    elif k is not None:
        raise IntentError(f"arc1d: rule {rule} takes no k, got {k!r}")
    return Intent(rule, direction, k)


def parse_intent(text: str) -> Intent:
    """Parse ``rule[-direction][-k]`` (e.g. ``shift-inverse-3``, ``fill-forward``, ``recolour-7``, ``flip``).

    The direction may be left out (``forward``); ``flip-forward`` and ``recolour-forward-7`` are
    accepted too. Raises :class:`IntentError` with the accepted forms.
    """
    form = "expected rule[-forward|-inverse][-k], e.g. shift-inverse-3, fill-forward, recolour-7, flip, bysize-1-8-5"
    if not isinstance(text, str):
        raise IntentError(f"arc1d: intent {text!r} is not text; {form}")
    parts = text.strip().lower().split("-")
    rule = parts.pop(0)
    if rule not in ALL_RULES:
        raise IntentError(f"arc1d: unknown rule {rule!r} in intent {text!r}; {form}")
    direction = parts.pop(0) if parts and parts[0] in DIRECTIONS else "forward"
    k: Any = None
    try:
        if rule in COLOUR_RULES:
            k, parts = tuple(int(c) for c in parts), []
        elif parts:
            k = int(parts.pop(0))
    except ValueError:
        raise IntentError(f"arc1d: cannot read intent {text!r}; {form}") from None
    if parts or not rule:
        raise IntentError(f"arc1d: cannot read intent {text!r}; {form}")
    try:
        return check_intent(Intent(rule, direction, k))
    except IntentError as e:
        raise IntentError(f"{e} (intent {text!r})") from None


# --- objects -------------------------------------------------------------------------------
def objects(row: Sequence[int]) -> list[tuple[int, int]]:
    """Maximal runs of non-background cells, as ``(start, stop)`` (stop exclusive), left to right."""
    out, start = [], None
    for i, c in enumerate(row):
        if c and start is None:
            start = i
        elif not c and start is not None:
            out.append((start, i))
            start = None
    if start is not None:
        out.append((start, len(row)))
    return out


def colour_runs(row: Sequence[int]) -> list[tuple[int, int, int]]:
    """Maximal runs of one non-background colour, as ``(start, stop, colour)``."""
    out: list[tuple[int, int, int]] = []
    for i, c in enumerate(row):
        if not c:
            continue
        if out and out[-1][1] == i and out[-1][2] == c:
            out[-1] = (out[-1][0], i + 1, c)
        else:
            out.append((i, i + 1, c))
    return out


# --- the rules -----------------------------------------------------------------------------
def shift(row: Sequence[int], offset: int) -> Row:
    """Move every object ``offset`` cells (right if positive). Undefined if content would leave the row."""
    n = len(row)
    out = [0] * n
    for i, c in enumerate(row):
        if c:
            if not 0 <= i + offset < n:
                raise RuleUndefined(f"shift by {offset}: the cell at {i} would leave a row of length {n}")
            out[i + offset] = c
    return out


def fill(row: Sequence[int]) -> Row:
    """Pairs of same-coloured pixels (taken left to right) become solid segments between them."""
    pixels = [(i, c) for i, c in enumerate(row) if c]
    if not pixels or len(pixels) % 2:
        raise RuleUndefined("fill needs a positive, even number of pixels")
    out = list(row)
    for (a, ca), (b, cb) in zip(pixels[::2], pixels[1::2], strict=True):
        if ca != cb:
            raise RuleUndefined(f"fill: the end pixels at {a} and {b} differ in colour")
        out[a : b + 1] = [ca] * (b + 1 - a)
    return out


def hollow(row: Sequence[int]) -> Row:
    """Inverse of :func:`fill`: every solid segment (one colour, length >= 2) keeps only its two ends."""
    runs = colour_runs(row)
    if not runs:
        raise RuleUndefined("hollow needs at least one segment")
    out = [0] * len(row)
    for a, b, c in runs:
        if b - a < 2:
            raise RuleUndefined(f"hollow: the segment at {a} is a single pixel, not the image of a fill")
        out[a] = out[b - 1] = c
    return out


def mirror(row: Sequence[int], inverse: bool = False) -> Row:
    """Reflect the content on one side of the single colour-9 pivot to the other side (cell ``j -> 2p - j``).

    Forward: everything left of the pivot goes to its right (the right side must be background);
    inverse: right to left.
    """
    pivots = [i for i, c in enumerate(row) if c == PIVOT]
    if len(pivots) != 1:
        raise RuleUndefined(f"mirror needs exactly one pivot pixel of colour {PIVOT}, found {len(pivots)}")
    p, n = pivots[0], len(row)
    src = range(0, p) if not inverse else range(p + 1, n)
    dst = range(p + 1, n) if not inverse else range(0, p)
    if any(row[i] for i in dst) or not any(row[i] for i in src):
        raise RuleUndefined("mirror: the object must be on the source side of the pivot only")
    out = [0] * n
    out[p] = PIVOT
    for j in src:
        if row[j]:
            if not 0 <= 2 * p - j < n:
                raise RuleUndefined(f"mirror: the cell at {j} would be reflected out of the row")
            out[2 * p - j] = row[j]
    return out


def _is_block(row: Sequence[int], a: int, b: int) -> bool:
    return b - a == 3 and len(set(row[a:b])) == 1


def pcopy(row: Sequence[int], inverse: bool = False) -> Row:
    """Forward: the leftmost object is a solid 3-block; every other object is a single pixel and becomes a
    3-block of its own colour centred on it. Inverse: every solid 3-block but the leftmost shrinks to its centre.

    Undefined when the objects are not of that form, or a new block would leave the row or touch another object.
    """
    objs = objects(row)
    if len(objs) < 2 or not _is_block(row, *objs[0]):
        raise RuleUndefined("pcopy needs a leftmost solid 3-block and at least one other object")
    out = list(row)
    for a, b in objs[1:]:
        if inverse:
            if not _is_block(row, a, b):
                raise RuleUndefined(f"pcopy inverse: the object at {a} is not a solid 3-block")
            out[a], out[b - 1] = 0, 0
        else:
            if b - a != 1:
                raise RuleUndefined(f"pcopy: the object at {a} is not a single pixel")
            if a == 0 or b == len(row):
                raise RuleUndefined(f"pcopy: the block around {a} would leave the row")
            out[a - 1] = out[b] = row[a]
    if not inverse and len(objects(out)) != len(objs):
        raise RuleUndefined("pcopy: the new blocks would touch each other or the leftmost block")
    return out


def flip(row: Sequence[int]) -> Row:
    """Every object is a head pixel plus a body of another colour; the head moves to the other end.

    (That is every object reversed; the rule is its own inverse.)
    """
    objs = objects(row)
    if not objs:
        raise RuleUndefined("flip needs an object")
    out = list(row)
    for a, b in objs:
        cells = list(row[a:b])
        head_left = len(set(cells[1:])) == 1 and cells[0] != cells[1] if b - a >= 2 else False
        head_right = len(set(cells[:-1])) == 1 and cells[-1] != cells[-2] if b - a >= 2 else False
        if not (head_left or head_right):
            raise RuleUndefined(f"flip: the object at {a} is not a head pixel plus a one-coloured body")
        out[a:b] = cells[::-1]
    return out


def recolour(row: Sequence[int], k: int) -> Row:
    """Every non-background cell becomes colour ``k``. Undefined on an empty row (nothing to recolour)."""
    if not any(row):
        raise RuleUndefined("recolour needs at least one object")
    return [k if c else 0 for c in row]


def apply(intent: Intent, row: Sequence[int]) -> Row:
    """The output row of ``intent`` on ``row``; raises :class:`RuleUndefined` where the rule is not defined."""
    rule, direction, k = intent
    inverse = direction == "inverse"
    if rule == "shift":
        assert k is not None
        return shift(row, -k if inverse else k)
    if rule == "fill":
        return hollow(row) if inverse else fill(row)
    if rule == "mirror":
        return mirror(row, inverse)
    if rule == "pcopy":
        return pcopy(row, inverse)
    if rule == "flip":
        return flip(row)
    if rule == "recolour":
        assert k is not None
        return recolour(row, k)
    if rule in FAMILY_OF_RULE:
        from metagnn.tasks.arc1d.families import FAMILIES  # (families builds on this module)

        return FAMILIES[FAMILY_OF_RULE[rule]].intent_rule(k)(row)
    raise IntentError(f"arc1d: unknown rule {rule!r}")


def inverse_of(intent: Intent) -> Intent | None:
    """The intent that undoes ``intent`` (flip undoes itself; recolour has none)."""
    if intent.rule == "flip":
        return intent
    if intent.rule not in INVERTIBLE:
        return None
    return Intent(intent.rule, "inverse" if intent.direction == "forward" else "forward", intent.k)


def is_defined(intent: Intent, row: Sequence[int]) -> bool:
    try:
        apply(intent, row)
    except RuleUndefined:
        return False
    return True


# Real 1D-ARC families (folder name without "1d_") covered by an intent (SPEC 3, "Real 1D-ARC check").
FAMILY_INTENTS: dict[str, Intent] = {
    "move_1p": Intent("shift", "forward", 1),
    "move_2p": Intent("shift", "forward", 2),
    "move_3p": Intent("shift", "forward", 3),
    "fill": Intent("fill", "forward"),
    "hollow": Intent("fill", "inverse"),
    "mirror": Intent("mirror", "forward"),
    "flip": Intent("flip"),
    "pcopy_1c": Intent("pcopy", "forward"),
    "pcopy_mc": Intent("pcopy", "forward"),
}
# ... and the families whose rule is a family rule (a task covers them when its rules include it).
FAMILY_RULE_INTENTS: dict[str, Intent] = {family: Intent(rule) for rule, family in FAMILY_RULES.items()}
