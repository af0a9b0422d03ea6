"""Leaderboard and comparison-table functions on SQLite and PostgreSQL, from rows written
directly (known counts → known answers), and their CSVs."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app import leaderboard as lb
from app import vote_counts
from app.models import Board, Comparison, Take, Vote, Voter

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)


def _world():
    """Two boards. Board alpha: models x, y, z over 3 comparisons; board beta: x and w.

    Takes (alpha): x is ready in every comparison, accepted at attempt 1 in c1 and attempt 2 in
    c2 (attempt 1 failed there), never accepted in c3; y fails once in c1 and is accepted at its
    2nd attempt; z has a cancelled take (left out of the failure rate)."""
    objs = [Voter(id="v1"), Voter(id="v2"),
            Board(id="ba", slug="alpha", name="Alpha", criteria=["overall", "motion"]),
            Board(id="bb", slug="beta", name="Beta", criteria=["overall"])]
    objs += [Comparison(id=c, board_id="ba", prompt=c, params={}) for c in ("c1", "c2", "c3")]
    objs += [Comparison(id="c4", board_id="bb", prompt="c4", params={})]

    def take(tid, cid, model, attempt, status, *, accepted=False, gen=None, dur=None, cost=None, estimate=None):
        return Take(id=tid, comparison_id=cid, model_id=model, provider="demo", attempt=attempt, status=status,
                    accepted=accepted, submitted_at=T0 if gen is not None else None,
                    finished_at=T0 + timedelta(seconds=gen) if gen is not None else None, duration_s=dur,
                    cost_usd=cost, cost_estimate_usd=estimate)

    takes = [
        take("x1", "c1", "x", 1, "ready", accepted=True, gen=10, dur=5, cost=0.5),
        take("x2f", "c2", "x", 1, "failed", cost=0.0),
        take("x2", "c2", "x", 2, "ready", accepted=True, gen=20, dur=5, cost=0.5),
        take("x3", "c3", "x", 1, "ready", gen=40, dur=5, cost=0.5),
        take("y1f", "c1", "y", 1, "failed"),
        take("y1", "c1", "y", 2, "ready", accepted=True, gen=30, dur=8, estimate=0.8),
        take("y2", "c2", "y", 1, "ready", gen=50, dur=8, estimate=0.8),
        take("z1", "c1", "z", 1, "ready", gen=5, dur=4),
        take("z2", "c2", "z", 1, "cancelled"),
        take("x4", "c4", "x", 1, "ready", gen=12, dur=5, cost=0.5),
        take("w4", "c4", "w", 1, "ready", gen=12, dur=5, cost=0.1),
    ]
    objs2 = takes
    votes = []
    n = 0

    def vote(ballot, board, cid, a, b, winner, *, criterion="overall", pos=(0, 1), blind=True, kind="pair",
             superseded=False, voter="v1"):
        nonlocal n
        n += 1
        ta = next(t for t in takes if t.id == a)
        tb = next(t for t in takes if t.id == b)
        votes.append(Vote(id=f"vote{n:03d}", ballot_id=ballot, board_id=board, comparison_id=cid, voter_id=voter,
                          criterion=criterion, kind=kind, take_a_id=a, take_b_id=b, model_a=ta.model_id,
                          model_b=tb.model_id, winner=winner, pair_key=f"k{n}", position_a=pos[0],
                          position_b=pos[1], blind=blind, created_at=T0,
                          superseded_at=T0 if superseded else None))

    # alpha, overall: x beats y 3×, y beats x 1×, x–y tie 1×; x beats z (in a ranking x > y > z);
    vote("p1", "ba", "c1", "x1", "y1", "model_a")
    vote("p2", "ba", "c2", "x2", "y2", "model_a", pos=(1, 0))
    vote("p3", "ba", "c2", "y2", "x2", "model_a", voter="v2")
    vote("p4", "ba", "c1", "x1", "y1", "tie", voter="v2", blind=False)
    vote("p5", "ba", "c1", "x1", "y1", "model_b", superseded=True)       # replaced: does not count
    vote("r1", "ba", "c1", "x1", "y1", "model_a", kind="ranking", voter="v2")
    vote("r1", "ba", "c1", "x1", "z1", "model_a", kind="ranking", voter="v2", pos=(0, 2))
    vote("r1", "ba", "c1", "y1", "z1", "model_a", kind="ranking", voter="v2", pos=(1, 2))
    # alpha, motion: y beats x once
    vote("m1", "ba", "c2", "x2", "y2", "model_b", criterion="motion")
    # beta: w beats x twice
    vote("q1", "bb", "c4", "x4", "w4", "model_b")
    vote("q2", "bb", "c4", "w4", "x4", "model_a", voter="v2")
    return objs, objs2, votes


@pytest.fixture
async def maker(db_url):
    engine = create_async_engine(db_url)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as s:
        for group in _world():
            s.add_all(group)
            await s.flush()
        # Rows written directly skip the counts a vote keeps (app.vote_counts): recount them.
        await vote_counts.rebuild(s)
        await s.commit()
    yield maker
    await engine.dispose()


async def test_outcomes_from_the_database(maker):
    async with maker() as s:
        out = await lb.load_outcomes(s, ["ba"], "overall")
        assert out.models == ("x", "y", "z")
        assert out.n_votes == 7 and out.n_ballots == 5           # the ranking is one ballot of three pairs
        assert sorted(out.pattern_count.tolist()) == [1, 1, 1, 1, 1]
        blind = await lb.load_outcomes(s, ["ba"], "overall", blind_only=True)
        assert blind.n_votes == 6
        assert (await lb.load_outcomes(s, ["ba"], "motion")).n_votes == 1
        assert (await lb.load_outcomes(s, [], "overall")).n_votes == 0
        assert await lb.criteria_with_votes(s, ["ba"]) == ["overall", "motion"]
        assert await lb.criteria_with_votes(s, ["bb"]) == ["overall"]


async def test_leaderboard_tallies_and_scope(maker):
    async with maker() as s:
        r = await lb.leaderboard(s, ["ba"], rounds=200)
        by = r.by_model()
        # x: beat y in p1, p2 and r1, lost p3, tied p4, beat z in r1
        assert (by["x"].wins, by["x"].losses, by["x"].ties, by["x"].votes) == (4, 1, 1, 6)
        assert by["x"].win_rate == pytest.approx(4.5 / 6)
        assert (by["z"].wins, by["z"].losses) == (0, 2)
        assert [m.model for m in r.models][0] == "x" and all(m.provisional for m in r.models)
        assert r.position_bias is not None and r.position_bias.votes == 7
        both = await lb.leaderboard(s, ["ba", "bb"], rounds=100)
        assert set(both.by_model()) == {"w", "x", "y", "z"}
        assert both.by_model()["x"].votes == 8
        body = lb.ranking_json(r, {"x": "Model X"})
        assert body["models"][0]["name"] == "Model X" and body["votes"] == 7 and body["ballots"] == 5
        assert body["win_rate"]["x"]["y"] == pytest.approx(3.5 / 5)
        with pytest.raises(Exception, match="unknown criterion"):
            await lb.leaderboard(s, ["ba"], "charm")


async def test_comparison_table_definitions(maker):
    async with maker() as s:
        rows = {st.model: st for st in await lb.comparison_table(s, ["ba"])}
    x, y, z = rows["x"], rows["y"], rows["z"]
    assert set(rows) == {"x", "y", "z"}
    # win rate per criterion: (wins + ties/2) / votes
    assert x.win_rate["overall"] == pytest.approx(4.5 / 6) and x.votes["overall"] == 6
    assert x.win_rate["motion"] == 0.0 and y.win_rate["motion"] == 1.0
    assert z.win_rate["overall"] == 0.0 and "motion" not in z.win_rate
    # failure rate: failed / (ready + failed)
    assert x.failure_rate == pytest.approx(1 / 4) and y.failure_rate == pytest.approx(1 / 3)
    assert z.failure_rate == 0.0 and z.takes == 2       # the cancelled take is a take, not a failure
    # median generation time over ready takes
    assert x.median_generation_s == 20 and y.median_generation_s == 40 and z.median_generation_s == 5
    # attempts to first accepted take: x 1 (c1) and 2 (c2, after a failure) → 1.5; y 2 (c1)
    assert x.attempts_to_accept == 1.5 and (x.accepted_comparisons, x.comparisons) == (2, 3)
    assert y.attempts_to_accept == 2 and (y.accepted_comparisons, y.comparisons) == (1, 2)
    assert z.attempts_to_accept is None and z.cost_per_accepted_s is None
    # cost per accepted second: all the model's spending / seconds of accepted video
    assert x.cost_per_accepted_s == pytest.approx(1.5 / 10)
    assert y.cost_per_accepted_s == pytest.approx(1.6 / 8)   # estimates where no actual cost is known
    assert [st.model for st in await _table(maker, ["ba"])] == ["x", "y", "z"]  # best overall win rate first


async def _table(maker, ids):
    async with maker() as s:
        return await lb.comparison_table(s, ids)


def _rows(data: bytes) -> list[dict]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


async def test_csvs(maker):
    async with maker() as s:
        boards = [await s.get(Board, "ba"), await s.get(Board, "bb")]
        per_board = b"".join([c async for c in lb.leaderboard_csv(s, boards, names={"x": "Model X"})])
        together = b"".join([c async for c in lb.leaderboard_csv(s, boards, together=True, criterion="overall")])
        table = b"".join([c async for c in lb.comparison_table_csv(s, boards)])
    rows = _rows(per_board)
    assert list(rows[0]) == lb.LEADERBOARD_COLUMNS
    assert {(r["board"], r["criterion"]) for r in rows} == {("alpha", "overall"), ("alpha", "motion"),
                                                           ("beta", "overall")}
    x = next(r for r in rows if r["board"] == "alpha" and r["criterion"] == "overall" and r["model"] == "x")
    assert x["model_name"] == "Model X" and x["votes"] == "6" and x["wins"] == "4" and x["provisional"] == "true"
    assert float(x["ci_low"]) <= float(x["rating"]) <= float(x["ci_high"]) and x["position_bias"] != ""
    all_rows = _rows(together)
    assert {r["board"] for r in all_rows} == {lb.ALL_BOARDS} and len(all_rows) == 4
    t = _rows(table)
    assert list(t[0]) == lb.TABLE_COLUMNS
    tx = next(r for r in t if r["board"] == "alpha" and r["model"] == "x")
    assert tx["win_rate_overall"] == "0.75" and tx["votes_motion"] == "1" and tx["failure_rate"] == "0.25"
    assert tx["attempts_to_first_accept"] == "1.5" and tx["cost_per_accepted_second"] == "0.15"
    assert tx["median_generation_s"] == "20.0" and tx["win_rate_visual_quality"] == ""
    assert {r["model"] for r in t if r["board"] == "beta"} == {"w", "x"}
