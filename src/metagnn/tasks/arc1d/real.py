"""The real 1D-ARC check (SPEC 3): run the program of each covered family's intent on every real task.

A folder of 1D-ARC tasks (any folder in the benchmark's format, searched recursively for
``*.json``) is read and validated; a task's family is the name of its folder without ``1d_``
(for files lying directly in the given folder, the file name without its ``_<number>`` suffix).
Families with an intent among the task's rules (:func:`family_intents`) are *expressible*:
all pairs of each of their tasks, train and test, go through the program synthesized for that
intent (for a family of a colour rule, the intent of each task's colours, read from its train pairs).
Inexpressible families count as unsolved. Figures are pooled over pairs (pair accuracy) and over tasks
(share of tasks with every pair right).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from metagnn.errors import DataError
from metagnn.tasks.arc1d.families import FAMILIES, FitError
from metagnn.tasks.arc1d.rules import (
    COLOUR_RULES,
    FAMILY_INTENTS,
    FAMILY_OF_RULE,
    FAMILY_RULE_INTENTS,
    N_COLOURS,
    RULES,
    Intent,
    Row,
)
from metagnn.tasks.arc1d.task import Arc1D, encode_rows


def family_intents(rules: Sequence[str] = RULES) -> dict[str, Intent]:
    """Real family -> the intent whose rule is the family's, for the families ``rules`` cover; for a colour
    rule's family, an intent whose ``k`` is None (each task fixes its colours: :func:`task_intent`)."""
    colour = {family: Intent(rule) for rule, (family, _) in COLOUR_RULES.items()}
    return {f: i for f, i in {**FAMILY_INTENTS, **FAMILY_RULE_INTENTS, **colour}.items() if i.rule in rules}


def task_intent(intent: Intent, task: ArcTask) -> Intent | None:
    """The intent of one real task of ``intent``'s family: ``intent`` itself, or for a colour rule the colours
    that the task's train pairs show (None if they do not show them all)."""
    if intent.rule not in COLOUR_RULES:
        return intent
    family = FAMILIES[FAMILY_OF_RULE[intent.rule]]
    try:
        return Intent(intent.rule, "forward", family.task_colours(task.pairs[: task.n_train]))
    except FitError:
        return None


@dataclass(frozen=True)
class ArcTask:
    """One 1D-ARC task file: its family, name and every ``(input, output)`` row pair (``n_train`` train pairs,
    then the test pairs)."""

    family: str
    name: str
    pairs: tuple[tuple[Row, Row], ...]
    n_train: int


def family_of(path: Path, root: Path) -> str:
    """``.../1d_move_1p/1d_move_1p_3.json`` -> ``move_1p``."""
    name = path.parent.name if path.parent != root else re.sub(r"_\d+$", "", path.stem)
    return name.removeprefix("1d_")


def _row(grid: Any, where: str) -> Row:
    """The single row of a 1D-ARC grid ``[[c, c, ...]]``, checked."""
    if not isinstance(grid, list):
        raise DataError(f"{where}: expected a grid holding one row ([[...]]), got {type(grid).__name__}")
    if not grid:
        raise DataError(f"{where}: empty grid (expected one row, [[...]])")
    if not all(isinstance(r, list) for r in grid):
        raise DataError(f"{where}: wrongly nested grid (expected a list of rows, [[...]])")
    if len({len(r) for r in grid}) > 1:
        raise DataError(f"{where}: ragged grid (rows of lengths {sorted({len(r) for r in grid})})")
    if len(grid) != 1:
        raise DataError(f"{where}: grid holds {len(grid)} rows; a 1D-ARC grid holds one")
    row = grid[0]
    if not row:
        raise DataError(f"{where}: empty row")
    for c in row:
        if isinstance(c, list):
            raise DataError(f"{where}: wrongly nested grid (a cell is a list)")
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < N_COLOURS:
            raise DataError(f"{where}: colour {c!r} outside 0..{N_COLOURS - 1}")
    return list(row)


def parse_task(data: Any, where: str) -> list[tuple[Row, Row]]:
    """Validate one task's JSON value; returns its pairs (train, then test). Raises :class:`DataError`."""
    train, tests = parse_task_splits(data, where)
    missing = [i for i, (_, y) in enumerate(tests) if y is None]
    if missing:
        raise DataError(f"{where}: test[{missing[0]}]: missing key 'output'")
    return [*train, *[(x, y) for x, y in tests if y is not None]]


def parse_task_splits(data: Any, where: str) -> tuple[list[tuple[Row, Row]], list[tuple[Row, Row | None]]]:
    """Validate one task's JSON value: its train pairs, and its test pairs (a test output may be absent, None:
    the task to solve). Raises :class:`DataError` naming ``where`` and the pair."""
    if not isinstance(data, dict):
        raise DataError(f"{where}: expected an object with 'train' and 'test', got {type(data).__name__}")
    splits: dict[str, list] = {}
    for split in ("train", "test"):
        if split not in data:
            raise DataError(f"{where}: missing key {split!r}")
        if not isinstance(data[split], list) or not data[split]:
            raise DataError(f"{where}: {split!r} must be a non-empty list of pairs")
        splits[split] = []
        for i, pair in enumerate(data[split]):
            at = f"{where}: {split}[{i}]"
            if not isinstance(pair, dict):
                raise DataError(f"{at} is not an object with 'input' and 'output'")
            for key in ("input", "output") if split == "train" else ("input",):
                if key not in pair:
                    raise DataError(f"{at}: missing key {key!r}")
            x = _row(pair["input"], f"{at}.input")
            y = _row(pair["output"], f"{at}.output") if "output" in pair else None
            if y is not None and len(x) != len(y):
                raise DataError(f"{at}: input has {len(x)} cells, output {len(y)}")
            splits[split].append((x, y))
    return splits["train"], splits["test"]


def task_paths(root: Path, outside: Path | None = None) -> list[Path]:
    """Every ``*.json`` under folder ``root``, sorted, except those inside folder ``outside`` (a solver's own
    output folder); a one-line :class:`DataError` when there is none."""
    skip = outside.resolve() if outside is not None else None
    files = sorted(p for p in root.rglob("*.json") if skip is None or skip not in p.resolve().parents)
    if not files:
        raise DataError(f"{root}: no 1D-ARC task files (*.json) found")
    return files


def read_task_file(path: Path) -> Any:
    """The JSON value of one task file, after the checks that keep a wrong file from hanging or flooding
    the reader (a regular file of at most :data:`MAX_TASK_BYTES`). Raises :class:`DataError` naming it."""
    if not path.is_file():  # a FIFO or device named *.json would hang or read without end
        raise DataError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size > MAX_TASK_BYTES:
        raise DataError(f"{path}: {size:,} bytes; a 1D-ARC task file has at most {MAX_TASK_BYTES:,}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot be read ({e})") from None


# The real tasks are a few kilobytes each; a file far larger is not one, and would be read whole.
MAX_TASK_BYTES = 2**20
REAL_BATCH = 256  # pairs per forward pass of the real-task check


def load_tasks(
    folder: Path | str, width: int | None = None, covered: Sequence[str] | dict[str, Intent] = FAMILY_INTENTS
) -> list[ArcTask]:
    """Every task under ``folder``, validated; rows of the ``covered`` families must fit ``width`` cells."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of 1D-ARC tasks")
    files = task_paths(root)
    tasks = []
    for path in files:
        data = read_task_file(path)
        pairs = parse_task(data, str(path))
        family = family_of(path, root)
        if width is not None and family in covered:
            longest = max(len(x) for x, _ in pairs)
            if longest > width:
                raise DataError(f"{path}: a row of {longest} cells is too long for the target's {width} positions")
        tasks.append(ArcTask(family, path.stem, tuple(pairs), len(data["train"])))
    return tasks


@torch.no_grad()
def real_check(
    model: torch.nn.Module,
    task: Arc1D,
    folder: Path | str,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> dict:
    """Run the synthesized programs on every real task under ``folder`` (SPEC 3, "Real 1D-ARC check").

    ``model(u, x)`` maps intent features ``(1, F)`` and rows ``(1, N, width)`` to logits
    ``(1, N, width, 10)`` (any model of the registry). Returns ``{"per_family": {family: {"intent",
    "pairs", "pair_accuracy", "tasks", "tasks_solved"}}, "expressible_pair_accuracy",
    "expressible_tasks_solved", "all_pair_accuracy", "all_tasks_solved", ...}``; ``tasks_solved``
    values are shares of tasks with every pair right.
    """
    device = torch.device(device)
    covered = family_intents(task.cfg.rules)
    tasks = load_tasks(folder, task.cfg.width, covered)
    was_training = model.training
    model.eval()
    expressible_pairs = sum(len(t.pairs) for t in tasks if t.family in covered)
    bar = tqdm(total=expressible_pairs, desc="real 1D-ARC pairs", disable=not progress, leave=False)
    per_family: dict[str, dict[str, Any]] = {}
    for family in sorted({t.family for t in tasks}):
        members = [t for t in tasks if t.family == family]
        n_pairs = sum(len(t.pairs) for t in members)
        row: dict[str, Any] = {"intent": None, "pairs": n_pairs, "tasks": len(members)}
        right_pairs, solved = 0, 0
        if family in covered:
            intent = covered[family]
            row["intent"] = f"{intent.rule}-<task colours>" if intent.rule in COLOUR_RULES else intent.key
            keys = [(i.key if (i := task_intent(intent, t)) is not None else None) for t in members]
            pairs = [(key, p) for key, t in zip(keys, members) for p in t.pairs]
            ok = [False] * len(pairs)
            for key in dict.fromkeys(k for k in keys if k is not None):  # one program per intent
                at_key = [i for i, (k, _) in enumerate(pairs) if k == key]
                u = task.intent_features([key]).to(device)
                for at in range(0, len(at_key), REAL_BATCH):  # memory bounded by the batch, not by the folder
                    chunk = [pairs[i][1] for i in at_key[at : at + REAL_BATCH]]
                    x = encode_rows([p[0] for p in chunk], task.cfg.width).to(device)
                    y = encode_rows([p[1] for p in chunk], task.cfg.width, fill=-1).to(device)
                    right = task.correct(model(u, x[None]), y[None], [key])[0].cpu().tolist()
                    for i, r in zip(at_key[at : at + REAL_BATCH], right):
                        ok[i] = r
                    bar.update(len(chunk))
            bar.update(sum(k is None for k, _ in pairs))
            right_pairs = sum(ok)
            at = 0
            for t in members:
                solved += all(ok[at : at + len(t.pairs)])
                at += len(t.pairs)
        row.update(right_pairs=right_pairs, solved_tasks=solved, pair_accuracy=right_pairs / n_pairs,
                   tasks_solved=solved / len(members))  # fmt: skip
        per_family[family] = row
    bar.close()
    model.train(was_training)

    def pooled(rows: list[dict[str, Any]]) -> tuple[float, float]:
        pairs, tasks_ = sum(r["pairs"] for r in rows), sum(r["tasks"] for r in rows)
        if not pairs:
            return float("nan"), float("nan")
        return sum(r["right_pairs"] for r in rows) / pairs, sum(r["solved_tasks"] for r in rows) / tasks_

    expressible = [r for r in per_family.values() if r["intent"] is not None]
    if not expressible:
        raise DataError(f"{folder}: no task of a family with an intent ({', '.join(covered)})")
    exp_pairs, exp_tasks = pooled(expressible)
    all_pairs, all_tasks = pooled(list(per_family.values()))
    return {
        "arc_dir": str(folder),
        "per_family": per_family,
        "expressible_pair_accuracy": exp_pairs,
        "expressible_tasks_solved": exp_tasks,
        "all_pair_accuracy": all_pairs,
        "all_tasks_solved": all_tasks,
        "families": len(per_family),
        "expressible_families": len(expressible),
    }


def format_real_check(result: dict[str, Any]) -> str:
    """The real-task check as aligned text lines (per family, then the pooled figures)."""
    lines = [f"real 1D-ARC check on {result['arc_dir']}"]
    for family, r in result["per_family"].items():
        intent = r["intent"] or "(no intent)"
        lines.append(
            f"  {family:<16} {intent:<16} pairs {r['right_pairs']:>4}/{r['pairs']:<4} {r['pair_accuracy']:.4f}"
            f"  tasks solved {r['solved_tasks']:>3}/{r['tasks']:<3} {r['tasks_solved']:.4f}"
        )
    lines.append(
        f"expressible families ({result['expressible_families']}): pair accuracy "
        f"{result['expressible_pair_accuracy']:.4f}, tasks solved {result['expressible_tasks_solved']:.4f}"
    )
    lines.append(
        f"all families ({result['families']}): pair accuracy {result['all_pair_accuracy']:.4f}, "
        f"tasks solved {result['all_tasks_solved']:.4f}"
    )
    return "\n".join(lines)
