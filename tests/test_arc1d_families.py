"""The 18 real 1D-ARC families (metagnn.tasks.arc1d.families): rules against every real pair, generators, registry."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from metagnn.tasks.arc1d.families import FAMILIES, Family, FitError, RuleUndefined
from metagnn.tasks.arc1d.rules import objects

DATA = Path(__file__).parents[1].parent / "shared/data/1d-arc"
NAMES = (
    "denoising_1c denoising_mc fill flip hollow mirror move_1p move_2p move_2p_dp move_3p move_dp padded_fill "
    "pcopy_1c pcopy_mc recolor_cmp recolor_cnt recolor_oe scale_dp"
).split()
N_GENERATED = 200
N_FIT = 8  # generated pairs a fitted family is fitted on

Pairs = list[tuple[list[int], list[int]]]


def real_tasks(family: str) -> list[tuple[str, Pairs, Pairs]]:
    """``(file name, train pairs, test pairs)`` of tasks ``0..34`` of ``family``; skips if the data is absent."""
    folder = DATA / f"1d_{family}"
    if not folder.is_dir():
        pytest.skip(f"1D-ARC data folder {folder} is absent")
    out = []
    for i in range(35):
        path = folder / f"1d_{family}_{i}.json"
        data = json.loads(path.read_text())
        train, test = ([(p["input"][0], p["output"][0]) for p in data[split]] for split in ("train", "test"))
        out.append((path.name, train, test))
    return out


def layout(row: list[int]) -> tuple[int, ...]:
    """The sizes of the objects of ``row`` and the gaps between them, left to right."""
    objs = objects(row)
    return tuple(b - a for a, b in objs) + tuple(c - b for (_, b), (c, _) in zip(objs, objs[1:]))


def test_registry_holds_the_18_families() -> None:
    assert sorted(FAMILIES) == sorted(NAMES)
    assert all(isinstance(f, Family) and f.name == name and f.description for name, f in FAMILIES.items())
    assert {n for n, f in FAMILIES.items() if f.needs_fit} == {"recolor_cmp", "recolor_cnt", "recolor_oe"}
    if DATA.is_dir():
        folders = {p.name.removeprefix("1d_") for p in DATA.iterdir() if p.is_dir()}
        assert set(FAMILIES) == folders


@pytest.mark.parametrize("name", NAMES)
def test_rule_reproduces_every_real_pair(name: str) -> None:
    """Fitted on a task's train pairs where needed, the rule gives the output of every train and test pair."""
    family = FAMILIES[name]
    wrong, longest = [], 0
    for file, train, test in real_tasks(name):
        try:
            rule = family.task_rule(train)
        except FitError as e:
            wrong.append(f"{file}: fit on the train pairs failed ({e})")
            continue
        for split, pairs in (("train", train), ("test", test)):
            for i, (x, y) in enumerate(pairs):
                longest = max(longest, len(x))
                try:
                    got = rule(x)
                except RuleUndefined as e:
                    wrong.append(f"{file} {split}[{i}]: rule undefined ({e})")
                    continue
                if got != y:
                    wrong.append(f"{file} {split}[{i}]: got {got}, expected {y}")
    assert not wrong, f"{name}: {len(wrong)} real pairs not reproduced, e.g.\n" + "\n".join(wrong[:5])
    assert family.max_length == longest, f"{name}: max_length {family.max_length}, longest real row {longest}"


@pytest.mark.parametrize("name", NAMES)
def test_generated_pairs_follow_the_rule_and_vary(name: str) -> None:
    family = FAMILIES[name]
    rng = random.Random(NAMES.index(name))
    params = family.sample_params(rng) if family.needs_fit else None
    pairs = [
        family.generate(rng, rng.randint(family.min_length, family.max_length), params) for _ in range(N_GENERATED)
    ]
    rule = family.task_rule(pairs[:N_FIT])
    for x, y in pairs:
        assert 3 <= len(x) <= family.max_length and len(y) == len(x), (name, x)
        assert all(0 <= c <= 9 for c in x + y), (name, x, y)
        assert rule(x) == y, f"{name}: generated pair {x} -> {y}, rule gives {rule(x)}"
        if family.needs_fit:
            assert family.apply(x, params) == y
    inputs = [tuple(x) for x, _ in pairs]
    assert len(set(inputs)) >= N_GENERATED * 3 // 4, f"{name}: too many repeated inputs"
    assert len({len(x) for x in inputs}) >= 5, f"{name}: too few row lengths"
    assert len({c for x in inputs for c in x} - {0}) >= 6, f"{name}: too few colours"
    assert len({layout(x) for x in inputs}) >= 10, f"{name}: too few object sizes and gaps"
    assert len({objects(x)[0][0] for x in inputs}) >= 5, f"{name}: too few positions"
    assert sum(x != y for x, y in pairs) >= N_GENERATED * 3 // 4, f"{name}: the rule rarely changes the row"


@pytest.mark.parametrize("name", NAMES)
def test_generate_rejects_lengths_out_of_range(name: str) -> None:
    family = FAMILIES[name]
    assert family.min_length >= 3
    family.generate(random.Random(0), family.min_length)
    family.generate(random.Random(0), family.max_length)
    for length in (family.min_length - 1, family.max_length + 1):
        with pytest.raises(ValueError):
            family.generate(random.Random(0), length)


def test_new_rules_on_hand_made_rows() -> None:
    """The rules not in rules.py, including where they are undefined and where a fit is impossible."""
    rule = {name: f.rule for name, f in FAMILIES.items()}
    assert rule["denoising_1c"]([3, 0, 3, 3, 3, 0, 3]) == [0, 0, 3, 3, 3, 0, 0]
    assert rule["denoising_mc"]([0, 4, 2, 4, 4, 7, 0]) == [0, 4, 4, 4, 4, 4, 0]
    assert rule["move_dp"]([5, 5, 0, 0, 0, 8]) == [0, 0, 0, 5, 5, 8]
    assert rule["move_dp"]([8, 0, 0, 5, 5, 5]) == [8, 5, 5, 5, 0, 0]
    assert rule["move_2p_dp"]([0, 6, 6, 0, 0, 1]) == [0, 0, 0, 6, 6, 1]
    assert rule["scale_dp"]([0, 6, 6, 0, 0, 1]) == [0, 6, 6, 6, 6, 1]
    assert rule["scale_dp"]([1, 0, 0, 6, 6, 0]) == [1, 6, 6, 6, 6, 0]
    for name, row in [
        ("denoising_1c", [3, 3, 0, 3, 3]),  # two longest objects
        ("denoising_1c", [0, 0, 0]),
        ("denoising_mc", [4, 2, 0, 4]),  # two objects
        ("denoising_mc", [4, 4, 2, 2]),  # no majority
        ("move_dp", [5, 5, 0, 8, 8]),  # no single pixel
        ("move_2p_dp", [5, 5, 0, 0, 0, 8]),  # three cells apart
        ("scale_dp", [5, 0, 8]),  # two single pixels
    ]:
        with pytest.raises(RuleUndefined):
            rule[name](row)
    cnt, cmp_ = FAMILIES["recolor_cnt"], FAMILIES["recolor_cmp"]
    assert cnt.task_rule([([2, 0, 2, 2], [1, 0, 8, 8])])([2, 2, 0, 2]) == [8, 8, 0, 1]
    with pytest.raises(RuleUndefined):
        cnt.task_rule([([2, 0, 2, 2], [1, 0, 8, 8])])([2, 2, 2])  # size 3 not seen
    with pytest.raises(FitError):
        cnt.task_rule([([2, 0, 2], [1, 0, 8])])  # size 1 gets two colours
    assert cmp_.task_rule([([2, 0, 2, 2], [2, 0, 6, 6])])([2, 2, 2, 0, 2, 2, 2]) == [6, 6, 6, 0, 6, 6, 6]
    with pytest.raises(FitError):
        cmp_.task_rule([([0, 0], [0, 0])])


# --- the target S fitted directly per family (expressivity --families) ----------------------------
def test_fitting_s_on_one_family_learns_it_and_scores_only_the_real_tasks_it_describes() -> None:
    """A few hundred steps on recolor_cmp's generated pairs (one task colour) paint a good share of rows right,
    and of two real tasks only the one with that colour is scored; an unfitted S gets no row right."""
    from metagnn.tasks.arc1d.expressivity import fit_family

    family = FAMILIES["recolor_cmp"]
    colour = family.sample_params(random.Random(0))  # the colour fit_family draws with seed 0
    rng = random.Random(1)
    mine = [family.generate(rng, 12, colour) for _ in range(4)]
    other = [family.generate(rng, 12, colour % 9 + 1) for _ in range(4)]
    small = {"d_model": 16, "n_heads": 2, "d_mlp": 32, "rel_bias": True}
    fitted = fit_family(family, small, steps=300, batch=32, real=[(mine[:3], mine), (other[:3], other)])
    assert fitted["generated"] >= 0.2 and fitted["real_tasks"] == 1 and fitted["real_pairs"] == 4
    assert fit_family(family, small, steps=1, real=[(mine[:3], mine)])["generated"] <= 0.05
