"""Active sampling (app/sampling.py) on crafted boards where the right pick is known."""

from __future__ import annotations

import numpy as np
import pytest

from app.ranking import Outcomes, rank
from app.sampling import Candidates, pair_scores, pick


def fit(*records, rounds=400):
    """A fit from (winner, loser, count) single-pair ballots."""
    rows, n = [], 0
    for winner, loser, count in records:
        for _ in range(count):
            rows.append((n, winner, loser, "model_a", 0))
            n += 1
    return rank(Outcomes.from_ballots(rows), rounds=rounds)


# A and B are close at the top; C is far below both and well measured.
CLOSE_TOP = (("A", "B", 22), ("B", "A", 20), ("A", "C", 60), ("C", "A", 4), ("B", "C", 60), ("C", "B", 4))


def cands(*comparisons, tags=None):
    """Comparisons named c0, c1, … holding one take per listed model (take id = comparison:model)."""
    tags = tags or {}
    return Candidates.from_rows(
        (f"c{i}", [(f"c{i}:{m}", m) for m in models], tags.get(i, ())) for i, models in enumerate(comparisons))


def test_picks_the_close_pair_at_the_top():
    r = fit(*CLOSE_TOP)
    got = pick(cands(("A", "C"), ("B", "C"), ("A", "B")), r, epsilon=0.0, rng=np.random.default_rng(0))
    assert (got.comparison, set(got.models), got.sampled_by, got.probability) == ("c2", {"A", "B"}, "active", 1.0)
    assert set(got.takes) == {"c2:A", "c2:B"}


def test_picks_the_pair_to_show_within_a_comparison_of_four_takes():
    r = fit(*CLOSE_TOP, ("D", "C", 10), ("C", "D", 10))
    got = pick(cands(("C", "A", "D", "B")), r, epsilon=0.0, rng=np.random.default_rng(0))
    assert set(got.models) == {"A", "B"} and set(got.takes) == {"c0:A", "c0:B"}


def test_an_unrated_model_is_shown_first():
    r = fit(*CLOSE_TOP)
    got = pick(cands(("A", "B"), ("C", "E")), r, epsilon=0.0, rng=np.random.default_rng(0))
    assert got.comparison == "c1"


def test_tags_steer_the_pick_to_their_own_unsettled_top():
    overall = fit(("A", "B", 60), ("B", "A", 4), ("A", "C", 60), ("C", "A", 4), ("B", "C", 60), ("C", "B", 4))
    walk = fit(("B", "C", 21), ("C", "B", 20), ("B", "A", 40), ("A", "B", 3), ("C", "A", 40), ("A", "C", 3))
    board = cands(("B", "C"), ("B", "C"), ("A", "B"), tags={1: ("walk",)})
    rng = np.random.default_rng(0)
    assert pick(board, overall, {"walk": walk}, epsilon=0.0, rng=rng).comparison == "c1"
    # Without the tag's fit, the two B–C comparisons are alike and A–B (the overall top) wins.
    assert pick(board, overall, epsilon=0.0, rng=rng).comparison == "c2"


def test_scores_are_symmetric_and_favour_the_leaders():
    r = fit(*CLOSE_TOP)
    s = pair_scores(r, ["A", "B", "C"])
    assert np.allclose(s, s.T) and np.all(np.diag(s) == 0)
    assert s[0, 1] > s[0, 2] and s[0, 1] > s[1, 2]


def test_reported_probability_matches_how_often_a_pick_is_made():
    r = fit(*CLOSE_TOP)
    board = cands(("A", "C"), ("B", "C"), ("A", "B", "C"))
    rng = np.random.default_rng(1)
    seen: dict[tuple, list] = {}
    n = 6000
    for _ in range(n):
        p = pick(board, r, epsilon=0.25, rng=rng)
        seen.setdefault((p.comparison, frozenset(p.takes)), []).append((p.probability, p.sampled_by))
    # Uniform: 1/3 per comparison, then 1/3 per pair of the three-take one; the active pick is c2's A–B.
    expect = {("c0", frozenset({"c0:A", "c0:C"})): 0.25 / 3, ("c1", frozenset({"c1:B", "c1:C"})): 0.25 / 3,
              ("c2", frozenset({"c2:A", "c2:B"})): 0.25 / 9 + 0.75,
              ("c2", frozenset({"c2:A", "c2:C"})): 0.25 / 9, ("c2", frozenset({"c2:B", "c2:C"})): 0.25 / 9}
    assert set(seen) == set(expect)
    for key, got in seen.items():
        assert {round(p, 12) for p, _ in got} == {round(expect[key], 12)}
        assert len(got) / n == pytest.approx(expect[key], abs=4 * np.sqrt(expect[key] / n))
    share_uniform = sum(how == "uniform" for v in seen.values() for _, how in v) / n
    assert share_uniform == pytest.approx(0.25, abs=0.025)


def test_no_fit_no_candidates_and_bad_epsilon():
    board = cands(("A", "B"), ("C",))
    got = pick(board, None, epsilon=0.0, rng=np.random.default_rng(0))
    assert got.comparison == "c0"   # the only comparison with two takes
    assert pick(cands(("A",)), None) is None
    with pytest.raises(ValueError):
        pick(board, None, epsilon=1.5)


def test_a_vote_asked_for_updates_the_covariance_exactly():
    from app.sampling import Belief

    r = fit(*CLOSE_TOP)
    b = Belief.from_fit(r, ["A", "B", "C", "E"])      # E: no votes, prior variance
    before = b.cov.copy()
    q = b.info(0, 1)
    b.add_vote(0, 1)
    x = np.array([1.0, -1.0, 0.0, 0.0])
    sx = before @ x
    assert np.allclose(b.cov, before - q * np.outer(sx, sx) / (1 + q * x @ before @ x))
    # The same as adding q·x·xᵀ to the information, where the information exists (E's block).
    full = np.diag([1.0, 2.0, 3.0, 4.0])
    b2 = Belief(np.zeros(4), full.copy(), np.ones(4), 0.0)
    b2.add_vote(0, 1)
    assert np.allclose(b2.cov, np.linalg.inv(np.linalg.inv(full) + b2.info(0, 1) * np.outer(x, x)))
    assert b.cov[0, 0] + b.cov[1, 1] - 2 * b.cov[0, 1] < before[0, 0] + before[1, 1] - 2 * before[0, 1]
    assert np.allclose(b.cov[3], before[3])            # E is untouched by a vote between A and B


def test_recorded_picks_spread_over_pairs_between_refits():
    from app.sampling import beliefs

    # Three models close together at the top: every pair's order is open.
    r = fit(("A", "B", 21), ("B", "A", 20), ("A", "D", 21), ("D", "A", 20), ("B", "D", 21), ("D", "B", 20))
    board = cands(("A", "B"), ("A", "D"), ("B", "D"))
    rng = np.random.default_rng(0)
    same = {pick(board, r, epsilon=0.0, rng=rng).comparison for _ in range(30)}
    assert len(same) == 1                               # one fit, no record: always the same pick
    state = beliefs(board, r)
    seen = []
    for _ in range(30):
        p = pick(board, None, epsilon=0.0, rng=rng, state=state)
        state.record(board, p)
        seen.append(p.comparison)
    # Spread over the leader's two open pairs; B against D (the challengers' own order) does not
    # decide the top model, so the active rule leaves it to the uniform share.
    assert set(seen) == {"c0", "c1"}
