"""1D-ARC rules (SPEC 3): the rule functions against the real tasks, the generator, the task, and the real check."""

from __future__ import annotations

import builtins
import json
import random
from pathlib import Path

import pytest
import torch
from helpers import assert_changed, random_perm, to_double

from metagnn.cli import main
from metagnn.errors import ConfigError, DataError, IntentError
from metagnn.models import build_model
from metagnn.targets import build_target, permute, permute_fixed_axis
from metagnn.tasks import build_task
from metagnn.tasks.arc1d.generator import sample_pair
from metagnn.tasks.arc1d.real import family_intents, load_tasks, real_check, task_intent
from metagnn.tasks.arc1d.rules import (
    ALL_RULES,
    COLOUR_RULES,
    FAMILY_INTENTS,
    FAMILY_RULE_INTENTS,
    FAMILY_RULES,
    RULES,
    Intent,
    RuleUndefined,
    all_intents,
    apply,
    inverse_of,
    objects,
    parse_intent,
)
from metagnn.tasks.arc1d.task import IGNORE, OOD, PAD, TRAIN, VAL
from metagnn.train import RunConfig, train

DATA = Path(__file__).parents[1].parent / "shared/data/1d-arc"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"1D-ARC data folder {DATA} is absent")

TINY_TASK = {"test_examples": 16, "target": {"d_model": 8, "n_heads": 2, "d_mlp": 16, "n_layers": 2}}
TINY_TRAIN = {"steps": 2, "intents_per_step": 2, "examples_per_intent": 4, "eval_every": 2, "warmup": 1}
TINY_METAGNN = {"d_intent": 16, "d_node": 16, "d_edge": 8, "rounds": 1}


def real_pairs(family: str) -> list[tuple[str, list[int], list[int]]]:
    out = []
    for path in sorted((DATA / f"1d_{family}").glob("*.json")):
        data = json.loads(path.read_text())
        for split in ("train", "test"):
            for i, pair in enumerate(data[split]):
                out.append((f"{path.name} {split}[{i}]", pair["input"][0], pair["output"][0]))
    return out


# --- the rules against the real tasks --------------------------------------------------------
@needs_data
@pytest.mark.parametrize("family", sorted(FAMILY_INTENTS))
def test_rules_reproduce_every_real_pair_of_the_covered_families(family: str) -> None:
    """move_1p/2p/3p = shift forward 1/2/3, fill, hollow = fill inverse, mirror, flip, pcopy_1c/mc = pcopy forward."""
    pairs = real_pairs(family)
    assert len(pairs) >= 35 * 4, f"expected every task of {family} (train and test pairs)"
    intent = FAMILY_INTENTS[family]
    wrong = [where for where, x, y in pairs if apply(intent, x) != y]
    assert not wrong, f"{intent.key} disagrees with {len(wrong)} real pairs, e.g. {wrong[:3]}"


@needs_data
@pytest.mark.parametrize("family", sorted(FAMILY_INTENTS))
def test_inverse_rules_undo_the_real_outputs(family: str) -> None:
    """Each covered family's inverse intent maps every real output back to its input (hollow <-> fill, ...)."""
    inverse = inverse_of(FAMILY_INTENTS[family])
    assert inverse is not None
    wrong = [where for where, x, y in real_pairs(family) if apply(inverse, y) != x]
    assert not wrong, f"{inverse.key} does not undo {wrong[:3]}"


def test_rules_on_hand_made_rows() -> None:
    """Small cases written from SPEC 3's table, including where a rule is undefined."""
    assert apply(Intent("shift", "forward", 2), [3, 3, 0, 0]) == [0, 0, 3, 3]
    assert apply(Intent("shift", "inverse", 1), [0, 4, 5, 0]) == [4, 5, 0, 0]
    assert apply(Intent("fill", "forward"), [0, 2, 0, 0, 2, 0]) == [0, 2, 2, 2, 2, 0]
    assert apply(Intent("fill", "inverse"), [0, 2, 2, 2, 2, 0]) == [0, 2, 0, 0, 2, 0]
    assert apply(Intent("mirror", "forward"), [5, 5, 0, 9, 0, 0, 0, 0]) == [0, 0, 0, 9, 0, 5, 5, 0]
    assert apply(Intent("mirror", "inverse"), [0, 0, 0, 9, 0, 5, 5, 0]) == [5, 5, 0, 9, 0, 0, 0, 0]
    assert apply(Intent("pcopy", "forward"), [1, 1, 1, 0, 0, 4, 0, 0]) == [1, 1, 1, 0, 4, 4, 4, 0]
    assert apply(Intent("pcopy", "inverse"), [1, 1, 1, 0, 4, 4, 4, 0]) == [1, 1, 1, 0, 0, 4, 0, 0]
    assert apply(Intent("flip"), [0, 6, 7, 7, 0, 3, 3, 2]) == [0, 7, 7, 6, 0, 2, 3, 3]
    assert apply(Intent("recolour", "forward", 7), [0, 1, 2, 0, 9]) == [0, 7, 7, 0, 7]
    for intent, row in [
        (Intent("shift", "forward", 1), [0, 0, 3]),  # would leave the row
        (Intent("fill", "forward"), [2, 0, 3]),  # ends of different colours
        (Intent("fill", "inverse"), [0, 2, 0]),  # a single pixel is no filled segment
        (Intent("mirror", "forward"), [3, 9, 0, 9]),  # two pivots
        (Intent("mirror", "forward"), [3, 3, 3, 9, 0]),  # reflected out of the row
        (Intent("pcopy", "forward"), [1, 1, 0, 0, 4, 0]),  # leftmost object is no 3-block
        (Intent("pcopy", "forward"), [1, 1, 1, 0, 4, 0, 0, 5, 0]),  # new blocks would touch
        (Intent("flip"), [0, 3, 4, 5, 0]),  # three colours: no head + body
        (Intent("recolour", "forward", 2), [0, 0, 0]),
    ]:
        with pytest.raises(RuleUndefined):
            apply(intent, row)


# --- intents ---------------------------------------------------------------------------------
def test_intent_text_round_trips() -> None:
    """Every intent's canonical key parses back to it; aliases parse to the canonical form."""
    intents = all_intents()
    assert len(intents) == 24 and len({i.key for i in intents}) == 24
    for intent in intents:
        assert parse_intent(intent.key) == intent
    assert parse_intent("recolour-forward-7") == parse_intent("recolour-7") == Intent("recolour", "forward", 7)
    assert parse_intent("flip-forward").key == "flip" and parse_intent("Shift-Inverse-3").key == "shift-inverse-3"
    task = build_task("arc1d", {"test_examples": 4})
    for intent in intents:
        assert task.intent_key(task.parse_intent(intent.key)) == intent.key


@pytest.mark.parametrize(
    "bad",
    ["shift-forward-5", "shift-forward", "recolour-0", "recolour-10", "flip-inverse", "recolour-inverse-3",
     "fill-3", "spin", "", "shift,inverse,3", "shift-sideways-2", "mirror-forward-x"],
)  # fmt: skip
def test_bad_intents_are_refused(bad: str) -> None:
    with pytest.raises(IntentError, match="arc1d"):
        build_task("arc1d", {"test_examples": 4}).parse_intent(bad)


def test_splits_are_spec_3s() -> None:
    """OOD and validation intents as pinned; train = every other intent; the quick config agrees."""
    task = build_task("arc1d", {"test_examples": 4})
    assert task.splits["ood"] == ["shift-inverse-3", "shift-forward-4", "mirror-inverse", "pcopy-inverse", "recolour-7"]
    assert task.splits["val"] == ["shift-inverse-1", "recolour-4"]
    assert sorted(task.splits["train"]) == sorted({i.key for i in all_intents()} - set(OOD) - set(VAL))
    assert task.splits["train"] == TRAIN
    from metagnn.config import load_config

    for name in ("quick", "full"):
        cfg = load_config(name, "arc1d")
        configured = build_task("arc1d", cfg["task_config"])
        assert {s: configured.splits[s] for s in ("train", "val", "ood")} == {
            s: task.splits[s] for s in ("train", "val", "ood")
        }


def test_intent_features_are_functions_of_the_value() -> None:
    """Same value, same features; the features tell every intent apart; k enters as a number."""
    task = build_task("arc1d", {"test_examples": 4})
    keys = [i.key for i in all_intents()]
    f = task.intent_features(keys)
    assert f.shape == (24, task.intent_dim) and torch.isfinite(f).all()
    assert len({tuple(r) for r in f.tolist()}) == 24
    torch.testing.assert_close(task.intent_features(["recolour-7", "recolour-7"])[0], f[keys.index("recolour-7")])
    # k is a scalar feature: recolour-k's k/9 column grows linearly with k.
    rec = task.intent_features([f"recolour-{k}" for k in range(1, 10)])
    assert torch.allclose(rec[:, 7], torch.arange(1, 10) / 9)


@pytest.mark.parametrize("ood", OOD)
def test_no_ood_intent_computes_a_training_intents_function(ood: str) -> None:
    """On probe rows of each OOD intent, every training intent is undefined or gives another output (>= 95 %)."""
    rng = random.Random(7)
    target = parse_intent(ood)
    probes = [sample_pair(target, rng)[0] for _ in range(300)]
    for key in TRAIN:
        train_intent = parse_intent(key)
        same = 0
        for row in probes:
            try:
                same += apply(train_intent, row) == apply(target, row)
            except RuleUndefined:
                pass
        assert same <= 0.05 * len(probes), f"{key} equals {ood} on {same} of {len(probes)} probe rows"


# --- the generator ---------------------------------------------------------------------------
@pytest.mark.parametrize("intent", [i.key for i in all_intents()])
def test_generated_rows_are_well_formed_and_the_rule_is_defined(intent: str) -> None:
    """Lengths in 7..36, colours 0..9, at least one object, output = the rule; inverse rules undo them."""
    parsed = parse_intent(intent)
    rng = random.Random(intent)
    lengths = set()
    for _ in range(300):
        x, y = sample_pair(parsed, rng)
        assert 7 <= len(x) <= 36 and len(y) == len(x)
        assert all(0 <= c <= 9 for c in x + y) and objects(x)
        assert apply(parsed, x) == y
        assert x != y or parsed.rule == "recolour"  # recolour may meet a row already of colour k
        inverse = inverse_of(parsed)
        if inverse is not None:
            assert apply(inverse, y) == x
        lengths.add(len(x))
    assert min(lengths) <= 12 and max(lengths) >= 32, "row lengths should span the real tasks' 7..33"


def test_generator_covers_the_real_layouts() -> None:
    """Some sampled rows look like the real families: one solid segment to move, mixed pcopy colours."""
    rng = random.Random(0)
    shift = [sample_pair(Intent("shift", "forward", 1), rng)[0] for _ in range(300)]
    assert any(len(objects(r)) == 1 and len(set(r) - {0}) == 1 for r in shift)
    assert any(len(objects(r)) == 3 for r in shift)
    pcopy = [sample_pair(Intent("pcopy", "forward"), rng)[0] for _ in range(300)]
    assert any(len(set(r) - {0}) >= 3 for r in pcopy) and any(len(set(r) - {0}) == 1 for r in pcopy)


# --- the task --------------------------------------------------------------------------------
def test_examples_are_padded_rows_and_exact_match_ignores_padding() -> None:
    task = build_task("arc1d", {"test_examples": 32})
    x, y = task.sample(["fill-forward", "shift-inverse-2"], 20, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (2, 20, 36) and x.dtype == torch.long
    pad = x == PAD
    assert torch.equal(pad, y == IGNORE) and pad.any() and (x[~pad] <= 9).all()
    for b, key in enumerate(["fill-forward", "shift-inverse-2"]):
        for n in range(20):
            row = x[b, n][~pad[b, n]].tolist()
            assert apply(parse_intent(key), row) == y[b, n][~pad[b, n]].tolist()
    logits = torch.nn.functional.one_hot(y.clamp_min(0), 10).float()
    assert task.correct(logits, y, []).all() and task.loss(logits * 20, y, []) < 1e-3
    logits[0, 0, 0] = logits[0, 0, 0].flip(0)  # one wrong cell makes the row wrong
    right = task.correct(logits, y, [])
    assert not right[0, 0] and right.sum() == 39
    logits[1, 0, -1] = logits[1, 0, -1].flip(0)  # a wrong padded cell does not count
    assert task.correct(logits, y, [])[1, 0] == bool(pad[1, 0, -1])


def test_sampling_is_reproducible_and_test_sets_are_fixed() -> None:
    task = build_task("arc1d", {"test_examples": 32})
    a = task.sample(["flip", "recolour-3"], 8, torch.Generator().manual_seed(3))
    b = task.sample(["flip", "recolour-3"], 8, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    x1, _ = task.test_set("mirror-inverse")
    x2, _ = build_task("arc1d", {"test_examples": 32}).test_set("mirror-inverse")
    assert torch.equal(x1, x2) and x1.shape == (32, 36)
    assert 0 <= task.chance("recolour-7") < 0.2 and task.chance("shift-forward-4") == 0


@pytest.mark.parametrize(
    "cfg, needle",
    [({"min_length": 5}, "min_length"), ({"test_examples": 0}, "test_examples"),
     ({"target": {"readout": "last"}}, "readout"), ({"ood": ["fill-forward"]}, "both"),
     ({"train": ["turn-left"]}, "unknown rule"), ({"offset_anchor": True}, "unknown key"),
     ({"shift_anchor": "only"}, "unknown key")],
)  # fmt: skip
def test_bad_task_configs_are_refused(cfg: dict, needle: str) -> None:
    with pytest.raises((ConfigError, IntentError), match=needle):
        build_task("arc1d", cfg)


# --- the target ------------------------------------------------------------------------------
def per_cell_target(layernorm: bool = False, rel_bias: bool = False):
    return build_target("transformer", vocab=11, n_ctx=6, n_classes=10, d_model=8, n_heads=2, d_mlp=12,
                        n_layers=2, layernorm=layernorm, readout="all", causal=False, rel_bias=rel_bias)  # fmt: skip


@pytest.mark.parametrize("layernorm, rel_bias", [(False, False), (True, False), (False, True)])
def test_per_cell_target_keeps_the_declared_symmetries(layernorm: bool, rel_bias: bool, gen: torch.Generator) -> None:
    """readout='all', causal=False (and rel_bias): every declared permutation leaves the function unchanged
    (with rel_bias, a head's bias row moves with its Q, K, V and O); positions and offsets do not."""
    spec = per_cell_target(layernorm, rel_bias)
    theta = to_double(spec.init_theta(gen))
    x = torch.randint(11, (16, 6), generator=gen)
    ref = spec.forward(theta, x, None)
    assert ref.shape == (16, 6, 10)
    for name, size in spec.permutations.items():
        out = spec.forward(permute(spec, theta, name, random_perm(size, gen)), x, None)
        torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10, msg=name)
    fixed = {"positions": 6, "offsets": 11} if rel_bias else {"positions": 6}
    assert [s.name for s in spec.node_sets if s.name in ("offsets", "blocks.1.heads")] == (
        ["offsets", "blocks.1.heads"] if rel_bias else []
    )
    for node_set, size in fixed.items():
        moved = permute_fixed_axis(spec, theta, node_set, 0, random_perm(size, gen))
        assert_changed(spec.forward(moved, x, None), ref)


def copy_head_theta(spec, member: int) -> dict[str, torch.Tensor]:
    """One layer, one head with Q = K = 0 and an attention bias of 30 at offset member ``member``: the head
    copies the colour it attends to into a second part of the residual stream, which the unembedding reads."""
    theta = {k: torch.zeros(v) for k, v in spec.shapes.items()}
    eye = torch.eye(11)
    theta["embed.W_E"][:, :11] = eye  # token c -> residual dim c
    theta["blocks.0.attn.W_V"][0, :11, :11] = eye  # value: the token
    theta["blocks.0.attn.W_O"][0, :11, 11:22] = eye  # ... written to dims 11..21
    theta["unembed.W_U"][11:21] = torch.eye(10)  # colour c <- dim 11 + c
    theta["blocks.0.attn.rel_bias"][0, member] = 30.0
    return theta


@pytest.mark.parametrize("intent", ["shift-forward-1", "shift-forward-4", "shift-inverse-2", "shift-inverse-3"])
def test_the_shift_is_a_position_on_the_attention_offsets_that_computes_it(intent: str) -> None:
    """With the target's attention offsets (rel_bias), the offsets member whose feature is 0 for shift-k is the
    attention bias that makes a copy head compute the shift: set there, the target reproduces the rule on every
    cell that has a cell to copy; set at the opposite shift's member, it does not. Other rules' features are 0."""
    target = {"d_model": 32, "n_heads": 1, "d_mlp": 4, "n_layers": 1, "rel_bias": True}
    task = build_task("arc1d", {"test_examples": 64, "target": target})
    relation = task.contract.relation("offsets")
    assert [a.node_set for a in task.contract.axes] == ["classes", "positions", "offsets"]
    u = task.intent_features([intent, "recolour-2"])
    feats = relation.features(u, 71)
    assert feats[1].abs().sum() == 0
    member = int(feats[0, :, 0].abs().argmin())
    assert feats[0, member, 0] == 0 and feats[0, :, 1].eq(1).all()
    s = (1 if "forward" in intent else -1) * int(intent[-1])
    assert member == 35 - s  # offset j - i = -s: cell i reads cell i - s
    x, y = task.test_set(intent)
    length = (x != PAD).sum(1, keepdim=True)
    i = torch.arange(36)[None]
    has_source = (i < length) & (i - s >= 0) & (i - s < length)
    for m, expect in ((member, True), (70 - member, False)):
        out = task.spec.forward(copy_head_theta(task.spec, m), x, None).argmax(-1)
        right = (out == y)[has_source]
        assert bool(right.all()) == expect and (expect or right.float().mean() < 0.9)


def test_non_causal_attention_sees_later_cells(gen: torch.Generator) -> None:
    """Changing the last cell changes the first cell's logits only without the causal mask."""
    for causal in (True, False):
        spec = build_target("transformer", vocab=11, n_ctx=6, n_classes=10, d_model=8, n_heads=2, d_mlp=12,
                            readout="all", causal=causal)  # fmt: skip
        theta = to_double(spec.init_theta(gen))
        x = torch.randint(10, (4, 6), generator=gen)
        x2 = x.clone()
        x2[:, -1] = (x[:, -1] + 1) % 10
        first, first2 = spec.forward(theta, x, None)[:, 0], spec.forward(theta, x2, None)[:, 0]
        assert torch.equal(first, first2) == causal


def test_direct_model_reads_the_rows_not_the_intent_token() -> None:
    """The Direct baseline's extra intent token is not among the per-cell outputs."""
    task = build_task("arc1d", {"test_examples": 4, "target": TINY_TASK["target"]})
    model = build_model("direct", task.spec, task.intent_dim, {"d_intent": 8})
    x, _ = task.sample(["flip"], 3, torch.Generator().manual_seed(0))
    assert model(task.intent_features(["flip"]), x).shape == (1, 3, 36, 10)


# --- training never reads the data; the real check ---------------------------------------------
def train_tiny(out: Path, task: str = "arc1d", task_config: dict | None = None) -> Path:
    cfg = TINY_TASK if task == "arc1d" else task_config or {}
    train(RunConfig(task, cfg, "metagnn", TINY_METAGNN, TINY_TRAIN, 0), out, progress=False)
    return out


@pytest.fixture(scope="module")
def arc_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("arc") / "run")


def test_training_never_reads_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file opened while training is inside the run folder (or Python's own); none is a 1D-ARC file."""
    opened: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setenv("METAGNN_ARC_DIR", str(DATA))
    train_tiny(tmp_path / "run")
    assert opened, "the spy saw no file at all"
    assert not [p for p in opened if "1d-arc" in p or "1d_" in p or (p.endswith(".json") and "run" not in p)]


def write_task(folder: Path, family: str, index: int, pairs: list[tuple[list[int], list[int]]]) -> None:
    sub = folder / f"1d_{family}"
    sub.mkdir(parents=True, exist_ok=True)
    data = {"train": [{"input": [x], "output": [y]} for x, y in pairs[:-1]],
            "test": [{"input": [pairs[-1][0]], "output": [pairs[-1][1]]}]}  # fmt: skip
    (sub / f"1d_{family}_{index}.json").write_text(json.dumps(data))


class Oracle(torch.nn.Module):
    """A stand-in model that applies the true rule of whichever intent its features encode."""

    def __init__(self, task) -> None:
        super().__init__()
        self.task = task
        self.keys = [i.key for i in all_intents(task.cfg.rules)]
        self.features = task.intent_features(self.keys)

    def forward(self, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(*x.shape, 10)
        for b in range(len(u)):
            key = self.keys[int((self.features - u[b]).abs().sum(1).argmin())]
            for n, row in enumerate(x[b]):
                cells = row[row != PAD].tolist()
                try:
                    y = apply(parse_intent(key), cells)
                except RuleUndefined:
                    continue  # no answer: the row stays all zero logits
                out[b, n, : len(y)] = torch.nn.functional.one_hot(torch.tensor(y), 10).float()
        return out


def test_real_check_pools_pairs_and_tasks(tmp_path: Path) -> None:
    """On a synthetic folder, the true rules score 1 on expressible families; the others count as unsolved."""
    task = build_task("arc1d", {"test_examples": 4})
    rng = random.Random(0)
    for family, intent in [("move_2p", Intent("shift", "forward", 2)), ("hollow", Intent("fill", "inverse"))]:
        for i in range(3):
            write_task(tmp_path, family, i, [sample_pair(intent, rng, width=30) for _ in range(4)])
    write_task(tmp_path, "denoising_1c", 0, [([0, 1, 1, 0, 1, 0, 0], [0, 1, 1, 0, 0, 0, 0])] * 4)
    write_task(tmp_path, "padded_fill", 0, [([0, 1] + [0] * 50, [0, 1] + [0] * 50)] * 4)  # long, but inexpressible
    result = real_check(Oracle(task), task, tmp_path)
    assert result["per_family"]["move_2p"] == {"intent": "shift-forward-2", "pairs": 12, "tasks": 3,
        "right_pairs": 12, "solved_tasks": 3, "pair_accuracy": 1.0, "tasks_solved": 1.0}  # fmt: skip
    assert result["expressible_pair_accuracy"] == 1.0 and result["expressible_tasks_solved"] == 1.0
    assert result["all_pair_accuracy"] == pytest.approx(24 / 32) and result["all_tasks_solved"] == pytest.approx(6 / 8)
    assert result["families"] == 4 and result["expressible_families"] == 2


@needs_data
def test_untrained_hypernetwork_scores_about_zero_on_real_tasks(capsys: pytest.CaptureFixture) -> None:
    """An untrained Meta-GNN solves (almost) no real pair; the oracle solves all of the expressible families."""
    task = build_task("arc1d", {"test_examples": 4})
    torch.manual_seed(0)
    model = build_model("metagnn", task.spec, task.intent_dim, TINY_METAGNN)
    result = real_check(model, task, DATA)
    assert result["families"] == 18 and result["expressible_families"] == 9
    assert result["expressible_pair_accuracy"] < 0.02 and result["all_tasks_solved"] < 0.01
    oracle = real_check(Oracle(task), task, DATA)
    assert oracle["expressible_pair_accuracy"] == 1.0
    assert oracle["all_pair_accuracy"] == pytest.approx(9 / 18)


@needs_data
def test_the_real_check_scores_the_same_in_any_batch_size(monkeypatch) -> None:
    """Pairs are run in bounded batches (memory independent of the folder's size); the batch changes no score."""
    import metagnn.tasks.arc1d.real as real

    task = build_task("arc1d", {"test_examples": 4})
    torch.manual_seed(1)
    model = build_model("flat", task.spec, task.intent_dim, {"d_hidden": 16, "layers": 2})
    whole = real_check(model, task, DATA)
    monkeypatch.setattr(real, "REAL_BATCH", 3)
    assert real_check(model, task, DATA, progress=True) == whole


def test_eval_arc_dir_prints_per_family_and_json_headline(arc_run: Path, tmp_path: Path, capsys) -> None:
    rng = random.Random(1)
    write_task(tmp_path, "fill", 0, [sample_pair(Intent("fill", "forward"), rng) for _ in range(4)])
    assert main(["eval", str(arc_run), "--arc-dir", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0 <= result["expressible_pair_accuracy"] <= 1
    assert result["real_arc"]["per_family"]["fill"]["pairs"] == 4
    assert main(["eval", str(arc_run), "--arc-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "fill-forward" in text and "expressible families (1): pair accuracy" in text


def test_arc_dir_defaults_to_the_environment(arc_run: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("METAGNN_ARC_DIR", str(tmp_path / "missing"))
    assert main(["eval", str(arc_run)]) == 2
    assert "not a folder of 1D-ARC tasks" in capsys.readouterr().err


MALFORMED = {
    "not json": ("1d_fill", "{not json", "not valid JSON"),
    "missing key": ("1d_fill", json.dumps({"train": [{"input": [[1]], "output": [[1]]}]}), "missing key 'test'"),
    "ragged": ("1d_fill", json.dumps({"train": [{"input": [[1, 0], [1]], "output": [[1, 0]]}], "test": []}), "ragged"),
    "flat grid": ("1d_fill", json.dumps({"train": [{"input": [1, 0], "output": [[1, 0]]}], "test": []}), "nested"),
    "too deep": ("1d_fill", json.dumps({"train": [{"input": [[[1]]], "output": [[1]]}], "test": []}), "nested"),
    "empty grid": ("1d_fill", json.dumps({"train": [{"input": [], "output": [[1]]}], "test": []}), "empty grid"),
    "not a grid": ("1d_fill", json.dumps({"train": [{"input": "1 0", "output": [[1]]}], "test": []}), "got str"),
    "colour": ("1d_fill", json.dumps({"train": [{"input": [[1, 12]], "output": [[1, 1]]}], "test": []}), "colour 12"),
    "lengths": ("1d_fill", json.dumps({"train": [{"input": [[1, 0]], "output": [[1]]}], "test": []}), "2 cells"),
    "too long": (
        "1d_fill",
        json.dumps(
            {"train": [{"input": [[1] * 40], "output": [[1] * 40]}], "test": [{"input": [[1]], "output": [[1]]}]}
        ),
        "too long",
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_task_files_are_one_line_errors(case: str, arc_run: Path, tmp_path: Path, capsys) -> None:
    """A malformed file ends in ``metagnn: error: <file>: <what is wrong>`` and exit status 2."""
    folder, content, needle = MALFORMED[case]
    (tmp_path / folder).mkdir()
    path = tmp_path / folder / "1d_fill_0.json"
    path.write_text(content)
    assert main(["eval", str(arc_run), "--arc-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metagnn: error: ") and str(path) in err and needle in err
    assert err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(DataError, match=needle):
        load_tasks(tmp_path, width=36)


def test_arc_dir_on_another_task_is_a_clear_error(tmp_path: Path, capsys) -> None:
    run = tmp_path / "sum"
    train(RunConfig("sumfirst", {"target": {"hidden": [8]}}, "metagnn", TINY_METAGNN, TINY_TRAIN, 0), run,
          progress=False)  # fmt: skip
    assert main(["eval", str(run), "--arc-dir", str(tmp_path)]) == 2
    assert "this run is of task 'sumfirst'" in capsys.readouterr().err


# --- configs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["quick", "full"])
def test_shipped_arc1d_configs_are_valid_and_fair(name: str) -> None:
    """Every model builds; Direct's parameter count is within 2x of Meta-GNN's."""
    from metagnn.config import load_config
    from metagnn.train import TrainConfig

    cfg = load_config(name, "arc1d")
    TrainConfig(**cfg["train"])
    task = build_task("arc1d", cfg["task_config"])
    assert task.spec.kwargs["readout"] == "all" and task.spec.kwargs["causal"] is False
    sizes = {
        m: build_model(m, task.spec, task.intent_dim, c, contract=task.contract).num_parameters()
        for m, c in cfg["models"].items()
    }
    assert set(sizes) == {"metagnn", "gmlp", "flat", "direct"}
    assert 0.5 <= sizes["direct"] / sizes["metagnn"] <= 2.0, sizes


def test_recolour_k_is_a_position_on_the_colour_classes_and_other_rules_are_not() -> None:
    """1D-ARC's contract: for recolour-k, output colour c is coded by c - k; for every other rule the gate is
    closed and the features are all zero."""
    task = build_task("arc1d")
    relation = task.contract.relation("classes")
    feats = relation.features(task.intent_features(["recolour-7", "shift-forward-3", "fill-inverse"]), 10)
    assert feats[0, :, 0].tolist() == [float(c - 7) for c in range(10)] and bool((feats[0, :, 1] == 1).all())
    assert feats[1:].abs().sum() == 0


def test_the_shift_is_a_position_on_the_cells() -> None:
    """Position i of shift-forward-k / shift-inverse-k is coded by i - (+-k), and the Meta-GNN built on the task
    has an axis encoder for it; every other rule's position features are 0. The offsets reach W_pos: a change of
    that encoder's input weights moves W_pos for shift, not for recolour."""
    task = build_task("arc1d")
    assert [a.node_set for a in task.contract.axes] == ["classes", "positions"]  # no rel_bias: no offsets axis
    feats = task.contract.relation("positions").features(
        task.intent_features(["shift-forward-4", "shift-inverse-3", "recolour-2"]), 36
    )
    assert feats[0, :, 0].tolist() == [float(i - 4) for i in range(36)]
    assert feats[1, :, 0].tolist() == [float(i + 3) for i in range(36)]
    assert bool((feats[:2, :, 1] == 1).all()) and feats[2].abs().sum() == 0
    model = build_model("metagnn", task.spec, task.intent_dim, {}, contract=task.contract)
    assert sorted(model.axis_encoders) == ["classes", "positions"]
    u = task.intent_features(["shift-forward-4", "recolour-2"])
    before = model.synthesize(u)["embed.W_pos"]
    with torch.no_grad():
        first = next(m for m in model.axis_encoders["positions"].modules() if isinstance(m, torch.nn.Linear))
        first.weight.add_(1.0)
    after = model.synthesize(u)["embed.W_pos"]
    assert not torch.allclose(before[0], after[0]) and torch.allclose(before[1], after[1])


def test_every_shift_of_one_direction_and_every_colour_has_the_same_intent_code() -> None:
    """Shift's s and recolour's k are private to their axes: the intent encoder sees shift-forward-1 and the
    unseen shift-forward-4 as one intent, and recolour-2 and recolour-7 as another, while the synthesized
    weights differ. The rule and the direction stay in the code."""
    task = build_task("arc1d")
    model = build_model("metagnn", task.spec, task.intent_dim, {}, contract=task.contract)
    u = task.intent_features(["shift-forward-1", "shift-forward-4", "shift-inverse-1", "recolour-2", "recolour-7"])
    with torch.no_grad():
        codes = model.intent(model.contract.intent_code(u))
        theta = model.synthesize(u)
    assert not torch.allclose(theta["embed.W_pos"][0], theta["embed.W_pos"][1])
    assert not torch.allclose(theta["unembed.W_U"][3], theta["unembed.W_U"][4])
    assert torch.equal(codes[0], codes[1]) and torch.equal(codes[3], codes[4])
    assert not torch.allclose(codes[0], codes[2]) and not torch.allclose(codes[0], codes[3])


# --- the real families' rules as intents (a task's config lists the rules it uses) ------------------
@needs_data
@pytest.mark.parametrize("family", sorted(FAMILY_RULE_INTENTS))
def test_family_rules_reproduce_every_real_pair_of_their_family(family: str) -> None:
    intent = FAMILY_RULE_INTENTS[family]
    wrong = [where for where, x, y in real_pairs(family) if apply(intent, x) != y]
    assert not wrong, f"{intent.key} disagrees with {len(wrong)} real pairs, e.g. {wrong[:3]}"


def test_a_task_uses_the_rules_its_config_lists() -> None:
    """The default task keeps its 6 rules and 13 features and refuses a family rule; a task that lists the
    family rules codes them in its one-hot, keeps the contract on k and the shift, and samples their rows
    from the family's own generator (rows no longer than the family's)."""
    default = build_task("arc1d", TINY_TASK)
    assert default.intent_dim == 13 and [a.feature for a in default.contract.axes] == [7, 8]
    with pytest.raises(IntentError, match="outside this task's rules"):
        default.check_intent("denoise")
    with pytest.raises(IntentError, match="outside this task's rules"):
        default.intent_features(["denoise"])
    wide = build_task("arc1d", {**TINY_TASK, "rules": [*RULES, *FAMILY_RULES], "train": [*TRAIN, "denoise", "scaledp"]})
    assert wide.intent_dim == 18 and [a.feature for a in wide.contract.axes] == [12, 13]
    u = wide.intent_features(["denoise", "recolour-7", "shift-inverse-3"])
    assert u[0, ALL_RULES.index("denoise")] == 1 and u[0, :11].sum() == 1
    torch.testing.assert_close(u[1:, 11:], default.intent_features(["recolour-7", "shift-inverse-3"])[:, 6:])
    x, y = wide.sample(["scaledp"], 20, torch.Generator().manual_seed(0))
    lengths = (x != PAD).sum(-1)
    assert 7 <= int(lengths.min()) and int(lengths.max()) <= 30 and len(set(lengths[0].tolist())) > 3
    assert bool((x != torch.where(y == IGNORE, PAD, y)).any(-1).all())  # every row is changed by the rule
    for row, out in zip(x[0], y[0]):
        cells = row[row != PAD].tolist()
        assert apply(Intent("scaledp"), cells) == out[: len(cells)].tolist()
    for bad in (["shift", "fill"], ["shift", "recolour", "warp"], ["shift", "recolour", "shift"]):
        with pytest.raises(ConfigError, match="must be distinct, include shift and recolour"):
            build_task("arc1d", {**TINY_TASK, "rules": bad})
    with pytest.raises(ConfigError, match="longer than every row of rule denoise"):
        build_task("arc1d", {**TINY_TASK, "rules": ["shift", "recolour", "denoise"], "min_length": 34})


def test_real_check_covers_the_families_of_the_task_rules(tmp_path: Path) -> None:
    rng = random.Random(0)
    for i in range(2):
        write_task(tmp_path, "denoising_1c", i, [sample_pair(Intent("denoise"), rng, width=30) for _ in range(4)])
    wide = build_task("arc1d", {**TINY_TASK, "rules": list(ALL_RULES), "train": [*TRAIN, "denoise"]})
    result = real_check(Oracle(wide), wide, tmp_path)
    assert result["per_family"]["denoising_1c"]["intent"] == "denoise"
    assert result["per_family"]["denoising_1c"]["tasks_solved"] == 1.0
    with pytest.raises(DataError, match="no task of a family with an intent"):
        real_check(Oracle(build_task("arc1d", TINY_TASK)), build_task("arc1d", TINY_TASK), tmp_path)


# --- the colour rules: a task's colours are the intent's k ---------------------------------------------
@needs_data
@pytest.mark.parametrize("rule", sorted(COLOUR_RULES))
def test_colour_rules_with_the_train_pairs_colours_reproduce_every_real_pair(rule: str) -> None:
    family = COLOUR_RULES[rule][0]
    tasks = [t for t in load_tasks(DATA) if t.family == family]
    assert len(tasks) == 35
    for t in tasks:
        intent = task_intent(family_intents(ALL_RULES)[family], t)
        assert intent is not None and intent.rule == rule and parse_intent(intent.key) == intent
        assert [apply(intent, x) for x, _ in t.pairs] == [y for _, y in t.pairs], t.name


def test_colour_rules_as_intents_keys_features_and_rows() -> None:
    """Keys list the colours; the intents enumerate the distinct colour tuples; the features put colour role r
    at ``n + 7 + 2r`` with its gate, the contract relates each role to the classes, and the rows follow the rule."""
    assert parse_intent("bysize-1-8-5") == Intent("bysize", "forward", (1, 8, 5))
    assert parse_intent("parity-8-1").key == "parity-8-1" and Intent("longest", k=(7,)).key == "longest-7"
    counts = {rule: sum(i.rule == rule for i in all_intents(ALL_RULES)) for rule in COLOUR_RULES}
    assert counts == {"longest": 9, "bysize": 504, "parity": 72}
    for bad, needle in (("bysize-1-1-5", "3 distinct colours"), ("longest-0", "1 distinct colour in"),
                        ("parity-1-2-3", "2 distinct colours"), ("bysize-inverse-1-2-3", "no inverse"),
                        ("parity-1-x", "cannot read")):  # fmt: skip
        with pytest.raises(IntentError, match=needle):
            parse_intent(bad)
    rules = [*RULES, *COLOUR_RULES]
    task = build_task("arc1d", {**TINY_TASK, "rules": rules, "train": [*TRAIN, "bysize-1-8-5", "longest-7"]})
    n = len(rules)
    assert task.intent_dim == n + 13 and task.contract.node_sets == ("classes", "positions")
    assert [a.feature for a in task.contract.on("classes")] == [n + 1, n + 7, n + 9, n + 11]
    u = task.intent_features(["bysize-1-8-5", "parity-8-1", "longest-7", "recolour-3"])
    torch.testing.assert_close(u[:, n + 7 :] * 9, torch.tensor([[1.0, 9, 8, 9, 5, 9], [8, 9, 1, 9, 0, 0],
                                                                  [7, 9, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]]))  # fmt: skip
    marked = task.contract.features("classes", u, 10)  # (B, 10 classes, 2 per relation)
    for b, colours in enumerate([(1, 8, 5), (8, 1), (7,)]):
        for r, c in enumerate(colours):
            assert ((marked[b, :, 2 + 2 * r] == 0) & (marked[b, :, 3 + 2 * r] == 1)).nonzero().flatten().tolist() == [c]
    x, y = task.sample(["bysize-1-8-5"], 30, torch.Generator().manual_seed(0))
    for row, out in zip(x[0], y[0]):
        cells = row[row != PAD].tolist()
        assert apply(Intent("bysize", k=(1, 8, 5)), cells) == out[: len(cells)].tolist()
        assert set(out[: len(cells)].tolist()) <= {0, 1, 8, 5}
    assert task.check_intent("parity-8-1") == "parity-8-1"
    with pytest.raises(IntentError, match="outside this task's rules"):
        build_task("arc1d", TINY_TASK).check_intent("longest-7")


def test_real_check_reads_each_task_colours_from_its_train_pairs(tmp_path: Path) -> None:
    rng = random.Random(0)
    for i, colours in enumerate([(1, 8, 5), (2, 3, 4)]):
        pairs = [sample_pair(Intent("bysize", k=colours), rng, width=30) for _ in range(4)]
        write_task(tmp_path, "recolor_cnt", i, pairs)
    task = build_task("arc1d", {**TINY_TASK, "rules": [*RULES, "bysize"], "train": [*TRAIN, "bysize-1-8-5"]})
    result = real_check(Oracle(task), task, tmp_path)
    assert result["per_family"]["recolor_cnt"]["intent"] == "bysize-<task colours>"
    assert result["per_family"]["recolor_cnt"]["tasks_solved"] == 1.0
    # A task whose size-3 colour only its test pair shows, and one that paints sizes 1 and 2 alike: no intent
    # (the colours come from the train pairs alone), unsolved, and the other tasks are still scored.
    shown_late = [([0, 2, 0, 0], [0, 1, 0, 0]), ([2, 2, 0, 0], [8, 8, 0, 0]), ([0, 2, 0, 2], [0, 1, 0, 1]),
                  ([2, 2, 2, 0], [5, 5, 5, 0])]  # fmt: skip
    alike = [([0, 2, 0, 0], [0, 3, 0, 0]), ([2, 2, 0, 0], [3, 3, 0, 0]), ([2, 2, 2, 0], [5, 5, 5, 0]),
             ([2, 0, 0, 0], [3, 0, 0, 0])]  # fmt: skip
    write_task(tmp_path, "recolor_cnt", 2, shown_late)
    write_task(tmp_path, "recolor_cnt", 3, alike)
    tasks = {t.name: t for t in load_tasks(tmp_path)}
    intent = family_intents(task.cfg.rules)["recolor_cnt"]
    assert (
        task_intent(intent, tasks["1d_recolor_cnt_2"]) is None
        and task_intent(intent, tasks["1d_recolor_cnt_3"]) is None
    )
    assert task_intent(intent, tasks["1d_recolor_cnt_0"]) == Intent("bysize", k=(1, 8, 5))
    result = real_check(Oracle(task), task, tmp_path)
    assert result["per_family"]["recolor_cnt"]["tasks_solved"] == 0.5


def test_with_a_colour_rule_the_rules_are_drawn_about_equally_often(tmp_path: Path, monkeypatch) -> None:
    """Many colour tuples of one rule must not crowd out the rules of one intent; the default task keeps the
    uniform draw (None)."""
    assert build_task("arc1d", TINY_TASK).train_weights() is None
    bysize = [i.key for i in all_intents(["bysize"])][:20]
    cfg = {**TINY_TASK, "rules": [*RULES, "bysize"], "train": [*TRAIN, *bysize]}
    task = build_task("arc1d", cfg)
    weights = task.train_weights()
    rules = [parse_intent(k).rule for k in task.splits["train"]]
    share = {r: float(sum(w for w, q in zip(weights, rules) if q == r) / weights.sum()) for r in set(rules)}
    assert share == pytest.approx({r: 1 / 7 for r in set(rules)})
    train(RunConfig("arc1d", cfg, "metagnn", TINY_METAGNN, {**TINY_TRAIN, "steps": 60, "eval_every": 60}, 0),
          tmp_path, progress=False, log_batches=True)  # fmt: skip
    lines = [json.loads(line) for line in (tmp_path / "batches.rank0.jsonl").read_text().splitlines()]
    drawn = [parse_intent(k).rule for line in lines for k in line["intents"]]
    assert len(drawn) == 120 and drawn.count("bysize") < 40  # about 1/7 of the draws; uniform over intents: 20/37
    for bad, needle in ((torch.ones(3), "must be 37 finite weights"), (-torch.ones(37), "must be 37 finite weights"),
                        (torch.eye(37)[0], "fewer than 2 train intents")):  # fmt: skip
        monkeypatch.setattr(type(task), "train_weights", lambda self, bad=bad: bad)
        with pytest.raises(ConfigError, match=needle) as info:
            train(RunConfig("arc1d", cfg, "metagnn", TINY_METAGNN, TINY_TRAIN, 0), tmp_path / "bad", progress=False)
        assert "\n" not in str(info.value)
