"""The clock representation in AddMod-p Transformers (SPEC 5), figure by figure.

Every function takes one weight set ``theta`` of the built-in ``transformer`` target (unbatched
tensors, no intent token) and a prime ``p``; token ``a`` is row ``a`` of ``embed.W_E``, the ``=``
token is the last row, class ``c`` is column ``c`` of ``unembed.W_U``, and answers are the argmax
over the first ``p`` logits, as in :mod:`metagnn.tasks.addmod`. ``K = (p - 1) / 2`` frequencies
``w_k = 2 pi k / p``, ``k = 1..K``.

Definitions (stated once here, used everywhere below):

- **Spectrum** of a ``(p, d)`` matrix ``M`` over its token axis: project ``M`` on the orthonormal
  Fourier basis over ``a = 0..p-1`` (the constant, ``sqrt(2/p) cos(w_k a)``, ``sqrt(2/p) sin(w_k a)``);
  the power of frequency ``k`` is the squared norm of its cos row plus that of its sin row. The
  constant row is left out of every share. **Key frequencies**: the smallest set, taken in order
  of decreasing power, holding at least 90 % of the non-constant power. **Top-5 share**: the
  share of the non-constant power held by the 5 strongest frequencies (1 when ``K <= 5``).
  Applied to ``E = W_E[:p]`` (``p x d``) and to ``U = W_U[:, :p].T`` (``p x d``).
- **Clock (PCA R^2)**: centre ``E``, take its top two principal components (scores, ``p``
  values each); the R^2 of a least-squares fit of a component by ``[1, cos(w_k a), sin(w_k a)]``
  is its share of variance at frequency ``k`` (the basis is orthogonal). As SPEC 5 words it, each
  component gets its own best ``k``; reported: the mean of the two R^2 and the ``k`` (of PC 1;
  both are kept). Also reported, ``r2_shared``: the mean at the one ``k`` best for both (a single
  circle); the two differ when several frequencies have about equal power, as in Nanda et al.'s
  networks, whose top two PCs then belong to two different circles.
- **Logit share**: logits ``L[a, b, c]`` over all ``p^2`` pairs and the first ``p`` classes,
  centred over ``c`` (softmax ignores a per-pair constant); the share of their squared norm in
  the span of ``cos(w_k (a + b - c))`` and ``sin(w_k (a + b - c))`` for the key frequencies of ``E``.
- **Restricted / excluded loss** (Nanda et al. 2023, "Progress measures for grokking"): the
  MLP activations at the ``=`` position over all pairs, ``A (p^2, d_mlp)``, and ``W_logit = W_out^T
  W_U[:, :p]`` (``d_mlp x p``). Directions over pairs: ``cos(w_k (a + b))`` and ``sin(w_k (a + b))``,
  unit-normalised over the ``p^2`` pairs, for the key frequencies. *Restricted*: keep only the
  pair-mean of ``A`` and its components along those directions, map through ``W_logit``, then
  shift by a per-class constant so the pair-mean logits equal the model's. *Excluded*: subtract
  the components of ``A`` along those directions (through ``W_logit``) from the model's logits.
  Both are cross-entropy over all ``p^2`` pairs (Nanda et al. use the train pairs; unseen primes
  have none, so every prime uses all pairs here) next to the model's own loss.
- **Gradient symmetricity** (Zhong et al. 2023, "The Clock and the Pizza", Def. 4.1): for
  ``n = 100`` triples ``(a, b, c)`` drawn uniformly from ``Z_p^3`` (seeded), the cosine similarity
  of the gradients of logit ``c`` with respect to the two input token embeddings (the rows of
  ``W_E`` before the positional embedding is added), averaged over the triples.
- **Distance irrelevance** (Zhong et al., Def. 4.2): the correct-logit matrix
  ``M[(a + b) mod p, (a - b) mod p] = L[a, b, (a + b) mod p]``; ``q = mean over distances of the
  std over sums / std of all entries`` (population std). Clock: near 1; pizza: near 0.
  Both Zhong figures are near 1 at random initialisation: read them only for solving networks.
- **Key-only accuracy** (ours): the accuracy over all pairs after cutting ``W_E[:p]`` down to
  its constant and its key frequencies (everything else in the network unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from metagnn.errors import ConfigError, IntentError
from metagnn.targets import TargetSpec, run_with_cache

KEY_SHARE = 0.9
TOP_N = 5


# --- Fourier basics ---------------------------------------------------------------------------
def check_prime_size(p: int) -> int:
    """The analysis needs an odd ``p >= 3`` (so that ``K = (p - 1) / 2 >= 1``)."""
    if isinstance(p, bool) or not isinstance(p, int) or p < 3 or p % 2 == 0:
        raise IntentError(f"clock analysis: p must be an odd integer >= 3, got {p!r}")
    return p


def fourier_basis(p: int) -> Tensor:
    """Orthonormal Fourier basis over ``Z_p``, shape ``(p, p)`` float64.

    Row 0 is the constant ``1/sqrt(p)``; rows ``2k - 1`` and ``2k`` are ``sqrt(2/p) cos(w_k a)`` and
    ``sqrt(2/p) sin(w_k a)`` for ``k = 1..(p-1)/2``.
    """
    check_prime_size(p)
    a = torch.arange(p, dtype=torch.float64)
    rows = [torch.full((p,), 1 / math.sqrt(p), dtype=torch.float64)]
    for k in range(1, (p - 1) // 2 + 1):
        angle = 2 * math.pi * k * a / p
        rows += [math.sqrt(2 / p) * angle.cos(), math.sqrt(2 / p) * angle.sin()]
    return torch.stack(rows)


def frequency_power(m: Tensor) -> Tensor:
    """Power per frequency of a ``(p, d)`` matrix over its first axis: shape ``(K,)``, entry ``k - 1``."""
    p = m.shape[0]
    coef = fourier_basis(p) @ m.detach().double().cpu()  # (p, d)
    return coef[1::2].pow(2).sum(1) + coef[2::2].pow(2).sum(1)


def spectrum(m: Tensor, key_share: float = KEY_SHARE, top_n: int = TOP_N) -> dict[str, Any]:
    """Spectrum figures of a ``(p, d)`` matrix (module docstring).

    Returns ``{"power": [K floats, normalised to sum 1], "key_frequencies": [k, ...] (strongest
    first), "key_share": share of those, "top5_share", "top_frequencies": the ``top_n`` strongest}``.
    """
    power = frequency_power(m)
    total = float(power.sum())
    share = power / total if total > 0 else torch.zeros_like(power)
    order = torch.argsort(share, descending=True)
    cum = torch.cumsum(share[order], 0)
    n_key = int(torch.searchsorted(cum, torch.tensor(key_share - 1e-12, dtype=cum.dtype))) + 1
    n_key = min(n_key, len(order))
    return {
        "power": [round(float(s), 6) for s in share],
        "key_frequencies": [int(k) + 1 for k in order[:n_key]],
        "key_share": float(cum[n_key - 1]),
        "top5_share": float(cum[min(top_n, len(order)) - 1]),
        "top_frequencies": [int(k) + 1 for k in order[:top_n]],
    }


def pca_clock(e: Tensor) -> dict[str, Any]:
    """PCA R^2 of a ``(p, d)`` embedding (module docstring).

    Returns ``{"r2": mean over the top two PCs of each one's R^2 at its own best frequency,
    "k": PC 1's best frequency, "best_k_components": [2], "r2_components": [2], "r2_shared": the
    mean R^2 at the one frequency best for both (a single circle), "k_shared", "variance_share":
    share of the centred variance in the two PCs, "pcs": (p, 2) scores as nested lists}``.
    """
    p = e.shape[0]
    ec = e.detach().double().cpu()
    ec = ec - ec.mean(0)
    _, s, vh = torch.linalg.svd(ec, full_matrices=False)
    pcs = ec @ vh[:2].T  # (p, 2)
    if pcs.shape[1] < 2:
        pcs = torch.cat([pcs, torch.zeros(p, 2 - pcs.shape[1], dtype=pcs.dtype)], 1)
    coef = fourier_basis(p) @ pcs  # (p, 2)
    norm2 = pcs.pow(2).sum(0).clamp_min(1e-300)  # (2,)
    r2 = (coef[1::2].pow(2) + coef[2::2].pow(2)) / norm2  # (K, 2)
    best = r2.argmax(0)  # (2,)
    r2_each = r2.max(0).values
    k_shared = int(r2.mean(1).argmax())
    total_var = float(s.pow(2).sum())
    return {
        "r2": float(r2_each.mean()),
        "k": int(best[0]) + 1,
        "best_k_components": [int(best[0]) + 1, int(best[1]) + 1],
        "r2_components": [float(r2_each[0]), float(r2_each[1])],
        "r2_shared": float(r2[k_shared].mean()),
        "k_shared": k_shared + 1,
        "variance_share": float(s[:2].pow(2).sum()) / total_var if total_var > 0 else 0.0,
        "pcs": [[round(float(x), 5), round(float(y), 5)] for x, y in pcs],
    }


def frequency_plane(e: Tensor, k: int) -> list[list[float]]:
    """The centred ``(p, d)`` embedding projected on the plane of its frequency-``k`` part (the
    span of its cos and sin coefficient vectors): ``p`` points, a circle for a clean clock of
    frequency ``k`` whatever the other frequencies do."""
    p = e.shape[0]
    ec = e.detach().double().cpu()
    ec = ec - ec.mean(0)
    coef = fourier_basis(p)[2 * k - 1 : 2 * k + 1] @ ec  # (2, d)
    q, _ = torch.linalg.qr(coef.T)  # (d, 2) orthonormal
    xy = ec @ q
    return [[round(float(x), 5), round(float(y), 5)] for x, y in xy]


# --- running the target with its intermediate values ------------------------------------------
def check_addmod_target(spec: TargetSpec, p: int) -> None:
    """Raise :class:`ConfigError` unless ``spec`` is a plain ``transformer`` that can hold AddMod-``p``."""
    kw = spec.kwargs
    plain = not kw.get("intent_dim", 0) and kw.get("readout", "last") == "last" and not kw.get("rel_bias")
    if spec.family != "transformer" or not plain:
        raise ConfigError(
            f"clock analysis needs the 'transformer' target (last-position readout, no intent token, no rel_bias), "
            f"got {spec.family!r} {dict(kw)}"
        )
    vocab, n_classes = spec.kwargs["vocab"], spec.kwargs["n_classes"]
    if vocab < p + 1 or n_classes < p or spec.kwargs["n_ctx"] != 3:
        raise ConfigError(
            f"clock analysis: target (vocab {vocab}, classes {n_classes}, n_ctx {spec.kwargs['n_ctx']}) "
            f"cannot read 'a b =' for p={p}"
        )


def all_pairs(spec: TargetSpec, p: int) -> Tensor:
    """All ``p^2`` inputs ``(a, b, =)`` in row-major ``(a, b)`` order, shape ``(p^2, 3)``: the
    evaluation's inputs (:mod:`metagnn.tasks.addmod`: numbers are tokens ``0..vocab-2``, ``=`` is the
    target's last token ``vocab - 1``), so an unseen prime's test set is exactly these rows."""
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    return torch.stack([a.reshape(-1), b.reshape(-1), torch.full((p * p,), spec.kwargs["vocab"] - 1)], 1)


def pair_logits(spec: TargetSpec, theta: Mapping[str, Tensor], p: int) -> tuple[Tensor, dict[str, Tensor]]:
    """The target's logits ``(p^2, n_classes)`` over :func:`all_pairs` and its activation cache
    (:func:`metagnn.targets.run_with_cache`: the one forward pass, the one the evaluation runs)."""
    return run_with_cache(spec, theta, all_pairs(spec, p).to(theta["embed.W_E"].device))


def pair_answers(p: int) -> Tensor:
    """The right answers ``(a + b) mod p`` of :func:`all_pairs`, shape ``(p^2,)``."""
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    return ((a + b) % p).reshape(-1)


def pair_accuracy(logits: Tensor, p: int) -> float:
    """Share of the ``p^2`` pairs whose argmax over the first ``p`` logits is the right answer."""
    return float((logits[:, :p].argmax(-1).cpu() == pair_answers(p)).double().mean())


# --- logit figures ----------------------------------------------------------------------------
def sum_directions(p: int, freqs: Sequence[int]) -> Tensor:
    """Unit vectors ``cos(w_k (a + b))``, ``sin(w_k (a + b))`` over the ``p^2`` pairs: ``(2 |freqs|, p^2)``."""
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    s = (a + b).reshape(-1).double()
    rows = []
    for k in freqs:
        angle = 2 * math.pi * k * s / p
        rows += [angle.cos(), angle.sin()]
    if not rows:
        return torch.zeros(0, p * p, dtype=torch.float64)
    m = torch.stack(rows)
    return m / m.norm(dim=1, keepdim=True)


def logit_share(logits: Tensor, freqs: Sequence[int]) -> float:
    """Share of the centred logit variance in ``cos/sin(w_k (a + b - c))``, ``k`` in ``freqs``.

    ``logits``: ``(p, p, p)`` indexed ``[a, b, c]``.
    """
    p = logits.shape[0]
    lg = logits.double() - logits.double().mean(-1, keepdim=True)
    total = float(lg.pow(2).sum())
    if total == 0:
        return 0.0
    a, b, c = torch.meshgrid(torch.arange(p), torch.arange(p), torch.arange(p), indexing="ij")
    s = (a + b - c).double()
    explained = 0.0
    for k in freqs:
        angle = 2 * math.pi * k * s / p
        for basis in (angle.cos(), angle.sin()):  # orthogonal, squared norm p^3 / 2 each
            explained += float((lg * basis).sum()) ** 2 / (p**3 / 2)
    return explained / total


def correct_logit_matrix(logits: Tensor) -> Tensor:
    """``M[(a + b) mod p, (a - b) mod p] = logits[a, b, (a + b) mod p]``; ``(p, p)`` from ``(p, p, p)``."""
    p = logits.shape[0]
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    m = torch.empty(p, p, dtype=torch.float64)
    m[(a + b) % p, (a - b) % p] = logits.double()[a, b, (a + b) % p]
    return m


def distance_irrelevance(logits: Tensor) -> float:
    """Zhong et al. Def. 4.2 on ``(p, p, p)`` logits (module docstring)."""
    m = correct_logit_matrix(logits)
    return float(m.std(0, unbiased=False).mean() / m.std(unbiased=False).clamp_min(1e-300))


def gradient_symmetricity(
    spec: TargetSpec, theta: Mapping[str, Tensor], p: int, n_triples: int = 100, seed: int = 0
) -> float:
    """Zhong et al. Def. 4.1 (module docstring): mean cosine of ``dQ_abc/dE_a`` and ``dQ_abc/dE_b``."""
    gen = torch.Generator().manual_seed(seed)
    abc = torch.randint(p, (n_triples, 3), generator=gen)
    device = theta["embed.W_E"].device
    x = all_pairs(spec, p)[abc[:, 0] * p + abc[:, 1]].to(device)
    th = {k: v.detach() for k, v in theta.items()}
    th["embed.W_E"] = th["embed.W_E"].clone().requires_grad_(True)  # so the embedding rows carry a graph
    with torch.enable_grad():
        logits, cache = run_with_cache(spec, th, x)
        (g,) = torch.autograd.grad(logits.gather(1, abc[:, 2:3].to(device)).sum(), cache["embed"])
    g = g.double()
    return float(F.cosine_similarity(g[:, 0], g[:, 1], dim=-1, eps=1e-30).mean())


def restricted_excluded_loss(
    logits: Tensor, mlp_post: Tensor, theta: Mapping[str, Tensor], p: int, freqs: Sequence[int], n_layers: int
) -> dict[str, float]:
    """Nanda et al.'s restricted and excluded loss (module docstring), the model's own loss, and the
    accuracy of the restricted and excluded logits.

    ``logits (p^2, p)``, ``mlp_post (p^2, d_mlp)`` in row-major ``(a, b)`` order.
    """
    w_logit = (theta[f"blocks.{n_layers - 1}.mlp.W_out"].T @ theta["unembed.W_U"][:, :p]).double().cpu()
    acts, lg = mlp_post.double().cpu(), logits.double().cpu()
    dirs = sum_directions(p, freqs)  # (2F, p^2)
    along = dirs.T @ (dirs @ acts)  # components of acts along the key directions, (p^2, d_mlp)
    restricted = (acts.mean(0, keepdim=True) + along) @ w_logit
    restricted = restricted + lg.mean(0, keepdim=True) - restricted.mean(0, keepdim=True)
    excluded = lg - along @ w_logit
    y = pair_answers(p)
    return {
        "loss": float(F.cross_entropy(lg, y)),
        "restricted_loss": float(F.cross_entropy(restricted, y)),
        "excluded_loss": float(F.cross_entropy(excluded, y)),
        "restricted_accuracy": float((restricted.argmax(-1) == y).double().mean()),
        "excluded_accuracy": float((excluded.argmax(-1) == y).double().mean()),
    }


def keep_frequencies(m: Tensor, freqs: Sequence[int]) -> Tensor:
    """A ``(p, d)`` matrix with only its constant and the given frequencies kept (same dtype)."""
    p = m.shape[0]
    basis = fourier_basis(p)
    keep = torch.zeros(p, dtype=torch.bool)
    keep[0] = True
    for k in freqs:
        keep[2 * k - 1 : 2 * k + 1] = True
    coef = basis @ m.detach().double().cpu()
    return (basis[keep].T @ coef[keep]).to(m.dtype).to(m.device)


def key_only_accuracy(spec: TargetSpec, theta: Mapping[str, Tensor], p: int, freqs: Sequence[int]) -> float:
    """Accuracy over all pairs with ``W_E[:p]`` cut down to its constant and ``freqs`` (its key
    frequencies): near the network's own accuracy when the rest of the embedding plays no part."""
    th = dict(theta)
    w_e = th["embed.W_E"].clone()
    w_e[:p] = keep_frequencies(w_e[:p], freqs)
    th["embed.W_E"] = w_e
    return pair_accuracy(pair_logits(spec, th, p)[0], p)


# --- everything for one network ---------------------------------------------------------------
@torch.no_grad()
def analyze_clock(
    spec: TargetSpec, theta: Mapping[str, Tensor], p: int, n_triples: int = 100, seed: int = 0
) -> dict[str, Any]:
    """Every SPEC 5 figure for one AddMod-``p`` network (definitions: module docstring).

    Args:
        spec: the ``transformer`` target (vocabulary ``>= p + 1``, ``=`` is its last token).
        theta: one weight set (unbatched tensors, e.g. ``unbatch(model.synthesize(u), 0)``).
        p: the prime.
    Returns:
        ``{"p", "accuracy" (all p^2 pairs), "embedding": spectrum, "unembedding": spectrum,
        "pca": pca_clock, "key_plane": {"k": strongest frequency, "xy": frequency_plane},
        "logit_share", "key_only_accuracy", "loss", "restricted_loss", "excluded_loss",
        "restricted_accuracy", "excluded_accuracy", "gradient_symmetricity", "distance_irrelevance"}``;
        the restricted/excluded figures are ``None`` with a LayerNorm (logits are then not linear
        in the MLP activations).
    """
    check_prime_size(p)
    check_addmod_target(spec, p)
    theta = {k: v.detach() for k, v in theta.items()}
    spec.check(theta)
    logits_full, cache = pair_logits(spec, theta, p)
    logits = logits_full[:, :p].double().cpu()  # (p^2, p)
    y, n_layers = pair_answers(p), spec.kwargs["n_layers"]
    emb = spectrum(theta["embed.W_E"][:p])
    result: dict[str, Any] = {
        "p": p,
        "accuracy": pair_accuracy(logits, p),
        "embedding": emb,
        "unembedding": spectrum(theta["unembed.W_U"][:, :p].T),
        "pca": pca_clock(theta["embed.W_E"][:p]),
        "logit_share": logit_share(logits.reshape(p, p, p), emb["key_frequencies"]),
    }
    result["key_only_accuracy"] = key_only_accuracy(spec, theta, p, emb["key_frequencies"])
    top = emb["key_frequencies"][0]
    result["key_plane"] = {"k": top, "xy": frequency_plane(theta["embed.W_E"][:p], top)}
    if spec.kwargs["layernorm"]:
        result["loss"] = float(F.cross_entropy(logits, y))
        result.update(dict.fromkeys(("restricted_loss", "excluded_loss", "restricted_accuracy", "excluded_accuracy")))
    else:
        result.update(
            restricted_excluded_loss(
                logits, cache[f"blocks.{n_layers - 1}.mlp.post"][:, -1], theta, p, emb["key_frequencies"], n_layers
            )
        )
    result["gradient_symmetricity"] = gradient_symmetricity(spec, theta, p, n_triples=n_triples, seed=seed)
    result["distance_irrelevance"] = distance_irrelevance(logits.reshape(p, p, p))
    return result
