"""Sign-in and client addresses against abuse (issue 15, F11 and F12): proxies are trusted only
when a setting names them, failures from elsewhere cannot lock a user out of a browser they
have signed in with, and Argon2 runs off the event loop."""

from __future__ import annotations

import threading

import httpx

from app.ratelimit import Limits
from tests.support.clients import browser_like
from tests.support.factories import PASSWORD, make_user


def client_at(app, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return browser_like(httpx.AsyncClient(transport=transport, base_url="http://testserver"))


async def sign_in(c, email: str, password: str) -> httpx.Response:
    await c.get("/signin")
    return await c.post("/signin", data={"email": email, "password": password})


# ---- F11: X-Forwarded-For is trusted only from FORWARDED_ALLOW_IPS ---------------------------

def test_serve_trusts_no_proxy_by_default(settings):
    import uvicorn

    from app.cli import uvicorn_options
    from app.main import create_app

    options = uvicorn_options(settings)
    assert options["proxy_headers"] is False
    config = uvicorn.Config(create_app(settings), **options)
    config.load()
    assert type(config.loaded_app).__name__ != "ProxyHeadersMiddleware"
    settings.forwarded_allow_ips = "10.0.0.1, 10.0.0.2"
    options = uvicorn_options(settings)
    assert options["proxy_headers"] is True and options["forwarded_allow_ips"] == ["10.0.0.1", "10.0.0.2"]
    config = uvicorn.Config(create_app(settings), **options)
    config.load()
    assert type(config.loaded_app).__name__ == "ProxyHeadersMiddleware"


# ---- F11: failures from elsewhere do not lock the user out --------------------------------------

async def test_failures_from_many_addresses_do_not_lock_out_a_known_browser(app, settings):
    settings.signin_max_failures, settings.signin_max_per_ip = 3, 100
    app.state.limits = Limits(settings)
    app.state.limits.signin_account.base_s = 30   # the first wait outlasts this test on a slow machine
    await make_user(app, "admin@example.com", admin=True)
    async with client_at(app, "192.0.2.10") as victim:   # signed in here before: a known browser
        assert (await sign_in(victim, "admin@example.com", PASSWORD)).status_code == 303
        await victim.post("/signout")
        for i in range(40):                                # 40 addresses, 1 guess each
            async with client_at(app, f"198.51.100.{i}") as attacker:
                r = await sign_in(attacker, "admin@example.com", "guess guess")
                assert r.status_code in (401, 429)
        async with client_at(app, "198.51.100.200") as attacker:
            r = await sign_in(attacker, "admin@example.com", PASSWORD)
            assert r.status_code == 429   # an unknown browser waits: the account is under attack
            assert int(r.headers["retry-after"]) <= 60
        r = await sign_in(victim, "admin@example.com", PASSWORD)
        assert r.status_code == 303, r.text
        assert (await victim.get("/api/me")).json()["user"]["email"] == "admin@example.com"


async def test_the_per_account_wait_is_a_backoff_not_a_lock(app, settings):
    """The wait for unknown browsers grows with the failures but stays short (≤ 60 s)."""
    from app.ratelimit import Backoff

    now = [0.0]
    b = Backoff(threshold=3, base_s=1, cap_s=60, window_s=900, clock=lambda: now[0])
    for _ in range(3):
        assert b.retry_after("k") is None
        b.fail("k")
    waits = []
    for _ in range(10):
        waits.append(b.retry_after("k"))
        now[0] += waits[-1]
        assert b.retry_after("k") is None
        b.fail("k")
    assert waits == sorted(waits) and waits[0] == 1 and max(waits) == 60
    b.reset("k")
    assert b.retry_after("k") is None


# ---- F12: Argon2 off the event loop ------------------------------------------------------------

async def test_password_hashing_runs_off_the_event_loop(app):
    from app import accounts

    loop_thread = threading.current_thread()
    seen = []
    real = accounts._hasher

    class Spy:
        def __getattr__(self, name):
            attr = getattr(real, name)
            if name in ("hash", "verify"):
                def spied(*args, **kwargs):
                    seen.append((name, threading.current_thread()))
                    return attr(*args, **kwargs)
                return spied
            return attr

    accounts._hasher = Spy()
    try:
        async with app.state.db.session() as s:
            await accounts.create_user(s, "a@example.com", PASSWORD, is_admin=True)
            assert await accounts.authenticate(s, "a@example.com", PASSWORD) is not None
            assert await accounts.authenticate(s, "a@example.com", "wrong password") is None
            assert await accounts.authenticate(s, "nobody@example.com", "wrong password") is None
    finally:
        accounts._hasher = real
    assert {n for n, _ in seen} == {"hash", "verify"} and len(seen) >= 4
    assert all(t is not loop_thread for _, t in seen), seen


# ---- F13: anonymous votes come from a browser that opened the page ---------------------------

async def test_anonymous_votes_need_the_voter_cookie_of_a_page_view(app, settings):
    from sqlalchemy import func, select

    from app.models import Vote, Voter
    from tests.support.factories import ready_comparison
    from tests.support.team import make_team

    settings.new_voters_per_ip_per_hour = 3
    app.state.limits = Limits(settings)
    team = await make_team(app, visibility="public")
    c = await ready_comparison(app, team.board)
    ballot = {"take_a": c.takes[0].id, "take_b": c.takes[1].id, "outcome": "a"}

    async def counts():
        async with app.state.db.session() as s:
            return [(await s.execute(select(func.count()).select_from(m))).scalar_one() for m in (Vote, Voter)]

    before = await counts()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as script:
        for _ in range(3):   # no cookies kept: a new "voter" every time, before
            script.cookies.clear()
            r = await script.post(f"/api/comparisons/{c.id}/votes", json=ballot)
            assert r.status_code == 403, r.text
            assert "page" in r.json()["detail"]
    assert await counts() == before
    statuses = []
    for i in range(4):   # browsers from one address: a page view each, then a vote
        async with client_at(app, "203.0.113.5") as browser:
            assert (await browser.get(f"/c/{c.id}")).status_code == 200
            r = await browser.post(f"/api/comparisons/{c.id}/votes", json=ballot)
            statuses.append(r.status_code)
            if r.status_code == 201:   # the same browser again is the same voter, not a new one
                assert (await browser.post(f"/api/comparisons/{c.id}/votes", json=ballot)).status_code == 201
    assert statuses == [201, 201, 201, 429], statuses
    assert (await counts())[1] == before[1] + 3


# ---- F14: a private object costs the same work as a missing one -------------------------------

async def test_private_and_missing_ids_run_the_same_queries(app):
    from contextlib import contextmanager

    from sqlalchemy import event

    from tests.support.factories import ready_comparison
    from tests.support.team import make_team

    team = await make_team(app)
    c = await ready_comparison(app, team.board)
    engine = app.state.db.engine.sync_engine
    # The in-process runner's sweep (with its slot recount), poller and webhook sender query on
    # their own clock, not the request's: stopped, so only the requests' statements are counted.
    await app.state.queue.stop()

    @contextmanager
    def statements():
        seen = []

        def record(conn, cursor, statement, *args):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            yield seen
        finally:
            event.remove(engine, "before_cursor_execute", record)

    pairs = [(f"/api/comparisons/{c.id}", "/api/comparisons/zzzzzzzzzzzz"),
             (f"/api/boards/{team.board.slug}", "/api/boards/no-such-board-x1"),
             (f"/media/takes/{c.takes[0].id}/poster.jpg", "/media/takes/zzzzzzzzzzzz/poster.jpg"),
             (f"/api/comparisons/{c.id}/comments", "/api/comparisons/zzzzzzzzzzzz/comments")]
    async with team.client("outsider") as outsider:
        for private, missing in pairs:
            counts = []
            for url in (private, missing, private):
                with statements() as seen:
                    r = await outsider.get(url)
                assert r.status_code == 404, (url, r.status_code)
                counts.append(len(seen))
            assert counts[0] == counts[1] == counts[2], (private, counts)
