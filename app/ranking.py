"""Ratings from pairwise votes: Bradley–Terry with ties, a position-bias term, bootstrap CIs.

Pure numpy: no database, no scipy (scipy is only a test dependency), so the leaderboard
can be computed wherever the app runs.

The model (Davidson 1970, with a "home advantage" term as in Davidson & Beaver 1977)
-------------------------------------------------------------------------------------
For a vote between take `a` (model i) and take `b` (model j), with h = (θ_i − θ_j + β·s)/2,

    P(a wins) = e^h / Z,   P(b wins) = e^-h / Z,   P(tie) = ν / Z,   Z = e^h + e^-h + ν.

θ are natural-log strengths, ν = e^τ the tie propensity, and s is the position of the
pair on the voter's screen: +1 when `a` was shown first (further left / higher), −1 when
`b` was, 0 when unknown. β is therefore an intercept for "the take shown first", fitted
with everything else and reported with its own CI (votes.py stores the first-shown take
as `a`, so in practice s = +1).

Why Davidson rather than Rao–Kupper:
* Its score equations make every tie worth exactly half a win to each side, the
  convention of Elo, chess and the public arenas — the fitted ratings reproduce
  "wins + ½·ties" per model. Rao–Kupper's threshold model has no such reading.
* Win odds between decisive outcomes stay P(i)/P(j) = e^(θi−θj) whatever ν is, so the
  Elo scale keeps its meaning with ties present (Rao–Kupper's odds are π_i/(θ·π_j)).
* With ν = 0 it *is* Bradley–Terry / the arena's logistic regression: on tie-free data
  we fit ν = 0 exactly and reproduce the FastChat fit (see tests/test_ranking.py).
* log Z is a log-sum-exp of linear functions of (θ, β, τ), so the negative
  log-likelihood is convex and Newton's method has one optimum to find.
"tie (bothbad)" is a tie: both count the same in the likelihood.

Scale. Ratings are Elo-like: rating = 1000 + 400·log10(odds), i.e. 400/ln 10 · θ, so
400 points more means 10:1 odds of winning a decisive vote. By default 1000 is the mean
of the models (of each connected part of the comparison graph, see below); `anchor=`
pins a named model at 1000 instead (its CI is then zero-width, the others' CIs are
relative to it).

Regularisation. Every parameter gets a Gaussian prior centred at 0 with precision
λ = prior_games/4: near the mean this is the curvature of `prior_games` virtual *drawn*
games against an average model (default 1). It keeps a model that never lost (or never
won) finite — a 20–0 record lands ~+520 points with a wide CI instead of +∞ — makes the
optimum unique, and is negligible once a model has a few dozen votes (the reference
tests hold the fit to the unregularised logistic regression within 0.5 points).

Fitting on aggregated data. The likelihood only depends on counts per *cell* (model a,
model b, side) × outcome, so the point estimate is a Newton solve over cells, never a
loop over votes.

Bootstrap. A ballot (a pair vote, a best-of-N pick, a ranking of N takes) is one
judgement; its pairs are not independent. Ballots are resampled whole: identical ballots
are grouped into *patterns* (their set of cell/outcome rows), and each round draws
multinomial counts over patterns — exactly the distribution of resampling ballots with
replacement, without touching individual ballots. The draw is exact (up to the 2⁻³²
resolution of its uniforms) and fast: Poisson counts per pattern, with means scaled by
1 − 2/√N so a round nearly always comes out a little short, from precomputed guide tables
(one table per distinct pattern count), then a correction that adds uniformly chosen
ballots (or, rarely, removes drawn ones) until the round has exactly N ballots
(independent Poissons given their sum are multinomial; thinning or topping up a
multinomial sample by uniform trials keeps it multinomial). Each round is
then fitted by simplified Newton steps that reuse the point estimate's Hessian, vectorised
across rounds and warm-started at the point estimate; the few rounds that fail to
converge that way get a full Newton solve. Rating CIs are bias-corrected percentile
intervals (`bias_corrected_interval`), the position-bias and tie CIs plain percentile
ones, all never narrower than the normal approximation from the fit's curvature (which
matters with a handful of ballots: one vote always resamples to itself).

Rank, as the public arenas show it: 1 + the number of models whose CI lies entirely above
this model's CI (within its connected part of the graph).

Edge cases: no votes gives an empty ranking; a single model gets 1000; with no ties in
the data ν is fixed at 0 and no tie parameter is reported; with no known screen
positions β is not fitted. A disconnected comparison graph (models that were never
compared, even indirectly) cannot be put on one scale: each connected part is centred on
1000 separately, ranks are within a part, and `Ranking.connected` is False.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

ELO = 400.0 / math.log(10.0)  # rating points per unit of natural-log strength
BASE = 1000.0

A_WINS, B_WINS, TIE = 0, 1, 2
OUTCOME_CODES = {"model_a": A_WINS, "model_b": B_WINS, "tie": TIE, "tie (bothbad)": TIE}
_FLIP = np.array([B_WINS, A_WINS, TIE])


def outcome_code(winner: str) -> int:
    try:
        return OUTCOME_CODES[winner]
    except KeyError:
        raise ValueError(f"unknown vote winner {winner!r}; expected one of {', '.join(OUTCOME_CODES)}") from None


def side_of(position_a: int | None, position_b: int | None) -> int:
    """+1 if take a was shown first, −1 if take b was, 0 if the screen positions are unknown."""
    if position_a is None or position_b is None or position_a == position_b:
        return 0
    return 1 if position_a < position_b else -1


# ---------------------------------------------------------------------------------------
# Aggregated input


@dataclass(frozen=True)
class Outcomes:
    """Votes reduced to what the fit needs.

    Cells are distinct (model a, model b, side) triples, stored canonically (a < b, or
    a == b with side ≥ 0; the mirrored vote flips the winner). A *slot* is cell·3 + outcome.
    Patterns are distinct ballots: pattern r consists of the slots
    `row_slot[pattern_ptr[r]:pattern_ptr[r+1]]` and occurred `pattern_count[r]` times.
    """

    models: tuple[str, ...]
    cell_a: np.ndarray
    cell_b: np.ndarray
    cell_side: np.ndarray
    pattern_count: np.ndarray
    pattern_ptr: np.ndarray
    row_slot: np.ndarray

    @property
    def n_ballots(self) -> int:
        return int(self.pattern_count.sum())

    @property
    def n_votes(self) -> int:
        """Pairwise outcomes (vote rows)."""
        return int((self.pattern_count * np.diff(self.pattern_ptr)).sum())

    def slot_counts(self) -> np.ndarray:
        """(cells, 3) counts of a-wins, b-wins, ties over all ballots."""
        reps = np.repeat(self.pattern_count, np.diff(self.pattern_ptr))
        flat = np.bincount(self.row_slot, weights=reps, minlength=3 * len(self.cell_a))
        return flat.reshape(-1, 3)

    @classmethod
    def empty(cls) -> Outcomes:
        z = np.zeros(0, dtype=np.int64)
        return cls((), z, z, z, z, np.zeros(1, dtype=np.int64), z)

    @classmethod
    def from_arrays(cls, models: Sequence[str], ballot: np.ndarray, a: np.ndarray, b: np.ndarray,
                    outcome: np.ndarray, side: np.ndarray | None = None) -> Outcomes:
        """Aggregate raw vote rows (one per pairwise outcome), vectorised.

        `ballot` groups rows into ballots (any integer id), `a`/`b` index `models`,
        `outcome` is A_WINS/B_WINS/TIE, `side` as in `side_of` (default +1: a shown first).
        """
        models = tuple(models)
        m = len(models)
        ballot = np.asarray(ballot)
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        outcome = np.asarray(outcome, dtype=np.int64)
        n = len(a)
        side = np.ones(n, dtype=np.int64) if side is None else np.asarray(side, dtype=np.int64)
        if not (len(ballot) == len(b) == len(outcome) == len(side) == n):
            raise ValueError("ballot, a, b, outcome and side must have the same length")
        if n == 0:
            return cls.empty()
        if a.min() < 0 or b.min() < 0 or max(a.max(), b.max()) >= m:
            raise ValueError("model index out of range")
        if outcome.min() < 0 or outcome.max() > 2:
            raise ValueError("outcome must be 0 (a wins), 1 (b wins) or 2 (tie)")
        if side.min() < -1 or side.max() > 1:
            raise ValueError("side must be -1, 0 or +1")
        # Canonical orientation.
        swap = (a > b) | ((a == b) & (side < 0))
        a, b = np.where(swap, b, a), np.where(swap, a, b)
        side = np.where(swap, -side, side)
        outcome = np.where(swap, _FLIP[outcome], outcome)
        cellkey = (a * m + b) * 3 + (side + 1)
        ukeys, cell_of_row = np.unique(cellkey, return_inverse=True)
        slot = cell_of_row * 3 + outcome
        cell_side = ukeys % 3 - 1
        pair = ukeys // 3
        cell_a, cell_b = pair // m, pair % m

        # Ballots: sort rows by (ballot, slot) so equal ballots get equal row sequences.
        order = np.lexsort((slot, ballot))
        sb, ss = ballot[order], slot[order]
        starts = np.flatnonzero(np.r_[True, sb[1:] != sb[:-1]])
        sizes = np.diff(np.r_[starts, len(sb)])
        counts, ptr_parts, slot_parts = [], [], []
        for size in np.unique(sizes):
            rows = ss[(starts[sizes == size])[:, None] + np.arange(size)]
            pats, cnt = np.unique(rows, axis=0, return_counts=True)
            counts.append(cnt)
            ptr_parts.append(np.full(len(cnt), size))
            slot_parts.append(pats.ravel())
        pattern_count = np.concatenate(counts).astype(np.int64)
        pattern_ptr = np.r_[0, np.cumsum(np.concatenate(ptr_parts))].astype(np.int64)
        return cls(models, cell_a.astype(np.int64), cell_b.astype(np.int64), cell_side.astype(np.int64),
                   pattern_count, pattern_ptr, np.concatenate(slot_parts).astype(np.int64))

    @classmethod
    def from_ballots(cls, rows: Iterable[tuple]) -> Outcomes:
        """From (ballot_id, model_a, model_b, winner, side) tuples; `winner` as stored in votes."""
        names: dict[str, int] = {}
        ballots: dict[object, int] = {}
        cols: list[list[int]] = [[], [], [], [], []]
        for ballot_id, model_a, model_b, winner, side in rows:
            cols[0].append(ballots.setdefault(ballot_id, len(ballots)))
            cols[1].append(names.setdefault(model_a, len(names)))
            cols[2].append(names.setdefault(model_b, len(names)))
            cols[3].append(outcome_code(winner) if isinstance(winner, str) else int(winner))
            cols[4].append(int(side))
        return cls._sorted_models(list(names), *(np.asarray(c, dtype=np.int64) for c in cols))

    @classmethod
    def from_patterns(cls, patterns: Mapping[tuple[tuple, ...], int]) -> Outcomes:
        """From {ballot pattern: number of ballots}; a pattern is a tuple of
        (model_a, model_b, winner, side) rows. Used by the database layer, which counts
        single-pair ballots with GROUP BY in SQL and only groups multi-pair ballots here."""
        live = [(pattern, int(count)) for pattern, count in patterns.items() if count > 0]
        models = sorted({name for pattern, _ in live for row in pattern for name in row[:2]})
        index = {name: i for i, name in enumerate(models)}
        m = len(models)
        merged: dict[tuple[tuple[int, int], ...], int] = {}
        for pattern, count in live:
            slots = []
            for model_a, model_b, winner, side in pattern:
                ia, ib, s = index[model_a], index[model_b], int(side)
                o = outcome_code(winner) if isinstance(winner, str) else int(winner)
                if s not in (-1, 0, 1) or o not in (A_WINS, B_WINS, TIE):
                    raise ValueError(f"bad vote row {(model_a, model_b, winner, side)!r}")
                if ia > ib or (ia == ib and s < 0):
                    ia, ib, s, o = ib, ia, -s, int(_FLIP[o])
                slots.append(((ia * m + ib) * 3 + (s + 1), o))
            key = tuple(sorted(slots))
            merged[key] = merged.get(key, 0) + count
        if not merged:
            return cls.empty()
        cellkeys = np.unique(np.asarray([ck for key in merged for ck, _ in key], dtype=np.int64))
        cell_index = {int(ck): i for i, ck in enumerate(cellkeys)}
        counts, ptr, row_slot = [], [0], []
        for key, count in merged.items():
            counts.append(count)
            row_slot.extend(sorted(cell_index[ck] * 3 + o for ck, o in key))
            ptr.append(len(row_slot))
        pair = cellkeys // 3
        return cls(tuple(models), pair // m, pair % m, cellkeys % 3 - 1, np.asarray(counts, dtype=np.int64),
                   np.asarray(ptr, dtype=np.int64), np.asarray(row_slot, dtype=np.int64))

    @classmethod
    def _sorted_models(cls, names: list[str], ballot, a, b, outcome, side) -> Outcomes:
        order = sorted(range(len(names)), key=lambda i: names[i])
        remap = np.empty(len(names), dtype=np.int64)
        remap[order] = np.arange(len(names))
        if len(a):
            a, b = remap[a], remap[b]
        return cls.from_arrays([names[i] for i in order], ballot, a, b, outcome, side)


# ---------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class ModelRating:
    model: str
    rating: float
    ci_low: float
    ci_high: float
    rank: int
    votes: int          # pairwise outcomes involving this model (votes against itself excluded)
    wins: int
    losses: int
    ties: int
    win_rate: float | None  # (wins + ties/2) / votes
    provisional: bool   # fewer than `min_votes` votes
    component: int = 0  # connected part of the comparison graph


@dataclass(frozen=True)
class PositionBias:
    """Advantage of the take shown first, in rating points, and as the probability that the
    first-shown of two equal takes wins a decisive vote."""

    rating: float
    ci_low: float
    ci_high: float
    first_wins: float
    votes: int  # pairwise outcomes with known screen positions


@dataclass(frozen=True)
class Ranking:
    models: list[ModelRating]           # best first (by rank, then rating)
    position_bias: PositionBias | None  # None when no vote has known screen positions
    tie_param: float | None             # Davidson ν; None when the data has no ties
    tie_param_ci: tuple[float, float] | None
    matrix_models: list[str]            # order of the rows/columns below
    win_rate_matrix: np.ndarray         # [i, j] = (wins + ties/2) of i over j / games; NaN if none
    games_matrix: np.ndarray            # [i, j] = number of pairwise outcomes between i and j
    votes: int
    ballots: int
    rounds: int
    level: float
    anchor: str | None
    connected: bool
    components: list[list[str]] = field(default_factory=list)
    # For decisions (app/decisions.py): ratings per bootstrap round, (rounds, m) in
    # matrix_models order (the point estimate alone when rounds = 0), and the covariance of
    # the ratings from the fit's curvature (the normal approximation the intervals are floored at).
    draws: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False, compare=False)
    covariance: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False, compare=False)
    # [i, j] = variance of rating i − rating j from the curvature taken where the two are equal
    # (both at their mean, the rest at the fit): the null a decision must rule out (app/decisions.py
    # anytime test). Empty beyond NULL_PAIRS_MAX models (the decisions then use `covariance`).
    null_pair_var: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False, compare=False)

    def by_model(self) -> dict[str, ModelRating]:
        return {r.model: r for r in self.models}

    @property
    def tie_prob_equal(self) -> float | None:
        """Probability that two equal models tie."""
        return None if self.tie_param is None else self.tie_param / (2.0 + self.tie_param)


def arena_ranks(ci_low: Sequence[float], ci_high: Sequence[float]) -> list[int]:
    """1 + the number of models whose whole CI lies above this model's CI."""
    lo = np.asarray(ci_low, dtype=float)
    hi = np.asarray(ci_high, dtype=float)
    return [int(1 + np.sum(lo > h)) for h in hi]


def bias_corrected_interval(draws: np.ndarray, point: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Efron's bias-corrected percentile interval per column of `draws` (rounds, m).

    The plain percentile interval assumes the bootstrap distribution is centred on the
    estimate. It is not, quite: a maximum-likelihood strength is biased away from the mean
    with few votes per model, and its resamples are biased once more, so the interval sits
    too far out and covers the truth a little less often than it says (bench/coverage.py:
    92.9–95.5 % at 95 % on boards of 300 ballots, before this). With z₀ = Φ⁻¹(share of rounds
    below the estimate), the interval is the bootstrap's Φ(2z₀ ∓ z) quantiles instead of its
    Φ(∓z) ones; z₀ = 0 gives the percentile interval back. A round equal to the estimate
    (an anchored model, a board that resamples to itself) counts half."""
    draws = np.atleast_2d(draws)
    r = len(draws)
    nd = NormalDist()
    z = nd.inv_cdf(0.5 + level / 2)
    equal = np.abs(draws - point) <= 1e-6 * np.maximum(1.0, np.abs(point))
    below = ((draws < point) & ~equal).mean(0) + 0.5 * equal.mean(0)
    z0 = np.array([nd.inv_cdf(x) for x in np.clip(below, 0.5 / r, 1 - 0.5 / r)])
    q = np.array([[nd.cdf(2 * a - z) for a in z0], [nd.cdf(2 * a + z) for a in z0]])    # (2, m)
    srt = np.sort(draws, axis=0)
    pos = q * (r - 1)
    low = np.floor(pos).astype(int)
    high = np.minimum(low + 1, r - 1)
    cols = np.arange(draws.shape[1])
    val = srt[low, cols] + (pos - low) * (srt[high, cols] - srt[low, cols])     # numpy's "linear" quantile
    return val[0], val[1]


# ---------------------------------------------------------------------------------------
# The fit


class _Problem:
    """Cells, parameter layout and the penalised log-likelihood's derivatives."""

    def __init__(self, out: Outcomes, prior_games: float):
        self.m = len(out.models)
        self.ca, self.cb = out.cell_a, out.cell_b
        self.side = out.cell_side.astype(float)
        self.k = len(self.ca)
        self.counts = out.slot_counts()
        self.has_bias = bool(np.any(self.counts.sum(1)[self.side != 0] > 0))
        self.has_ties = bool(self.counts[:, TIE].sum() > 0)
        self.ib = self.m if self.has_bias else None
        self.it = self.m + int(self.has_bias) if self.has_ties else None
        self.p = self.m + int(self.has_bias) + int(self.has_ties)
        self.lam = prior_games / 4.0

    def split(self, params: np.ndarray):
        """θ (..., m), β (...), ν (...) from parameter arrays of shape (..., p)."""
        theta = params[..., : self.m]
        beta = params[..., self.ib] if self.has_bias else np.zeros(params.shape[:-1])
        nu = np.exp(params[..., self.it]) if self.has_ties else np.zeros(params.shape[:-1])
        return theta, beta, nu

    def probs(self, params: np.ndarray):
        """(a-wins − b-wins, a-wins + b-wins, tie) probabilities per cell; params (..., p)."""
        theta, beta, nu = self.split(params)
        h = 0.5 * (theta[..., self.ca] - theta[..., self.cb] + beta[..., None] * self.side)
        e1 = np.exp(-np.abs(h))
        e2 = e1 * e1
        te = nu[..., None] * e1
        z = 1.0 + e2 + te
        diff = np.sign(h) * (1.0 - e2) / z
        return diff, (1.0 + e2) / z, te / z

    def objective(self, params: np.ndarray) -> float:
        theta, beta, nu = self.split(params)
        h = 0.5 * (theta[self.ca] - theta[self.cb] + beta * self.side)
        w, l, t = self.counts.T
        tau = params[self.it] if self.has_ties else -np.inf
        logz = np.logaddexp(np.logaddexp(h, -h), tau)
        ll = (w - l) @ h - (w + l + t) @ logz + (t.sum() * tau if self.has_ties else 0.0)
        return float(-ll + 0.5 * self.lam * params @ params)

    def gradient(self, params: np.ndarray, counts: np.ndarray, diff=None, pt=None) -> np.ndarray:
        """Gradient of the penalised log-likelihood, batched: params (r, p), counts (r, k, 3)."""
        if diff is None:
            diff, _, pt = self.probs(params)
        w, l, t = counts[..., 0], counts[..., 1], counts[..., 2]
        n = w + l + t
        gh = 0.5 * ((w - l) - n * diff)
        r = params.shape[0]
        g = np.empty_like(params)
        rows = np.arange(r)[:, None] * self.m
        g[:, : self.m] = (np.bincount((rows + self.ca).ravel(), gh.ravel(), r * self.m)
                          - np.bincount((rows + self.cb).ravel(), gh.ravel(), r * self.m)).reshape(r, self.m)
        if self.has_bias:
            g[:, self.ib] = gh @ self.side
        if self.has_ties:
            g[:, self.it] = (t - n * pt).sum(-1)
        return g - self.lam * params

    def information(self, params: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Negative Hessian of the penalised log-likelihood, batched: (r, p, p)."""
        diff, swl, pt = self.probs(params)
        n = counts.sum(-1)
        ihh = 0.25 * n * (swl - diff * diff)     # w.r.t. θa − θb + βs, hence the ¼
        iht = -0.5 * n * diff * pt
        itt = n * pt * (1.0 - pt)
        r, p = params.shape[0], self.p
        base = (np.arange(r) * p * p)[:, None]
        ca, cb = self.ca, self.cb
        idx = [ca * p + ca, cb * p + cb, ca * p + cb, cb * p + ca]
        val = [ihh, ihh, -ihh, -ihh]
        if self.has_bias:
            ib, s = self.ib, self.side
            idx += [ca * p + ib, ib * p + ca, cb * p + ib, ib * p + cb, np.full(self.k, ib * p + ib)]
            val += [ihh * s, ihh * s, -ihh * s, -ihh * s, ihh * s * s]
        if self.has_ties:
            it = self.it
            idx += [ca * p + it, it * p + ca, cb * p + it, it * p + cb, np.full(self.k, it * p + it)]
            val += [iht, iht, -iht, -iht, itt]
            if self.has_bias:
                idx += [np.full(self.k, self.ib * p + it), np.full(self.k, it * p + self.ib)]
                val += [iht * self.side, iht * self.side]
        flat_idx = np.concatenate([(base + i).ravel() for i in idx])
        flat_val = np.concatenate([np.broadcast_to(v, (r, self.k)).ravel() for v in val])
        info = np.bincount(flat_idx, flat_val, r * p * p).reshape(r, p, p)
        info[:, np.arange(p), np.arange(p)] += self.lam
        return info

    def newton(self, counts: np.ndarray, start: np.ndarray, tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
        """Full Newton with backtracking, one problem: counts (k, 3), start (p,)."""
        params = start.copy()
        saved = self.counts
        self.counts = counts
        try:
            f = self.objective(params)
            for _ in range(max_iter):
                g = self.gradient(params[None], counts[None])[0]
                h = self.information(params[None], counts[None])[0]
                step = np.linalg.solve(h, g)
                t = 1.0
                while True:
                    cand = params + t * step
                    fc = self.objective(cand)
                    if fc <= f + 1e-12 * abs(f) or t < 1e-8:
                        break
                    t *= 0.5
                params, f = cand, fc
                if np.max(np.abs(t * step)) < tol:
                    break
            return params
        finally:
            self.counts = saved


class _PatternSampler:
    """Exact multinomial counts over ballot patterns, fast (see the module docstring).

    Poisson(v) is drawn by inversion of a uniform u through a guide table per distinct
    count v: the table splits [0, 1) into 2^q bins; a bin that holds no CDF step maps
    straight to its count (one lookup), the few bins that hold a step send u to a short
    search of the CDF. Up to the 2⁻³² resolution of u and float64 rounding of the CDF this is
    exact inversion.
    """

    LARGE = 512

    def __init__(self, counts: np.ndarray, kappa: float = 2.0):
        self.n = len(counts)
        self.total = int(counts.sum())
        self.cum = np.cumsum(counts)
        # pattern of the i-th ballot, for O(1) draws of whole ballots (when it fits in memory)
        self.of_ballot = np.repeat(np.arange(self.n, dtype=np.int32), counts) if self.total <= 50_000_000 else None
        # Poisson means are scaled down by κ standard deviations of the total so that a
        # round almost always falls short of N ballots: topping up is cheap, thinning is not.
        self.scale = max(0.5, 1.0 - kappa / math.sqrt(max(self.total, 1)))
        # Patterns seen many times get numpy's own Poisson sampler: their guide tables would
        # be large and there are few of them. Tables pay off for the many small counts.
        self.small = np.flatnonzero(counts <= self.LARGE)
        self.large = np.flatnonzero(counts > self.LARGE)
        self.lam_large = counts[self.large] * self.scale
        values, value_of = np.unique(counts[self.small], return_inverse=True)
        cdfs, kvals, tables, offsets, nbins = [np.zeros(1)], [np.zeros(1)], [np.zeros(1)], [], []
        f_off = t_off = 1   # entry 0 of each array is padding, so the arrays are never empty
        for v in values.tolist():
            v = v * self.scale
            spread = 12.0 * math.sqrt(v) + 20.0
            ks = np.arange(max(0, int(v - spread)), int(v + spread) + 1)
            logpmf = ks * math.log(v) - v - np.array([math.lgamma(k + 1.0) for k in ks])
            cdf = np.cumsum(np.exp(logpmf - logpmf.max()))
            cdf /= cdf[-1]
            cdf[-1] = 2.0  # sentinel: every u < 1 stops here at the latest
            bins = 1 << min(20, max(6, math.ceil(math.log2(64 * len(ks)))))
            edges = np.arange(bins + 1) / bins
            first = np.searchsorted(cdf, edges[:-1], side="right")   # answer at the bin's left edge
            last = np.searchsorted(cdf, edges[1:], side="left")      # answer just below its right edge
            table = np.where(first == last, ks[np.minimum(first, len(ks) - 1)], -1 - (first + f_off))
            cdfs.append(cdf)
            kvals.append(ks)
            tables.append(table)
            offsets.append(t_off)
            nbins.append(bins)
            f_off += len(ks)
            t_off += bins
        self.cdf = np.concatenate(cdfs)
        self.kval = np.concatenate(kvals).astype(np.int32)
        self.table = np.concatenate(tables).astype(np.int32 if f_off + t_off < 2**31 - 1 else np.int64)
        self.shift = (32 - np.log2(np.asarray(nbins, dtype=float)).astype(np.uint32))[value_of].astype(np.uint32)
        self.offset = np.asarray(offsets, dtype=np.uint32)[value_of]

    def poisson(self, rng: np.random.Generator, rounds: int) -> np.ndarray:
        """(patterns, rounds) independent Poisson(scale · count) draws."""
        if not len(self.large):
            return self._from_tables(rng, rounds)
        x = np.empty((self.n, rounds), dtype=self.table.dtype)
        if len(self.small):
            x[self.small] = self._from_tables(rng, rounds)
        x[self.large] = rng.poisson(self.lam_large[:, None], (len(self.large), rounds))
        return x

    def _from_tables(self, rng: np.random.Generator, rounds: int) -> np.ndarray:
        # Raw 32-bit words straight from the bit generator: the top q bits pick the bin, and
        # the whole word (a multiple of 2⁻³²) is the uniform compared with the CDF.
        size = len(self.small) * rounds
        raw = rng.bit_generator.random_raw((size + 1) // 2).view(np.uint32)[:size].reshape(len(self.small), rounds)
        j = np.right_shift(raw, self.shift[:, None])
        j += self.offset[:, None]
        x = self.table.take(j)
        flat = x.reshape(-1)
        mixed = np.flatnonzero(flat < 0)
        if len(mixed):
            um = raw.reshape(-1)[mixed] * 2.0**-32
            pos = -1 - flat[mixed].astype(np.int64)
            step = np.flatnonzero(self.cdf[pos] <= um)
            while len(step):
                pos[step] += 1
                step = step[self.cdf[pos[step]] <= um[step]]
            flat[mixed] = self.kval[pos]
        return x

    def multinomial(self, rng: np.random.Generator, rounds: int) -> np.ndarray:
        """(patterns, rounds) counts, each column multinomial(total, counts/total)."""
        x = self.poisson(rng, rounds)
        flat = x.reshape(-1)
        short = self.total - x.sum(0, dtype=np.int64)
        up = np.flatnonzero(short > 0)
        if len(up):  # top up with ballots drawn uniformly from the data
            ballots = rng.integers(0, self.total, int(short[up].sum()))
            picks = self.of_ballot[ballots] if self.of_ballot is not None \
                else np.searchsorted(self.cum, ballots, side="right")
            where, times = np.unique(picks * rounds + np.repeat(up, short[up]), return_counts=True)
            flat[where] += times.astype(x.dtype)
        down = np.flatnonzero(short < 0)
        if len(down):  # remove drawn ballots: a uniformly random subset of each round's draws
            drawn = x[:, down].T.reshape(-1)
            have = np.cumsum(drawn, dtype=np.int64)
            ends = have[self.n - 1 :: self.n]
            starts = ends - drawn.reshape(len(down), -1).sum(1)
            want = -short[down]
            owner = np.repeat(np.arange(len(down)), want)
            chosen = np.zeros(0, dtype=np.int64)
            while len(owner):   # distinct positions: draw, then redraw what duplicates cost
                chosen = np.unique(np.r_[chosen, starts[owner] + rng.integers(0, ends[owner] - starts[owner])])
                got = np.bincount(np.searchsorted(ends, chosen, side="right"), minlength=len(down))
                owner = np.repeat(np.arange(len(down)), want - got)
            cell = np.searchsorted(have, chosen, side="right")
            where, times = np.unique((cell % self.n) * rounds + down[cell // self.n], return_counts=True)
            flat[where] -= times.astype(x.dtype)
        return x


def _components(m: int, ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    parent = list(range(m))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(ca.tolist(), cb.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = [find(i) for i in range(m)]
    labels = {r: n for n, r in enumerate(dict.fromkeys(roots))}
    return np.asarray([labels[r] for r in roots], dtype=np.int64)


def rank(outcomes: Outcomes, *, rounds: int = 1000, seed: int | None = 0, min_votes: int = 20,
         anchor: str | None = None, prior_games: float = 1.0, level: float = 0.95,
         workers: int = 1, chunk: int | None = None) -> Ranking:
    """Fit ratings, bootstrap CIs over whole ballots, ranks. See the module docstring."""
    if rounds < 0:
        raise ValueError("rounds must be ≥ 0")
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    if prior_games <= 0:
        raise ValueError("prior_games must be > 0 (it keeps unbeaten models finite)")
    models = list(outcomes.models)
    m = len(models)
    if anchor is not None and anchor not in models:
        raise ValueError(f"anchor model {anchor!r} has no votes here")
    if m == 0:
        return Ranking([], None, None, None, [], np.zeros((0, 0)), np.zeros((0, 0)), 0, 0, rounds, level,
                       anchor, True, [])

    prob = _Problem(outcomes, prior_games)
    counts = prob.counts
    point = prob.newton(counts, np.zeros(prob.p))

    comp = _components(m, prob.ca[counts.sum(1) > 0], prob.cb[counts.sum(1) > 0])
    n_comp = int(comp.max()) + 1

    def ratings(params: np.ndarray) -> np.ndarray:
        theta = np.atleast_2d(params)[:, :m]
        if anchor is not None:
            centred = theta - theta[:, [models.index(anchor)]]
        else:
            centred = theta.copy()
            for c in range(n_comp):
                sel = comp == c
                centred[:, sel] -= theta[:, sel].mean(1, keepdims=True)
        return BASE + ELO * centred

    rating = ratings(point)[0]
    alpha = (1 - level) / 2
    samples = _bootstrap(prob, outcomes, point, rounds, seed, chunk, workers) if rounds else point[None]
    boot_ratings = ratings(samples)
    lo, hi = bias_corrected_interval(boot_ratings, rating, level)
    # Floor: the normal approximation from the penalised fit's curvature. With a handful of
    # ballots the bootstrap cannot vary (a single vote resamples to itself: a zero-width
    # interval); the curvature, prior included, still says how little one vote tells. With
    # real amounts of data the two agree and the bootstrap decides.
    z = NormalDist().inv_cdf(1 - alpha)
    cov = np.linalg.inv(prob.information(point[None], counts[None])[0])
    jac = ratings(np.eye(prob.p)) - ratings(np.zeros((1, prob.p)))          # (p, m): d rating / d param
    rating_cov = jac.T @ cov @ jac
    sd = np.sqrt(np.maximum(np.diag(rating_cov), 0.0))
    lo, hi = np.minimum(lo, rating - z * sd), np.maximum(hi, rating + z * sd)

    # Tallies (self-pairs excluded) and the pairwise matrix.
    wins = np.zeros((m, m))
    ties = np.zeros((m, m))
    np.add.at(wins, (prob.ca, prob.cb), counts[:, A_WINS])
    np.add.at(wins, (prob.cb, prob.ca), counts[:, B_WINS])
    np.add.at(ties, (prob.ca, prob.cb), counts[:, TIE])
    np.add.at(ties, (prob.cb, prob.ca), counts[:, TIE])
    np.fill_diagonal(wins, 0)
    np.fill_diagonal(ties, 0)
    games = wins + wins.T + ties
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.where(games > 0, (wins + 0.5 * ties) / games, np.nan)

    ranks = np.zeros(m, dtype=int)
    for c in range(n_comp):
        sel = np.flatnonzero(comp == c)
        ranks[sel] = arena_ranks(lo[sel], hi[sel])
    rows = []
    for i, name in enumerate(models):
        votes = int(games[i].sum())
        w, ls, t = int(wins[i].sum()), int(wins[:, i].sum()), int(ties[i].sum())
        rows.append(ModelRating(name, float(rating[i]), float(lo[i]), float(hi[i]), int(ranks[i]), votes, w, ls, t,
                                (w + 0.5 * t) / votes if votes else None, votes < min_votes, int(comp[i])))
    rows.sort(key=lambda r: (r.component if n_comp > 1 else 0, r.rank, -r.rating, r.model))

    bias = None
    if prob.has_bias:
        b = ELO * samples[:, prob.ib]
        blo, bhi = np.quantile(b, [alpha, 1 - alpha])
        beta = float(point[prob.ib])
        bsd = ELO * math.sqrt(cov[prob.ib, prob.ib])
        blo, bhi = min(blo, ELO * beta - z * bsd), max(bhi, ELO * beta + z * bsd)
        bias = PositionBias(ELO * beta, float(blo), float(bhi), 1.0 / (1.0 + math.exp(-beta)),
                            int(counts.sum(1)[prob.side != 0].sum()))
    nu = nu_ci = None
    if prob.has_ties:
        nu = float(math.exp(point[prob.it]))
        q = np.exp(np.quantile(samples[:, prob.it], [alpha, 1 - alpha]))
        nu_ci = (float(q[0]), float(q[1]))
    components = [[models[i] for i in np.flatnonzero(comp == c)] for c in range(n_comp)]
    return Ranking(rows, bias, nu, nu_ci, models, matrix, games, outcomes.n_votes, outcomes.n_ballots, rounds,
                   level, anchor, n_comp == 1, components, boot_ratings, rating_cov,
                   _null_pair_var(prob, point) if m <= NULL_PAIRS_MAX else np.zeros((0, 0)))


NULL_PAIRS_MAX = 24   # one (p × p) information and inverse per pair of models: 276 pairs at 24 models
_NULL_CHUNK = 64      # pairs per batch: bounds the (pairs × cells) arrays of `information`


def _null_pair_var(prob: _Problem, point: np.ndarray) -> np.ndarray:
    """(m, m) variance of θ_i − θ_j (in rating points²) from the information at the point
    estimate with θ_i and θ_j both moved to their mean. Why: at a lopsided record (30–0) the
    curvature at the fit is nearly flat, so a Wald test there reads the most conclusive pairs as
    the least; a test of "i is no better than j" needs the variance where that null holds (as
    a score test does), and near the null — where wrong calls happen — the two agree."""
    m = prob.m
    i, j = np.triu_indices(m, 1)
    out = np.zeros((m, m))
    if not len(i):
        return out
    for s in range(0, len(i), _NULL_CHUNK):
        a, b = i[s:s + _NULL_CHUNK], j[s:s + _NULL_CHUNK]
        k = np.arange(len(a))
        params = np.repeat(point[None], len(a), axis=0)
        params[k, a] = params[k, b] = 0.5 * (point[a] + point[b])
        cov = np.linalg.inv(prob.information(params, prob.counts[None]))
        out[a, b] = out[b, a] = ELO**2 * (cov[k, a, a] + cov[k, b, b] - 2 * cov[k, a, b])
    return out


def _bootstrap(prob: _Problem, out: Outcomes, point: np.ndarray, rounds: int, seed: int | None,
               chunk: int | None, workers: int, tol: float = 1e-3, max_iter: int = 25) -> np.ndarray:
    """Parameters fitted on `rounds` multinomial resamples of the ballot patterns.

    `tol` bounds the last step in natural-log units (1e-3 ≈ 0.17 rating points); the
    iteration contracts by a factor ρ ≪ 1 per step, so what is left after it is ~ρ·tol,
    far below what a rating interval is shown with.

    Work is done in chunks of rounds (each with its own random stream spawned from `seed`,
    so results do not depend on `workers`). Per chunk: draw pattern counts, add them up
    into cell counts, then simplified Newton steps x ← x + H₀⁻¹·g(x) from the point
    estimate, all rounds at once. The elementwise work (probabilities per round and cell)
    runs in float32 — ample for steps of 1e-5 log-odds — the steps themselves in float64.
    """
    m, k, p = prob.m, prob.k, prob.p
    sampler = _PatternSampler(out.pattern_count)
    sizes = np.diff(out.pattern_ptr)
    slot = (out.row_slot % 3) * k + out.row_slot // 3          # outcome-major: (3, k) blocks
    single = np.flatnonzero(sizes == 1)
    single_slot = slot[out.pattern_ptr[single]]
    identity = len(single) == 3 * k and np.array_equal(single, np.arange(3 * k)) \
        and np.array_equal(single_slot, np.arange(3 * k))
    multi = np.flatnonzero(sizes > 1)
    multi_rows = np.concatenate([np.arange(out.pattern_ptr[r], out.pattern_ptr[r + 1]) for r in multi]) \
        if len(multi) else np.zeros(0, dtype=np.int64)
    multi_pat = np.repeat(multi, sizes[multi])
    order = np.argsort(slot[multi_rows], kind="stable")
    multi_pat, multi_slot = multi_pat[order], slot[multi_rows][order]
    # Multi-pair ballots: rows sorted by slot, then split into "levels" (the first row of
    # each slot, the second, …) so that each level adds into distinct slots in one step.
    if len(multi_slot):
        first = np.flatnonzero(np.r_[True, multi_slot[1:] != multi_slot[:-1]])
        occurrence = np.arange(len(multi_slot)) - np.repeat(first, np.diff(np.r_[first, len(multi_slot)]))
        levels = [(multi_slot[occurrence == lv], multi_pat[occurrence == lv]) for lv in range(occurrence.max() + 1)]
    else:
        levels = []

    h0_inv = np.linalg.inv(prob.information(point[None], prob.counts[None])[0])
    diff0, _, pt0 = (a.astype(np.float32) for a in prob.probs(point))
    # h = ½(θa − θb + β·s) = [θ, β] @ E.T; the θ/β gradient is (D − N·diff) @ E.
    q = m + int(prob.has_bias)
    e = np.zeros((k, q), dtype=np.float32)
    np.add.at(e, (np.arange(k), prob.ca), 0.5)
    np.add.at(e, (np.arange(k), prob.cb), -0.5)
    if prob.has_bias:
        e[:, m] = 0.5 * prob.side
    et = np.ascontiguousarray(e.T)

    def fit_chunk(rng: np.random.Generator, r: int) -> np.ndarray:
        x = sampler.multinomial(rng, r)                      # (patterns, r)
        if identity:
            y = x[: 3 * k].astype(np.float32)
        else:
            y = np.zeros((3 * k, r), dtype=np.float32)
            y[single_slot] = x[single]
        for level_slots, level_patterns in levels:
            y[level_slots] += x[level_patterns]
        y = y.reshape(3, k, r)
        dwl = y[0] - y[1]
        n = y.sum(0)
        tsum = y[2].sum(0, dtype=np.float64)
        params = np.repeat(point[None], r, axis=0)           # (r, p)

        def gradient(diff, pt):
            g = np.empty((r, p))
            gh = dwl - n * diff
            g[:, :q] = (et @ gh).T
            if prob.has_ties:
                g[:, prob.it] = tsum - (n * pt).sum(0, dtype=np.float64)
            return g - prob.lam * params

        g = gradient(diff0[:, None], pt0[:, None])
        for _ in range(max_iter):
            step = g @ h0_inv
            params += step
            if np.max(np.abs(step)) < tol:
                return params
            h = e @ params[:, :q].T.astype(np.float32)      # (k, r)
            e1 = np.abs(h)
            np.negative(e1, out=e1)
            np.exp(e1, out=e1)
            e2 = e1 * e1
            z = 1.0 + e2
            pt = None
            if prob.has_ties:
                te = e1
                te *= np.exp(params[:, prob.it]).astype(np.float32)
                z += te
                pt = np.divide(te, z, out=te)
            np.subtract(1.0, e2, out=e2)
            diff = np.divide(e2, z, out=e2)
            np.copysign(diff, h, out=diff)
            g = gradient(diff, pt)
        for i in np.flatnonzero(np.max(np.abs(step), axis=1) >= tol):  # rare: solve this round fully
            params[i] = prob.newton(y[:, :, i].T.astype(float), params[i])
        return params

    chunk = chunk or max(1, min(rounds, 1_000_000 // max(len(out.pattern_count), 3 * k, 1)))
    sizes_r = [min(chunk, rounds - s) for s in range(0, rounds, chunk)]
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(sizes_r))]
    if workers > 1 and len(sizes_r) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(fit_chunk, streams, sizes_r))
    else:
        parts = [fit_chunk(g, r) for g, r in zip(streams, sizes_r)]
    return np.concatenate(parts)
