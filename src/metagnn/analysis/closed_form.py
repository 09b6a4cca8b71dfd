"""A closed-form map ``p -> theta`` for AddMod-p, fitted on a run's seen primes (SPEC 5).

What the clock analysis finds in the networks a hypernetwork synthesizes (docs/analysis.md): the
token embedding ``W_E[:p]`` is one clean circle, ``a -> r_E(p) (cos w a, sin w a)`` with
``w = 2 pi k(p) / p``, and the frequency follows ``k(p) = max(1, round(k0 + c p))``. Networks whose
tokens are coded by ``a / p`` (the modulus declaration) turn a fixed number ``k0`` of times over
``Z_p`` whatever ``p`` is (``c = 0``); networks that coded tokens by ``a`` alone turned by a nearly
fixed angle ``2 pi c`` per token, snapped to a whole number of turns (``k0 = 0``). The closed form
keeps exactly that and nothing of the checkpoint:

- **fitted on the seen primes** (8 numbers): the offset ``k0`` and rate ``c`` (the pair for which the
  rule matches the PCA frequency of the most seen primes; least squares among ties, then the smallest
  ``|c|``), and the radii ``r_E(p)``, ``r_U(p)`` of the embedding and unembedding circles at that
  frequency, each a quadratic in ``x = 2 pi / p`` (least squares). With ``rounding: false`` the
  frequency is the unsnapped ``w = 2 pi (k0 / p + c)`` (what a smooth map ``p -> theta`` produces
  between two integers).
- **fixed by construction** (no coefficients): a readout that turns the circle into the answer
  (Zhong et al.'s "pizza", which needs only uniform attention and ReLU neurons):

  * ``W_E[a] = r_E (cos w a, sin w a)`` in residual dims 0, 1 for ``a < p``; other rows, ``W_pos``
    and every bias are 0.
  * ``W_Q = W_K = 0``: the ``=`` position attends 1/3 to each of ``a``, ``b``, ``=``; head 0 copies
    residual dims 0..d_head-1 (``W_V = I``, ``W_O = 3 I``), so the ``=`` position holds
    ``E_a + E_b = 2 r_E cos(w (a - b) / 2) (cos w (a + b) / 2, sin w (a + b) / 2)``.
  * ``n = d_mlp`` ReLU neurons read that plane at angles ``theta_i = 2 pi i / n`` (``W_in`` rows
    ``(cos theta_i, sin theta_i)``) and write ``(3 pi / n) (cos 2 theta_i, sin 2 theta_i)`` to
    residual dims 2, 3: the second harmonic of ``ReLU(cos)`` (coefficient ``2 / (3 pi)``) doubles
    the angle, so dims 2, 3 hold ``2 r_E |cos(w (a - b) / 2)| (cos w (a + b), sin w (a + b))`` up
    to harmonics ``n +- 2`` (relative size about ``3 / n^2``).
  * ``W_U[:, c] = r_U (cos w c, sin w c)`` on dims 2, 3 for ``c < p``: logit ``c`` is
    ``2 r_E r_U |cos(w (a - b) / 2)| cos(w (a + b - c))``, largest at ``c = (a + b) mod p`` whenever
    ``w = 2 pi k / p`` with ``k`` not a multiple of ``p`` (``p`` odd, so the ``|cos|`` factor is never 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import mean
from typing import Any

import torch
from torch import Tensor

from metagnn.analysis.clock import all_pairs, check_prime_size, frequency_power, pair_answers, pca_clock
from metagnn.analysis.runs import check_addmod_hypernetwork, split_label, synthesize_one
from metagnn.errors import ConfigError
from metagnn.evaluate import intent_accuracy
from metagnn.targets import TargetSpec, Theta, build_target
from metagnn.tasks import Task
from metagnn.train import load_run

FORM = "clock-pizza-v2"
FORMS = ("clock-pizza-v1", FORM)  # v1: no offset k0 (read as 0)
CLEAN_R2 = 0.9  # seen primes whose PCA R^2 is below this have no clean clock to read a frequency from


# --- the form -----------------------------------------------------------------------------------
def turns(form: Mapping[str, Any], p: int) -> float:
    """``k0 + c p``: the clock's turns over ``Z_p`` before snapping to a whole number."""
    return float(form["frequency"].get("offset", 0)) + float(form["frequency"]["rate"]) * p


def frequency(form: Mapping[str, Any], p: int) -> float:
    """The clock's angular frequency for prime ``p``: ``2 pi k / p`` with ``k = max(1, round(k0 + c p))``,
    or the unsnapped ``2 pi (k0 + c p) / p`` when ``form["frequency"]["rounding"]`` is false."""
    if not form["frequency"].get("rounding", True):
        return 2 * math.pi * turns(form, p) / p
    return 2 * math.pi * max(1, round(turns(form, p))) / p


def radius(coef: Sequence[float], p: int) -> float:
    """A quadratic in ``x = 2 pi / p`` (``coef = [b0, b1, b2]``), floored at 1e-3."""
    x = 2 * math.pi / p
    return max(1e-3, sum(float(b) * x**i for i, b in enumerate(coef)))


def closed_form_spec(form: Mapping[str, Any]) -> TargetSpec:
    """The target the coefficients build (the run's ``transformer``), from the JSON alone."""
    return build_target("transformer", **form["target"])


def count_coefficients(form: Mapping[str, Any]) -> int:
    """Fitted numbers in the JSON: the frequency rule and the radius polynomials (structure sizes excluded)."""
    return 1 + ("offset" in form["frequency"]) + len(form["radius_embed"]) + len(form["radius_unembed"])


def rebuild_theta(form: Mapping[str, Any], p: int, rounding: bool | None = None) -> Theta:
    """Rebuild the weight set for prime ``p`` from the closed-form JSON alone (module docstring).

    ``rounding`` overrides ``form["frequency"]["rounding"]``. Returns unbatched tensors named as
    the spec's parameters (``embed.W_E (vocab, d)``, ..., ``unembed.W_U (d, n_classes)``).
    """
    check_prime_size(p)
    if form.get("form") not in FORMS:
        raise ConfigError(f"closed form: unknown form {form.get('form')!r}, this metagnn builds {', '.join(FORMS)}")
    if rounding is not None:
        form = {**form, "frequency": {**form["frequency"], "rounding": rounding}}
    spec = closed_form_spec(form)
    kw = spec.kwargs
    if kw["n_layers"] != 1 or kw["layernorm"] or kw["d_model"] < 4 or kw["d_head"] < 2 or kw["readout"] != "last":
        raise ConfigError("closed form: needs a one-layer transformer without LayerNorm, d_model >= 4, d_head >= 2")
    if kw["vocab"] < p + 1 or kw["n_classes"] < p:
        raise ConfigError(f"closed form: p={p} does not fit vocabulary {kw['vocab'] - 1} / {kw['n_classes']} classes")
    theta = {name: torch.zeros(shape) for name, shape in spec.shapes.items()}
    w = frequency(form, p)
    r_e, r_u = radius(form["radius_embed"], p), radius(form["radius_unembed"], p)
    idx = torch.arange(p, dtype=torch.float64)
    theta["embed.W_E"][:p, 0] = (r_e * torch.cos(w * idx)).float()
    theta["embed.W_E"][:p, 1] = (r_e * torch.sin(w * idx)).float()
    d_head, n = kw["d_head"], kw["d_mlp"]
    theta["blocks.0.attn.W_V"][0] = torch.eye(d_head, kw["d_model"])
    theta["blocks.0.attn.W_O"][0] = 3 * torch.eye(d_head, kw["d_model"])
    angle = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
    theta["blocks.0.mlp.W_in"][:, 0] = angle.cos().float()
    theta["blocks.0.mlp.W_in"][:, 1] = angle.sin().float()
    theta["blocks.0.mlp.W_out"][2] = (3 * math.pi / n * (2 * angle).cos()).float()
    theta["blocks.0.mlp.W_out"][3] = (3 * math.pi / n * (2 * angle).sin()).float()
    theta["unembed.W_U"][2, :p] = (r_u * torch.cos(w * idx)).float()
    theta["unembed.W_U"][3, :p] = (r_u * torch.sin(w * idx)).float()
    return theta


# --- fitting ------------------------------------------------------------------------------------
def fit_rate(primes: Sequence[int], ks: Sequence[int]) -> tuple[int, float, int]:
    """The offset ``k0`` (a whole number) and rate ``c >= 0`` for which ``max(1, round(k0 + c p))`` equals ``k``
    for the most primes (least squares of ``k0 + c p - k`` among ties, then the smallest ``c``); returns
    ``(k0, c, number of primes matched)``."""
    grid = torch.linspace(0.0, 0.5, 50001, dtype=torch.float64)
    p_t = torch.tensor(list(primes), dtype=torch.float64)
    k_t = torch.tensor(list(ks), dtype=torch.float64)
    best: tuple[int, float, float, int] | None = None  # (-matches, squares, c, k0) as a sort key
    for k0 in range(0, int(k_t.max()) + 1):
        turns = k0 + grid[:, None] * p_t[None]
        matches = (torch.clamp(torch.round(turns), min=1) == k_t[None]).sum(1)
        sq = ((turns - k_t[None]) ** 2).sum(1)
        sq[matches != matches.max()] = float("inf")
        i = int(sq.argmin())
        key = (-int(matches[i]), float(sq[i]), float(grid[i]), k0)
        best = key if best is None or key < best else best
    assert best is not None
    return best[3], best[2], -best[0]


def fit_quadratic(primes: Sequence[int], values: Sequence[float]) -> list[float]:
    """Least-squares ``[b0, b1, b2]`` of ``values ~ b0 + b1 x + b2 x^2``, ``x = 2 pi / p``."""
    x = torch.tensor([2 * math.pi / p for p in primes], dtype=torch.float64)
    design = torch.stack([torch.ones_like(x), x, x**2], 1)
    coef = torch.linalg.lstsq(design, torch.tensor(list(values), dtype=torch.float64)[:, None]).solution
    return [float(b) for b in coef[:, 0]]


def circle_radius(m: Tensor, k: int) -> float:
    """RMS norm over tokens of the frequency-``k`` part of a ``(p, d)`` matrix (a circle's radius)."""
    return math.sqrt(float(frequency_power(m)[k - 1]) / m.shape[0])


@torch.no_grad()
def fit_closed_form(run_dir: Path | str, device: str | None = "cpu") -> dict[str, Any]:
    """Fit the closed form on the seen (train) primes of an AddMod hypernetwork run.

    Reads, per seen prime, the synthesized network's PCA clock frequency ``k*`` and R^2 and the
    radii of ``W_E[:p]`` and ``W_U[:, :p]`` at ``k*``. Returns the coefficients JSON (see module
    docstring) with the per-prime observations it was fitted on.
    """
    run, task, model = load_run(run_dir, device)
    check_addmod_hypernetwork(run_dir, task, model)
    dev = next(model.parameters()).device
    seen = sorted(task.splits["train"])
    obs = []
    for p in seen:
        theta = synthesize_one(model, task, p, dev)
        e, u = theta["embed.W_E"][:p].cpu(), theta["unembed.W_U"][:, :p].T.cpu()
        clock = pca_clock(e)
        obs.append(
            {"p": p, "k": clock["k"], "r2": clock["r2"], "radius_embed": circle_radius(e, clock["k"]),
             "radius_unembed": circle_radius(u, clock["k"])}
        )  # fmt: skip
    clean = [o for o in obs if o["r2"] >= CLEAN_R2] or obs
    offset, rate, matched = fit_rate([o["p"] for o in clean], [o["k"] for o in clean])
    target = dict(task.spec.kwargs)
    return {
        "form": FORM,
        "description": "W_E[a] = r_E(p) (cos w a, sin w a), w = 2 pi max(1, round(offset + rate p)) / p; "
        "uniform attention; "
        "ReLU second-harmonic readout; W_U[:, c] = r_U(p) (cos w c, sin w c); r(p) = b0 + b1 x + b2 x^2, x = 2 pi / p",
        "frequency": {
            "offset": offset,
            "rate": rate,
            "rounding": True,
            "matched_primes": matched,
            "clean_primes": len(clean),
        },
        "radius_embed": fit_quadratic([o["p"] for o in obs], [o["radius_embed"] for o in obs]),
        "radius_unembed": fit_quadratic([o["p"] for o in obs], [o["radius_unembed"] for o in obs]),
        "target": target,
        "fitted_on": {"run": str(run_dir), "model": run.model, "seed": run.seed, "primes": seen, "observations": obs},
    }


# --- scoring ------------------------------------------------------------------------------------
@torch.no_grad()
def predictions(spec: TargetSpec, theta: Mapping[str, Tensor], x: Tensor, p: int) -> Tensor:
    """Answers (argmax over the first ``p`` logits) of one weight set on inputs ``x (N, 3)``."""
    return spec.forward(dict(theta), x, None)[:, :p].argmax(-1)


@torch.no_grad()
def closed_form_report(form: Mapping[str, Any], run_dir: Path | str, device: str | None = "cpu") -> dict[str, Any]:
    """Accuracy of the networks built from ``form`` alone next to the run's synthesized ones.

    Per prime of the run's config: the closed form's accuracy on the evaluation protocol's test
    set (held-out pairs of seen primes, all pairs otherwise), the same with the unsnapped
    frequency, the synthesized network's accuracy, and how often the closed form and the
    synthesized network give the same answer; then unweighted means per split and the ratio of
    the closed form's OOD accuracy to the synthesized networks'.
    """
    run, task, model = load_run(run_dir, device)
    check_addmod_hypernetwork(run_dir, task, model)
    dev = next(model.parameters()).device
    spec = closed_form_spec(form)
    primes: dict[str, Any] = {}
    for p in sorted(i for s in ("train", "val", "ood", "extrapolation") for i in task.splits[s]):
        primes[str(p)] = closed_form_prime(form, spec, task, model, p, dev)
    report: dict[str, Any] = {
        "form": form["form"],
        "coefficients": count_coefficients(form),
        "target_parameters": spec.num_parameters,
        "coefficient_share": count_coefficients(form) / spec.num_parameters,
        "rate": form["frequency"]["rate"],
        "offset": form["frequency"].get("offset", 0),
        "primes": primes,
    }
    for split in ("seen", "val", "unseen", "extrapolation"):
        rows = [r for r in primes.values() if r["split"] == split]
        if rows:
            for key in ("closed_form", "closed_form_unsnapped", "synthesized", "agreement"):
                report.setdefault(split, {})[key] = mean(r[key] for r in rows)
    if report.get("unseen", {}).get("synthesized"):
        report["unseen_ratio"] = report["unseen"]["closed_form"] / report["unseen"]["synthesized"]
    return report


def closed_form_prime(
    form: Mapping[str, Any], spec: TargetSpec, task: Task, model: Any, p: int, device: torch.device
) -> dict[str, Any]:
    """One prime's row of :func:`closed_form_report`."""
    x, y = task.test_set(p)
    theta = rebuild_theta(form, p)
    got = predictions(spec, theta, x, p)
    unsnapped = predictions(spec, rebuild_theta(form, p, rounding=False), x, p)
    synth_theta = synthesize_one(model, task, p, device)
    synth = predictions(task.spec, synth_theta, x.to(device), p).cpu()
    synth_acc, _ = intent_accuracy(model, task, p, device)
    full = predictions(spec, theta, all_pairs(spec, p), p) == pair_answers(p)
    return {
        "split": split_label(task, p),
        "k": max(1, round(turns(form, p))),
        "rate_times_p": turns(form, p),
        "closed_form": float((got == y).float().mean()),
        "closed_form_all_pairs": float(full.float().mean()),
        "closed_form_unsnapped": float((unsnapped == y).float().mean()),
        "synthesized": synth_acc,
        "agreement": float((got == synth).float().mean()),
    }


def format_closed_form_report(report: Mapping[str, Any]) -> str:
    """A Markdown table per prime and the split means."""
    lines = [
        f"closed form {report['form']}: {report['coefficients']} coefficients "
        f"({100 * report['coefficient_share']:.2f} % of the {report['target_parameters']:,} parameters of S), "
        f"k(p) = max(1, round(k0 + c p)) with k0 = {report.get('offset', 0)}, c = {report['rate']:.5f}",
        "",
        "| p | split | k(p) | k0 + c p | closed form | unsnapped | synthesized | agreement |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, r in sorted(report["primes"].items(), key=lambda kv: int(kv[0])):
        lines.append(
            f"| {key} | {r['split']} | {r['k']} | {r['rate_times_p']:.2f} | {r['closed_form']:.3f} | "
            f"{r['closed_form_unsnapped']:.3f} | {r['synthesized']:.3f} | {r['agreement']:.3f} |"
        )
    lines += ["", "| split | closed form | unsnapped | synthesized | agreement |", "|---|---|---|---|---|"]
    for split in ("seen", "val", "unseen", "extrapolation"):
        if split in report:
            s = report[split]
            lines.append(
                f"| {split} | {s['closed_form']:.3f} | {s['closed_form_unsnapped']:.3f} | {s['synthesized']:.3f} | "
                f"{s['agreement']:.3f} |"
            )
    if "unseen_ratio" in report:
        lines.append(f"\nclosed form / synthesized on unseen primes: {report['unseen_ratio']:.2f}")
    return "\n".join(lines)
