"""`next` with active sampling (app/active.py) and how votes record their pick (app/picks.py),
on a crafted board where the right pick is known, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

import numpy as np

from app import active
from app.models import Pick, Vote
from tests.support.factories import make_board, make_voter, ready_comparison, vote
from tests.support.votes import crafted_votes

MODELS = ("test/a", "test/b", "test/c", "test/d")
# A and B nearly tied at the top; C and D clear losers, well measured.
RECORD = [("test/a", "test/b", 21), ("test/b", "test/a", 19)] + [
    (w, l, n) for top in ("test/a", "test/b") for low in ("test/c", "test/d")
    for w, l, n in ((top, low, 30), (low, top, 2))] + [("test/c", "test/d", 16), ("test/d", "test/c", 16)]


async def _board(app, n=6, slug="act"):
    board = await make_board(app, "Active", slug=slug, blind=False)
    cs = [await ready_comparison(app, board, MODELS, f"shot {i}", False) for i in range(n)]
    await crafted_votes(app, board, cs, RECORD)
    active.forget()
    return board, cs


def _models_of(cs, takes):
    by = {t.id: t.model_id for c in cs for t in c.takes}
    return frozenset(by[t] for t in takes)


async def test_active_pick_is_the_tied_pair_at_the_top(app):
    board, cs = await _board(app)
    reviewer = (await make_voter(app)).id
    rng = np.random.default_rng(3)
    async with app.state.db.session() as s:
        for _ in range(8):
            got = await active.next_pick(s, board, reviewer, epsilon=0.0, rng=rng)
            assert got.sampled_by == "active" and _models_of(cs, got.takes) == {"test/a", "test/b"}
            assert got.probability == 1.0 / len(cs)      # every comparison holds the same pair: a tie of six
        rows = (await s.execute(Pick.__table__.select().where(Pick.voter_id == reviewer))).all()
    assert len(rows) == 8 and {r.sampled_by for r in rows} == {"active"}


async def test_uniform_share_and_its_probabilities(app):
    board, cs = await _board(app, n=4, slug="uni")
    reviewer = (await make_voter(app)).id
    rng = np.random.default_rng(7)
    seen = Counter()
    async with app.state.db.session() as s:
        for _ in range(60):
            got = await active.next_pick(s, board, reviewer, epsilon=0.5, rng=rng)
            pair = _models_of(cs, got.takes)
            seen[got.sampled_by] += 1
            if got.sampled_by == "active":
                assert pair == {"test/a", "test/b"}
            # uniform: 1/4 comparison × 1/6 pair; the A–B pair also carries the active share
            share = 0.5 / (4 * 6) + (0.5 / 4 if pair == {"test/a", "test/b"} else 0.0)
            assert abs(got.probability - share) < 1e-12
    assert seen["active"] > 15 and seen["uniform"] > 15


async def test_a_vote_records_its_pick(app, client):
    board, cs = await _board(app, n=3, slug="rec")
    r = await client.get("/api/boards/rec/next")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["sampled_by"] in ("active", "uniform") and len(got["takes"]) == 2 and got["pick"]
    # a best-of-N ballot that contains the picked pair: that row is the pick's, the rest came along
    c = next(c for c in cs if c.id == got["comparison"])
    best = got["takes"][0]
    r = await client.post(f"/api/comparisons/{c.id}/votes", json={"kind": "best", "best": best})
    assert r.status_code == 201, r.text
    pairs = r.json()["pairs"]
    picked = [p for p in pairs if {p["take_a"], p["take_b"]} == set(got["takes"])]
    assert len(picked) == 1 and picked[0]["sampled_by"] == got["sampled_by"]
    assert picked[0]["sample_probability"] == got["probability"]
    assert {p["sampled_by"] for p in pairs if p is not picked[0]} == {"same_ballot"}
    # the pick is used: voting again on that comparison is the reviewer's own choice
    a, b = got["takes"]
    r = await client.post(f"/api/comparisons/{c.id}/votes", json={"take_a": a, "take_b": b, "outcome": "tie"})
    assert r.json()["pairs"][0]["sampled_by"] == "manual" and r.json()["pairs"][0]["sample_probability"] is None
    # a named pick is checked: someone else's, a used one, or one the ballot does not answer is refused
    r = await client.post(f"/api/comparisons/{c.id}/votes",
                          json={"take_a": a, "take_b": b, "outcome": "a", "pick": got["pick"]})
    assert r.status_code == 422 and "already been voted on" in r.json()["detail"]
    other = (await client.get("/api/boards/rec/next", params={"after": c.id})).json()
    oc = next(x for x in cs if x.id == other["comparison"])
    wrong = [t.id for t in oc.takes if t.id not in other["takes"]][:2]
    before = await _vote_count(app)
    r = await client.post(f"/api/comparisons/{oc.id}/votes",
                          json={"take_a": wrong[0], "take_b": wrong[1], "outcome": "a", "pick": other["pick"]})
    assert r.status_code == 422 and "is not about both" in r.json()["detail"]
    r = await client.post(f"/api/comparisons/{c.id}/votes",
                          json={"take_a": a, "take_b": b, "outcome": "a", "pick": other["pick"]})
    assert r.status_code == 422 and "not one `next` gave you" in r.json()["detail"]
    assert await _vote_count(app) == before, "a refused ballot writes nothing"
    # answered through its id, the pick is recorded with the server's probability
    r = await client.post(f"/api/comparisons/{oc.id}/votes", json={
        "take_a": other["takes"][0], "take_b": other["takes"][1], "outcome": "b", "pick": other["pick"]})
    assert r.status_code == 201 and r.json()["pairs"][0]["sample_probability"] == other["probability"]


async def _vote_count(app) -> int:
    from sqlalchemy import func, select

    async with app.state.db.session() as s:
        return (await s.execute(select(func.count()).select_from(Vote))).scalar_one()


async def test_cached_fit_follows_new_votes_and_comparisons(app):
    board, cs = await _board(app, n=2, slug="cache")
    reviewer = (await make_voter(app)).id
    async with app.state.db.session() as s:
        await active.next_pick(s, board, reviewer, epsilon=0.0)
        fit_before = active._cache[board.id].fit
        await active.next_pick(s, board, reviewer, epsilon=0.0)
        assert active._cache[board.id].fit is fit_before, "no refit without new votes"
    # a new comparison with an unrated model is read at once, and shown first (it may be the best)
    new = await ready_comparison(app, board, ("test/a", "test/e"), "new shot", False)
    voter = (await make_voter(app)).id
    await vote(app, cs[0], voter, take_a=cs[0].takes[0].id, take_b=cs[0].takes[1].id, outcome="a")
    async with app.state.db.session() as s:
        got = await active.next_pick(s, board, reviewer, epsilon=0.0)
        assert got.comparison == new.id
        assert active._cache[board.id].fit is not fit_before, "a vote on a small board refits"


async def test_the_review_page_asks_for_the_picked_pair(app, client):
    board, cs = await _board(app, n=2, slug="page")
    r = await client.get("/b/page/next")
    assert r.status_code == 303
    cid = r.headers["location"].rsplit("/", 1)[1]
    from sqlalchemy import select

    async with app.state.db.session() as s:
        p = (await s.execute(select(Pick).where(Pick.comparison_id == cid))).scalar_one()
    page = (await client.get(f"/c/{cid}")).text
    asked = page[page.index('id="asked-pair"'):].split("</form>")[0]
    assert f'value="{p.take_a_id}"' in asked and f'value="{p.take_b_id}"' in asked
    r = await client.post(f"/c/{cid}/vote", data={"criterion": "overall", "kind": "pair", "take_a": p.take_a_id,
                                                   "take_b": p.take_b_id, "outcome": "a"})
    assert r.status_code == 200 and 'id="vote-recorded"' in r.text
    assert 'id="asked-pair"' not in r.text, "answered: not asked again"
    async with app.state.db.session() as s:
        v = (await s.execute(select(Vote).where(Vote.comparison_id == cid, Vote.superseded_at.is_(None)))).scalars()
        mine = [x for x in v if x.sampled_by is not None]
    assert [(x.sampled_by, x.sample_probability) for x in mine] == [(p.sampled_by, p.probability)]


async def test_next_reads_the_board_tags_and_leaves_out_what_the_voter_voted(app):
    """The board's tags come with the cached candidates (each tag its own fit); the voter's
    voted comparisons are re-read once they vote, so a voted comparison is never offered again."""
    from app.tags import set_tags

    board, cs = await _board(app, n=2, slug="mask")
    async with app.state.db.session() as s:
        await set_tags(s, cs[0], ["walk"])
    active.forget()
    reviewer = (await make_voter(app)).id
    async with app.state.db.session() as s:
        first = await active.next_pick(s, board, reviewer, epsilon=0.0)
        e = active._cache[board.id]
        assert e.cands.tags == ("walk",) and set(e.tag_fits) == {"walk"}
        assert (await active.next_pick(s, board, reviewer, epsilon=0.0)) is not None
        assert active._cache[board.id].voted[reviewer][1].all(), "no vote yet: every comparison allowed"
    c = next(c for c in cs if c.id == first.comparison)
    await vote(app, c, reviewer, take_a=first.takes[0], take_b=first.takes[1], outcome="a")
    async with app.state.db.session() as s:
        second = await active.next_pick(s, board, reviewer, epsilon=0.0)
        assert second.comparison != first.comparison
        other = next(c for c in cs if c.id == second.comparison)
    await vote(app, other, reviewer, take_a=second.takes[0], take_b=second.takes[1], outcome="b")
    async with app.state.db.session() as s:
        assert await active.next_pick(s, board, reviewer, epsilon=0.0) is None


async def test_candidates_are_re_read_in_the_background(app, monkeypatch):
    """Every REREAD_S the candidates are re-read on a session of their own while the call is
    answered from the cached ones: a comparison whose last take became ready appears after."""
    from sqlalchemy import update

    from app.models import Take

    board, cs = await _board(app, n=2, slug="bg")
    late = await ready_comparison(app, board, ("test/a", "test/b"), "late shot", False)
    async with app.state.db.session() as s:
        await s.execute(update(Take).where(Take.id == late.takes[1].id).values(status="queued"))
        await s.commit()
    reviewer = (await make_voter(app)).id
    async with app.state.db.session() as s:
        await active.next_pick(s, board, reviewer, epsilon=0.0)
        assert late.id not in active._cache[board.id].row_of, "a take still being made: not a candidate"
        await s.execute(update(Take).where(Take.id == late.takes[1].id).values(status="ready"))
        await s.commit()
        monkeypatch.setattr(active, "REREAD_S", 0.0)
        before = active._cache[board.id]
        await active.next_pick(s, board, reviewer, epsilon=0.0)     # answered from the cached list
        await asyncio.gather(*active._background)     # the re-read it started (maybe already done)
        after = active._cache[board.id]
    # the comparisons' count did not change: only the background re-read replaces the entry
    assert after is not before and late.id in after.row_of
    assert after.fit is before.fit, "same models and tags: the fit is kept"
