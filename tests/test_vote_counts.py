"""The ballot counts every vote keeps (app.vote_counts) stay equal to a recount from the votes
table, through new ballots, re-votes that supersede single pairs of a ranking, best-of-N
picks, a second criterion and identical votes sent at once — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select

from app import leaderboard as lb
from app import vote_counts
from app.models import VoteCount
from tests.support.factories import make_board, ready_comparison

MODELS = ("demo/aurora", "demo/blocks", "demo/ember")


async def kept(app) -> Counter:
    async with app.state.db.session() as s:
        rows = (await s.execute(select(VoteCount.board_id, VoteCount.criterion, VoteCount.blind, VoteCount.pattern,
                                       VoteCount.ballots))).all()
    return Counter({(b, c, bool(bl), p): n for b, c, bl, p, n in rows if n})


async def recount(app) -> Counter:
    async with app.state.db.session() as s:
        folded = (await s.execute(vote_counts.fold_from_votes(s.bind.dialect.name))).all()
    return vote_counts.canonical(folded)


async def test_kept_counts_equal_a_recount_through_every_kind_of_ballot(client, app):
    board = await make_board(app, "Counts", criteria=["overall", "motion"])
    c = await ready_comparison(app, board, models=MODELS)
    a, b, third = (t.id for t in c.takes)
    url = f"/api/comparisons/{c.id}/votes"
    ballots = [
        {"take_a": a, "take_b": b, "outcome": "a"},
        {"take_a": a, "take_b": b, "outcome": "b"},                      # re-vote: supersedes the first
        {"kind": "ranking", "ranking": [third, a, b]},                   # three pairs, one takes a–b over
        {"take_a": third, "take_b": b, "outcome": "tie"},                # the ranking loses one pair
        {"kind": "best", "best": b},                     # takes over a–b (the ranking's) and b–third (the tie)
        {"take_a": a, "take_b": third, "outcome": "bothbad", "criterion": "motion"},
    ]
    seen = []
    for ballot in ballots:
        r = await client.post(url, json=ballot)
        assert r.status_code == 201, r.text
        seen.append(await kept(app))
        assert seen[-1] == await recount(app), ballot
    # standing: the ranking's last pair (third over a), the best-of-N pick and the motion pair
    assert sum(seen[-1].values()) == 3
    assert sum(seen[2].values()) == 1         # the ranking replaced the a–b pair ballot
    assert sum(seen[3].values()) == 2         # the ranking (now two pairs) and the tie
    async with app.state.db.session() as s:
        out = await lb.load_outcomes(s, [board.id], "overall")
        assert (out.n_ballots, out.n_votes) == (2, 3)
        assert await lb.criteria_with_votes(s, [board.id]) == ["overall", "motion"]


async def test_identical_votes_at_once_keep_the_counts_right(client, app):
    c = await ready_comparison(app, models=MODELS)
    a, b, third = (t.id for t in c.takes)
    url = f"/api/comparisons/{c.id}/votes"
    assert (await client.post(url, json={"kind": "ranking", "ranking": [a, b, third]})).status_code == 201
    answers = await asyncio.gather(*(client.post(url, json={"take_a": a, "take_b": b, "outcome": "b"})
                                     for _ in range(12)))
    assert [r.status_code for r in answers] == [201] * 12
    counts = await kept(app)
    assert counts == await recount(app)
    assert sum(counts.values()) == 2          # the ranking, left with two pairs, and one a–b vote


async def test_rebuild_recounts_from_the_votes(client, app):
    c = await ready_comparison(app, models=MODELS)
    a, b, third = (t.id for t in c.takes)
    for ballot in ({"kind": "ranking", "ranking": [a, b, third]}, {"take_a": a, "take_b": third, "outcome": "b"}):
        assert (await client.post(f"/api/comparisons/{c.id}/votes", json=ballot)).status_code == 201
    before = await kept(app)
    async with app.state.db.session() as s:
        await s.execute(VoteCount.__table__.delete())
        await s.commit()
    assert await kept(app) == Counter()
    async with app.state.db.session() as s:
        await vote_counts.rebuild(s)
        await s.commit()
    assert await kept(app) == before
    async with app.state.db.session() as s:        # the migration's synchronous version, the same answer
        await s.execute(VoteCount.__table__.delete())
        await s.commit()
        conn = await s.connection()
        await conn.run_sync(vote_counts.rebuild_sync)
        await s.commit()
    assert await kept(app) == before


async def test_a_first_pair_vote_is_one_read_and_one_write(client, app):
    """The vote path's least work (issue 15): one query for the comparison, the role, the
    voter, an open pick and webhooks; then, on PostgreSQL, one statement that inserts the vote
    and adds its count (SQLite: supersede, insert, count). A re-vote takes the general path and
    the counts stay right."""
    from sqlalchemy import event

    c = await ready_comparison(app, models=MODELS)
    a, b, third = (t.id for t in c.takes)
    url = f"/api/comparisons/{c.id}/votes"
    assert (await client.post(url, json={"take_a": a, "take_b": b, "outcome": "a"})).status_code == 201
    statements, me = [], asyncio.current_task()
    engine = app.state.db.engine.sync_engine

    def listener(conn, cursor, sql, *rest):
        if asyncio.current_task() is me:      # this request's, not the job runner's sweeps
            statements.append(sql)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        r = await client.post(url, json={"take_a": a, "take_b": third, "outcome": "tie"})
        first = list(statements)
        statements.clear()
        again = await client.post(url, json={"take_a": a, "take_b": third, "outcome": "b"})
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert r.status_code == 201 and again.status_code == 201
    writes = [sql for sql in first if not sql.lstrip().upper().startswith("SELECT")]
    postgres = app.state.db.engine.dialect.name == "postgresql"
    # open mode: the guard asks whether an account exists; then the ballot query, then the writes
    assert len(first) == (3 if postgres else 5), first
    assert len(writes) == (1 if postgres else 3), writes
    assert len(statements) > len(first)                  # the re-vote supersedes the tie
    assert r.json()["pairs"][0]["sampled_by"] == "manual"
    assert await kept(app) == await recount(app)
    assert sum((await kept(app)).values()) == 2
