"""Feed random and malformed input of every class to the real CLI and tally the outcomes.

    python tests/fuzz_cli.py --cases 100 --out docs/results/reliability.json

Each case runs ``metagnn.cli.main(argv)`` in-process and is classed as
- ``result``: exit 0 and the output is the right one (e.g. exactly the valid intents were scored);
- ``clear error``: exit 2 and one line ``metagnn: error: ...`` that names the bad value / file / field;
- ``FAIL``: anything else: a traceback (an exception escaped ``main``), a wrong exit status, an
  error message that does not name what was wrong, or a result that is not the expected one.
docs/reliability.md shows the table this prints. The pytest suite checks the same classes with
hypothesis at a smaller number of examples.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from metagnn.checkpoint import SCHEMA_VERSION, load_tensors, save_tensors
from metagnn.cli import main
from metagnn.errors import MetaGNNError
from metagnn.program import load_program, save_program
from metagnn.runtime import provenance
from metagnn.targets import build_target
from metagnn.tasks.addmod import is_prime
from metagnn.tasks.arc1d.rules import DIRECTIONS, RULES, all_intents

TINY = {
    "addmod": {
        "vocab": 16,
        "train": [5, 7, 11],
        "val": [13],
        "ood": [3],
        "target": {"d_model": 8, "n_heads": 2, "d_mlp": 16},
    },
    "sumfirst": {"target": {"hidden": [8, 8]}},
    "arc1d": {"test_examples": 8, "target": {"d_model": 8, "n_heads": 2, "d_mlp": 16, "n_layers": 1}},
}
TRAIN = {"steps": 4, "intents_per_step": 2, "examples_per_intent": 8, "eval_every": 2, "warmup": 1}
MODELS = {"metagnn": {"d_intent": 8, "d_node": 8, "d_edge": 4, "rounds": 1}, "flat": {"d_hidden": 16, "layers": 2}}


def call(argv: list[str] | Callable[[], object]) -> tuple[int | None, str, str]:
    """Run the CLI (or a library call, judged like a command: the project's errors as exit 2 and one line);
    an escaping exception is returned as exit status None with its type in stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if callable(argv):
                try:
                    argv()
                    rc = 0
                except MetaGNNError as e:
                    print(f"metagnn: error: {e}", file=sys.stderr)
                    rc = 2
            else:
                rc = main(argv)
        except SystemExit as e:  # argparse's own usage errors: exit 2 with a usage line
            rc = e.code if isinstance(e.code, int) else 1
        except BaseException as e:  # noqa: BLE001 - a traceback is exactly what this tallies
            return None, out.getvalue(), f"TRACEBACK {type(e).__name__}: {e}"
    return rc, out.getvalue(), err.getvalue()


def clear_error(rc: int | None, err: str, *needles: str) -> bool:
    lines = [line for line in err.splitlines() if line.strip()]
    if rc != 2 or not lines or "Traceback" in err:
        return False
    last = lines[-1]  # argparse prints a usage line before its error line
    return last.startswith("metagnn: error:") and any(n in last for n in needles)


def write_config(path: Path, task: str, **sections: dict) -> str:
    data = {"task_config": TINY.get(task, {}), "train": TRAIN, "models": MODELS}
    data.update(sections)
    path.write_text(json.dumps(data))
    return str(path)


def train_run(root: Path, task: str, model: str) -> Path:
    out = root / f"{task}-{model}"
    rc, _, err = call(
        ["--threads", "1", "train", task, "--model", model, "--config", write_config(root / f"{task}.json", task),
         "--out", str(out), "--no-progress"]
    )  # fmt: skip
    assert rc == 0, err
    return out


# ----- one generator per input class: each returns (argv, judge) --------------------------------------


def junk_token(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.4:
        return str(rng.randint(-20, 40))
    if kind < 0.6:
        return rng.choice(["1e3", "7.0", "0x7", " 5", "+7", "inf", "nan", "", "七", "5;7", "2**3"])
    return "".join(rng.choice("0123456789abx.-+ ") for _ in range(rng.randint(1, 4)))


def intent_case(run: Path, task: str, valid: Callable[[int], bool]) -> Callable[[random.Random], tuple]:
    def make(rng: random.Random) -> tuple:
        items = [junk_token(rng) for _ in range(rng.randint(1, 4))]
        entries = [t.strip() for t in ",".join(items).split(",") if t.strip()]

        def ok(t: str) -> bool:
            try:
                return valid(int(t))
            except ValueError:
                return False

        bad = [t for t in entries if not ok(t)]

        def judge(rc: int | None, out: str, err: str) -> str:
            if bad:
                named = bad[0] in err or (bad[0].lstrip("+-").isdigit() and str(int(bad[0])) in err)
                return "clear error" if clear_error(rc, err, f"{task}: intent") and named else "FAIL"
            if not entries:  # "," or " ": a list of nothing is refused, not read as "every split"
                return "clear error" if clear_error(rc, err, "no intent in") else "FAIL"
            if rc == 0:
                scored = set(json.loads(out)["per_intent"])
                return "result" if scored == {str(int(t)) for t in entries} else "FAIL"
            return "FAIL"

        return ["eval", str(run), f"--intents={','.join(items)}", "--json"], judge

    return make


def arc_intent_case(run: Path) -> Callable[[random.Random], tuple]:
    """Intents composed from real and wrong pieces: rule, direction, k."""
    accepted: dict[str, str] = {}  # every accepted spelling -> the canonical key
    for i in all_intents():
        k = [str(i.k)] if i.k is not None else []
        accepted["-".join([i.rule, i.direction, *k])] = i.key
        if i.direction == "forward":
            accepted["-".join([i.rule, *k])] = i.key

    def make(rng: random.Random) -> tuple:
        items = []
        for _ in range(rng.randint(1, 3)):
            parts = [rng.choice([*RULES, "shif", "recolor", ""]), rng.choice([*DIRECTIONS, "backward", ""]),
                     rng.choice([*map(str, range(11)), "x", ""])]  # fmt: skip
            items.append("-".join(part for part in parts if part) or junk_token(rng))
        entries = [t.strip() for t in ",".join(items).split(",") if t.strip()]
        bad = [t for t in entries if t not in accepted]

        def judge(rc: int | None, out: str, err: str) -> str:
            if bad:
                return "clear error" if clear_error(rc, err, "arc1d:") and bad[0] in err else "FAIL"
            if not entries:
                return "clear error" if clear_error(rc, err, "no intent in") else "FAIL"
            if rc == 0:
                return "result" if set(json.loads(out)["per_intent"]) == {accepted[t] for t in entries} else "FAIL"
            return "FAIL"

        return ["eval", str(run), f"--intents={','.join(items)}", "--json"], judge

    return make


def arc_file_case(root: Path, run: Path) -> Callable[[random.Random], tuple]:
    """A valid 1D-ARC task file (a move_1p task), then one random change that may or may not break it."""

    def make(rng: random.Random) -> tuple:
        folder = root / f"arc{rng.random()}" / "1d_move_1p"
        folder.mkdir(parents=True)
        path = folder / "1d_move_1p_0.json"

        def pair() -> dict:
            n, start = rng.randint(7, 30), rng.randint(0, 3)
            row = [0] * n
            row[start : start + 3] = [rng.randint(1, 9)] * 3
            return {"input": [row], "output": [[0, *row[:-1]]]}

        task: object = {"train": [pair() for _ in range(3)], "test": [pair()]}
        kind = rng.choice(["valid", "not-json", "drop-key", "colour", "ragged", "nesting", "length", "too-long",
                           "empty", "not-object"])  # fmt: skip
        target = task["train"][rng.randrange(3)]
        side = rng.choice(["input", "output"])
        if kind == "drop-key":
            if rng.random() < 0.5:
                task.pop(rng.choice(["train", "test"]))
            else:
                target.pop(side)
        elif kind == "colour":
            target[side][0][rng.randrange(len(target[side][0]))] = rng.choice([10, -1, 1.5, "3", None, True, 12, 5])
        elif kind == "ragged":
            target[side].append([0])
        elif kind == "nesting":
            target[side] = rng.choice([target[side][0], [target[side]], [[[c] for c in target[side][0]]]])
        elif kind == "length":
            target["output"][0].append(0)
        elif kind == "too-long":
            target["input"][0] += [0] * 40
            target["output"][0] += [0] * 40
        elif kind == "empty":
            task[rng.choice(["train", "test"])] = []
        elif kind == "not-object":
            task = rng.choice([[task], "task", 3])
        text = json.dumps(task)
        if kind == "not-json":
            text = text[: rng.randrange(len(text))]
        path.write_text(text)

        def judge(rc: int | None, out: str, err: str) -> str:
            if rc == 0:  # the change kept the file valid (e.g. colour 5): it must be scored
                return "result" if "expressible_pair_accuracy" in json.loads(out) else "FAIL"
            return "clear error" if clear_error(rc, err, path.name) and kind != "valid" else "FAIL"

        return ["eval", str(run), "--arc-dir", str(folder.parent), "--json"], judge

    return make


def config_case(root: Path) -> Callable[[random.Random], tuple]:
    sections = {
        "train": ["steps", "lr", "intents_per_step", "warmup", "weight_decay", "grad_clip", "eval_every", "stepz"],
        "task_config": ["vocab", "train", "val", "train_fraction", "split_seed", "target", "vocabb"],
        "task_config.target": ["d_model", "n_heads", "d_mlp", "n_layers", "layernorm", "causal", "d_modell"],
        "models.metagnn": ["d_node", "rounds", "pe_dim", "pe_seed", "pe_max_cycles", "resample_pe", "d_nodez"],
        "models": ["metagnz"],  # a model name the registry does not know
    }
    # huge and malformed numbers among them: beyond int64, beyond every cap, non-finite, booleans as strings
    values = [-3, 0, 1, 2, 3.5, float("nan"), float("inf"), "x", "", "false", "true", True, None, [], [4],
              {"a": 1}, 10**12, 10**30, 2**70, -(2**70), [10**30]]  # fmt: skip

    def make(rng: random.Random) -> tuple:
        section = rng.choice(list(sections))
        field = rng.choice(sections[section])
        value = rng.choice(values)
        data = {
            "task_config": json.loads(json.dumps(TINY["addmod"])),
            "train": {**TRAIN, "steps": 2},
            "models": json.loads(json.dumps(MODELS)),
        }
        if section == "models.metagnn":
            data["models"]["metagnn"][field] = value
        elif section == "task_config.target":
            data["task_config"]["target"][field] = value
        elif section == "models":
            data["models"][field] = {"rounds": 1}
        else:
            data[section][field] = value
        path = root / f"cfg{rng.random()}.json"
        path.write_text(json.dumps(data))
        out = root / f"cfg-run{rng.random()}"

        def judge(rc: int | None, _out: str, err: str) -> str:
            if rc == 0:  # accepted: it must have been a valid value, and the run must exist
                typo = field.endswith(("z", "b", "ll"))
                return "result" if not typo and (out / "metrics.json").exists() else "FAIL"
            # the message names the field, or (a huge lr / odd but valid values) the numerical fault
            if clear_error(rc, err, field, "loss is", "out of memory", "intent"):
                return "clear error"
            return "FAIL"

        argv = ["train", "addmod", "--model", "metagnn", "--config", str(path), "--out", str(out), "--no-progress"]
        return argv, judge

    return make


def checkpoint_case(root: Path, runs: dict[str, Path]) -> Callable[[random.Random], tuple]:
    def make(rng: random.Random) -> tuple:
        src = runs["addmod-flat"]
        case = root / f"ckpt{rng.random()}"
        shutil.copytree(src, case)
        ckpt = case / "checkpoint.safetensors"
        kind = rng.choice(["truncate", "flip", "missing", "other-model", "other-task", "schema", "not-json", "pickle"])
        data = bytearray(ckpt.read_bytes())
        if kind == "truncate":
            ckpt.write_bytes(bytes(data[: rng.randrange(len(data))]))
        elif kind == "flip":
            data[rng.randrange(len(data))] ^= rng.randint(1, 255)
            ckpt.write_bytes(bytes(data))
        elif kind == "missing":
            ckpt.unlink()
        elif kind in ("other-model", "other-task"):
            other = runs["addmod-metagnn" if kind == "other-model" else "sumfirst-flat"]
            shutil.copy(other / "checkpoint.safetensors", ckpt)
        elif kind == "schema":
            cfg = json.loads((case / "config.json").read_text())
            cfg["provenance"]["schema_version"] = rng.choice([SCHEMA_VERSION - 1, SCHEMA_VERSION + 1, "1", None])
            (case / "config.json").write_text(json.dumps(cfg))
        elif kind == "not-json":
            (case / "config.json").write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))))
        else:
            ckpt.write_bytes(b"\x80\x04\x95" + bytes(rng.randrange(256) for _ in range(60)))

        def judge(rc: int | None, out: str, err: str) -> str:
            if rc == 0:  # only a change that means nothing may load, and then it must score like the original
                return "result" if kind == "flip" and json.loads(out)["id_accuracy"] == reference else "FAIL"
            return "clear error" if clear_error(rc, err, str(case)) else "FAIL"

        return ["eval", str(case), "--json"], judge

    _, out, _ = call(["eval", str(runs["addmod-flat"]), "--json"])
    reference = json.loads(out)["id_accuracy"]
    return make


def special_file_case(root: Path, run: Path) -> Callable[[random.Random], tuple]:
    """Files that must never be opened or read whole: FIFOs, devices, oversized or deeply nested JSON."""

    def make(rng: random.Random) -> tuple:
        kind = rng.choice(["fifo", "dev-zero", "huge", "nested-task", "nested-config"])
        folder = root / f"special{rng.random()}" / "1d_move_1p"
        folder.mkdir(parents=True)
        path = folder / "1d_move_1p_0.json"
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "dev-zero":
            path.symlink_to("/dev/zero")
        elif kind == "huge":
            path.write_text('{"train": [], "test": [], "pad": "' + "x" * (2**20 + rng.randrange(1000)) + '"}')
        else:
            depth = rng.randint(2000, 100000)
            path.write_text('{"train": ' + "[" * depth + "]" * depth + "}")
        if kind == "nested-config":
            argv = ["train", "addmod", "--config", str(path), "--out", str(root / f"nest{rng.random()}")]
        else:
            argv = ["eval", str(run), "--arc-dir", str(folder.parent), "--json"]

        def judge(rc: int | None, out: str, err: str) -> str:
            return "clear error" if clear_error(rc, err, path.name) else "FAIL"

        return argv, judge

    return make


def program_header_case(root: Path) -> Callable[[random.Random], tuple]:
    """A valid program file whose header (spec) or weights are then crafted: load_program must refuse it with
    the project's error, within the work a valid header could ask for."""
    spec = build_target("mlp", n_in=3, hidden=[4], n_out=2)

    def make(rng: random.Random) -> tuple:
        path = root / f"prog{rng.random()}.safetensors"
        theta = spec.init_theta()
        save_program(path, spec, theta)
        tensors, meta = load_tensors(path)
        kind = rng.choice(["valid", "family", "kwargs", "huge", "deep", "layers", "dtype", "shape", "missing"])
        header = json.loads(json.dumps(meta.pop("spec")))
        if kind == "family":
            header["family"] = rng.choice(["nope", "", 3, None])
        elif kind == "kwargs":
            header["kwargs"] = rng.choice([None, [], "x", {"n_in": 3}, {**header["kwargs"], "extra": 1}])
        elif kind == "huge":
            header["kwargs"][rng.choice(["n_in", "n_out"])] = rng.choice([10**12, 2**70, -1, 1.5, "3"])
        elif kind == "deep":
            header["kwargs"]["hidden"] = [4] * rng.randint(65, 10000)
        elif kind == "layers":
            header = {"family": "transformer", "kwargs": {"vocab": 5, "n_ctx": 3, "n_classes": 5,
                                                          "n_layers": rng.choice([65, 10000, 10**9])}}  # fmt: skip
        elif kind == "dtype":
            tensors = {k: v.to(rng.choice([torch.int64, torch.int32, torch.bool])) for k, v in tensors.items()}
        elif kind == "shape":
            name = rng.choice(list(tensors))
            tensors[name] = torch.zeros(*[d + 1 for d in tensors[name].shape])
        elif kind == "missing":
            tensors.pop(rng.choice(list(tensors)))
        save_tensors(path, tensors, {**meta, "spec": header})

        def judge(rc: int | None, out: str, err: str) -> str:
            if kind == "valid":
                return "result" if rc == 0 else "FAIL"
            return "clear error" if clear_error(rc, err, str(path)) else "FAIL"

        return (lambda: load_program(path)), judge

    return make


def fuzz(cases: int, seed: int = 0, log: bool = True) -> dict[str, dict]:
    """Run ``cases`` random cases of every input class; returns the tallies (and up to 5 failures) per class."""
    rng = random.Random(seed)
    torch.set_num_threads(1)  # tiny runs; also keeps the figures independent of the machine's load
    tallies = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        runs = {
            f"{t}-{m}": train_run(root, t, m)
            for t, m in [("addmod", "flat"), ("addmod", "metagnn"), ("sumfirst", "flat"), ("arc1d", "flat")]
        }
        classes = {
            "intent: AddMod-p (p not prime, too large, not an integer)": intent_case(
                runs["addmod-flat"], "addmod", lambda p: is_prime(p) and p <= 16
            ),
            "intent: SumFirst-n (n outside 1..16, not an integer)": intent_case(
                runs["sumfirst-flat"], "sumfirst", lambda n: 1 <= n <= 16
            ),
            "intent: 1D-ARC (unknown rule or direction, k out of range, malformed)": arc_intent_case(
                runs["arc1d-flat"]
            ),
            "1D-ARC task file: not JSON, missing keys, bad colours, ragged, nested, lengths, too long": arc_file_case(
                root, runs["arc1d-flat"]
            ),
            "config: unknown key or wrongly typed / out-of-range value": config_case(root),
            "checkpoint: missing, truncated, corrupted, other model / task / schema, pickle": checkpoint_case(
                root, runs
            ),
            "special files: FIFO, /dev/zero, oversized, deeply nested task or config": special_file_case(
                root, runs["arc1d-flat"]
            ),
            "program header: unknown family, bad kwargs, huge sizes, deep, wrong weights": program_header_case(root),
        }
        for name, make in classes.items():
            counts = {"result": 0, "clear error": 0, "FAIL": 0}
            failures = []
            for _ in range(cases):
                argv, judge = make(rng)
                rc, out, err = call(argv)
                verdict = judge(rc, out, err)
                counts[verdict] += 1
                if verdict == "FAIL" and len(failures) < 5:
                    failures.append({"argv": argv, "rc": rc, "stderr": err[-500:]})
            tallies[name] = {**counts, "cases": cases, "failures": failures}
            if log:
                for failure in failures:
                    print(f"  FAIL: {failure}", file=sys.stderr)
                row = [name, cases, counts["result"], counts["clear error"], counts["FAIL"]]
                print("| " + " | ".join(map(str, row)) + " |", flush=True)
    return tallies


def main_fuzz() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100, help="cases per input class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the tallies as JSON here")
    args = parser.parse_args()
    print("| input class | cases | correct result | clear error | FAIL |\n|---|---|---|---|---|")
    tallies = fuzz(args.cases, args.seed)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        record = {"command": "python " + " ".join(sys.argv), "classes": tallies, "provenance": provenance("cpu")}
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main_fuzz()
