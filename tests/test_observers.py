"""Observers and the board page's blind posters (issue 12 §6), on SQLite and PostgreSQL.

An owner or editor who marks themselves an observer of a blind board sees names, results and
others' comments at once, and their votes are stored as not blind; a voter cannot become one.
The board page shows a blind comparison's posters only once every take has finished, in the
viewer's own shuffled order (the comparison page's order)."""

import csv
import io
import re

from sqlalchemy import select

from app.models import Membership, Take, Vote
from tests.support.factories import ready_comparison
from tests.support.team import make_team

THREE = ("demo/aurora", "demo/blocks", "demo/ember")


def _csv(r) -> list[dict]:
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))


async def test_an_observer_sees_everything_at_once_and_votes_not_blind(app):
    team = await make_team(app)
    c = await ready_comparison(app, team.board, models=THREE)
    slug = team.board.slug
    async with team.client("voter") as voter:
        a = (await voter.get(f"/api/comparisons/{c.id}")).json()["takes"][0]["id"]
        r = await voter.post(f"/api/comparisons/{c.id}/comments", json={"take": a, "time_s": 1.0, "body": "A's hands melt"})
        assert r.status_code == 201, r.text
        # a voter cannot become an observer: the page and the API refuse, and nothing is written
        r = await voter.put(f"/api/boards/{slug}/observer", json={"observer": True})
        assert r.status_code == 403, r.text
    async with team.client("editor") as editor:
        # before: blind like everyone who votes
        body = (await editor.get(f"/api/comparisons/{c.id}")).json()
        assert body["revealed"] is False and body["takes"][0]["model"] is None
        assert (await editor.get(f"/api/comparisons/{c.id}/comments")).json()["hidden_until_you_vote"] == 1
        r = await editor.put(f"/api/boards/{slug}/observer", json={"observer": True})
        assert r.status_code == 200 and r.json() == {"board": slug, "observer": True}, r.text
        # after: names, and the voter's comment, before any vote of their own
        body = (await editor.get(f"/api/comparisons/{c.id}")).json()
        assert body["revealed"] is True and {t["model"] for t in body["takes"]} == set(THREE)
        comments = (await editor.get(f"/api/comparisons/{c.id}/comments")).json()
        assert comments["hidden_until_you_vote"] == 0 and [x["body"] for x in comments["comments"]] == ["A's hands melt"]
        page = (await editor.get(f"/c/{c.id}")).text
        assert 'id="observer-badge"' in page and "Aurora (demo)" in page
        # their vote is stored as not blind
        r = await editor.post(f"/api/comparisons/{c.id}/votes", json={"kind": "best", "best": a})
        assert r.status_code == 201, r.text
        rows = _csv(await editor.get(f"/api/boards/{slug}/votes.csv"))
        assert rows and {row["blind"] for row in rows} == {"false"}
        # the board page offers to stop observing; the form turns it off again
        board_page = (await editor.get(f"/b/{slug}")).text
        assert "Stop observing" in board_page
        r = await editor.post(f"/b/{slug}/observer", data={"observer": "false"})
        assert r.status_code == 303
        assert (await editor.get(f"/api/comparisons/{c.id}")).json()["revealed"] is True   # voted now: stays revealed
        c2 = await ready_comparison(app, team.board, models=THREE, prompt="second")
        assert (await editor.get(f"/api/comparisons/{c2.id}")).json()["revealed"] is False
    async with team.client("voter") as voter:
        r = await voter.post(f"/b/{slug}/observer", data={"observer": "true"})
        assert r.status_code == 403
    async with app.state.db.session() as s:
        flags = dict((await s.execute(select(Membership.user_id, Membership.observer)
                                      .where(Membership.board_id == team.board.id))).all())
        assert flags[team.users["editor"].id] is False and flags[team.users["voter"].id] is False
        votes = (await s.execute(select(Vote.blind).where(Vote.comparison_id == c.id))).scalars().all()
        assert votes and not any(votes)


async def test_an_admin_who_is_not_a_member_observes_as_an_owner(app):
    team = await make_team(app)
    async with team.client("admin") as admin:
        r = await admin.put(f"/api/boards/{team.board.slug}/observer", json={"observer": True})
        assert r.status_code == 200 and r.json()["observer"] is True
        r = await admin.put(f"/api/boards/{team.board.slug}/observer", json={"observer": "yes"})
        assert r.status_code == 422
    async with app.state.db.session() as s:
        m = (await s.execute(select(Membership).where(Membership.board_id == team.board.id,
                                                      Membership.user_id == team.users["admin"].id))).scalar_one()
        assert (m.role, m.observer) == ("owner", True)


def _poster_ids(html: str, cid: str) -> list[str]:
    card = html[html.index(f'data-comparison-id="{cid}"'):]
    card = card[:card.index("</li>")]
    return re.findall(r'<img src="/media/takes/([a-z0-9]+)/poster.jpg"', card)


def _tile_ids(html: str) -> list[str]:
    return re.findall(r'data-tile data-index="\d+" data-take-id="([a-z0-9]+)"', html)


async def test_blind_posters_only_when_all_done_and_in_the_viewers_order(app):
    team = await make_team(app)
    comparisons = [await ready_comparison(app, team.board, models=THREE, prompt=f"kite {i}") for i in range(4)]
    async with team.client("voter") as voter, team.client("editor") as editor:
        orders = {}
        for who, client in (("voter", voter), ("editor", editor)):
            board = (await client.get(f"/b/{team.board.slug}")).text
            for c in comparisons:
                posters = _poster_ids(board, c.id)
                assert posters == _tile_ids((await client.get(f"/c/{c.id}")).text)[:4], who
                orders.setdefault(who, []).append(posters)
        # shuffled, not the order the models were picked in: all eight (1/6 each) in pick order is 6e-7
        picked = [[t.id for t in sorted(c.takes, key=lambda t: (t.created_at, t.id))] for c in comparisons]
        assert orders["voter"] + orders["editor"] != picked + picked
        # one take still generating: no poster at all on that card (the first one ready names the fast model)
        async with app.state.db.session() as s:
            t = await s.get(Take, comparisons[0].takes[0].id)
            t.status, t.progress = "running", 0.5
            await s.commit()
        board = (await voter.get(f"/b/{team.board.slug}")).text
        assert _poster_ids(board, comparisons[0].id) == []
        card = board[board.index(f'data-comparison-id="{comparisons[0].id}"'):]
        assert "data-posters-waiting" in card[:card.index("</li>")]
        assert len(_poster_ids(board, comparisons[1].id)) == 3


async def test_open_board_posters_in_take_order_as_they_arrive(app):
    team = await make_team(app, blind=False)
    c = await ready_comparison(app, team.board, models=THREE)
    async with app.state.db.session() as s:
        t = await s.get(Take, c.takes[2].id)
        t.status, t.poster_key = "running", None
        await s.commit()
    async with team.client("voter") as voter:
        board = (await voter.get(f"/b/{team.board.slug}")).text
        ordered = sorted(c.takes, key=lambda t: (t.created_at, t.id))
        assert _poster_ids(board, c.id) == [t.id for t in ordered[:2]]
