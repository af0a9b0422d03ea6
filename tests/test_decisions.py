"""Decisions (app/decisions.py) against fits worked out by hand on small boards."""

from __future__ import annotations

import math
from dataclasses import asdict
from statistics import NormalDist

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.stats import binom

from app.decisions import (ANYTIME_SCALE, anytime_confidence, better_probabilities, decide, percent,
                           say_pair, say_top)
from app.ranking import ELO, Outcomes, rank


def board(*records):
    """Single-pair ballots from (winner, loser, count) records; screen positions unknown."""
    rows, n = [], 0
    for winner, loser, count in records:
        for _ in range(count):
            rows.append((n, winner, loser, "model_a", 0))
            n += 1
    return Outcomes.from_ballots(rows)


def hand_fit(wins, losses, prior_games=1.0):
    """Two models, no ties, no positions: by symmetry θA = −θB = d/2, and the penalised score
    equation is wins − n·σ(d) − λ·d/2 = 0 with λ = prior_games/4. The curvature of d is
    2·n·σ(1−σ) + λ (the information along (1, −1), whose squared norm is 2)."""
    n, lam = wins + losses, prior_games / 4

    def sig(x):
        return 1 / (1 + math.exp(-x))

    d = brentq(lambda x: wins - n * sig(x) - lam * x / 2, -20, 20)
    var = 2 / (2 * n * sig(d) * (1 - sig(d)) + lam)
    return d, var


def test_two_models_match_the_hand_fit():
    wins, losses = 12, 6
    r = rank(board(("A", "B", wins), ("B", "A", losses)), rounds=20000, seed=3)
    d, var = hand_fit(wins, losses)
    by = r.by_model()
    assert by["A"].rating - by["B"].rating == pytest.approx(ELO * d, abs=1e-6)
    assert r.covariance.shape == (2, 2)
    cov_d = r.covariance[0, 0] + r.covariance[1, 1] - 2 * r.covariance[0, 1]
    assert cov_d == pytest.approx(ELO**2 * var, rel=1e-6)
    # A resampled board has A ahead exactly when A won more than half of the 18 resampled votes.
    boot = binom.sf(9, 18, wins / 18) + 0.5 * binom.pmf(9, 18, wins / 18)
    normal = NormalDist().cdf(d / math.sqrt(var))
    expected = min(boot, normal)  # the one closer to ½
    gap = r.draws[:, r.matrix_models.index("A")] - r.draws[:, r.matrix_models.index("B")]
    assert np.mean(gap > 1e-3) + 0.5 * np.mean(abs(gap) <= 1e-3) == pytest.approx(boot, abs=0.006)
    p = better_probabilities(r)
    ia, ib = r.matrix_models.index("A"), r.matrix_models.index("B")
    assert p[ia, ib] == pytest.approx(expected, abs=0.006)   # MC error of 20,000 rounds ≈ 0.002
    assert p[ia, ib] + p[ib, ia] == pytest.approx(1.0)
    (pair,) = decide(r).pairs
    assert (pair.better, pair.worse, pair.settled) == ("A", "B", False)
    assert say_pair(pair) == f"A leads B: not settled, {int(100 * pair.probability)} %"


def test_one_vote_is_never_settled():
    r = rank(board(("A", "B", 1)), rounds=200)
    (pair,) = decide(r).pairs
    assert 0.5 < pair.probability < 0.8 and not pair.settled   # the bootstrap alone would say 100 %
    d, var = hand_fit(1, 0)
    assert pair.probability == pytest.approx(NormalDist().cdf(d / math.sqrt(var)), abs=1e-9)


def test_settled_pairs_and_settled_top_model_in_words():
    r = rank(board(("A", "B", 40), ("B", "A", 8), ("B", "C", 40), ("C", "B", 8), ("A", "C", 30)), rounds=2000)
    dec = decide(r)
    assert [(x.better, x.worse) for x in dec.pairs] == [("A", "B"), ("A", "C"), ("B", "C")]
    assert all(x.settled and x.probability >= 0.95 for x in dec.pairs)
    assert dec.top.model == "A" and dec.top.settled and dec.top.closest == "B"
    assert dec.top.best_share >= 0.95
    names = {"A": "Kling v3", "B": "Veo 3.1"}
    assert say_pair(dec.pairs[0], names, "motion") == "Kling v3 beats Veo 3.1 on motion: settled, > 99 %"
    assert say_top(dec.top, names).startswith("the top model is settled — further votes will not change it: Kling v3")
    assert asdict(dec)["top"]["model"] == "A"   # plain dataclasses, ready for JSON


def test_close_top_model_is_not_settled():
    r = rank(board(("A", "B", 11), ("B", "A", 9), ("A", "C", 30), ("B", "C", 30)), rounds=2000)
    dec = decide(r)
    assert dec.top.model == "A" and not dec.top.settled and dec.top.closest == "B"
    assert 0.5 < dec.top.probability < 0.95
    assert say_top(dec.top).startswith("the top model is not settled: A leads, ")
    # A over C and B over C are settled; the order of A and B is not.
    settled = {(x.better, x.worse): x.settled for x in dec.pairs}
    assert settled == {("A", "B"): False, ("A", "C"): True, ("B", "C"): True}


def test_probabilities_follow_the_bootstrap_with_ties_and_positions():
    rng = np.random.default_rng(0)
    n = 3000
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    outcome = rng.choice(3, n, p=[0.45, 0.35, 0.2])
    r = rank(Outcomes.from_arrays(list("ABCD"), np.arange(n), a, b, outcome), rounds=1000)
    p = better_probabilities(r)
    share = (r.draws[:, :, None] > r.draws[:, None, :]).mean(0)
    off = ~np.eye(4, dtype=bool)
    # Many votes: bootstrap and normal approximation agree, and P is the bootstrap share.
    assert np.allclose(p[off], share[off], atol=0.03)
    assert np.allclose((p + p.T)[off], 1.0)


def test_disconnected_models_are_not_compared():
    r = rank(board(("A", "B", 10), ("C", "D", 10)), rounds=100)
    dec = decide(r)
    cross = [x for x in dec.pairs if {x.better, x.worse} in ({"A", "C"}, {"A", "D"}, {"B", "C"}, {"B", "D"})]
    assert len(cross) == 4 and all(x.probability is None and not x.settled for x in cross)
    assert dec.top is None
    assert say_pair(cross[0]).endswith("never compared, even indirectly")


def test_percent_never_overstates_and_bad_threshold_is_refused():
    assert percent(0.9496) == "94 %" and percent(0.97) == "97 %" and percent(0.995) == "> 99 %"
    with pytest.raises(ValueError):
        decide(rank(board(("A", "B", 3)), rounds=10), threshold=0.4)


def test_provisional_models_are_never_settled():
    r = rank(board(("A", "B", 15)), rounds=1000)       # 15–0, but 15 votes < min_votes = 20
    dec = decide(r)
    assert dec.pairs[0].probability > 0.95 and not dec.pairs[0].settled
    assert dec.top.probability > 0.95 and not dec.top.settled
    r = rank(board(("A", "B", 15)), rounds=1000, min_votes=10)
    assert decide(r).pairs[0].settled and decide(r).top.settled


def test_top_model_needs_the_joint_share_as_well():
    # A is ahead of two equal challengers: P(A > B) and P(A > C) are each ≥ 95 %, but A is above
    # both at once in fewer than 95 % of the rounds.
    r = rank(board(("A", "B", 30), ("B", "A", 20), ("A", "C", 30), ("C", "A", 20), ("B", "C", 25), ("C", "B", 25)),
             rounds=4000)
    top = decide(r).top
    assert top.model == "A" and top.probability >= 0.95 and top.best_share < 0.95
    assert not top.settled
    # Each pair reads ≥ 95 % from the fit, but 50 votes at 60 % do not pass the anytime test.
    mine = [x for x in decide(r).pairs if x.better == "A"]
    assert all(x.probability >= 0.95 and x.anytime < 0.95 and not x.settled for x in mine)
    assert say_pair(mine[0]) == f"A leads {mine[0].worse}: not settled, {percent(mine[0].probability)}"


def test_anytime_confidence_is_the_half_normal_mixture():
    """The closed form against the mixture integral itself: Λ = ∫₀^∞ 2·N(t; 0, τ²)·
    exp(t·Δ̂/V − t²/(2V)) dt, the likelihood ratio of "better by t" against "equal", averaged
    over t > 0 (docs/leaderboard.md §Decisions)."""
    tau = ANYTIME_SCALE
    for diff, sd in ((60.0, 20.0), (30.0, 10.0), (150.0, 60.0), (5.0, 2.0), (-10.0, 20.0)):
        v = sd * sd

        def f(t):
            return 2 * math.exp(-t * t / (2 * tau * tau)) / (tau * math.sqrt(2 * math.pi)) * math.exp(
                t * diff / v - t * t / (2 * v))

        lam = quad(f, 0, 50 * tau, points=[max(diff, 0.0)], limit=200)[0]
        want = max(0.0, 1 - 1 / lam)
        assert anytime_confidence(np.array([diff]), np.array([v]))[0] == pytest.approx(want, abs=1e-6)
    assert anytime_confidence(np.array([10.0]), np.array([0.0]))[0] == 0.0   # no variance: no claim


def test_anytime_rule_holds_however_often_it_is_looked_at():
    """Two equal models, the estimate looked at after every one of 400 steps: the anytime test
    at 95 % ever calls a winner on ≤ 5 % of 2,000 paths, where the fixed one-sided 95 % rule
    (z ≥ 1.645, what P ≥ 95 % means for a normal estimate) does on far more — the optional
    stopping the test exists for. With a real gap of τ, the test does settle."""
    rng = np.random.default_rng(11)
    paths, looks, step_sd = 2000, 400, 3 * ANYTIME_SCALE
    n = np.arange(1, looks + 1)
    var = step_sd**2 / n
    for gap, low, high in ((0.0, 0.0, 0.05), (ANYTIME_SCALE, 0.9, 1.0)):
        est = np.cumsum(rng.normal(gap, step_sd, (paths, looks)), axis=1) / n
        sure = anytime_confidence(est.ravel(), np.tile(var, paths)).reshape(paths, looks)
        called = (sure >= 0.95).any(axis=1).mean()
        assert low <= called <= high, (gap, called)
        if gap == 0.0:
            naive = (est / np.sqrt(var) >= NormalDist().inv_cdf(0.95)).any(axis=1).mean()
            assert naive > 0.25 and naive > 5 * called


def test_the_null_variance_of_a_pair_is_the_hand_curvature_at_equal_ratings():
    """Two models, no ties, no positions: at d = 0 the curvature of d is 2·n·¼ + λ, so var(d) =
    2 / (n/2 + λ) whatever the record; a 30–0 record is then settled, as it should be, though
    the curvature at the fit (nearly flat there) alone would not settle it."""
    for wins, losses in ((12, 6), (30, 0)):
        r = rank(board(("A", "B", wins), ("B", "A", losses)), rounds=200)
        ia, ib = r.matrix_models.index("A"), r.matrix_models.index("B")
        n = wins + losses
        assert r.null_pair_var[ia, ib] == pytest.approx(ELO**2 * 2 / (n / 2 + 0.25), rel=1e-6)
        assert r.null_pair_var[ib, ia] == r.null_pair_var[ia, ib]
    (pair,) = decide(r).pairs
    assert pair.settled and pair.anytime >= 0.95
    at_fit = r.covariance[ia, ia] + r.covariance[ib, ib] - 2 * r.covariance[ia, ib]
    gap = r.by_model()["A"].rating - r.by_model()["B"].rating
    assert anytime_confidence(np.array([gap]), np.array([at_fit]))[0] < 0.95
