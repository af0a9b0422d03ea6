"""Security: markup in user text stays inert, CSRF-less writes are refused, invites that were
revoked or expired are refused, sign-in brute force and vote floods are slowed (429 with
Retry-After), outsiders cannot tell a private object from a missing one, and headers."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.models import Board, Invite, Membership, Vote
from app.ratelimit import RateLimiter
from app.ratelimit import Limits
from tests.support.factories import PASSWORD, make_user, ready_comparison, session_token
from tests.support.team import client_for, make_team

XSS = '<script>alert("x")</script><img src=x onerror="alert(1)">'


async def test_user_text_renders_inert(app):
    team = await make_team(app, blind=False, name="Board " + XSS)
    async with app.state.db.session() as s:
        board = await s.get(Board, team.board.id)
        board.description = "About " + XSS
        await s.commit()
    c = await ready_comparison(app, team.board, prompt="A fox " + XSS)
    async with team.client("owner") as owner:
        await owner.post("/account/name", data={"name": "Ow" + XSS[:60]})
        r = await owner.post(f"/api/comparisons/{c.id}/comments",
                             json={"take": c.takes[0].id, "time_s": 1, "body": "look " + XSS})
        assert r.status_code == 201
        pages = [await owner.get(u) for u in ("/", "/boards", f"/b/{team.board.slug}", f"/c/{c.id}",
                                              f"/c/{c.id}/comments", f"/b/{team.board.slug}/settings", "/account")]
    for page in pages:
        assert page.status_code == 200
        assert "<script>alert" not in page.text and '<img src=x' not in page.text, page.url
    joined = "".join(p.text for p in pages)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in joined or "&lt;script&gt;alert(&quot;x&quot;)" in joined
    comments = pages[4].text
    assert "look &lt;script&gt;" in comments and "Ow&lt;script&gt;" in comments


async def test_writes_without_the_csrf_token_are_refused(app):
    team = await make_team(app)
    c = await ready_comparison(app, team.board)
    slug = team.board.slug
    async with team.client("owner", csrf=False) as bare:
        r = await bare.post(f"/b/{slug}/settings", data={"name": "Hijacked"})
        assert r.status_code == 403 and "CSRF" in r.json()["detail"]
        r = await bare.post(f"/api/comparisons/{c.id}/votes",
                            json={"take_a": c.takes[0].id, "take_b": c.takes[1].id, "outcome": "a"})
        assert r.status_code == 403
        r = await bare.patch(f"/api/boards/{slug}", json={"name": "Hijacked"}, headers={"x-csrf-token": "0" * 64})
        assert r.status_code == 403
        r = await bare.post(f"/c/{c.id}/vote", data={"kind": "pair", "take_a": c.takes[0].id,
                                                       "take_b": c.takes[1].id, "outcome": "a", "csrf_token": "nope"})
        assert r.status_code == 403
    # a token from another session does not fit this one
    async with team.client("editor") as editor:
        editors_token = editor.csrf_token
    async with team.client("owner", csrf=False) as bare:
        r = await bare.patch(f"/api/boards/{slug}", json={"name": "Hijacked"}, headers={"x-csrf-token": editors_token})
        assert r.status_code == 403
    async with app.state.db.session() as s:
        assert (await s.get(Board, team.board.id)).name == "Launch shots"
        assert (await s.execute(select(func.count()).select_from(Vote))).scalar_one() == 0
    # with the token (the page's hidden field, or htmx's header) the same writes go through
    async with team.client("owner") as owner:
        assert (await owner.post(f"/b/{slug}/settings", data={"name": "Renamed", "visibility": "private"})).status_code == 303


async def test_csrf_in_open_mode_blocks_cross_site_browser_posts(client, app, no_generation):
    """No account yet: scripts without cookies may post, but a browser request (Origin or
    Sec-Fetch-Site) from another site may not."""
    body = {"prompt": "p", "models": ["demo/aurora"], "duration_s": 4, "resolution": "360p"}
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as fresh:
        r = await fresh.post("/api/comparisons", json=body, headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        r = await fresh.post("/comparisons", data={**body, "models": "demo/aurora"},
                             headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as script:
        assert (await script.post("/api/comparisons", json=body)).status_code == 202


async def test_revoked_and_expired_invites_are_refused(app):
    from app.invites import create_invite, revoke_invite

    team = await make_team(app)
    async with app.state.db.session() as s:
        board = await s.get(Board, team.board.id)
        revoked = await create_invite(s, board, None, "editor", 24)
        await revoke_invite(s, board, revoked.invite.id)
        expired = await create_invite(s, board, None, "editor", 1)
        row = await s.get(Invite, expired.invite.id)
        row.expires_at -= timedelta(hours=1, seconds=1)
        await s.commit()
    for token, word in ((revoked.token, "revoked"), (expired.token, "expired")):
        async with team.client("outsider") as outsider:
            page = await outsider.get(f"/invite/{token}", headers={"accept": "text/html"})
            assert page.status_code == 410 and word in page.text and team.board.name not in page.text
            r = await outsider.post(f"/invite/{token}")
            assert r.status_code == 410 and word in r.json()["detail"]
            assert (await outsider.get(f"/b/{team.board.slug}")).status_code == 404
        async with client_for(app) as anon:
            r = await anon.post("/signup", data={"email": f"x-{word}@example.com", "password": PASSWORD,
                                                 "invite": token})
            assert r.status_code == 410
    async with app.state.db.session() as s:
        members = (await s.execute(select(func.count()).select_from(Membership)
                                   .where(Membership.board_id == team.board.id))).scalar_one()
        assert members == 4  # owner, editor, voter, viewer: nobody joined


async def test_sign_in_brute_force_is_slowed(app, settings):
    settings.signin_max_failures, settings.signin_max_per_ip = 3, 6
    app.state.limits = Limits(settings)
    await make_user(app, "admin@example.com", admin=True)
    async with client_for(app) as c:
        for _ in range(3):
            r = await c.post("/signin", data={"email": "admin@example.com", "password": "guess guess"})
            assert r.status_code == 401
        r = await c.post("/signin", data={"email": "admin@example.com", "password": "guess guess"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        # locked means locked: the right password waits too
        r = await c.post("/signin", data={"email": "admin@example.com", "password": PASSWORD})
        assert r.status_code == 429 and "try again in" in r.json()["detail"]
        # spraying other emails from the same address runs into the per-address limit
        statuses = [(await c.post("/signin", data={"email": f"u{i}@example.com", "password": "x"})).status_code
                    for i in range(3)]
        assert statuses[-1] == 429, statuses
        assert (await c.get("/api/me")).json()["user"] is None


def test_rate_limiter_window():
    now = [0.0]
    rl = RateLimiter(2, 60, clock=lambda: now[0])
    assert rl.hit("k") is None and rl.hit("k") is None
    assert rl.hit("k") == 60
    now[0] = 30
    assert rl.retry_after("k") == 30
    now[0] = 60.5
    assert rl.hit("k") is None  # the first hit left the window
    rl.reset("k")
    assert rl.hit("k") is None and rl.hit("k") is None


async def test_vote_floods_are_slowed(app, settings):
    settings.votes_per_minute = 3
    app.state.limits = Limits(settings)
    team = await make_team(app)
    c = await ready_comparison(app, team.board)
    body = {"take_a": c.takes[0].id, "take_b": c.takes[1].id, "outcome": "a"}
    async with team.client("voter") as voter:
        for _ in range(3):
            assert (await voter.post(f"/api/comparisons/{c.id}/votes", json=body)).status_code == 201
        r = await voter.post(f"/api/comparisons/{c.id}/votes", json=body)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        r = await voter.post(f"/c/{c.id}/vote", data={"kind": "pair", **body})
        assert r.status_code == 429


async def test_outsiders_cannot_tell_private_from_missing(app):
    team = await make_team(app)
    c = await ready_comparison(app, team.board)
    take = c.takes[0].id
    urls = ["/b/{slug}", "/api/boards/{slug}", "/api/boards/{slug}/votes.csv", "/c/{cid}", "/api/comparisons/{cid}",
            "/api/comparisons/{cid}/comments", "/media/takes/{tid}/video.mp4", "/media/takes/{tid}/poster.jpg",
            "/media/comparisons/{cid}/source", "/b/{slug}/settings"]
    async with team.client("outsider") as outsider:
        for u in urls:
            real = await outsider.get(u.format(slug=team.board.slug, cid=c.id, tid=take))
            fake = await outsider.get(u.format(slug="launch-shots-zzzzzzzzzz", cid="zzzzzzzzzzzz", tid="zzzzzzzzzzzz"))
            assert real.status_code == fake.status_code == 404, u
            normal = real.text.replace(team.board.slug, "X").replace(c.id, "X").replace(take, "X")
            assert normal == fake.text.replace("launch-shots-zzzzzzzzzz", "X").replace("zzzzzzzzzzzz", "X"), u
        # writes too
        r = await outsider.post(f"/api/comparisons/{c.id}/votes", json={"take_a": take, "take_b": c.takes[1].id,
                                                                        "outcome": "a"})
        assert r.status_code == 404 and r.json()["detail"] == f"no comparison {c.id!r}"
    # and the private board is not listed
    async with team.client("outsider") as outsider:
        assert team.board.slug not in (await outsider.get("/boards")).text
        assert team.board.slug not in (await outsider.get("/api/boards")).text
        assert "a red kite" not in (await outsider.get("/")).text


async def test_link_access_ends_when_the_board_goes_private(app):
    team = await make_team(app, visibility="link")
    async with client_for(app) as anon:
        await anon.get(f"/s/{team.board.link_token}")
        assert (await anon.get(f"/b/{team.board.slug}")).status_code == 200
        async with team.client("owner") as owner:
            assert (await owner.patch(f"/api/boards/{team.board.slug}", json={"visibility": "private"})).status_code == 200
        assert (await anon.get(f"/b/{team.board.slug}")).status_code == 404
        assert (await anon.get(f"/s/{team.board.link_token}")).status_code == 404


async def test_pages_send_anonymous_visitors_to_sign_in_and_headers(app):
    await make_user(app, "admin@example.com", admin=True)
    async with client_for(app) as anon:
        r = await anon.get("/account", headers={"accept": "text/html"})
        assert r.status_code == 303 and r.headers["location"] == "/signin?next=/account"
        r = await anon.get("/api/tokens")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        home = await anon.get("/")
        assert "Sign in" in home.text and 'id="new-comparison"' not in home.text
        for k, v in (("x-content-type-options", "nosniff"), ("referrer-policy", "same-origin"),
                     ("x-frame-options", "DENY")):
            assert home.headers[k] == v
        assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
        anon.cookies.set("takes_session", "forged-session-value")
        assert (await anon.get("/api/me")).json()["user"] is None


@pytest.mark.parametrize("path", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
async def test_no_open_redirect_after_sign_in(app, path):
    user = await make_user(app, "admin@example.com", admin=True)
    assert await session_token(app, user)
    async with client_for(app) as c:
        r = await c.post("/signin", data={"email": "admin@example.com", "password": PASSWORD, "next": path})
        assert r.status_code == 303 and r.headers["location"] == "/"


async def test_openapi_documents_bearer_tokens(client):
    spec = (await client.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["token"] == {**spec["components"]["securitySchemes"]["token"],
                                                              "type": "http", "scheme": "bearer"}
    for path in ("/api/boards", "/api/boards/{slug}/invites", "/api/comparisons/{comparison_id}/comments",
                 "/api/tokens", "/api/me"):
        assert path in spec["paths"]
