"""Reviewer figures (app/reviewers.py) on crafted votes, Krippendorff's α against a worked
example and the `krippendorff` package."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from app.reviewers import VoteRow, binom_tail, krippendorff_alpha, summarise

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 observers × 12 units
# example with missing values; its nominal α is 0.743.
NAN = None
EXAMPLE = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def _units(matrix):
    return [[row[u] for row in matrix if row[u] is not None] for u in range(len(matrix[0]))]


def test_alpha_matches_the_worked_example_and_the_package():
    assert krippendorff_alpha(_units(EXAMPLE)) == pytest.approx(0.743, abs=5e-4)
    data = np.array([[np.nan if v is None else v for v in row] for row in EXAMPLE], dtype=float)
    assert krippendorff_alpha(_units(EXAMPLE)) == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"), abs=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(20):   # random matrices with gaps: the same figure as the package
        m = rng.integers(0, 3, size=(5, 30)).astype(float)
        m[rng.random(m.shape) < 0.3] = np.nan
        units = [[v for v in m[:, u] if not np.isnan(v)] for u in range(m.shape[1])]
        assert krippendorff_alpha(units) == pytest.approx(
            krippendorff.alpha(reliability_data=m, level_of_measurement="nominal"), abs=1e-9)
    assert krippendorff_alpha([[1, 1], [1, 1]]) is None, "one value only: no expected disagreement"
    assert krippendorff_alpha([[1]]) is None
    assert krippendorff_alpha([[1, 1], [2, 2]]) == 1.0


def test_binomial_tail():
    assert binom_tail(0, 5) == 1.0 and binom_tail(6, 5) == 0.0
    assert binom_tail(5, 5) == pytest.approx(1 / 32) and binom_tail(3, 5) == pytest.approx(0.5)


def _crafted():
    """Three careful reviewers who agree on the better take (t1 in c0, c1, c4, c5 …, t2 in c2,
    c3, c6 …; shown left and right in turn; cy slips once, on c0) and 'lefty', who always
    clicks the take on the left."""
    rows = []
    for c in range(12):
        ta, tb = f"c{c}t1", f"c{c}t2"
        good = ta if c % 4 < 2 else tb
        for i, voter in enumerate(("ann", "bob", "cy")):
            left_is_a = (c + i) % 2 == 0
            a, b = (ta, tb) if left_is_a else (tb, ta)
            pick = good if not (voter == "cy" and c == 0) else ({ta, tb} - {good}).pop()
            winner = "model_a" if pick == a else "model_b"
            rows.append(VoteRow(voter, f"c{c}", "overall", a, b, winner, 0, 1))
        # 'lefty' always picks whatever is on the left
        a, b = (ta, tb) if c % 2 else (tb, ta)
        rows.append(VoteRow("lefty", f"c{c}", "overall", a, b, "model_a", 0, 1))
    return rows


def test_crafted_reviewers():
    rows = _crafted()
    checks = {("c0", "overall"): "c0t1", ("c1", "overall"): "c1t1", ("c2", "overall"): "c2t2",
              ("c3", "overall"): "c3t2"}
    rep = summarise(rows, total=15, names={"ann": "Ann"}, checks=checks)
    by = {r.voter: r for r in rep.reviewers}
    assert (by["ann"].voted, by["ann"].total, by["ann"].name) == (12, 15, "Ann")
    # Ann agrees with the others' majority except on c0, where cy slipped and lefty's left take was t2
    assert by["ann"].agreement["overall"] == (11, 12)
    assert by["ann"].flags == [] and by["ann"].left_share == 0.5 and by["ann"].side_p == 1.0
    assert by["ann"].checks == (4, 4) and by["ann"].check_accuracy == 1.0
    assert by["cy"].agreement["overall"] == (11, 12) and by["cy"].checks == (3, 4)
    lefty = by["lefty"]
    assert lefty.left_share == 1.0 and lefty.sided == 12 and lefty.side_p == pytest.approx(2 / 4096)
    assert lefty.agreement["overall"] == (6, 12) and lefty.checks == (2, 4)
    assert any("no better than a coin" in f for f in lefty.flags)
    assert any("on the left in 12 of 12" in f for f in lefty.flags)
    assert any("2 of 4 check items right" in f for f in lefty.flags)
    # α: three reviewers nearly always agree; with the coin-like one it drops, and it is the package's figure
    careful = summarise([r for r in rows if r.voter != "lefty"], total=12)
    assert careful.alpha["overall"] > 0.85 and 0.0 < rep.alpha["overall"] < careful.alpha["overall"]
    assert rep.alpha_units["overall"] == 12
    code = {"first": 1.0, "second": 2.0, "tie": 3.0}
    voters = ["ann", "bob", "cy", "lefty"]
    data = np.full((4, 12), np.nan)
    for r in rows:
        data[voters.index(r.voter), int(r.comparison[1:])] = code[r.answer]
    assert rep.alpha["overall"] == pytest.approx(krippendorff.alpha(reliability_data=data,
                                                                    level_of_measurement="nominal"), abs=1e-12)
    assert rep.check_items == 4


def test_ties_and_unknown_positions():
    rows = [VoteRow("a", "c", "motion", "x", "y", "tie"), VoteRow("b", "c", "motion", "y", "x", "tie (bothbad)"),
            VoteRow("c", "c", "motion", "x", "y", "model_b", None, None)]
    rep = summarise(rows, total=1, checks={("c", "motion"): "y"})
    by = {r.voter: r for r in rep.reviewers}
    # a and b both said tie (orientation does not matter for a tie); c alone said y
    assert by["c"].agreement["motion"] == (0, 1) and by["a"].agreement.get("motion") is None
    assert by["c"].sided == 0 and by["c"].side_p is None, "no positions: no side"
    assert by["a"].checks == (0, 1) and by["c"].checks == (1, 1), "a tie on a check item is wrong"
