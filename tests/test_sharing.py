"""Sharing: invites listed with their links while they can be used (and older, random-token
invites still shown once), and the read-only link to a single comparison — what it opens,
what it does not, and that revoking or replacing it ends it. Copy buttons are in
tests/test_sharing_browser.py."""

from __future__ import annotations

from app.boards import create_board
from app.invites import create_invite, derived_token
from app.models import Board
from tests.support.clients import browser_like, in_process_client
from tests.support.sse import parse_sse
from tests.support.factories import make_user, ready_comparison, session_token
from tests.support.team import client_for, make_team


async def test_invites_are_listed_with_working_links_while_usable(app):
    team = await make_team(app)
    slug = team.board.slug
    async with app.state.db.session() as s:   # made before links were listable: random token
        old = await create_invite(s, await s.get(Board, team.board.id), None, "viewer", 24)
    async with team.client("owner") as owner:
        made = (await owner.post(f"/api/boards/{slug}/invites", json={"role": "editor", "expires_in_hours": 2})).json()
        assert made["url"].endswith("/invite/" + derived_token("test-secret", made["id"]))
        listed = {i["id"]: i["url"] for i in (await owner.get(f"/api/boards/{slug}/invites")).json()}
        assert listed == {made["id"]: made["url"], old.invite.id: None}
        page = (await owner.get(f"/b/{slug}/settings")).text
        assert f'id="invite-{made["id"]}">{made["url"]}</code>' in page
        assert f'data-copy="#invite-{made["id"]}"' in page and "shown once, when it was made" in page
    newbie = await make_user(app, "newbie@example.com")
    async with client_for(app, await session_token(app, newbie)) as c:
        assert (await c.post(made["url"].split("testserver")[1])).status_code == 303
        assert (await c.get(f"/b/{slug}")).status_code == 200
    async with team.client("owner") as owner:
        assert (await owner.delete(f"/api/boards/{slug}/invites/{made['id']}")).status_code == 204
        assert made["id"] not in {i["id"] for i in (await owner.get(f"/api/boards/{slug}/invites")).json()}
        assert made["url"] not in (await owner.get(f"/b/{slug}/settings")).text


async def test_the_share_link_has_a_copy_button(app):
    team = await make_team(app)
    async with app.state.db.session() as s:
        linked = await create_board(s, name="Linked", visibility="link", owner_id=team.users["owner"].id,
                                    random_slug=True)
    async with team.client("owner") as owner:
        page = (await owner.get(f"/b/{linked.slug}/settings")).text
        assert 'id="share-url"' in page and 'data-copy="#share-url"' in page


async def test_comparison_link_opens_that_comparison_read_only_until_revoked(app):
    team = await make_team(app, blind=False)
    c = await ready_comparison(app, team.board)
    other = await ready_comparison(app, team.board, prompt="another one")
    async with team.client("editor") as editor, team.client("voter") as voter:
        assert (await voter.post(f"/api/comparisons/{c.id}/link")).status_code == 403
        url = (await editor.post(f"/api/comparisons/{c.id}/link")).json()["url"]
        page = (await editor.get(f"/c/{c.id}")).text
        assert url in page and 'data-copy="#comparison-link-url"' in page
    path = url.split("testserver")[1]
    async with in_process_client(app) as anon:
        browser_like(anon)
        assert (await anon.get(f"/c/{c.id}")).status_code == 404
        opened = await anon.get(path)
        assert opened.status_code == 303 and opened.headers["location"] == f"/c/{c.id}"
        assert (await anon.get(f"/c/{c.id}")).status_code == 200
        body = (await anon.get(f"/api/comparisons/{c.id}")).json()
        assert (await anon.get(body["takes"][0]["video_url"])).status_code == 200
        assert (await anon.get(f"/api/comparisons/{c.id}/takes.zip")).status_code == 200
        assert (await anon.get(f"/c/{c.id}/events", params={"hold_s": 0})).status_code == 200
        for elsewhere in (f"/b/{team.board.slug}", f"/c/{other.id}", f"/api/comparisons/{other.id}"):
            assert (await anon.get(elsewhere)).status_code == 404, elsewhere
        vote = await anon.post(f"/api/comparisons/{c.id}/votes",
                               json={"take_a": c.takes[0].id, "take_b": c.takes[1].id, "outcome": "a"})
        assert vote.status_code == 403                                   # read-only: a viewer
        assert "Make a read-only link" not in (await anon.get(f"/c/{c.id}")).text
        async with team.client("editor") as editor:
            assert (await editor.delete(f"/api/comparisons/{c.id}/link")).status_code == 204
        assert (await anon.get(f"/c/{c.id}")).status_code == 404
        gone = await anon.get(path)
        assert gone.status_code == 404 and "does not work" in gone.text
        async with team.client("editor") as editor:
            first = (await editor.post(f"/c/{c.id}/link")).status_code
            second = (await editor.post(f"/api/comparisons/{c.id}/link")).json()["url"]
            assert first == 303
        assert (await anon.get(second.split("testserver")[1])).status_code == 303
        assert (await anon.get(f"/c/{c.id}")).status_code == 200
        async with team.client("editor") as editor:
            await editor.post(f"/api/comparisons/{c.id}/link")             # replaced: the old one ends
        assert (await anon.get(f"/c/{c.id}")).status_code == 404


async def test_an_open_stream_ends_when_its_link_is_revoked(app):
    import asyncio

    team = await make_team(app, blind=False)
    c = await ready_comparison(app, team.board)
    async with team.client("editor") as editor:
        path = (await editor.post(f"/api/comparisons/{c.id}/link")).json()["url"].split("testserver")[1]
    async with in_process_client(app) as anon:
        browser_like(anon)
        await anon.get(path)

        async def revoke_soon():
            await asyncio.sleep(0.5)
            async with team.client("editor") as editor:
                await editor.delete(f"/api/comparisons/{c.id}/link")
            await app.state.events.comparison_changed(c.id, team.board.id)

        task = asyncio.create_task(revoke_soon())
        started = asyncio.get_running_loop().time()
        r = await anon.get(f"/c/{c.id}/events", params={"hold_s": 30})
        await task
        assert [e for e, _ in parse_sse(r.text)] == ["state", "gone"]
        assert asyncio.get_running_loop().time() - started < 10
