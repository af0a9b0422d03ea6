"""Teams: accounts, open mode, boards and their settings, share links, invites, members,
comments, budgets and the board page — on SQLite and PostgreSQL."""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import accounts
from app.errors import Conflict, InputError
from app.models import Board, Comment, Invite, Membership, UserSession
from tests.support.factories import PASSWORD, make_user, ready_comparison, session_token
from tests.support.live import run_cli
from tests.support.settings import settings_env
from tests.support.team import client_for, make_team


# ---- accounts ---------------------------------------------------------------------------------

async def test_first_account_must_be_admin_and_adopts_open_mode_boards(client, app, no_generation):
    r = await client.post("/api/comparisons", json={"prompt": "p", "models": ["demo/aurora"], "duration_s": 4,
                                                     "resolution": "360p"})
    assert r.status_code == 202 and r.json()["board"] == "default"
    async with app.state.db.session() as s:
        with pytest.raises(InputError, match="first account must be an admin"):
            await accounts.create_user(s, "a@example.com", PASSWORD)
    admin = await make_user(app, "Admin@Example.com ", admin=True)
    assert admin.email == "admin@example.com" and admin.voter_id
    async with app.state.db.session() as s:
        default = (await s.execute(select(Board).where(Board.slug == "default"))).scalar_one()
        assert default.personal_user_id == admin.id
        roles = (await s.execute(select(Membership.role).where(Membership.user_id == admin.id))).scalars().all()
        assert roles == ["owner"]
        with pytest.raises(Conflict):
            await accounts.create_user(s, "admin@example.com", PASSWORD)
        with pytest.raises(InputError, match="at least 8"):
            await accounts.create_user(s, "b@example.com", "short")
        with pytest.raises(InputError, match="not an email"):
            await accounts.create_user(s, "nobody", PASSWORD)
    # Open mode is over: the anonymous client can no longer see or add to the default board.
    assert (await client.get(f"/api/comparisons/{r.json()['id']}")).status_code == 404
    assert (await client.post("/api/comparisons", json={"prompt": "p", "models": ["demo/aurora"]})).status_code == 401
    # The admin's "My comparisons" is the old default board, with its comparison.
    async with client_for(app, await session_token(app, admin)) as admin_client:
        assert (await admin_client.get(f"/api/comparisons/{r.json()['id']}")).status_code == 200
        made = await admin_client.post("/api/comparisons", json={"prompt": "q", "models": ["demo/aurora"],
                                                                  "duration_s": 4, "resolution": "360p"})
        assert made.status_code == 202 and made.json()["board"] == "default"


async def test_password_hashes_are_argon2_and_verify(app):
    user = await make_user(app, "admin@example.com", admin=True)
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    async with app.state.db.session() as s:
        assert (await accounts.authenticate(s, "admin@example.com", PASSWORD)).id == user.id
        assert await accounts.authenticate(s, "admin@example.com", PASSWORD + "x") is None
        assert await accounts.authenticate(s, "nobody@example.com", PASSWORD) is None


async def test_real_accounts_get_argon2s_default_cost_and_cheap_hashes_are_upgraded(app):
    """The suite hashes at argon2-cffi's CHEAPEST profile (tests/support/settings.py); a real
    deployment's default is the library's own, and a hash made with other parameters is
    rehashed with the configured ones at the next sign-in."""
    from argon2 import PasswordHasher

    from app.settings import Settings

    assert Settings(_env_file=None).argon2_profile == "RFC_9106_LOW_MEMORY"
    user = await make_user(app, "admin@example.com", admin=True)
    assert "$m=8,t=1," in user.password_hash                    # made at CHEAPEST
    default = PasswordHasher()
    try:
        accounts.use_profile("RFC_9106_LOW_MEMORY")
        assert accounts.hash_password("x" * 8).startswith(f"$argon2id$v=19$m={default.memory_cost},t={default.time_cost},")
        async with app.state.db.session() as s:
            assert (await accounts.authenticate(s, "admin@example.com", PASSWORD)).id == user.id
            assert await accounts.authenticate(s, "nobody@example.com", PASSWORD) is None
        async with app.state.db.session() as s:
            stored = await s.get(type(user), user.id)
            assert stored.password_hash.startswith(f"$argon2id$v=19$m={default.memory_cost},")
    finally:
        accounts.use_profile("CHEAPEST")
    async with app.state.db.session() as s:                     # and it still verifies
        assert (await accounts.authenticate(s, "admin@example.com", PASSWORD)).id == user.id


async def test_sign_up_sign_in_sign_out_and_cookie_flags(app):
    await make_user(app, "admin@example.com", admin=True)
    async with client_for(app) as c:
        r = await c.post("/signup", data={"email": "new@example.com", "password": PASSWORD, "name": "Nia"})
        assert r.status_code == 303, r.text
        cookie = r.headers["set-cookie"]
        assert "takes_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        me = (await c.get("/api/me")).json()
        assert me["user"]["email"] == "new@example.com" and me["user"]["name"] == "Nia"
        assert (await c.post("/signout")).status_code == 303
        assert (await c.get("/api/me")).json()["user"] is None
        bad = await c.post("/signin", data={"email": "new@example.com", "password": "wrong password"})
        assert bad.status_code == 401 and "wrong email or password" in bad.text
        good = await c.post("/signin", data={"email": "new@example.com", "password": PASSWORD, "next": "/boards"})
        assert good.status_code == 303 and good.headers["location"] == "/boards"
        assert (await c.get("/api/me")).json()["user"]["email"] == "new@example.com"
        # next= never leaves the site
        out = await c.post("/signin", data={"email": "new@example.com", "password": PASSWORD,
                                            "next": "//evil.example/x"})
        assert out.headers["location"] == "/"


async def test_secure_cookies_over_https(app, settings):
    await make_user(app, "admin@example.com", admin=True)
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as c:
        await c.get("/signin")
        token = c.cookies.get("takes_csrf")
        assert token
        r = await c.post("/signin", data={"email": "admin@example.com", "password": PASSWORD,
                                          "csrf_token": (await c.get("/api/me")).json()["csrf_token"]})
        assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


async def test_signup_needs_an_admin_first_and_can_be_invite_only(app, settings):
    async with client_for(app) as c:
        r = await c.post("/signup", data={"email": "x@example.com", "password": PASSWORD})
        assert r.status_code == 403 and "create-user --admin" in r.text
        await make_user(app, "admin@example.com", admin=True)
        settings.allow_signup = False
        r = await c.post("/signup", data={"email": "x@example.com", "password": PASSWORD})
        assert r.status_code == 403 and "by invitation" in r.text


async def test_password_change_signs_out_other_sessions(app):
    user = await make_user(app, "admin@example.com", admin=True)
    other = await session_token(app, user)
    async with client_for(app, await session_token(app, user)) as c:
        r = await c.post("/account/password", data={"password": "wrong one!", "new_password": "another pass 1",
                                                    "new_password_again": "another pass 1"})
        assert r.status_code == 400 and "not right" in r.text
        r = await c.post("/account/password", data={"password": PASSWORD, "new_password": "another pass 1",
                                                    "new_password_again": "another pass 1"})
        assert r.status_code == 200 and "Password changed" in r.text
        assert (await c.get("/api/me")).json()["user"] is not None  # this browser stays signed in
    async with client_for(app, other) as c2:
        assert (await c2.get("/api/me")).json()["user"] is None
    async with app.state.db.session() as s:
        assert await accounts.authenticate(s, "admin@example.com", "another pass 1")
        assert (await s.execute(select(func.count()).select_from(UserSession))).scalar_one() == 1


async def test_api_tokens_are_hashed_bearer_and_revocable(app, no_generation):
    admin = await make_user(app, "admin@example.com", admin=True)
    async with client_for(app, await session_token(app, admin)) as c:
        r = await c.post("/api/tokens", json={"name": "nightly"})
        assert r.status_code == 201
        token, token_id = r.json()["token"], r.json()["id"]
        page = await c.get("/account")
        assert "nightly" in page.text and token not in page.text
    async with app.state.db.session() as s:
        from app.models import ApiToken

        row = await s.get(ApiToken, token_id)
        assert row.token_hash == accounts.digest(token) and token not in row.token_hash
    async with client_for(app, csrf=False) as script:
        h = {"Authorization": f"Bearer {token}"}
        assert (await script.get("/api/me", headers=h)).json()["user"]["email"] == "admin@example.com"
        # a bearer call needs no CSRF token, even with cookies in the jar
        script.cookies.set("takes_csrf", "whatever")
        made = await script.post("/api/comparisons", headers=h, json={"prompt": "p", "models": ["demo/aurora"],
                                                                      "duration_s": 4, "resolution": "360p"})
        assert made.status_code == 202, made.text
        wrong = await script.get("/api/me", headers={"Authorization": "Bearer takes_nope"})
        assert wrong.status_code == 401 and "invalid_token" in wrong.headers["www-authenticate"]
        async with client_for(app, await session_token(app, admin)) as c:
            assert (await c.delete(f"/api/tokens/{token_id}")).status_code == 204
        assert (await script.get("/api/me", headers=h)).status_code == 401


def test_cli_create_user(tmp_path, db_url):
    from tests.support.settings import make_settings

    s = make_settings(db_url, tmp_path)
    env = settings_env(s)
    run = lambda *args, stdin="": run_cli(list(args), env, tmp_path / "cli", stdin=stdin)  # noqa: E731
    r = run("create-user", "first@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 2 and "first account must be an admin" in r.stderr
    r = run("create-user", "boss@example.com", "--admin", "--name", "Boss", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 0 and "created admin boss@example.com" in r.stdout, r.stderr
    r = run("create-user", "boss@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 2 and "exists already" in r.stderr
    r = run("set-password", "boss@example.com", "--password-stdin", stdin="a new password\n")
    assert r.returncode == 0 and "password set" in r.stdout, r.stderr
    r = run("set-password", "nobody@example.com", "--password-stdin", stdin="a new password\n")
    assert r.returncode == 2 and "no account" in r.stderr
    import asyncio

    from app.db import Database

    async def check():
        db = Database(s)
        try:
            async with db.session() as session:
                return await accounts.authenticate(session, "boss@example.com", "a new password")
        finally:
            await db.dispose()

    assert asyncio.run(check()) is not None


# ---- boards, share links, invites, members ----------------------------------------------------

async def test_boards_create_rename_archive_and_random_slugs(app):
    team = await make_team(app)
    async with team.client("owner") as c:
        r = await c.post("/api/boards", json={"name": "Motion study", "slug": "motion", "visibility": "private",
                                              "budget_usd": 5})
        assert r.status_code == 201, r.text
        b = r.json()
        assert b["slug"].startswith("motion-") and len(b["slug"]) == len("motion-") + 10 and b["role"] == "owner"
        r = await c.patch(f"/api/boards/{b['slug']}", json={"name": "Motion study 2", "description": "why",
                                                            "visibility": "link"})
        assert r.status_code == 200 and r.json()["name"] == "Motion study 2" and r.json()["share_url"]
        r = await c.patch(f"/api/boards/{b['slug']}", json={"archived": True})
        assert r.json()["archived"] is True
        made = await c.post("/api/comparisons", json={"prompt": "p", "models": ["demo/aurora"],
                                                       "board": b["slug"]})
        assert made.status_code == 409 and "archived" in made.json()["detail"]
        page = await c.post("/boards", data={"name": "Form board", "visibility": "public"})
        assert page.status_code == 303 and page.headers["location"].startswith("/b/form-board-")
    async with team.client("voter") as c:
        r = await c.patch(f"/api/boards/{team.board.slug}", json={"name": "mine now"})
        assert r.status_code == 403 and "needs owner" in r.json()["detail"]
        assert (await c.post("/api/boards", json={"name": "voters can make boards"})).status_code == 201
    async with client_for(app) as anon:
        assert (await anon.post("/api/boards", json={"name": "x"})).status_code == 401


async def test_share_link_gives_anonymous_view_and_vote(app):
    team = await make_team(app, visibility="link")
    c = await ready_comparison(app, team.board)
    a, b = (t.id for t in c.takes)
    async with client_for(app) as anon:
        assert (await anon.get(f"/b/{team.board.slug}")).status_code == 404
        r = await anon.get(f"/s/{team.board.link_token}")
        assert r.status_code == 303 and r.headers["location"] == f"/b/{team.board.slug}"
        assert "takes_links=" in r.headers["set-cookie"]
        page = await anon.get(f"/b/{team.board.slug}")
        assert page.status_code == 200 and "reviewer-name" in page.text
        r = await anon.post("/me/name", data={"name": "Rita", "next": f"/b/{team.board.slug}"})
        assert r.status_code == 303
        v = await anon.post(f"/api/comparisons/{c.id}/votes", json={"take_a": a, "take_b": b, "outcome": "a"})
        assert v.status_code == 201, v.text
        # viewers and link visitors cannot start comparisons or re-roll
        rr = await anon.post(f"/c/{c.id}/reroll", data={"model": "demo/aurora"})
        assert rr.status_code == 403
    async with team.client("owner") as owner:
        rows = list(csv.DictReader(io.StringIO((await owner.get(f"/api/boards/{team.board.slug}/votes.csv"))
                                               .text.lstrip("\ufeff"))))
        assert [r["judge"] for r in rows] == ["Rita"]
        # a new link cuts the old one off
        assert (await owner.patch(f"/api/boards/{team.board.slug}", json={"new_share_link": True})).status_code == 200
    async with client_for(app) as anon2:
        assert (await anon2.get(f"/s/{team.board.link_token}")).status_code == 404


async def test_public_board_is_listed_and_anyone_views_and_votes_without_a_link(app):
    """`public`: listed for everyone (signed in or not) and everyone is a voter there, with no
    share link and no membership; editing and managing stay with members."""
    async def no_jobs(ids):  # a re-roll that got through would only be queued
        return None

    app.state.queue.enqueue = no_jobs
    team = await make_team(app)                      # its board is private
    async with app.state.db.session() as s:
        from app.boards import create_board

        public = await create_board(s, name="Open kites", visibility="public", blind=False,
                                    owner_id=team.users["owner"].id, random_slug=True)
    c = await ready_comparison(app, public, prompt="public kite")
    a, b = (t.id for t in c.takes)
    for who in (None, "outsider"):
        async with client_for(app, team.sessions.get(who)) as visitor:
            listed = {x["slug"]: x for x in (await visitor.get("/api/boards")).json()}
            assert public.slug in listed and team.board.slug not in listed, who
            assert listed[public.slug]["visibility"] == "public" and listed[public.slug]["role"] == "voter"
            page = (await visitor.get("/boards")).text
            assert f"/b/{public.slug}" in page and "Open kites" in page and f"/b/{team.board.slug}" not in page
            assert (await visitor.get(f"/b/{public.slug}")).status_code == 200
            assert (await visitor.get(f"/c/{c.id}")).status_code == 200
            assert (await visitor.get(f"/media/takes/{a}/video.mp4")).status_code == 200
            r = await visitor.post(f"/api/comparisons/{c.id}/votes", json={"take_a": a, "take_b": b, "outcome": "a"})
            assert r.status_code == 201, (who, r.text)
            r = await visitor.post(f"/api/comparisons/{c.id}/comments", json={"take": a, "time_s": 1.0, "body": "hi"})
            assert r.status_code == 201, (who, r.text)
            # voters, not editors or owners
            r = await visitor.post(f"/api/comparisons/{c.id}/reroll", json={"model": "demo/aurora"})
            assert r.status_code == 403 and "needs" in r.json()["detail"] and "editor" in r.json()["detail"], (who, r.text)
            assert (await visitor.post(f"/api/comparisons/{c.id}/takes/{a}/accept")).status_code == 403
            r = await visitor.patch(f"/api/boards/{public.slug}", json={"name": "mine now"})
            assert r.status_code == 403 and "owner" in r.json()["detail"], (who, r.text)
            assert (await visitor.get(f"/b/{public.slug}/settings")).status_code == 403
            made = await visitor.post("/api/comparisons", json={"prompt": "p", "models": ["demo/aurora"],
                                                                "board": public.slug})
            assert made.status_code == (401 if who is None else 403), (who, made.text)
            # the private board next to it stays invisible
            assert (await visitor.get(f"/b/{team.board.slug}")).status_code == 404
    async with team.client("owner") as owner:
        rows = list(csv.DictReader(io.StringIO((await owner.get(f"/api/boards/{public.slug}/votes.csv"))
                                               .text.lstrip("\ufeff"))))
        assert len(rows) == 2 and {r["prompt"] for r in rows} == {"public kite"}
    async with app.state.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Comment))).scalar_one() == 2
        assert (await s.execute(select(Board.name).where(Board.id == public.id))).scalar_one() == "Open kites"


async def test_invites_accept_expire_revoke(app):
    team = await make_team(app)
    async with team.client("owner") as owner:
        r = await owner.post(f"/api/boards/{team.board.slug}/invites", json={"role": "editor", "expires_in_hours": 2})
        assert r.status_code == 201
        url, invite_id = r.json()["url"], r.json()["id"]
        token = url.rsplit("/", 1)[1]
        assert (await owner.get(f"/api/boards/{team.board.slug}/invites")).json()[0]["role"] == "editor"
        bad = await owner.post(f"/api/boards/{team.board.slug}/invites", json={"role": "voter",
                                                                               "expires_in_hours": 9999})
        assert bad.status_code == 422
    newbie = await make_user(app, "newbie@example.com")
    async with client_for(app, await session_token(app, newbie)) as c:
        assert (await c.get(f"/b/{team.board.slug}")).status_code == 404
        page = await c.get(f"/invite/{token}")
        assert page.status_code == 200 and "editor" in page.text and team.board.name in page.text
        r = await c.post(f"/invite/{token}")
        assert r.status_code == 303 and r.headers["location"] == f"/b/{team.board.slug}"
        assert (await c.get(f"/b/{team.board.slug}")).status_code == 200
    async with team.client("owner") as owner:
        members = {m["email"]: m["role"] for m in (await owner.get(f"/api/boards/{team.board.slug}/members")).json()}
        assert members["newbie@example.com"] == "editor"
        assert (await owner.delete(f"/api/boards/{team.board.slug}/invites/{invite_id}")).status_code == 204
    async with client_for(app) as anon:
        gone = await anon.get(f"/invite/{token}", headers={"accept": "text/html"})
        assert gone.status_code == 410 and "revoked" in gone.text
        assert (await anon.get("/invite/not-a-token")).status_code == 404
    # an expired invite
    async with app.state.db.session() as s:
        from app.invites import create_invite

        board = await s.get(Board, team.board.id)
        new = await create_invite(s, board, team.users["owner"].id, "voter", 1)
        inv = await s.get(Invite, new.invite.id)
        inv.expires_at = inv.expires_at - timedelta(hours=2)
        await s.commit()
    async with team.client("outsider") as c:
        r = await c.post(f"/invite/{new.token}")
        assert r.status_code == 410 and "expired" in r.json()["detail"]
        assert (await c.get(f"/b/{team.board.slug}")).status_code == 404


async def test_sign_up_from_an_invite(app):
    team = await make_team(app)
    async with app.state.db.session() as s:
        from app.invites import create_invite

        new = await create_invite(s, await s.get(Board, team.board.id), None, "voter", 24)
    async with client_for(app) as c:
        page = await c.get(f"/signup?invite={new.token}")
        assert page.status_code == 200 and "Join" in page.text and team.board.name in page.text
        r = await c.post("/signup", data={"email": "rev@example.com", "password": PASSWORD, "invite": new.token})
        assert r.status_code == 303 and r.headers["location"] == f"/b/{team.board.slug}"
        assert (await c.get(f"/api/boards/{team.board.slug}")).json()["role"] == "voter"


async def test_member_roles_and_the_last_owner(app):
    team = await make_team(app)
    slug, voter = team.board.slug, team.users["voter"]
    async with team.client("owner") as owner:
        r = await owner.put(f"/api/boards/{slug}/members/{voter.id}", json={"role": "editor"})
        assert r.status_code == 200 and r.json()["role"] == "editor"
        me = team.users["owner"].id
        r = await owner.put(f"/api/boards/{slug}/members/{me}", json={"role": "voter"})
        assert r.status_code == 409 and "at least one owner" in r.json()["detail"]
        r = await owner.post(f"/b/{slug}/members/{voter.id}", data={"role": "viewer"})
        assert r.status_code == 303
        assert (await owner.delete(f"/api/boards/{slug}/members/{voter.id}")).status_code == 204
        assert voter.id not in {m["user_id"] for m in (await owner.get(f"/api/boards/{slug}/members")).json()}
        page = await owner.get(f"/b/{slug}/settings")
        assert page.status_code == 200 and "editor@example.com" in page.text
    async with team.client("voter") as c:
        assert (await c.get(f"/b/{slug}")).status_code == 404


# ---- comments ---------------------------------------------------------------------------------

async def test_comments_at_a_time_code(app):
    team = await make_team(app, blind=True)
    c = await ready_comparison(app, team.board)
    a, b = (t.id for t in c.takes)
    async with team.client("voter") as voter:
        r = await voter.post(f"/api/comparisons/{c.id}/comments", json={"take": a, "time_s": 2.5,
                                                                         "body": "the hand melts here"})
        assert r.status_code == 201 and r.json()["time_s"] == 2.5
        for body, needle in (({"take": a, "time_s": 9, "body": "x"}, "past the end"),
                             ({"take": "nope", "time_s": 1, "body": "x"}, "not part of this comparison"),
                             ({"take": a, "time_s": 1, "body": "  "}, "empty"),
                             ({"take": a, "time_s": -1, "body": "x"}, "0 s or later"),
                             ({"take": a, "time_s": 1, "body": "x" * 2001}, "limit is 2000")):
            bad = await voter.post(f"/api/comparisons/{c.id}/comments", json=body)
            assert bad.status_code == 422 and needle in bad.json()["detail"], bad.text
        frag = await voter.get(f"/c/{c.id}/comments")
        assert 'data-time="2.5"' in frag.text and "00:02.5" in frag.text and "the hand melts here" in frag.text
    async with team.client("editor") as editor:
        # blind board: others' comments wait until you have voted
        before = (await editor.get(f"/api/comparisons/{c.id}/comments")).json()
        assert before == {"comments": [], "hidden_until_you_vote": 1}
        await editor.post(f"/api/comparisons/{c.id}/votes", json={"take_a": a, "take_b": b, "outcome": "b"})
        after = (await editor.get(f"/api/comparisons/{c.id}/comments")).json()
        assert [x["body"] for x in after["comments"]] == ["the hand melts here"] and after["comments"][0]["author"] == "Voter"
        cid = after["comments"][0]["id"]
        assert (await editor.delete(f"/api/comparisons/{c.id}/comments/{cid}")).status_code == 403
    async with team.client("viewer") as viewer:
        r = await viewer.post(f"/api/comparisons/{c.id}/comments", json={"take": a, "time_s": 1, "body": "hi"})
        assert r.status_code == 403 and "viewer" in r.json()["detail"]
        # a viewer has no vote to bias: comments show at once, even on a blind board
        assert len((await viewer.get(f"/api/comparisons/{c.id}/comments")).json()["comments"]) == 1
    async with team.client("owner") as owner:
        assert (await owner.delete(f"/api/comparisons/{c.id}/comments/{cid}")).status_code == 204
    async with app.state.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Comment))).scalar_one() == 0


async def test_a_member_keeps_their_role_on_a_shared_board_and_authors_keep_their_comments(app):
    team = await make_team(app, visibility="link")
    c = await ready_comparison(app, team.board)
    a, b = (t.id for t in c.takes)
    async with team.client("voter") as voter:
        r = await voter.post(f"/api/comparisons/{c.id}/comments", json={"take": a, "time_s": 1, "body": "too dark"})
        assert r.status_code == 201
        cid = r.json()["id"]
    async with team.client("owner") as owner:
        r = await owner.put(f"/api/boards/{team.board.slug}/members/{team.users['voter'].id}", json={"role": "viewer"})
        assert r.status_code == 200, r.text
    for who in ("viewer", "voter"):   # the viewer member, and the voter now moved down to viewer
        async with team.client(who) as member:
            assert (await member.get(f"/s/{team.board.link_token}")).status_code == 303   # holds the link too
            r = await member.post(f"/api/comparisons/{c.id}/votes", json={"take_a": a, "take_b": b, "outcome": "a"})
            assert r.status_code == 403 and "your role on this board is viewer" in r.json()["detail"], r.text
    async with team.client("voter") as former:
        # … yet can still take back what they wrote
        assert (await former.delete(f"/api/comparisons/{c.id}/comments/{cid}")).status_code == 204
    async with client_for(app) as anon:   # a stranger with the link votes (shared access is for non-members)
        assert (await anon.get(f"/s/{team.board.link_token}")).status_code == 303
        r = await anon.post(f"/api/comparisons/{c.id}/votes", json={"take_a": a, "take_b": b, "outcome": "a"})
        assert r.status_code == 201, r.text


# ---- budget -----------------------------------------------------------------------------------

async def test_budget_refuses_a_comparison_that_would_exceed_it(app, tmp_path, no_generation):
    priced = tmp_path / "catalog.d"
    team = await make_team(app)
    async with app.state.db.session() as s:
        board = await s.get(Board, team.board.id)
        board.budget_usd = 1.0
        await s.commit()
    # demo models are free; give the board some spend with a priced take row and use a priced estimate
    c = await ready_comparison(app, team.board)
    async with app.state.db.session() as s:
        from app.models import Take

        t = await s.get(Take, c.takes[0].id)
        t.cost_estimate_usd = 0.8
        await s.commit()
    from app.budget import board_spend, check_budget
    from app.errors import OverBudget

    async with app.state.db.session() as s:
        board = await s.get(Board, team.board.id)
        assert await board_spend(s, board.id) == 0.8
        with pytest.raises(OverBudget) as e:
            await check_budget(s, board, [0.3, 0.0])
        assert "would cost $0.30" in e.value.message and "spent $0.80 of its $1.00 budget ($0.20 left)" in e.value.message
        await check_budget(s, board, [0.2])  # exactly what is left fits
        with pytest.raises(OverBudget, match="no known price"):
            await check_budget(s, board, [None], unpriced=["Mystery model"])
    async with team.client("owner") as owner:
        # a real request: a re-roll of the $0.80 take would exceed the budget
        r = await owner.post(f"/c/{c.id}/reroll", data={"model": c.takes[0].model_id})
        assert r.status_code == 402 and "$0.80" in r.json()["detail"]
        r = await owner.post(f"/api/comparisons/{c.id}/reroll", json={"model": c.takes[0].model_id})
        assert r.status_code == 402 and "$0.80" in r.json()["detail"]
        r = await owner.patch(f"/api/boards/{team.board.slug}", json={"budget_usd": 2})
        assert r.json()["budget_usd"] == 2 and r.json()["spent_usd"] == 0.8
        r = await owner.post(f"/c/{c.id}/reroll", data={"model": c.takes[0].model_id})
        assert r.status_code == 303
    assert priced  # (catalog dir unused: demo prices are 0)


# ---- board page -------------------------------------------------------------------------------

async def test_board_page_filters_progress_and_win_shares(app):
    team = await make_team(app, blind=False)
    c1 = await ready_comparison(app, team.board, prompt="first kite")
    c2 = await ready_comparison(app, team.board, models=("demo/aurora", "demo/ember"), prompt="second kite")
    await ready_comparison(app, team.board, models=("demo/blocks",), prompt="lonely kite")
    async with team.client("voter") as voter:
        a, b = (t for t in c1.takes)
        r = await voter.post(f"/api/comparisons/{c1.id}/votes", json={"take_a": a.id, "take_b": b.id, "outcome": "a"})
        assert r.status_code == 201
        page = await voter.get(f"/b/{team.board.slug}")
        assert "1 of 2 voted" in page.text
        assert "first kite" in page.text and "second kite" in page.text and "lonely kite" in page.text
        winner = r.json()["pairs"][0]
        won = winner["model_a"] if winner["winner"] == "model_a" else winner["model_b"]
        name = {"demo/aurora": "Aurora (demo)", "demo/blocks": "Blocks (demo)"}[won]
        assert f"<span>{name}</span>" in page.text and "100 %" in page.text and "0 %" in page.text
        unvoted = await voter.get(f"/b/{team.board.slug}", params={"mine": "unvoted"})
        assert "first kite" not in unvoted.text and "second kite" in unvoted.text and f"/c/{c2.id}" in unvoted.text
        voted = await voter.get(f"/b/{team.board.slug}", params={"mine": "voted"})
        assert "first kite" in voted.text and "second kite" not in voted.text
        ember = await voter.get(f"/b/{team.board.slug}", params={"model": "demo/ember"})
        assert "second kite" in ember.text and "first kite" not in ember.text
        ready = await voter.get(f"/b/{team.board.slug}", params={"status": "generating"})
        assert "No comparison matches" in ready.text


# ---- the review flow, accepting, re-rolling and exports under roles ---------------------------

def _csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


async def test_review_accept_reroll_and_exports_follow_roles(app, no_generation):
    async def no_jobs(ids):  # re-rolls are queued, not generated: this test is about who may ask
        return None

    app.state.queue.enqueue = no_jobs
    team = await make_team(app)
    c1 = await ready_comparison(app, team.board, prompt="first kite")
    c2 = await ready_comparison(app, team.board, prompt="second kite")
    slug = team.board.slug
    async with app.state.db.session() as s:
        from app.boards import create_board

        theirs = await create_board(s, name="Outsider's own", owner_id=team.users["outsider"].id, random_slug=True)
    c3 = await ready_comparison(app, theirs, prompt="secret kite")

    async with team.client("voter") as voter:
        assert (await voter.get(f"/api/boards/{slug}/next")).json()["comparison"] in (c1.id, c2.id)
        a, b = (t.id for t in c1.takes)
        assert (await voter.post(f"/api/comparisons/{c1.id}/votes",
                                 json={"take_a": a, "take_b": b, "outcome": "a"})).status_code == 201
        assert (await voter.get(f"/api/boards/{slug}/next")).json()["comparison"] == c2.id
        r = await voter.get(f"/b/{slug}/next")
        assert r.status_code == 303 and r.headers["location"] == f"/c/{c2.id}"
        # voters vote; accepting and re-rolling are the editor's
        for url, body in ((f"/api/comparisons/{c1.id}/takes/{a}/accept", None),
                          (f"/api/comparisons/{c1.id}/reroll", {"model": "demo/aurora"})):
            r = await voter.post(url, json=body)
            assert r.status_code == 403 and "needs editor" in r.json()["detail"], r.text
        assert (await voter.post(f"/c/{c1.id}/takes/{a}/accept")).status_code == 403
        page = (await voter.get(f"/c/{c1.id}")).text
        # revealed after the vote, but without the editor's buttons
        assert "Aurora (demo)" in page and f"/takes/{a}/accept" not in page and f"/c/{c1.id}/reroll" not in page
    async with team.client("viewer") as viewer:
        # a viewer may walk through the board, not vote
        assert (await viewer.get(f"/api/boards/{slug}/next")).json()["comparison"] in (c1.id, c2.id)
        page = (await viewer.get(f"/c/{c1.id}")).text
        assert 'id="vote-not-allowed"' in page and "data-vote-form" not in page
        assert 'id="review-board"' not in (await viewer.get(f"/b/{slug}")).text
    async with team.client("editor") as editor:
        r = await editor.post(f"/api/comparisons/{c1.id}/takes/{a}/accept")
        assert r.status_code == 200 and r.json()["accepted"] is True
        r = await editor.post(f"/api/comparisons/{c1.id}/reroll", json={"model": "demo/aurora"})
        assert r.status_code == 202 and r.json()["attempt"] == 2
        r = await editor.post(f"/c/{c1.id}/takes/{a}/unaccept")
        assert r.status_code == 303
        # a take of another comparison is not reachable through this one
        assert (await editor.post(f"/api/comparisons/{c1.id}/takes/{c2.takes[0].id}/accept")).status_code == 404
    async with team.client("outsider") as outsider:
        # an outsider gets the 404 of a missing comparison, for reads and writes alike
        for url in (f"/api/boards/{slug}/next", f"/b/{slug}/next"):
            assert (await outsider.get(url)).status_code == 404, url
        r = await outsider.post(f"/api/comparisons/{c1.id}/takes/{a}/accept")
        assert r.status_code == 404 and r.json()["detail"] == f"no comparison {c1.id!r}"
        x, y = (t.id for t in c3.takes)
        assert (await outsider.post(f"/api/comparisons/{c3.id}/votes",
                                    json={"take_a": x, "take_b": y, "outcome": "b"})).status_code == 201
        # every board's votes = every board *you can see*
        rows = _csv_rows((await outsider.get("/api/votes.csv")).text)
        assert [r["prompt"] for r in rows] == ["secret kite"]
    async with team.client("owner") as owner:
        rows = _csv_rows((await owner.get("/api/votes.csv")).text)
        assert [r["prompt"] for r in rows] == ["first kite"] and rows[0]["board"] == slug
    async with team.client("admin") as admin:
        rows = _csv_rows((await admin.get("/api/votes.csv")).text)
        assert sorted(r["prompt"] for r in rows) == ["first kite", "secret kite"]
    async with client_for(app) as anon:
        r = await anon.get("/api/votes.csv")
        assert r.status_code == 200 and _csv_rows(r.text) == [] and r.text.lstrip("\ufeff").startswith("vote_id,")


async def test_one_settings_page_for_voting_visibility_and_budget(app):
    team = await make_team(app)
    slug = team.board.slug
    async with team.client("owner") as owner:
        board_page = (await owner.get(f"/b/{slug}")).text
        # the board page links to the settings; it has no settings form of its own
        assert f'href="/b/{slug}/settings"' in board_page and f'action="/b/{slug}/settings"' not in board_page
        page = (await owner.get(f"/b/{slug}/settings")).text
        for field in ('name="name"', 'name="description"', 'name="visibility"', 'name="budget_usd"', 'name="blind"',
                      'name="criteria" value="motion"', 'name="criteria" value="image_fidelity"'):
            assert field in page, field
        r = await owner.post(f"/b/{slug}/settings", data={"name": "Launch shots v2", "description": "why",
                                                          "visibility": "link", "budget_usd": "12.5",
                                                          "criteria": ["motion", "image_fidelity"]})
        assert r.status_code == 303
        b = (await owner.get(f"/api/boards/{slug}")).json()
        assert (b["name"], b["visibility"], b["budget_usd"], b["blind"], b["criteria"]) == (
            "Launch shots v2", "link", 12.5, False, ["overall", "motion", "image_fidelity"])
        assert "asks about overall, motion and physics realism" in (await owner.get(f"/b/{slug}")).text
    async with team.client("editor") as editor:
        r = await editor.post(f"/b/{slug}/settings", data={"name": "x", "blind": "on"})
        assert r.status_code == 403
