"""The rating fit against independent fits on synthetic votes with known strengths.

The reference fit is the one FastChat uses for Chatbot Arena: unregularised logistic
regression on individual votes (here via scipy rather than scikit-learn), and choix's
Bradley–Terry maximum likelihood. Ties and the position term are checked against a
vote-by-vote Davidson likelihood minimised by scipy.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy.optimize import minimize

from app.ranking import (
    A_WINS,
    B_WINS,
    ELO,
    TIE,
    Outcomes,
    _PatternSampler,
    arena_ranks,
    rank,
    side_of,
)

NAMES = [f"model-{i}" for i in range(8)]


def simulate(theta, n, *, beta=0.0, nu=0.0, seed=0, side=None):
    """n single-pair votes drawn from the Davidson model with first-shown advantage beta."""
    rng = np.random.default_rng(seed)
    m = len(theta)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    s = np.ones(n, dtype=int) if side is None else side(rng, n)
    h = 0.5 * (theta[a] - theta[b] + beta * s)
    pa, pb = np.exp(h), np.exp(-h)
    z = pa + pb + nu
    u = rng.random(n)
    outcome = np.where(u < pa / z, A_WINS, np.where(u < (pa + pb) / z, B_WINS, TIE))
    return a, b, outcome, s


def to_elo(theta):
    theta = np.asarray(theta, dtype=float)
    return 1000 + ELO * (theta - theta.mean())


def fastchat_lr(a, b, outcome, m, side=None):
    """FastChat's compute_mle_elo: logistic regression without regularisation on one row per
    vote (ties entered twice, once each way), solved with scipy. Returns Elo-scale ratings
    centred on 1000 and, with `side`, the position intercept in rating points."""
    rows_a, rows_b, y, s = [a], [b], [(outcome == A_WINS).astype(float)], [side if side is not None else 0 * a]
    tie = outcome == TIE
    if tie.any():
        rows_a.append(a[tie]); rows_b.append(b[tie]); y.append(np.ones(tie.sum())); s.append(s[0][tie])
        y[0][tie] = 0.0
    a, b, y, s = (np.concatenate(v) for v in (rows_a, rows_b, y, s))
    k = m + (side is not None)

    def f(w):
        theta = np.r_[0.0, w[: m - 1]]  # first model pinned: the fit is only defined up to a constant
        z = theta[a] - theta[b] + (w[-1] * s if side is not None else 0.0)
        loss = np.sum(np.logaddexp(0, z) - y * z)
        r = 1 / (1 + np.exp(-z)) - y
        g = np.zeros(m)
        np.add.at(g, a, r)
        np.add.at(g, b, -r)
        grad = g[1:]
        if side is not None:
            grad = np.r_[grad, r @ s]
        return loss, grad

    res = minimize(f, np.zeros(k - 1), jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000})
    theta = np.r_[0.0, res.x[: m - 1]]
    return to_elo(theta), (ELO * res.x[-1] if side is not None else None)


def davidson_mle(a, b, outcome, s, m):
    """Vote-by-vote Davidson likelihood with position term, unregularised, scipy."""

    def f(w):
        theta = np.r_[0.0, w[: m - 1]]
        beta, tau = w[m - 1], w[m]
        h = 0.5 * (theta[a] - theta[b] + beta * s)
        logz = np.logaddexp(np.logaddexp(h, -h), tau)
        ll = np.where(outcome == A_WINS, h, np.where(outcome == B_WINS, -h, tau)) - logz
        return -ll.sum()

    res = minimize(f, np.zeros(m + 1), method="BFGS", options={"gtol": 1e-7, "maxiter": 5000})
    theta = np.r_[0.0, res.x[: m - 1]]
    return to_elo(theta), ELO * res.x[m - 1], math.exp(res.x[m])


def outcomes(a, b, outcome, s=None, names=NAMES):
    return Outcomes.from_arrays(names[: max(a.max(), b.max()) + 1], np.arange(len(a)), a, b, outcome, s)


THETA = np.array([-1.4, -0.9, -0.5, -0.1, 0.2, 0.6, 1.0, 1.5])


def test_recovers_order_and_matches_fastchat_logistic_regression():
    a, b, o, _ = simulate(THETA, 30_000, seed=1)
    r = rank(outcomes(a, b, o), rounds=200, seed=1)
    got = {x.model: x.rating for x in r.models}
    ours = np.array([got[n] for n in NAMES])
    assert [x.model for x in r.models] == NAMES[::-1]          # strongest first, exactly the true order
    ref, _ = fastchat_lr(a, b, o, len(THETA))
    assert np.max(np.abs(ours - ref)) < 0.5, (ours, ref)
    assert np.max(np.abs(ours - to_elo(THETA))) < 40           # and near the truth
    assert r.tie_param is None and r.position_bias is not None  # a = first shown: β is fitted


def test_matches_choix_on_tie_free_data_without_positions():
    import choix

    a, b, o, s = simulate(THETA, 20_000, seed=2, side=lambda rng, n: np.zeros(n, dtype=int))
    r = rank(outcomes(a, b, o, s), rounds=0)
    assert r.position_bias is None
    winners = np.where(o == A_WINS, a, b)
    losers = np.where(o == A_WINS, b, a)
    ref = to_elo(choix.opt_pairwise(len(THETA), list(zip(winners.tolist(), losers.tolist())), alpha=0.0))
    got = r.by_model()
    assert max(abs(got[n].rating - ref[i]) for i, n in enumerate(NAMES)) < 0.5


def test_ties_and_position_bias_match_vote_by_vote_davidson_fit():
    beta, nu = 0.35, 0.6
    side = lambda rng, n: rng.choice([-1, 1], n)  # noqa: E731 — a shown first or second
    a, b, o, s = simulate(THETA, 30_000, beta=beta, nu=nu, seed=3, side=side)
    r = rank(outcomes(a, b, o, s), rounds=300, seed=3)
    ref, ref_beta, ref_nu = davidson_mle(a, b, o, s, len(THETA))
    got = r.by_model()
    assert max(abs(got[n].rating - ref[i]) for i, n in enumerate(NAMES)) < 0.5
    assert abs(r.position_bias.rating - ref_beta) < 0.5
    assert abs(r.tie_param - ref_nu) < 0.01
    # the known truth lies inside the bootstrap intervals
    assert r.position_bias.ci_low < ELO * beta < r.position_bias.ci_high
    assert r.tie_param_ci[0] < nu < r.tie_param_ci[1]
    assert r.position_bias.first_wins == pytest.approx(1 / (1 + math.exp(-ref_beta / ELO)), abs=1e-3)
    assert r.position_bias.votes == 30_000


def test_position_bias_near_zero_when_there_is_none():
    a, b, o, s = simulate(THETA, 20_000, seed=4, side=lambda rng, n: rng.choice([-1, 1], n))
    r = rank(outcomes(a, b, o, s), rounds=300, seed=4)
    assert r.position_bias.ci_low < 0 < r.position_bias.ci_high
    assert abs(r.position_bias.rating) < 15


def test_ties_count_half_and_tally():
    # x beats y 6 times, loses 2, 4 ties. Davidson's score equations make the fitted model's
    # expected "wins + ties/2" equal the observed 8 of 12, and the rating gap is the odds of a
    # decisive vote: 6:2 = 3 ⇔ 400·log10(3) points.
    rows = [(i, "x", "y", w, 0) for i, w in enumerate(["model_a"] * 6 + ["model_b"] * 2 + ["tie"] * 2
                                                       + ["tie (bothbad)"] * 2)]
    r = rank(Outcomes.from_ballots(rows), rounds=0, prior_games=1e-9, min_votes=5)
    x, y = r.by_model()["x"], r.by_model()["y"]
    assert (x.wins, x.losses, x.ties, x.votes) == (6, 2, 4, 12)
    assert x.win_rate == pytest.approx(8 / 12)
    assert x.rating - y.rating == pytest.approx(400 * math.log10(3), abs=1e-3)
    h = (x.rating - y.rating) / ELO / 2
    pa, pb, pt = math.exp(h), math.exp(-h), r.tie_param
    assert (pa + pt / 2) / (pa + pb + pt) == pytest.approx(8 / 12, abs=1e-6)
    assert r.tie_param is not None and not x.provisional
    assert r.win_rate_matrix[r.matrix_models.index("x"), r.matrix_models.index("y")] == pytest.approx(8 / 12)
    assert r.games_matrix.sum() == 24


def test_unbeaten_model_stays_finite_and_is_provisional():
    rows = [(i, "champ", "other", "model_a", 1) for i in range(10)]
    r = rank(Outcomes.from_ballots(rows), rounds=200, min_votes=20)
    champ = r.by_model()["champ"]
    assert math.isfinite(champ.rating) and champ.rating > 1100
    assert champ.provisional and champ.votes == 10


def test_bootstrap_interval_coverage():
    """Pooled over datasets and models, the 95 % intervals cover the true ratings ~95 % of the time."""
    theta = THETA[:5]
    truth = to_elo(theta)
    covered = total = 0
    for seed in range(40):
        a, b, o, _ = simulate(theta, 1500, nu=0.3, seed=100 + seed)
        r = rank(outcomes(a, b, o), rounds=300, seed=seed)
        for i, name in enumerate(NAMES[:5]):
            row = r.by_model()[name]
            covered += row.ci_low <= truth[i] <= row.ci_high
            total += 1
    assert 0.88 <= covered / total <= 0.995, covered / total


def test_bootstrap_resamples_whole_ballots():
    """A ballot holding the same outcome four times is one judgement, not four: its CI is
    twice as wide (√4) as the same rows counted as separate ballots."""
    a, b, o, s = simulate(THETA[:4], 4000, seed=5)
    rep = np.repeat(np.arange(len(a)), 4)
    as_ballots = Outcomes.from_arrays(NAMES[:4], rep, a[rep], b[rep], o[rep], s[rep])
    as_pairs = Outcomes.from_arrays(NAMES[:4], np.arange(len(rep)), a[rep], b[rep], o[rep], s[rep])
    assert as_ballots.n_votes == as_pairs.n_votes == 16_000
    assert as_ballots.n_ballots == 4000 and as_pairs.n_ballots == 16_000
    wide = rank(as_ballots, rounds=1000, seed=6)
    narrow = rank(as_pairs, rounds=1000, seed=6)
    assert wide.by_model()["model-0"].rating == pytest.approx(narrow.by_model()["model-0"].rating)
    ratio = np.mean([(w.ci_high - w.ci_low) / (n.ci_high - n.ci_low)
                     for w, n in zip(sorted(wide.models, key=lambda x: x.model),
                                     sorted(narrow.models, key=lambda x: x.model))])
    assert 1.8 < ratio < 2.2, ratio


def test_bootstrap_width_matches_asymptotic_standard_error():
    """Bootstrap spread of a rating difference ≈ the standard error from the Fisher information."""
    a, b, o, _ = simulate(THETA[:3], 6000, nu=0.4, seed=7)
    r = rank(outcomes(a, b, o), rounds=2000, seed=7, anchor="model-0")
    top = r.by_model()["model-2"]
    # two-model-equivalent SE: simulate the difference's SE from repeated fits instead
    diffs = []
    for k in range(60):
        a2, b2, o2, _ = simulate(THETA[:3], 6000, nu=0.4, seed=500 + k)
        diffs.append(rank(outcomes(a2, b2, o2), rounds=0, anchor="model-0").by_model()["model-2"].rating)
    sd = np.std(diffs)
    assert (top.ci_high - top.ci_low) / (2 * 1.96) == pytest.approx(sd, rel=0.3)
    assert r.by_model()["model-0"].ci_low == r.by_model()["model-0"].ci_high == 1000


def test_pattern_sampler_is_multinomial():
    counts = np.array([1, 1, 2, 5, 50, 400, 3])
    sampler = _PatternSampler(counts)
    rng = np.random.default_rng(0)
    x = sampler.multinomial(rng, 20_000)
    assert x.shape == (7, 20_000)
    assert np.all(x.sum(0) == counts.sum()) and x.min() >= 0
    p = counts / counts.sum()
    n = counts.sum()
    assert np.allclose(x.mean(1), counts, rtol=0.03, atol=0.03)
    assert np.allclose(x.var(1), n * p * (1 - p), rtol=0.06, atol=0.02)
    cov = np.cov(x[4], x[5])[0, 1]
    assert cov == pytest.approx(-n * p[4] * p[5], rel=0.1)


def test_arena_rank_rule():
    # A's CI lies above C's and D's; B overlaps A, and lies above D; C overlaps B.
    lo = [1100, 1060, 1000, 900]
    hi = [1200, 1110, 1070, 950]
    assert arena_ranks(lo, hi) == [1, 1, 2, 4]


def test_ranks_in_fitted_ranking_follow_the_rule():
    a, b, o, _ = simulate(np.array([0.0, 0.05, 1.0, 1.02, 2.0]), 3000, seed=8)
    r = rank(outcomes(a, b, o), rounds=300, seed=8)
    lo = np.array([x.ci_low for x in r.models])
    hi = np.array([x.ci_high for x in r.models])
    assert [x.rank for x in r.models] == [1 + int(np.sum(lo > h)) for h in hi]
    assert r.models[0].rank == 1 and r.models[-1].rank >= 3
    assert [x.rank for x in r.models] == sorted(x.rank for x in r.models)


def test_rankings_expand_to_pairs_and_patterns_match():
    """A ranking ballot of three takes is three pairs that travel together; from_patterns
    (the database path) builds the same Outcomes as from_ballots."""
    rows = []
    ballot = 0
    for _ in range(30):
        rows += [(ballot, "a", "b", "model_a", 1), (ballot, "a", "c", "model_a", 1), (ballot, "b", "c", "model_a", 1)]
        ballot += 1
    for _ in range(12):
        rows.append((ballot, "c", "a", "model_a", -1))
        ballot += 1
    out = Outcomes.from_ballots(rows)
    assert out.n_ballots == 42 and out.n_votes == 102
    patterns = {}
    by_ballot = {}
    for bid, *row in rows:
        by_ballot.setdefault(bid, []).append(tuple(row))
    for pat in by_ballot.values():
        patterns[tuple(pat)] = patterns.get(tuple(pat), 0) + 1
    same = Outcomes.from_patterns(patterns)
    assert sorted(same.pattern_count.tolist()) == sorted(out.pattern_count.tolist()) == [12, 30]
    assert np.array_equal(same.slot_counts(), out.slot_counts())
    r1, r2 = rank(out, rounds=400, seed=1), rank(same, rounds=400, seed=1)
    assert [(x.model, round(x.rating, 6)) for x in r1.models] == [(x.model, round(x.rating, 6)) for x in r2.models]
    for x, y in zip(r1.models, r2.models):  # same resampling distribution, different draws
        assert (x.ci_high - x.ci_low) == pytest.approx(y.ci_high - y.ci_low, rel=0.25)
    assert r1.by_model()["a"].wins == 60 and r1.by_model()["c"].wins == 12


def test_disconnected_graph_is_centred_per_part():
    rows = [(i, "a", "b", "model_a" if i % 3 else "model_b", 0) for i in range(30)]
    rows += [(100 + i, "c", "d", "model_b" if i % 4 else "model_a", 0) for i in range(40)]
    r = rank(Outcomes.from_ballots(rows), rounds=50)
    assert not r.connected and sorted(map(sorted, r.components)) == [["a", "b"], ["c", "d"]]
    got = r.by_model()
    assert got["a"].rating + got["b"].rating == pytest.approx(2000)
    assert got["c"].rating + got["d"].rating == pytest.approx(2000)


def test_empty_and_bad_input():
    r = rank(Outcomes.empty())
    assert r.models == [] and r.position_bias is None and r.votes == 0
    with pytest.raises(ValueError, match="unknown vote winner"):
        Outcomes.from_ballots([(1, "a", "b", "draw", 0)])
    with pytest.raises(ValueError, match="anchor"):
        rank(Outcomes.from_ballots([(1, "a", "b", "tie", 0)]), anchor="zzz")
    with pytest.raises(ValueError, match="same length"):
        Outcomes.from_arrays(["a", "b"], [0], [0, 1], [1], [0])
    assert side_of(0, 1) == 1 and side_of(2, 1) == -1 and side_of(None, 1) == 0


def test_seeded_bootstrap_is_reproducible_and_workers_do_not_change_it():
    a, b, o, _ = simulate(THETA, 5000, seed=9)
    out = outcomes(a, b, o)
    r1 = rank(out, rounds=300, seed=42, chunk=50)
    r2 = rank(out, rounds=300, seed=42, chunk=50, workers=2)
    assert [(x.ci_low, x.ci_high) for x in r1.models] == [(x.ci_low, x.ci_high) for x in r2.models]


def test_a_single_vote_does_not_get_a_zero_width_interval():
    """One ballot always resamples to itself; the interval falls back to the fit's curvature
    (prior included), so one vote cannot rank one model above another."""
    r = rank(Outcomes.from_ballots([(1, "a", "b", "model_a", 1)]), rounds=200)
    a, b = r.by_model()["a"], r.by_model()["b"]
    assert a.rating > b.rating and a.rank == b.rank == 1
    assert a.ci_high - a.ci_low > 300 and a.ci_low < b.rating
    assert r.position_bias.ci_low < 0 < r.position_bias.ci_high


def test_pattern_sampler_mixes_tables_and_numpy_poisson():
    counts = np.array([3, 70_000, 1, 900, 25_000])     # two regimes: guide tables and numpy's sampler
    sampler = _PatternSampler(counts)
    assert len(sampler.small) == 2 and len(sampler.large) == 3
    x = sampler.multinomial(np.random.default_rng(1), 5000)
    n, p = counts.sum(), counts / counts.sum()
    assert np.all(x.sum(0) == n)
    assert np.allclose(x.mean(1), counts, rtol=0.01, atol=0.1)
    assert np.allclose(x.var(1), n * p * (1 - p), rtol=0.1)
    only_large = _PatternSampler(np.array([1000, 2000])).multinomial(np.random.default_rng(2), 100)
    assert np.all(only_large.sum(0) == 3000)


def test_bias_corrected_interval():
    from app.ranking import bias_corrected_interval

    rng = np.random.default_rng(0)
    draws = rng.normal(0, 1, (4001, 2))
    draws[:, 1] = 7.0                                   # e.g. an anchored model: all rounds equal
    point = np.array([np.median(draws[:, 0]), 7.0])
    lo, hi = bias_corrected_interval(draws, point, 0.95)
    # Rounds centred on the estimate (z0 = 0): the plain percentile interval.
    assert lo[0] == pytest.approx(np.quantile(draws[:, 0], 0.025)) and hi[0] == pytest.approx(np.quantile(draws[:, 0], 0.975))
    assert lo[1] == hi[1] == 7.0
    # Rounds sitting above the estimate (as when it is pulled outwards): the interval moves down
    # by about twice the offset, in units of the spread: z0 = Φ⁻¹(P(round < estimate)).
    shifted = draws[:, :1] + 0.2
    lo2, hi2 = bias_corrected_interval(shifted, point[:1], 0.95)
    z0 = NormalDist().inv_cdf(np.mean(shifted[:, 0] < point[0]))
    assert lo2[0] == pytest.approx(np.quantile(shifted[:, 0], NormalDist().cdf(2 * z0 - 1.96)), abs=1e-3)
    assert lo2[0] < np.quantile(shifted[:, 0], 0.025) - 0.25 and hi2[0] < np.quantile(shifted[:, 0], 0.975) - 0.25
