"""Property-based checks of input validation through the real CLI (in-process ``main(argv)``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli import TINY_MODELS, TINY_TASK, TINY_TRAIN

from metagnn.cli import main
from metagnn.tasks.addmod import is_prime

VOCAB = TINY_TASK["vocab"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prop")
    config = root / "tiny.json"
    config.write_text(json.dumps({"task_config": TINY_TASK, "train": TINY_TRAIN, "models": TINY_MODELS}))
    out = root / "run"
    assert (
        main(["train", "addmod", "--model", "flat", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    )
    return out


tokens = st.one_of(
    st.integers(-5, 3 * VOCAB).map(str),
    st.text(alphabet="0123456789abx.-+ ", min_size=1, max_size=4),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(tokens, min_size=1, max_size=4))
def test_eval_intents_give_a_result_or_a_one_line_intent_error(run_dir: Path, items: list[str], capsys) -> None:
    """Every ``--intents`` list either scores exactly the valid primes <= vocab, or fails with one line naming the
    first bad entry (or saying that it names none); never a traceback."""
    capsys.readouterr()
    entries = [t.strip() for t in ",".join(items).split(",") if t.strip()]
    rc = main(["eval", str(run_dir), f"--intents={','.join(items)}", "--json"])  # '=' form: '-1,0' is a value
    out, err = capsys.readouterr()

    def valid(t: str) -> bool:
        try:
            return is_prime(int(t)) and int(t) <= VOCAB
        except ValueError:
            return False

    bad = [t for t in entries if not valid(t)]
    if not entries:  # a list of nothing (",", " ") is refused, not read as "every split"
        assert rc == 2 and err.startswith("metagnn: error: no intent in") and err.count("\n") == 1
    elif bad:
        assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith("metagnn: error: addmod: intent") and (bad[0] in err or str(int(bad[0])) in err)
    else:
        assert rc == 0, err
        assert set(json.loads(out)["per_intent"]) == {str(int(t)) for t in entries}


values = st.one_of(st.integers(-3, 5), st.floats(allow_nan=True), st.text(max_size=3), st.booleans(), st.none())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["steps", "lr", "intents_per_step", "warmup", "not_a_key"]), value=values)
def test_train_config_values_are_validated(tmp_path_factory, key: str, value, capsys) -> None:
    """A config file with a wrong key or a wrongly typed / out-of-range value fails with one line naming the key;
    a valid one trains, or (a huge learning rate) stops with the numerical-fault error naming the step."""
    root = tmp_path_factory.mktemp("cfg")
    train_cfg = {**TINY_TRAIN, "steps": 2, key: value}
    (root / "c.json").write_text(json.dumps({"task_config": TINY_TASK, "train": train_cfg, "models": TINY_MODELS}))
    capsys.readouterr()
    rc = main(["train", "addmod", "--model", "flat", "--config", str(root / "c.json"), "--out", str(root / "r"),
               "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    if rc == 0:
        assert key != "not_a_key" and (root / "r" / "metrics.json").exists()
    else:
        assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
        numerical_fault = key == "lr" and "loss is" in err and "at step" in err
        assert key in err or numerical_fault, err
