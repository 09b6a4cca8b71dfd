"""The intent contract (metagnn.intent): declarations that do not fit S are refused; members of a related
axis are coded relative to the intent, so the same relative member starts in the same state for every
intent; the contract keeps the tied hypernetworks equivariant."""

from __future__ import annotations

import pytest
import torch
from helpers import assert_pe_permutations_permute_weights

from metagnn.errors import SpecError
from metagnn.intent import AxisRelation, IntentContract
from metagnn.models import build_model
from metagnn.targets import build_target
from metagnn.tasks import build_task

SMALL = {"d_intent": 8, "d_node": 16, "d_edge": 8, "rounds": 2}


@pytest.mark.parametrize(
    ("relation", "needle"),
    [
        (AxisRelation("nowhere", "position", 0), "'nowhere' is not a node set"),
        (AxisRelation("hidden0", "position", 0), "'hidden0' is not a node set with one fixed"),  # interchangeable
        (AxisRelation("input", "position", 3), "feature 3 is outside the 3 intent features"),
        (AxisRelation("input", "position", 0, gate=7), "feature 7 is outside"),
        (AxisRelation("input", "modulus", 0, span=5), "span 5 is not in 1..4"),  # a modulus larger than the axis
    ],
)
def test_a_relation_must_fit_the_target_and_the_intent_features(relation: AxisRelation, needle: str) -> None:
    spec = build_target("mlp", n_in=4, hidden=[5], n_out=1)
    AxisRelation("input", "position", 0, gate=2).check(spec, intent_dim=3)
    AxisRelation("input", "modulus", 0, span=4).check(spec, intent_dim=3)
    with pytest.raises(SpecError, match=needle):
        IntentContract((relation,)).check(spec, intent_dim=3)


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: AxisRelation("input", "ring", 0), "kind must be one of position, modulus"),
        (lambda: AxisRelation("input", "modulus", 0, gate=1), "a modulus has no gate"),
        (lambda: AxisRelation("input", "position", 0, span=3), "span is for a modulus only"),
        (lambda: IntentContract(code=False), "needs at least one axis relation"),
        (lambda: AxisRelation("input", "position", 0, scale=0.0), "scale must be finite and non-zero"),
        (lambda: IntentContract((AxisRelation("input", "position", 0),) * 2), "has two ungated relations"),
    ],
)
def test_malformed_declarations_are_refused_with_one_line(make, needle: str) -> None:
    with pytest.raises(SpecError, match=needle) as info:
        make()
    assert "\n" not in str(info.value)


def test_a_model_refuses_a_contract_that_does_not_fit_its_target() -> None:
    """The models check the task's contract against S before building anything."""
    spec = build_target("mlp", n_in=4, hidden=[5], n_out=1)
    contract = IntentContract((AxisRelation("hidden0", "position", 0),))
    for name in ("metagnn", "gmlp", "direct"):
        with pytest.raises(SpecError, match="not a node set with one fixed axis"):
            build_model(name, spec, 3, {}, contract=contract)


def test_position_features_and_a_closed_gate() -> None:
    """A position codes member i by i - c; intents whose gate feature is 0 get all-zero features."""
    u = torch.tensor([[0.5, 1.0], [0.5, 0.0]])
    feats = AxisRelation("input", "position", 0, scale=4.0, gate=1).features(u, 3)
    assert feats[0].tolist() == [[-2.0, 1.0], [-1.0, 1.0], [0.0, 1.0]]
    assert feats[1].abs().sum() == 0


def test_modulus_features_mark_unused_members_and_the_span() -> None:
    """A modulus codes member i by i / c; members c <= i < span are unused; members beyond the span are outside."""
    u = torch.tensor([[3.0]])
    feats = AxisRelation("tokens", "modulus", 0, span=5).features(u, 6)[0]
    assert feats[:, 0].tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1, 4 / 3, 0])
    assert feats[:, 1].tolist() == [0, 0, 0, 1, 1, 0]
    assert feats[:, 2].tolist() == [0, 0, 0, 0, 0, 1]


@pytest.mark.parametrize("name", ["metagnn", "gmlp"])
def test_addmod_tokens_and_classes_start_where_their_ratio_to_p_puts_them(name: str) -> None:
    """AddMod declares p the modulus of the number tokens and the classes, and keeps p out of the intent
    code: token a of the program for p starts in the same state as token 2a of the program for 2p, and so
    do the classes (the state is a function of a / p alone). The "=" token is outside the relation: it
    starts alike for every p. Ignoring the declaration (``intent_axes: false``), none of this holds."""
    task = build_task("addmod", {"vocab": 32, "train": [5, 7], "val": [], "ood": [], "extrapolation": []})
    u = task.intent_features([7, 14])  # 14 is no prime, but the features of any modulus can be computed
    for intent_axes in (True, False):
        model = build_model(name, task.spec, task.intent_dim, {**SMALL, "intent_axes": intent_axes}, task.contract)
        with torch.no_grad():
            nodes = model.encode(u)
        same = [torch.allclose(nodes[s][0, :7], nodes[s][1, 0:14:2], atol=1e-6) for s in ("tokens", "classes")] + [
            torch.allclose(nodes["tokens"][0, -1], nodes["tokens"][1, -1], atol=1e-6)
        ]
        assert same == [intent_axes] * 3


def test_sumfirst_inputs_start_where_their_offset_from_n_puts_them() -> None:
    """SumFirst declares n a position on the inputs, with no intent code: input i of the program for n
    starts in the same state as input i + 5 of the program for n + 5."""
    task = build_task("sumfirst")
    model = build_model("metagnn", task.spec, task.intent_dim, SMALL, task.contract)
    with torch.no_grad():
        nodes = model.encode(task.intent_features([4, 9]))["input"]
    torch.testing.assert_close(nodes[0, :11], nodes[1, 5:])
    assert not torch.allclose(nodes[0, :11], nodes[0, 5:])


@pytest.mark.parametrize("name", ["metagnn", "gmlp"])
def test_the_contract_keeps_hidden_neurons_interchangeable(name: str, gen: torch.Generator) -> None:
    """With AddMod's modulus declaration, permuting the codes of the hidden neurons of S (each declared
    permutation) permutes the generated weights the same way and leaves the program unchanged."""
    task = build_task("addmod", {"vocab": 16, "train": [5, 7], "val": [], "ood": [], "extrapolation": [],
                                 "target": {"d_model": 8, "n_heads": 2, "d_mlp": 12}})  # fmt: skip
    model = build_model(name, task.spec, task.intent_dim, SMALL, task.contract).eval()
    assert_pe_permutations_permute_weights(model, task.intent_features([5, 13]), task.sample([5, 7], 16, gen)[0], gen)


def test_direct_reads_the_same_members_as_the_task_numbers_them() -> None:
    """Direct's Transformer puts the intent in front as one more position, so its positions and attention
    offsets hold the task's members shifted by one: the member it marks as the shift's offset (feature 0) is
    the offset -s, and the intent token's position gets no relation. ``intent_axes: false`` turns it off."""
    target = {"d_model": 8, "n_heads": 2, "d_mlp": 8, "n_layers": 1, "rel_bias": True}
    task = build_task("arc1d", {"test_examples": 8, "target": target})
    model = build_model("direct", task.spec, task.intent_dim, {"d_intent": 8}, task.contract)
    ctx = model.net_spec.node_set("positions").size  # 37: the intent token and 36 cells
    for intent, s in (("shift-forward-2", 2), ("shift-inverse-3", -3)):
        u = task.intent_features([intent])
        offsets = model.member_inputs("offsets", u, 2 * ctx - 1)[0]
        marked = ((offsets[:, 0] == 0) & (offsets[:, 1] == 1)).nonzero().flatten().tolist()
        assert [m - (ctx - 1) for m in marked] == [-s]  # member m of Direct's offsets is j - i = m - 36
        positions = model.member_inputs("positions", u, ctx)[0]
        assert positions[0].abs().sum() == 0 and positions[1, :2].tolist() == [-s, 1.0]  # cell 0 is member 1
    plain = build_model("direct", task.spec, task.intent_dim, {"d_intent": 8, "intent_axes": False}, task.contract)
    assert not plain.terms and len(model.terms) == 3  # W_pos, W_U, rel_bias


def test_a_modulus_is_a_whole_number_of_members() -> None:
    """The modulus is rebuilt from a float feature (p / vocab * vocab), which is not always exactly p in float32;
    it is rounded, so member p is unused and member p - 1 used for every vocabulary. A modulus below 1 is refused."""
    relation = AxisRelation("tokens", "modulus", 0, scale=200, span=200)
    feats = relation.features(torch.tensor([[107 / 200]]), 201)[0]
    assert feats[106, 1] == 0 and feats[107, 1] == 1 and feats[107, 0] == 1.0
    with pytest.raises(SpecError, match="a modulus below 1"):
        relation.features(torch.tensor([[0.0]]), 201)
