"""Decisions from a fitted ranking: how sure are we that model A is better than model B?

P(A better than B) is the share of bootstrap rounds in which A's rating is above B's
(app.ranking keeps the rounds in `Ranking.draws`), but never further from ½ than the normal
approximation Φ(Δ / sd) from the fit's curvature (`Ranking.covariance`). Why the bootstrap: it
resamples whole ballots, so the pairs of a ranking or best-of-N pick are not counted as
independent evidence — bench/coverage.py shows its intervals are calibrated for every ballot
kind — and it needs no normality. Why the normal floor: with a handful of ballots the bootstrap
cannot vary (one vote resamples to itself, which would read as "100 %"); the curvature, prior
included, still says how little a few votes tell. It is the same rule that floors the
leaderboard's intervals, so a pair is settled exactly when a one-sided interval at the same
level lies clear of zero under both.

"Settled" means P ≥ 95 % (or ≤ 5 %: the pair is then stated the other way round), neither
model is provisional (fewer than the leaderboard's `min_votes` votes), *and* the pair passes an
anytime-valid test at the same level (`anytime`, below). The top model is settled when it is
settled against each other model and, jointly, it is rated above all the others in ≥ 95 % of
the bootstrap rounds. Models in different connected parts of the comparison graph were never
compared, even indirectly: no probability is given.

Why the anytime test. A board is looked at again and again while votes come in (the page after
every vote, `next` after every refit), and each look is a new chance for P to cross 95 % by
luck: with P alone, bench/active.py settled on a wrong top model on 6.3 % of simulated boards
(docs/benchmarks.md §Active sampling), though a single look at 95 % would be wrong far less.
The test is the one-sided normal-mixture sequential probability ratio (Robbins' mixture
martingale; the "mSPRT" of always-valid A/B testing, Johari et al.; the normal-mixture
confidence sequence of Howard et al. — facts and formula copied into docs/leaderboard.md
§Decisions): with Δ̂ the rating difference, V its variance and τ the mixing scale,

    Λ = 2 √(V / (V + τ²)) · exp(τ² Δ̂² / (2 V (V + τ²))) · Φ(τ Δ̂ / √(V (V + τ²)))

is a nonnegative supermartingale while the better-looking model is in truth no better, so by
Ville's inequality the chance that Λ *ever* reaches 1/α — however often it is checked — is at
most α. `anytime` = 1 − 1/Λ (0 when Λ < 1), and the pair needs anytime ≥ 95 %: the 5 % chance
of a wrong call then covers every look, not each one. V is the curvature's variance of the
difference where the two models are equal (app.ranking `null_pair_var`: the null the test
rules out, as a score test takes it; at a lopsided record such as 30–0 the curvature at the
fit is flat and would read the clearest pair as the least sure), times the ballots' design
effect when the bootstrap's variance at the fit exceeds the curvature's there (a ranking's
pairs are not independent votes; bench/coverage.py shows the bootstrap gets that right). τ = 0.3 nats (52 points), the size of the gaps that take most votes
to resolve; the test costs most at gaps far from τ, never its validity. The price is votes:
at the same P a pair needs about 2.8–4× the votes it would need looked at once (the figures
are in docs/benchmarks.md §Active sampling). The percentage shown stays P — how likely the
order is on the votes so far — so a pair can read 97 % and not be settled yet.

Everything returned is a plain frozen dataclass of str / float / bool, for a JSON API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.ranking import ELO, Ranking

SETTLED = 0.95
# τ of the anytime test, in rating points: 0.3 nats (see the module docstring).
ANYTIME_SCALE = 0.3 * ELO
# Two ratings of one bootstrap round closer than this are equal (a round that resamples to an
# even record): the rounds are solved to well under this, and a tie counts half to each side.
TIE_POINTS = 1e-3


@dataclass(frozen=True)
class PairDecision:
    """`better` is the model more likely to be better; `probability` ≥ 0.5 that it is
    (None when the two were never compared, even indirectly)."""

    better: str
    worse: str
    probability: float | None
    settled: bool
    anytime: float | None = None   # the anytime-valid confidence that `better` is better (docstring)


@dataclass(frozen=True)
class TopDecision:
    """The model rated highest; `probability` = min over the others of P(it beats them),
    `settled` when that and `best_share` are ≥ the threshold and no model is provisional,
    `closest` the model that minimum is against, `best_share` the share of bootstrap rounds
    in which it is rated above all the others at once (a stricter, joint figure), `anytime` the
    least anytime-valid confidence over its pairs (settled needs that ≥ the threshold too)."""

    model: str
    probability: float
    closest: str
    best_share: float
    settled: bool
    anytime: float = 0.0


@dataclass(frozen=True)
class Decisions:
    pairs: list[PairDecision]
    top: TopDecision | None   # None with fewer than two models or a disconnected graph
    threshold: float


def better_probabilities(r: Ranking) -> np.ndarray:
    """(m, m) matrix, [i, j] = P(model i better than model j), in `r.matrix_models` order;
    NaN on the diagonal and between models in different connected parts."""
    m = len(r.matrix_models)
    comp = np.zeros(m, dtype=int)
    for c, names in enumerate(r.components or [r.matrix_models]):
        comp[[r.matrix_models.index(n) for n in names]] = c
    draws = np.atleast_2d(r.draws) if r.draws.size else np.zeros((0, m))
    share = np.full((m, m), 0.5)
    for i in range(m if len(draws) else 0):      # row by row: (rounds, m) at a time, not (rounds, m, m)
        diff = draws[:, [i]] - draws
        share[i] = (diff > TIE_POINTS).mean(0) + 0.5 * (np.abs(diff) <= TIE_POINTS).mean(0)
    rating = np.array([r.by_model()[n].rating for n in r.matrix_models])
    normal = np.full((m, m), 0.5)
    if r.covariance.size:
        v = np.diag(r.covariance)
        var = v[:, None] + v[None, :] - 2 * r.covariance
        diff = rating[:, None] - rating[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(var > 0, diff / np.sqrt(np.maximum(var, 1e-300)), 0.0)
        normal = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0))) if m else normal
    p = np.where(np.abs(share - 0.5) < np.abs(normal - 0.5), share, normal)
    p[comp[:, None] != comp[None, :]] = np.nan
    np.fill_diagonal(p, np.nan)
    return p


def anytime_confidence(diff: np.ndarray, var: np.ndarray, tau: float | None = None) -> np.ndarray:
    """1 − 1/Λ for the one-sided normal mixture Λ of the module docstring (0 where Λ < 1 or
    V is 0): the confidence that diff > 0 which stays valid however often it is checked.
    `tau` in the units of diff (default ANYTIME_SCALE, rating points, read at call time so
    bench/active.py --tau can try another)."""
    tau = ANYTIME_SCALE if tau is None else tau
    diff, var = np.broadcast_arrays(np.asarray(diff, float), np.asarray(var, float))
    out = np.zeros(diff.shape)
    ok = var > 0
    v, d = var[ok], diff[ok]
    w = v + tau * tau
    log_lam = math.log(2.0) + 0.5 * np.log(v / w) + tau * tau * d * d / (2.0 * v * w)
    need = np.flatnonzero(log_lam > 0)          # log Φ ≤ 0: elsewhere Λ < 1 already
    arg = tau * d[need] / np.sqrt(v[need] * w[need])
    log_lam[need] += [math.log(max(0.5 * math.erfc(-x / math.sqrt(2.0)), 1e-300)) for x in arg]
    out[ok] = np.where(log_lam > 0, -np.expm1(-np.minimum(log_lam, 700.0)), 0.0)
    return out


def anytime_matrix(r: Ranking) -> np.ndarray:
    """(m, m), [i, j] = anytime confidence that model i is better than j, in `r.matrix_models`
    order: Δ̂ from the ratings, V the curvature's variance where the two are equal
    (`Ranking.null_pair_var`; the fit's own beyond app.ranking.NULL_PAIRS_MAX models), times
    the design effect of whole ballots — bootstrap ÷ curvature variance at the fit, if above 1."""
    m = len(r.matrix_models)
    if not m or not r.covariance.size:
        return np.zeros((m, m))
    rating = np.array([r.by_model()[n].rating for n in r.matrix_models])
    v = np.diag(r.covariance)
    at_fit = np.maximum(v[:, None] + v[None, :] - 2 * r.covariance, 0.0)
    var = r.null_pair_var.copy() if r.null_pair_var.shape == (m, m) else at_fit.copy()
    draws = np.atleast_2d(r.draws)
    if len(draws) > 1 and draws.shape[1] == m:
        c = np.cov(draws, rowvar=False)
        d = np.diag(c)
        boot = d[:, None] + d[None, :] - 2 * c
        with np.errstate(divide="ignore", invalid="ignore"):
            effect = np.where(at_fit > 0, boot / np.where(at_fit > 0, at_fit, 1.0), 1.0)
        var *= np.maximum(effect, 1.0)        # ballot dependence the curvature cannot see
    out = anytime_confidence(rating[:, None] - rating[None, :], np.maximum(var, 0.0))
    np.fill_diagonal(out, 0.0)
    return out


def decide(r: Ranking, threshold: float = SETTLED) -> Decisions:
    """Every pair of models (best-rated first within a pair) and the top model."""
    if not 0.5 < threshold < 1:
        raise ValueError("threshold must be between 0.5 and 1")
    names = r.matrix_models
    p = better_probabilities(r)
    sure = anytime_matrix(r)
    rated = r.by_model()
    order = [names.index(x.model) for x in r.models]          # best first, as the leaderboard
    pairs = []
    for n, i in enumerate(order):
        for j in order[n + 1:]:
            pij = p[i, j]
            hi, lo = (i, j) if np.isnan(pij) or pij >= 0.5 else (j, i)
            q = None if np.isnan(pij) else float(p[hi, lo])
            firm = not (rated[names[hi]].provisional or rated[names[lo]].provisional)
            a = None if q is None else float(sure[hi, lo])
            settled = firm and q is not None and q >= threshold and a >= threshold
            pairs.append(PairDecision(names[hi], names[lo], q, settled, a))
    return Decisions(pairs, _top(r, p, sure, threshold), threshold)


def _top(r: Ranking, p: np.ndarray, sure: np.ndarray, threshold: float) -> TopDecision | None:
    names = r.matrix_models
    if len(names) < 2 or not r.connected:
        return None
    rating = np.array([r.by_model()[n].rating for n in names])
    top = int(np.argmax(rating))
    others = [j for j in range(len(names)) if j != top]
    closest = min(others, key=lambda j: p[top, j])
    draws = np.atleast_2d(r.draws)
    best_share = float(np.mean(np.argmax(draws, axis=1) == top)) if draws.size else 1.0
    prob = float(p[top, closest])
    anytime = float(min(sure[top, j] for j in others))
    firm = not any(x.provisional for x in r.models)
    settled = firm and prob >= threshold and best_share >= threshold and anytime >= threshold
    return TopDecision(names[top], prob, names[closest], best_share, settled, anytime)


def percent(p: float) -> str:
    """Rounded down, so that a figure never reads as more certain than it is: 0.9496 → 94 %."""
    return "> 99 %" if p > 0.99 else f"{int(100 * p + 1e-9)} %"


def say_pair(d: PairDecision, names: dict[str, str] | None = None, criterion: str | None = None) -> str:
    """"Kling v3 beats Veo 3.1 on motion: settled, 97 %" / "…leads…: not settled, 80 %"."""
    names = names or {}
    a, b = names.get(d.better, d.better), names.get(d.worse, d.worse)
    on = f" on {criterion}" if criterion and criterion != "overall" else ""
    if d.probability is None:
        return f"{a} and {b}{on}: never compared, even indirectly"
    if d.settled:
        return f"{a} beats {b}{on}: settled, {percent(d.probability)}"
    return f"{a} leads {b}{on}: not settled, {percent(d.probability)}"


def say_top(d: TopDecision | None, names: dict[str, str] | None = None, criterion: str | None = None) -> str:
    """"the top model is settled — further votes will not change it" (naming it), or how close."""
    names = names or {}
    on = f" on {criterion}" if criterion and criterion != "overall" else ""
    if d is None:
        return f"no top model{on}: fewer than two models, or models never compared with each other"
    top, closest = names.get(d.model, d.model), names.get(d.closest, d.closest)
    if d.settled:
        return (f"the top model{on} is settled — further votes will not change it: {top} "
                f"({percent(d.probability)} against the closest, {closest})")
    return f"the top model{on} is not settled: {top} leads, {percent(d.probability)} against {closest}"
