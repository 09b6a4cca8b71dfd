"""The input fuzzer of docs/reliability.md, at a small number of cases: every case is a right result or a
one-line error that names the bad value, file or field; none is a traceback or a silent wrong answer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "fuzz_cli.py"


def test_every_input_class_ends_in_a_result_or_a_clear_error() -> None:
    spec = importlib.util.spec_from_file_location("input_fuzz", SCRIPT)
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    tallies = fuzz.fuzz(cases=25, seed=1, log=False)
    assert len(tallies) == 8
    for name, t in tallies.items():
        assert t["FAIL"] == 0, f"{name}: {t['failures']}"
        assert t["clear error"] > 0, f"{name}: no case was rejected, so the fuzzer tested nothing bad"
