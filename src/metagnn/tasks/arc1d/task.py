"""1D-ARC rules (SPEC 3): ``U = (rule, direction, k)``, ``X`` = a row of colours, ``Y`` = the rule's output row.

Rows are padded to ``width`` cells with the token ``PAD`` (= 10, after the colours 0..9); the
target emits 10 colour logits at every position, and an example is right when every unpadded cell
of the row is (exact match over the whole row). Intents travel through configs, checkpoints and
tables as their canonical text (``shift-inverse-3``, ``fill-forward``, ``recolour-7``, ``flip``;
see :mod:`metagnn.tasks.arc1d.rules`), which is JSON-native; :func:`~metagnn.tasks.arc1d.rules.parse_intent`
gives the structured ``(rule, direction, k)``.

The target ``S`` is a non-causal Transformer with a per-position readout (``docs/arc1d.md`` explains
why it can express every rule). Training data come from :mod:`metagnn.tasks.arc1d.generator` only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from metagnn.errors import ConfigError, IntentError
from metagnn.intent import AxisRelation, IntentContract
from metagnn.registry import TASKS
from metagnn.targets import TargetSpec, build_target
from metagnn.tasks.arc1d.families import FAMILIES
from metagnn.tasks.arc1d.generator import sample_pair
from metagnn.tasks.arc1d.rules import (
    ALL_RULES,
    COLOUR_RULES,
    FAMILY_OF_RULE,
    N_COLOURS,
    RULES,
    Intent,
    Row,
    all_intents,
    check_intent,
    parse_intent,
)
from metagnn.tasks.base import Task

PAD = N_COLOURS  # padding token beyond a row's end
ROLES = max(n for _, n in COLOUR_RULES.values())  # colour roles of the intent features (with a colour rule)
IGNORE = -1  # target value of padded cells (skipped by the loss and the metric)
VAL = ["shift-inverse-1", "recolour-4"]
OOD = ["shift-inverse-3", "shift-forward-4", "mirror-inverse", "pcopy-inverse", "recolour-7"]
TRAIN = [i.key for i in all_intents() if i.key not in VAL + OOD]


@dataclass
class Arc1DConfig:
    width: int = 36
    min_length: int = 7
    train: list[str] = field(default_factory=lambda: list(TRAIN))
    val: list[str] = field(default_factory=lambda: list(VAL))
    ood: list[str] = field(default_factory=lambda: list(OOD))
    extrapolation: list[str] = field(default_factory=list)
    test_examples: int = 512
    split_seed: int = 0
    target: dict[str, Any] = field(default_factory=lambda: {"d_model": 32, "n_heads": 4, "d_mlp": 64, "n_layers": 2})
    # The rules the task's intents may use (the one-hot of the intent features runs over them): the six of
    # SPEC 3 by default, and any of the real families' rules (metagnn.tasks.arc1d.rules.FAMILY_RULES and
    # COLOUR_RULES).
    rules: list[str] = field(default_factory=lambda: list(RULES))


def encode_rows(rows: Sequence[Sequence[int]], width: int, fill: int = PAD) -> Tensor:
    """Rows of colours -> a ``(len(rows), width)`` long tensor, padded with ``fill`` beyond each row's end."""
    out = torch.full((len(rows), width), fill, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def encode_pairs(pairs: Sequence[tuple[Row, Row]], width: int) -> tuple[Tensor, Tensor]:
    """``(input, output)`` rows -> ``x (N, width)`` tokens (``PAD`` beyond a row) and ``y (N, width)`` colours
    (``IGNORE`` beyond a row)."""
    return encode_rows([p[0] for p in pairs], width), encode_rows([p[1] for p in pairs], width, fill=IGNORE)


def row_target(width: int, **target: Any) -> TargetSpec:
    """The 1D-ARC target ``S``: a non-causal Transformer with a per-cell readout on rows of ``width`` cells
    (2 layers unless ``target`` says otherwise)."""
    target = {"n_layers": 2, **target, "readout": "all", "causal": False}
    return build_target("transformer", vocab=N_COLOURS + 1, n_ctx=width, n_classes=N_COLOURS, **target)


def cell_loss(out: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy over the unpadded cells; ``out (..., width, 10)``, ``y (..., width)``."""
    return F.cross_entropy(out.flatten(0, -2), y.flatten(), ignore_index=IGNORE)


def rows_right(out: Tensor, y: Tensor) -> Tensor:
    """Exact match over every unpadded cell of each row, bool ``y.shape[:-1]``."""
    return ((out.argmax(-1) == y) | (y == IGNORE)).all(-1)


@TASKS.register("arc1d")
class Arc1D(Task):
    name = "arc1d"
    Config = Arc1DConfig

    def __init__(self, cfg: Arc1DConfig) -> None:
        if not 7 <= cfg.min_length <= cfg.width:
            raise ConfigError(
                f"arc1d: need 7 <= min_length <= width, got min_length={cfg.min_length}, width={cfg.width}"
            )
        if cfg.test_examples < 1:
            raise ConfigError(f"arc1d: test_examples must be positive, got {cfg.test_examples}")
        # recolour's k is an output colour (feature 7 is k / 9; the recolour one-hot is the gate). shift's
        # signed displacement s = +-k (feature 8 is s / 4; the shift one-hot is the gate) is a position on
        # the cells, i - s, and, with the target's attention offsets (rel_bias), on those: member m is offset
        # j - i = m - (width - 1), and query i copies j = i - s, member width - 1 - s. Both reach the model
        # only through their axes (private: k / 9 and its sinusoids, s / 4): an unseen colour or shift is no
        # new intent code. (With k in the code, validation fell to 0.71 in one of 3 quick seeds, recolour-4
        # at 0.42: docs/results.md.)
        unknown = sorted(set(cfg.rules) - set(ALL_RULES))
        if unknown or len(set(cfg.rules)) < len(cfg.rules) or not {"shift", "recolour"} <= set(cfg.rules):
            raise ConfigError(
                f"arc1d: rules {cfg.rules} must be distinct, include shift and recolour, and come from "
                f"{', '.join(ALL_RULES)}"
            )
        for rule in set(cfg.rules) & set(FAMILY_OF_RULE):
            family = FAMILIES[FAMILY_OF_RULE[rule]]
            if cfg.min_length > family.max_length:
                raise ConfigError(
                    f"arc1d: min_length {cfg.min_length} is longer than every row of rule {rule} ({family.name}: at "
                    f"most {family.max_length} cells)"
                )
        n = len(cfg.rules)  # features: one-hot rule (n), direction, k / 9, s / 4, four sinusoids of k
        recolour = {"feature": n + 1, "gate": cfg.rules.index("recolour"), "private": (n + 1, *range(n + 3, n + 7))}
        shift = {"feature": n + 2, "gate": cfg.rules.index("shift"), "private": (n + 2,)}
        axes = [
            AxisRelation("classes", "position", scale=9, **recolour),
            AxisRelation("positions", "position", scale=4, **shift),
        ]
        # A colour rule's task colours are roles on the classes: role r's colour c_r / 9 and its gate (open
        # when the rule has an r-th colour), features n + 7 + 2r and n + 8 + 2r; class i is role r's colour
        # where i - c_r = 0 and the gate is open. Only a task with a colour rule has them.
        self.roles = ROLES if set(cfg.rules) & set(COLOUR_RULES) else 0
        axes += [AxisRelation("classes", "position", scale=9, feature=n + 7 + 2 * r, gate=n + 8 + 2 * r,
                              private=(n + 7 + 2 * r,)) for r in range(self.roles)]  # fmt: skip
        if cfg.target.get("rel_bias") is True:
            axes.append(AxisRelation("offsets", "position", scale=-4, origin=cfg.width - 1, **shift))
        self.contract = IntentContract(tuple(axes))
        for split in ("train", "val", "ood", "extrapolation"):  # canonical text, so splits compare exactly
            setattr(cfg, split, [self.parse_intent(t) for t in getattr(cfg, split)])
        super().__init__(cfg)
        fixed = sorted({"vocab", "n_ctx", "n_classes", "readout", "causal", "intent_dim"} & set(cfg.target))
        if fixed:
            raise ConfigError(f"arc1d: the target's {', '.join(fixed)} follow from the task and may not be set")
        self._spec = row_target(cfg.width, **cfg.target)
        self._tests: dict[str, tuple[Tensor, Tensor]] = {}

    # --- intents -------------------------------------------------------------------------
    def parse_intent(self, text: str) -> str:
        """``shift-inverse-3`` etc. -> the canonical key (an intent given as a tuple is accepted too)."""
        if isinstance(text, (tuple, list)) and len(text) == 3:
            return check_intent(Intent(*text)).key
        return parse_intent(text).key

    def check_intent(self, intent: Any) -> str:
        key = self.parse_intent(intent)
        if key != intent:
            raise IntentError(f"arc1d: intent {intent!r} is not in canonical form (write {key!r})")
        if parse_intent(key).rule not in self.cfg.rules:
            rules = ", ".join(self.cfg.rules)
            raise IntentError(f"arc1d: intent {key!r} uses a rule outside this task's rules ({rules})")
        return key

    def intent_features(self, intents: Sequence[str]) -> Tensor:
        """Per intent: one-hot rule (over the config's rules, 6 by default), direction (+1 / -1), ``k / 9``,
        signed shift ``+-k / 4``, and ``cos, sin`` of ``2 pi k / 9`` and ``4 pi k / 9`` (all 0 for rules without
        k; for shift all 0 but the signed shift, which reaches the model through the target's axes only).
        Shape ``(B, len(rules) + 7)``: ``(B, 13)`` by default. A task with a colour rule adds, per colour role
        (3), the colour ``c / 9`` and a gate (1 where the rule has that colour): ``(B, len(rules) + 13)``."""
        rows = []
        for key in intents:
            rule, direction, k = parse_intent(key)
            if rule not in self.cfg.rules:
                raise IntentError(f"arc1d: intent {key!r} uses a rule outside this task's rules")
            sign = 1.0 if direction == "forward" else -1.0
            onehot = [float(rule == r) for r in self.cfg.rules]
            roles = [0.0] * (2 * self.roles)
            if rule in COLOUR_RULES:
                roles[: 2 * len(k)] = [v for c in k for v in (c / 9, 1.0)]
            if k is None or rule in COLOUR_RULES:
                kf = [0.0] * 6
            elif rule == "shift":  # s / 4 only, for the axes (private)
                kf = [0.0, sign * k / 4, 0.0, 0.0, 0.0, 0.0]
            else:
                a = 2 * math.pi * k / 9
                kf = [k / 9, sign * k / 4 if rule == "shift" else 0.0, math.cos(a), math.sin(a), math.cos(2 * a),
                      math.sin(2 * a)]  # fmt: skip
            rows.append([*onehot, sign, *kf, *roles])
        return torch.tensor(rows, dtype=torch.float32)

    def train_weights(self) -> Tensor | None:
        """With a colour rule, each train intent weighs ``1 / (train intents of its rule)``, so that the rules
        are drawn about equally often (a colour rule trains on many colour tuples, which would otherwise crowd
        out the rules of one or two intents; drawn without replacement, 8 a step, a rule of one intent comes
        out at about 0.06 of the draws and the others at 0.08-0.09, for 1/14 = 0.07); otherwise None
        (uniform)."""
        if not self.roles:
            return None
        rules = [parse_intent(key).rule for key in self.splits["train"]]
        return torch.tensor([1.0 / rules.count(r) for r in rules], dtype=torch.float64)

    # --- data ----------------------------------------------------------------------------
    @property
    def spec(self) -> TargetSpec:
        return self._spec

    def _pairs(self, key: str, n: int, rng: random.Random) -> list[tuple[Row, Row]]:
        intent = parse_intent(key)
        return [sample_pair(intent, rng, self.cfg.width, self.cfg.min_length) for _ in range(n)]

    def sample(self, intents: Sequence[str], n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Fresh rows: ``x (B, n, width)`` tokens, ``y (B, n, width)`` colours (``-1`` on padding)."""
        rng = random.Random(int(torch.randint(2**62, (1,), generator=generator)))
        xs, ys = zip(*(encode_pairs(self._pairs(key, n, rng), self.cfg.width) for key in intents), strict=True)
        return torch.stack(xs), torch.stack(ys)

    @property
    def pair_cells(self) -> int:
        return self.cfg.width

    def pair_features(self, x: Tensor, y: Tensor) -> Tensor:
        """Per cell, its input and output colour one-hot (padding the 11th), flattened: ``(B, n, width * 2 * 11)``."""
        y = y.masked_fill(y == IGNORE, PAD)
        return torch.cat([F.one_hot(x, N_COLOURS + 1), F.one_hot(y, N_COLOURS + 1)], -1).flatten(-2).float()

    def test_set(self, intent: str) -> tuple[Tensor, Tensor]:
        """A fixed set of ``test_examples`` rows per intent, drawn from ``split_seed`` (not the training seed)."""
        key = self.check_intent(intent)
        if key not in self._tests:
            index = [i.key for i in all_intents(ALL_RULES)].index(key)  # the default rules' intents come first
            rng = random.Random(self.cfg.split_seed * 1009 + 7919 * (index + 1))
            self._tests[key] = encode_pairs(self._pairs(key, self.cfg.test_examples, rng), self.cfg.width)
        return self._tests[key]

    # --- metric --------------------------------------------------------------------------
    def loss(self, out: Tensor, y: Tensor, intents: Sequence[str]) -> Tensor:
        """Cross-entropy over the unpadded cells; ``out (B, N, width, 10)``, ``y (B, N, width)``."""
        return cell_loss(out, y)

    def loss_terms(self, y: Tensor) -> int:
        """The unpadded cells: rows differ in length, so shards of a batch differ in their count."""
        return int((y != IGNORE).sum())

    def correct(self, out: Tensor, y: Tensor, intents: Sequence[str]) -> Tensor:
        """Exact match over every unpadded cell of the row, bool ``(B, N)``."""
        return rows_right(out, y)

    def chance(self, intent: str) -> float:
        """Exact-match rate of copying the input row (the trivial program), on the intent's test rows."""
        x, y = self.test_set(intent)
        return float(((x == y) | (y == IGNORE)).all(-1).float().mean())
