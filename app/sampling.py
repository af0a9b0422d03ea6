"""Which comparison to show next: the one whose vote most reduces the uncertainty that matters.

What matters is the order of the top models — overall, and within each tag a comparison
carries. From a fit (`app.ranking.rank`) we take the ratings, their covariance from the
fit's curvature, and from the bootstrap rounds the chance that each model is among the
`top` best. A *target* is a pair of models (k, l), one of them among the `top` best-rated today (the
leader, for top = 1), weighted by
    w = (P(k in top) + δ) · (P(l in top) + δ) · (1 − A(k, l)),   δ = 0.05,
i.e. how likely it is that both contend for the top (then their order decides it), and how
far their order is from settled: A is app.decisions' anytime-valid confidence in the order
the ratings show (app.decisions.anytime_confidence, from μ and Σ), the test a pair must pass to
be settled. Why the leader's pairs only: the top model is settled exactly when each of its
pairs passes that test, so those are the votes that end the question; ordering the
challengers among themselves does not. (Until the decision rule had the anytime test, the
targets were all pairs and the last factor min(P(k > l), P(l > k)): once a pair passed 95 % it
had all but no weight, though the test still needed its votes. With the test, bench/active.py
on 20 boards needed a median 0.50× the votes of uniform with the leader's pairs against 0.54×
with all pairs — docs/benchmarks.md §Active sampling; under the old rule, all pairs had done
better.) The floor δ keeps an unsettled pair of the leader
and a long shot in view. (The product beat max(P(k in top), P(l in top)) in bench/active.py,
which spent votes ordering the challengers among themselves.) One more
vote between models i and j adds q·x·xᵀ to the information (x = e_i − e_j, q the Davidson
information of one vote at the current ratings), which by Sherman–Morrison shrinks the
variance of the target's difference c·θ by q·(cᵀΣx)² / (1 + q·xᵀΣx). The score of showing
(i, j) is the weighted sum of the *relative* variance reductions over the targets. All of it
is a few (targets × pairs) numpy arrays: no refit per candidate.

A fixed share `epsilon` of the picks is uniform (a uniformly random comparison, then a
uniformly random pair of its takes), so every pair keeps a chance of at least
ε / (comparisons × pairs) and nothing the active rule neglects goes unchecked. Each pick
says how it was chosen and the probability of that exact (comparison, pair) under the whole
mixed policy, for inverse-propensity weighting. docs/leaderboard.md says why the fit itself
needs no weights.

A model with no rating yet counts as possibly the best with the prior's variance, and a
provisional one (fewer than the fit's `min_votes` votes) as possibly the best, so new models
are shown first and every model soon has the votes a decision needs (app/decisions.py does
not settle on provisional models).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations

import numpy as np

from app import decisions
from app.ranking import ELO, Ranking

EPSILON = 0.10        # the uniform share (bench/active.py: 0.10 needed 0.34× the votes of uniform, 0.25 0.53×)
PRIOR_VAR = 4.0       # nats²: the fit's prior (precision prior_games/4 at prior_games = 1)
FLOOR = 0.05         # relevance floor: an unsettled pair with a long shot still counts a little
MAX_TARGETS = 64      # the most important model pairs kept as targets (bounds the work at ~100 models)

@dataclass(frozen=True)
class Candidates:
    """Comparisons that can be shown, as arrays. `take_model[c, t]` indexes `models` (−1:
    no take in that column); `tag_of[c, g]` says comparison c carries tag `tags[g]`."""

    ids: tuple[str, ...]
    takes: tuple[tuple[str, ...], ...]
    models: tuple[str, ...]
    take_model: np.ndarray
    tags: tuple[str, ...]
    tag_of: np.ndarray

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, Sequence[tuple[str, str]], Sequence[str]]]) -> Candidates:
        """From (comparison id, [(take id, model), …], [tag, …]) rows."""
        rows = list(rows)
        models = sorted({model for _, takes, _ in rows for _, model in takes})
        tags = sorted({tag for _, _, ts in rows for tag in ts})
        mi, ti = {m: i for i, m in enumerate(models)}, {t: i for i, t in enumerate(tags)}
        width = max((len(takes) for _, takes, _ in rows), default=0)
        take_model = np.full((len(rows), width), -1, dtype=np.int64)
        tag_of = np.zeros((len(rows), len(tags)), dtype=bool)
        for c, (_, takes, ts) in enumerate(rows):
            take_model[c, : len(takes)] = [mi[model] for _, model in takes]
            tag_of[c, [ti[t] for t in ts]] = True
        return cls(tuple(str(r[0]) for r in rows), tuple(tuple(t for t, _ in r[1]) for r in rows),
                   tuple(models), take_model, tuple(tags), tag_of)

    @cached_property
    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
        """Per (comparison, pair of take columns): the columns c1, c2, the two models (clipped
        to ≥ 0), whether both takes exist, and each tag's rows — made once per candidate list,
        not per pick (`next` picks many times from one cached list)."""
        cols = list(combinations(range(self.take_model.shape[1]), 2))
        c1, c2 = (np.array(x, dtype=np.int64) for x in zip(*cols)) if cols else (np.zeros(0, np.int64),) * 2
        ma, mb = self.take_model[:, c1], self.take_model[:, c2]
        rows = [np.flatnonzero(self.tag_of[:, g]) for g in range(len(self.tags))]
        return c1, c2, np.maximum(ma, 0), np.maximum(mb, 0), (ma >= 0) & (mb >= 0), rows

@dataclass(frozen=True)
class Pick:
    comparison: str
    takes: tuple[str, str]         # the two takes to show
    models: tuple[str, str]
    sampled_by: str                # "active" or "uniform"
    probability: float             # of this (comparison, pair) under the mixed policy

@dataclass
class Belief:
    """What one fit (overall, or one tag's) says about `models`: ratings μ (nats), their
    covariance Σ (nats²), P(in the top `top`) per model, and ν. `add_vote` folds in a vote
    that has been asked for but not yet fitted (Sherman–Morrison), so picks made between two
    refits of a cached fit spread over pairs instead of repeating one."""

    mu: np.ndarray
    cov: np.ndarray
    rel: np.ndarray
    nu: float
    top: int = 1                   # targets are the pairs of the `top` best-rated models today

    @classmethod
    def from_fit(cls, fit: Ranking | None, models: Sequence[str], top: int = 1) -> Belief:
        m = len(models)
        mu, cov, rel = np.zeros(m), np.eye(m) * PRIOR_VAR, np.ones(m)
        if fit is None or not fit.matrix_models:
            return cls(mu, cov, rel, 0.0, top)
        where = {name: i for i, name in enumerate(fit.matrix_models)}
        idx = np.array([where.get(name, -1) for name in models])
        have, src = np.flatnonzero(idx >= 0), idx[idx >= 0]
        by = fit.by_model()
        mu[have] = (np.array([by[models[h]].rating for h in have]) - 1000.0) / ELO
        cov[np.ix_(have, have)] = fit.covariance[np.ix_(src, src)] / ELO**2
        draws = np.atleast_2d(fit.draws)
        ranks = np.argsort(np.argsort(-draws, axis=1), axis=1)     # 0 = best in that round
        rel[have] = (ranks[:, src] < top).mean(0)
        # A provisional model (too few votes for its interval to be trusted; decisions do not
        # settle on it) still counts as possibly the best, like a model with no votes.
        rel[have] = np.where([by[models[h]].provisional for h in have], 1.0, rel[have])
        return cls(mu, cov, rel, float(fit.tie_param or 0.0), top)

    def info(self, i, j):
        """Davidson information of one vote between i and j about θ_i − θ_j."""
        h = 0.5 * (self.mu[i] - self.mu[j])
        ep, em = np.exp(h), np.exp(-h)
        z = ep + em + self.nu
        return 0.25 * ((ep + em) / z - ((ep - em) / z) ** 2)

    def add_vote(self, i: int, j: int) -> None:
        sx = self.cov[:, i] - self.cov[:, j]
        q = self.info(i, j)
        self.cov -= q * np.outer(sx, sx) / (1.0 + q * (sx[i] - sx[j]))

    def scores(self) -> np.ndarray:
        """(m, m) symmetric: the score of one more vote between models i and j (see above)."""
        mu, cov, rel, m = self.mu, self.cov, self.rel, len(self.mu)
        if m < 2:
            return np.zeros((m, m))
        i, j = np.triu_indices(m, 1)
        var = cov[i, i] + cov[j, j] - 2 * cov[i, j]
        open_ = 1.0 - decisions.anytime_confidence(np.abs(mu[i] - mu[j]), np.maximum(var, 0.0),
                                                  decisions.ANYTIME_SCALE / ELO)
        leaders = np.zeros(m, dtype=bool)
        leaders[np.argsort(-mu, kind="stable")[: self.top]] = True
        weight = np.where((var > 1e-12) & (leaders[i] | leaders[j]),     # a known order needs nothing
                          (rel[i] + FLOOR) * (rel[j] + FLOOR) * open_, 0.0)
        keep = np.argsort(-weight)[:MAX_TARGETS]
        keep = keep[weight[keep] > 0]
        k, l, w, vt = i[keep], j[keep], weight[keep], var[keep]
        a = cov[k][:, i] - cov[k][:, j] - cov[l][:, i] + cov[l][:, j]     # (targets, pairs): cᵀΣx
        q = self.info(i, j)
        gain = np.maximum((w / vt) @ (a * a) * q / (1.0 + q * np.maximum(var, 0.0)), 0.0)
        out = np.zeros((m, m))
        out[i, j] = out[j, i] = gain
        return out

def pair_scores(fit: Ranking | None, models: Sequence[str], top: int = 1) -> np.ndarray:
    """Belief.scores() straight from a fit."""
    return Belief.from_fit(fit, models, top).scores()

@dataclass
class Beliefs:
    """The overall belief and one per tag that has a fit; see `beliefs` and `Beliefs.record`."""

    overall: Belief
    tags: dict[int, Belief]          # by column of Candidates.tag_of

    def record(self, cands: Candidates, p: Pick, row: int | None = None) -> None:
        """Fold the asked-for vote of pick `p` into every belief it touches (`row`: the
        comparison's row in `cands`, if the caller knows it)."""
        c = cands.ids.index(p.comparison) if row is None else row
        i, j = (cands.models.index(x) for x in p.models)
        self.overall.add_vote(i, j)
        for g, b in self.tags.items():
            if cands.tag_of[c, g]:
                b.add_vote(i, j)

def beliefs(cands: Candidates, fit: Ranking | None, tag_fits: Mapping[str, Ranking] | None = None,
            top: int = 1) -> Beliefs:
    tag_fits = tag_fits or {}
    return Beliefs(Belief.from_fit(fit, cands.models, top),
                   {g: Belief.from_fit(tag_fits[t], cands.models, top) for g, t in enumerate(cands.tags)
                    if t in tag_fits})

def pick(cands: Candidates, fit: Ranking | None, tag_fits: Mapping[str, Ranking] | None = None, *,
         epsilon: float = EPSILON, top: int = 1, rng: np.random.Generator | None = None,
         state: Beliefs | None = None, allowed: np.ndarray | None = None) -> Pick | None:
    """The next comparison and pair to show (None when no comparison has two takes).

    `state` (from `beliefs`, kept with a cached fit and updated by `Beliefs.record` after each
    pick) replaces `fit`/`tag_fits`/`top`: it saves rebuilding the beliefs and keeps track of
    the votes asked for since the fit. `allowed` (bool per comparison) leaves the others out,
    as if they were not candidates (one voter's voted comparisons, without copying the rest)."""
    if not 0 <= epsilon <= 1:
        raise ValueError("epsilon must be between 0 and 1")
    rng = rng or np.random.default_rng()
    c1, c2, ma, mb, valid, tag_rows = cands.pairs
    if not len(c1):
        return None
    if allowed is not None:
        valid = valid & np.asarray(allowed, dtype=bool)[:, None]
    n_valid = valid.sum(1)
    shown = np.flatnonzero(n_valid)
    if not len(shown):
        return None
    state = state or beliefs(cands, fit, tag_fits, top)
    score = state.overall.scores()[ma, mb]
    for g, b in state.tags.items():
        rows = tag_rows[g]
        score[rows] += b.scores()[ma[rows], mb[rows]]
    score = np.where(valid, np.nan_to_num(score, nan=0.0, posinf=0.0, neginf=0.0), -np.inf)
    best = np.flatnonzero(score.ravel() >= score.max() * (1 - 1e-9) - 1e-300)
    if rng.random() < epsilon:
        c = int(rng.choice(shown))
        flat, how = c * len(c1) + int(rng.choice(np.flatnonzero(valid[c]))), "uniform"
    else:
        flat, how = int(rng.choice(best)), "active"
    c, p = divmod(flat, len(c1))
    in_best = bool(best[min(np.searchsorted(best, flat), len(best) - 1)] == flat)
    prob = epsilon / (len(shown) * n_valid[c]) + (1 - epsilon) * in_best / len(best)
    ta, tb = cands.takes[c][c1[p]], cands.takes[c][c2[p]]
    return Pick(cands.ids[c], (ta, tb), (cands.models[ma[c, p]], cands.models[mb[c, p]]), how, float(prob))
