"""``metagnn solve``: 1D-ARC tasks from their train pairs, the symbolic baseline, and what a bad file gets."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from test_arc1d import Oracle, arc_run  # noqa: F401  (arc_run: a fixture, a tiny trained arc1d run)

from metagnn.cli import main
from metagnn.errors import ConfigError
from metagnn.tasks.arc1d.families import FAMILIES
from metagnn.tasks.arc1d.neural import NeuralSolver
from metagnn.tasks.arc1d.symbolic import solve

DATA = Path(__file__).parents[1].parent / "shared/data/1d-arc"


def write_task(path: Path, train: list, test: list) -> Path:
    pair = lambda x, y: {"input": [x], **({"output": [y]} if y is not None else {})}  # noqa: E731
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"train": [pair(x, y) for x, y in train], "test": [pair(x, y) for x, y in test]}))
    return path


def generated_task(family: str, rng: random.Random, pairs: int = 4) -> tuple[list, list]:
    f = FAMILIES[family]
    params = f.sample_params(rng) if f.sample_params else None
    made = [f.generate(rng, rng.randint(max(f.min_length, 12), min(f.max_length, 30)), params) for _ in range(pairs)]
    return made[:-1], made[-1:]


def test_the_search_finds_the_rule_of_a_generated_task_and_applies_it_to_the_test_input() -> None:
    rng = random.Random(0)
    train, test = generated_task("move_dp", rng)
    solution = solve(train, [x for x, _ in test])
    assert solution.program == "move to pixel"
    assert solution.predictions == [y for _, y in test]
    moved_and_recoloured = [([1, 0, 0], [0, 5, 0]), ([0, 3, 0, 0], [0, 0, 5, 0])]
    two = solve(moved_and_recoloured, [[2, 0, 0]])  # no single primitive does both: a sequence of two
    assert two.program == "shift +1; recolour all" and two.predictions == [[0, 5, 0]]
    stopped = solve(moved_and_recoloured, [[2, 0, 0]], time_limit=0.0)  # the limit ends the search
    assert stopped.program is None and stopped.predictions == [None]
    # the second primitive's colours are fitted on what the first makes of the inputs
    by_size = [([2, 0, 3, 3, 3, 0, 0], [0, 4, 0, 7, 7, 7, 0])]  # sizes 1 and 3: no parity table fits
    solution = solve(by_size, [[0, 3, 3, 3, 0, 2, 0]])
    assert solution.program == "shift +1; recolour by size"
    assert solution.predictions == [[0, 0, 7, 7, 7, 0, 4]]


@pytest.mark.skipif(not DATA.is_dir(), reason="the real 1D-ARC tasks are not beside the repository")
def test_the_symbolic_baseline_on_the_real_tasks(tmp_path: Path, capsys) -> None:
    """Every real family is explained (its DSL holds the families' rules), and the predicted files use
    1D-ARC's layout: the test inputs with the predicted outputs."""
    assert main(["solve", str(DATA), "--out", str(tmp_path), "--no-progress"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["tasks"] == 18 * 35 and set(results["per_family"]) == set(FAMILIES)
    assert results["correct"] == 1.0
    real = json.loads((DATA / "1d_move_dp" / "1d_move_dp_0.json").read_text())
    predicted = json.loads((tmp_path / "1d_move_dp" / "1d_move_dp_0.json").read_text())
    assert predicted["test"] == real["test"]
    assert "GPT-4, object-based encoding, published" in capsys.readouterr().out


def test_a_folder_of_a_thousand_tasks_is_solved_with_a_progress_bar(tmp_path: Path, capsys) -> None:
    rng = random.Random(1)
    names = sorted(FAMILIES)
    for i in range(1000):
        family = names[i % len(names)]
        write_task(tmp_path / "tasks" / f"1d_{family}" / f"1d_{family}_{i}.json", *generated_task(family, rng))
    assert main(["solve", str(tmp_path / "tasks"), "--out", str(tmp_path / "out")]) == 0
    assert "1000/1000" in capsys.readouterr().err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["tasks"] == 1000 and results["correct"] > 0.9


def test_a_task_without_test_outputs_gets_predictions_and_no_score(tmp_path: Path) -> None:
    train, test = generated_task("fill", random.Random(2))
    path = write_task(tmp_path / "mine.json", train, [(test[0][0], None)])
    assert main(["solve", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    predicted = json.loads((tmp_path / "out" / "mine.json").read_text())
    assert predicted["test"] == [{"input": [test[0][0]], "output": [test[0][1]]}]
    assert json.loads((tmp_path / "out" / "results.json").read_text())["per_task"][0]["correct"] is None


MALFORMED = {
    "missing-train.json": ({"test": [{"input": [[1, 0]]}]}, "missing key 'train'"),
    "no-train-pairs.json": ({"train": [], "test": [{"input": [[1, 0]]}]}, "'train' must be a non-empty list"),
    "ragged.json": ({"train": [{"input": [[1, 0], [1]], "output": [[1, 0]]}], "test": [{"input": [[1]]}]}, "ragged"),
    "colour.json": ({"train": [{"input": [[1, 12]], "output": [[1, 0]]}], "test": [{"input": [[1]]}]}, "colour 12"),
    "no-output.json": ({"train": [{"input": [[1, 0]]}], "test": [{"input": [[1]]}]}, "missing key 'output'"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_task_file_ends_in_one_line_naming_it(tmp_path: Path, capsys, name: str) -> None:
    data, needle = MALFORMED[name]
    path = tmp_path / name
    path.write_text(json.dumps(data))
    assert main(["solve", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and name in err and needle in err


def test_the_predictions_never_overwrite_or_feed_back_into_the_tasks(tmp_path: Path, capsys) -> None:
    tasks = tmp_path / "tasks"
    write_task(tasks / "a.json", *generated_task("flip", random.Random(4)))
    before = (tasks / "a.json").read_text()
    assert main(["solve", str(tasks), "--out", str(tasks), "--no-progress"]) == 2
    assert "would overwrite the task files" in capsys.readouterr().err
    assert main(["solve", str(tasks / "a.json"), "--out", str(tasks)]) == 2
    assert (tasks / "a.json").read_text() == before
    for _ in range(2):  # the second run does not read the first one's outputs inside the folder
        assert main(["solve", str(tasks), "--out", str(tasks / "solved"), "--no-progress"]) == 0
    assert json.loads((tasks / "solved" / "results.json").read_text())["tasks"] == 1
    with pytest.raises(SystemExit) as exit_:
        main(["solve", str(tasks), "--time-limit", "nan"])
    assert exit_.value.code == 2


def test_in_a_folder_malformed_files_are_named_and_skipped(tmp_path: Path, capsys) -> None:
    for name, (data, _) in MALFORMED.items():
        (tmp_path / "tasks").mkdir(exist_ok=True)
        (tmp_path / "tasks" / name).write_text(json.dumps(data))
    write_task(tmp_path / "tasks" / "good.json", *generated_task("hollow", random.Random(3)))
    assert main(["solve", str(tmp_path / "tasks"), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert all(name in err for name in MALFORMED)
    assert json.loads((tmp_path / "out" / "results.json").read_text())["tasks"] == 1


# --- a trained model as the solver: the train pairs stand for the intent --------------------------
class Exactly(torch.nn.Module):
    """A stand-in encoder that returns fixed intent features whatever the demonstrations."""

    def __init__(self, u: torch.Tensor) -> None:
        super().__init__()
        self.u = u

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.u.expand(len(pairs), -1)


def test_a_run_solves_a_task_from_its_train_pairs(
    arc_run: Path,  # noqa: F811
    tmp_path: Path,
    capsys,
) -> None:
    """The CLI path (an encoder fitted by metagnn examples, predictions in 1D-ARC's layout) on a tiny run;
    then, with the true rule as the model and an encoder that names its intent, every output is right, the
    program explains the train pairs and is reported as that intent."""
    rng = random.Random(1)
    train, test = generated_task("move_2p", rng)
    write_task(tmp_path / "tasks" / "1d_move_2p" / "1d_move_2p_0.json", train, test)
    enc = tmp_path / "enc"
    assert main(["examples", str(arc_run), "--out", str(enc), "--steps", "5", "--pairs", "3", "--draws", "1"]) == 0
    out = tmp_path / "solved"
    args = ["solve", str(tmp_path / "tasks"), "--out", str(out), "--solver", str(arc_run), "--no-progress"]
    assert main([*args, "--encoder", str(enc / "encoder.safetensors"), "--candidates", "3"]) == 0
    predicted = json.loads((out / "1d_move_2p" / "1d_move_2p_0.json").read_text())["test"][0]
    assert predicted["input"] == [test[0][0]] and len(predicted["output"][0]) == len(test[0][0])
    results = json.loads((out / "results.json").read_text())
    assert results["solver"] == str(arc_run) and results["candidates"] == 3
    assert results["per_task"][0]["programs_tried"] in (1, 2, 3)

    solver = NeuralSolver(arc_run, enc / "encoder.safetensors")
    solver.model = Oracle(solver.task)
    solver.encoder = Exactly(solver.task.intent_features(["shift-forward-2"]))
    solution = solver(train, [x for x, _ in test])
    assert solution.predictions == [y for _, y in test] and solution.program == "metagnn ~ shift-forward-2"
    solver.encoder = Exactly(solver.task.intent_features(["recolour-3"]))
    assert solver(train, [x for x, _ in test]).program is None  # recolouring does not explain a move
    solver.candidates = 24  # ... but the train pairs verify the known intents nearest to the estimate in turn
    searched = solver(train, [x for x, _ in test])
    assert searched.program == "metagnn ~ shift-forward-2" and searched.predictions == [y for _, y in test]
    assert 1 < searched.tried <= 24
    assert solver(train, [[1] * 40]).predictions == [None]  # a row longer than the target's 36 cells


def test_a_run_solver_needs_its_encoder(
    arc_run: Path,  # noqa: F811
    tmp_path: Path,
    capsys,
) -> None:
    write_task(tmp_path / "t.json", *generated_task("fill", random.Random(0)))
    args = ["solve", str(tmp_path / "t.json"), "--out", str(tmp_path / "o")]
    assert main([*args, "--solver", str(arc_run)]) == 2
    assert "needs --encoder" in capsys.readouterr().err
    assert main([*args, "--solver", "symbollic"]) == 2
    assert "neither 'symbolic' nor a run folder" in capsys.readouterr().err
    for extra in (["--encoder", str(tmp_path / "e.safetensors")], ["--candidates", "1"]):
        assert main([*args, *extra]) == 2
        assert "not the symbolic solver" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="candidates must be at least 1"):
        NeuralSolver(arc_run, tmp_path / "e.safetensors", candidates=0)
