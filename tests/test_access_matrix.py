"""The access matrix: every route of the app × every kind of visitor → the expected status.

The routes come from the router itself (app.routes), and every one must have a rule in RULES,
keyed by method and path: a new route without a rule fails this test, naming it, and so does a
rule for a route that no longer exists. A rule says what the route needs (a role on the board,
a signed-in user, or nothing) and which status means success; the expected status for each
visitor follows from their role on the board the request is about:

    allowed → the rule's success status
    no role at all → 404 (exactly as for a board that does not exist)
    a role, but too small → 403
    "sign in first" routes, anonymous → 401

Visitors: owner, editor, voter, viewer (members of the board), outsider (signed in, not a
member), admin, anonymous — on a private board; anonymous with and without the share link
on a link-shared board; and, on a public board (listed: everyone is a voter there), an
anonymous visitor who never opened any link and a signed-in outsider — both may view, vote
and comment, neither may edit or manage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import httpx
import pytest
from itsdangerous import Signer

from app import accounts
from app.access import ACTIONS, allows
from app.boards import create_board
from app.invites import create_invite
from sqlalchemy import delete, select

from app.models import ApiToken, Board, Comment, Take, Voter
from app.web.security import csrf_for
from tests.support import sqlite_only
from tests.support.factories import PASSWORD, add_member, make_user, ready_comparison
from tests.support.team import make_team

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only


# ---- the world --------------------------------------------------------------------------------

@dataclass
class BoardWorld:
    board: Board
    comparison_id: str
    take_a: str
    take_b: str


@dataclass
class Persona:
    name: str
    target: str                      # "private", "link" or "public": the board its requests are about
    user: Any = None
    session: str | None = None
    cookies: dict = field(default_factory=dict)
    voter_id: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.user is None


@dataclass
class World:
    app: Any
    boards: dict[str, BoardWorld]
    scratch: Board
    owner: Any
    counter: int = 0

    def next(self) -> int:
        self.counter += 1
        return self.counter

    async def db(self):
        return self.app.state.db.session()


@dataclass
class Req:
    path: str
    json: Any = None
    data: dict | None = None
    params: dict | None = None
    session: str | None = None        # replaces the persona's session (for destructive account routes)
    cleanup: Callable[[], Awaitable[None]] | None = None


@dataclass
class Rule:
    needs: str                        # public | user | create | view | vote | comment | edit | manage | share
    ok: int
    build: Callable[["World", Persona, BoardWorld], Awaitable[Req]]


def fixed(path: str, **kw) -> Callable:
    async def build(w, p, bw):
        return Req(path.format(slug=bw.board.slug, cid=bw.comparison_id, tid=bw.take_a), **kw)
    return build


# Helpers that make a fresh object for a request that consumes or changes one.

async def _fresh_user(w: World) -> Any:
    return await make_user(w.app, f"tmp{w.next()}@example.com")


async def _throwaway_session(w: World, p: Persona) -> str | None:
    """Account routes that sign out or change a password act on a throwaway user, so the
    persona's own session survives for the rest of the matrix."""
    if p.anonymous:
        return None
    user = await _fresh_user(w)
    async with await w.db() as s:
        return await accounts.start_session(s, user)


async def _member(w: World, bw: BoardWorld) -> str:
    user = await _fresh_user(w)
    await add_member(w.app, bw.board, user, "voter")
    return user.id


async def _invite(w: World, board: Board) -> tuple[str, str]:
    async with await w.db() as s:
        new = await create_invite(s, await s.get(Board, board.id), None, "viewer", 24)
        return new.invite.id, new.token


async def _comment(w: World, p: Persona, bw: BoardWorld) -> str:
    async with await w.db() as s:
        voter = p.voter_id or (p.user.voter_id if p.user else None)
        if voter is None:
            v = Voter()
            s.add(v)
            await s.flush()
            voter = v.id
        c = Comment(board_id=bw.board.id, comparison_id=bw.comparison_id, take_id=bw.take_a, voter_id=voter,
                    time_s=1.0, body="a comment")
        s.add(c)
        await s.commit()
        return c.id


async def _token(w: World, p: Persona) -> str:
    user_id = p.user.id if p.user else w.owner.id
    async with await w.db() as s:
        t = ApiToken(user_id=user_id, name="t", token_hash=accounts.digest(f"takes_{w.next()}x"), prefix="takes_x")
        s.add(t)
        await s.commit()
        return t.id


def _restore_board(w: World, bw: BoardWorld, **values) -> Callable:
    async def cleanup():
        async with await w.db() as s:
            b = await s.get(Board, bw.board.id)
            for k, v in values.items():
                setattr(b, k, v)
            await s.commit()
    return cleanup


async def b_signin(w, p, bw):
    """Signing in ends the browser's previous session (no fixation): use a throwaway one."""
    user = await _fresh_user(w)
    return Req("/signin", data={"email": user.email, "password": PASSWORD}, session=await _throwaway_session(w, p))


async def b_signup(w, p, bw):
    return Req("/signup", data={"email": f"new{w.next()}@example.com", "password": PASSWORD})


async def b_signout(w, p, bw):
    return Req("/signout", session=await _throwaway_session(w, p))


async def b_password(w, p, bw):
    return Req("/account/password", session=await _throwaway_session(w, p),
               data={"password": PASSWORD, "new_password": "brand new pass", "new_password_again": "brand new pass"})


async def b_revoke_token_form(w, p, bw):
    return Req(f"/account/tokens/{await _token(w, p)}/revoke")


async def b_revoke_token_api(w, p, bw):
    return Req(f"/api/tokens/{await _token(w, p)}")


async def b_delete_selection(w, p, bw):
    from app.models import SavedSelection

    async with await w.db() as s:
        row = SavedSelection(user_id=p.user.id if p.user else w.owner.id, name=f"s{w.next()}", models=["demo/aurora"])
        s.add(row)
        await s.commit()
        return Req(f"/api/selections/{row.id}")


async def b_share(w, p, bw):
    return Req(f"/s/{bw.board.link_token}")


async def b_invite_page(w, p, bw):
    _, token = await _invite(w, w.scratch)
    return Req(f"/invite/{token}")


async def b_settings(w, p, bw):
    return Req(f"/b/{bw.board.slug}/settings", data={"name": bw.board.name, "description": "d",
                                                      "visibility": bw.board.visibility, "blind": "on"})


async def b_archive(w, p, bw):
    return Req(f"/b/{bw.board.slug}/archive", cleanup=_restore_board(w, bw, archived_at=None))


async def b_new_link(w, p, bw):
    return Req(f"/b/{bw.board.slug}/link", cleanup=_restore_board(w, bw, link_token=bw.board.link_token))


async def _webhook(w, bw) -> str:
    """A fresh endpoint row (written directly: the matrix makes more than a board may add)."""
    from app.models import BoardWebhook

    async with await w.db() as s:
        hook = BoardWebhook(board_id=bw.board.id, url="https://hooks.example.com/x", events=["vote.cast"],
                            secret="whsec_dGVzdA==")
        s.add(hook)
        await s.commit()
        return hook.id


async def b_delete_webhook_form(w, p, bw):
    return Req(f"/b/{bw.board.slug}/webhooks/{await _webhook(w, bw)}/delete")


async def b_delete_webhook_api(w, p, bw):
    return Req(f"/api/boards/{bw.board.slug}/webhooks/{await _webhook(w, bw)}")


async def b_revoke_invite_form(w, p, bw):
    invite_id, _ = await _invite(w, bw.board)
    return Req(f"/b/{bw.board.slug}/invites/{invite_id}/revoke")


async def b_revoke_invite_api(w, p, bw):
    invite_id, _ = await _invite(w, bw.board)
    return Req(f"/api/boards/{bw.board.slug}/invites/{invite_id}")


async def b_member_role_form(w, p, bw):
    return Req(f"/b/{bw.board.slug}/members/{await _member(w, bw)}", data={"role": "viewer"})


async def b_member_remove_form(w, p, bw):
    return Req(f"/b/{bw.board.slug}/members/{await _member(w, bw)}/remove")


async def b_member_role_api(w, p, bw):
    return Req(f"/api/boards/{bw.board.slug}/members/{await _member(w, bw)}", json={"role": "viewer"})


async def b_member_remove_api(w, p, bw):
    return Req(f"/api/boards/{bw.board.slug}/members/{await _member(w, bw)}")


async def b_delete_comment_form(w, p, bw):
    return Req(f"/c/{bw.comparison_id}/comments/{await _comment(w, p, bw)}/delete")


async def b_delete_comment_api(w, p, bw):
    return Req(f"/api/comparisons/{bw.comparison_id}/comments/{await _comment(w, p, bw)}")


async def b_vote_form(w, p, bw):
    return Req(f"/c/{bw.comparison_id}/vote", data={"kind": "pair", "take_a": bw.take_a, "take_b": bw.take_b,
                                                    "outcome": "a"})


async def b_vote_api(w, p, bw):
    return Req(f"/api/comparisons/{bw.comparison_id}/votes",
               json={"take_a": bw.take_a, "take_b": bw.take_b, "outcome": "tie"})


async def b_comment_form(w, p, bw):
    return Req(f"/c/{bw.comparison_id}/comments", data={"take": bw.take_a, "time_s": "1.5", "body": "why"})


async def b_comment_api(w, p, bw):
    return Req(f"/api/comparisons/{bw.comparison_id}/comments", json={"take": bw.take_a, "time_s": 1.5, "body": "why"})


async def b_compare_form(w, p, bw):
    return Req("/comparisons", data={"prompt": "p", "models": "demo/aurora", "duration_s": "4", "resolution": "360p",
                                     "board": bw.board.slug})


async def b_compare_api(w, p, bw):
    return Req("/api/comparisons", json={"prompt": "p", "models": ["demo/aurora"], "duration_s": 4,
                                         "resolution": "360p", "board": bw.board.slug})


def _drop_rerolls(w: World, bw: BoardWorld) -> Callable:
    """A re-roll adds a take, and a grid holds at most six: remove it again, so that every
    persona allowed to re-roll gets the success status, not the cap's 409."""
    async def cleanup():
        async with await w.db() as s:
            await s.execute(delete(Take).where(Take.comparison_id == bw.comparison_id,
                                               Take.id.not_in((bw.take_a, bw.take_b))))
            await s.commit()
    return cleanup


async def b_reroll(w, p, bw):
    return Req(f"/c/{bw.comparison_id}/reroll", data={"model": "demo/aurora"}, cleanup=_drop_rerolls(w, bw))


async def b_reroll_api(w, p, bw):
    return Req(f"/api/comparisons/{bw.comparison_id}/reroll", json={"model": "demo/aurora"},
               cleanup=_drop_rerolls(w, bw))


async def b_accept_invite(w, p, bw):
    _, token = await _invite(w, w.scratch)
    return Req(f"/invite/{token}")


async def b_accept_invite_api(w, p, bw):
    _, token = await _invite(w, w.scratch)
    return Req(f"/api/invites/{token}/accept")


async def _suite_id(w: World, bw: BoardWorld) -> str:
    """The board's suite (made on first use, holding the board's comparison)."""
    from app.models import Comparison, Suite

    async with await w.db() as s:
        found = (await s.execute(select(Suite.id).where(Suite.board_id == bw.board.id, Suite.name == "matrix"))).scalar_one_or_none()
        if found:
            return found
        suite = Suite(board_id=bw.board.id, name="matrix", models=["demo/aurora", "demo/blocks"], prompts=1)
        s.add(suite)
        await s.flush()
        (await s.get(Comparison, bw.comparison_id)).suite_id = suite.id
        await s.commit()
        return suite.id


def suite(path: str, **kw) -> Callable:
    """A request about the board's suite; a control action is undone after (status running)."""
    async def build(w, p, bw):
        from app.models import Suite

        sid = await _suite_id(w, bw)

        async def cleanup():
            async with await w.db() as s:
                (await s.get(Suite, sid)).status = "running"
                await s.commit()
        return Req(path.format(sid=sid), cleanup=cleanup, **kw)
    return build


def _suite_form(bw: BoardWorld) -> dict:
    return {"name": "s", "board": bw.board.slug, "models": "demo/aurora", "duration_s": "2", "resolution": "360p",
            "source": "paste", "lines": "a kite | sky"}


def _suite_json(bw: BoardWorld) -> dict:
    return {"name": "s", "board": bw.board.slug, "models": ["demo/aurora"], "duration_s": 2, "resolution": "360p",
            "prompts": [{"prompt": "a kite", "tags": ["sky"]}]}


async def b_suite_form(w, p, bw):
    return Req("/suites", data=_suite_form(bw))


async def b_suite_preview_form(w, p, bw):
    return Req("/suites/preview", data=_suite_form(bw))


async def b_suite_api(w, p, bw):
    return Req("/api/suites", json=_suite_json(bw))


async def b_suite_preview_api(w, p, bw):
    return Req("/api/suites/preview", json=_suite_json(bw))


async def b_comparison_link(w, p, bw):
    from app.models import Comparison

    async with await w.db() as s:
        c = await s.get(Comparison, bw.comparison_id)
        c.link_token = c.link_token or f"cl-{bw.comparison_id}"
        await s.commit()
        return Req(f"/v/{c.link_token}")


C = "/c/{comparison_id}"
RULES: dict[tuple[str, str], Rule] = {
    # framework and static
    ("GET", "/openapi.json"): Rule("public", 200, fixed("/openapi.json")),
    ("GET", "/docs"): Rule("public", 200, fixed("/docs")),
    ("GET", "/docs/oauth2-redirect"): Rule("public", 200, fixed("/docs/oauth2-redirect")),
    ("GET", "/redoc"): Rule("public", 200, fixed("/redoc")),
    ("GET", "/static"): Rule("public", 200, fixed("/static/app.css")),
    # pages without a board
    ("GET", "/"): Rule("public", 200, fixed("/")),
    ("GET", "/boards"): Rule("public", 200, fixed("/boards")),
    ("GET", "/models"): Rule("public", 200, fixed("/models")),
    ("GET", "/api/models"): Rule("public", 200, fixed("/api/models")),
    ("GET", "/api/estimate"): Rule("public", 200, fixed("/api/estimate", params={"models": "demo/aurora"})),
    ("GET", "/api/me"): Rule("public", 200, fixed("/api/me")),
    ("GET", "/api/boards"): Rule("public", 200, fixed("/api/boards")),
    # every visible board's votes: anyone may ask, each gets only the boards they can see
    # (tests/test_teams.py checks which boards' rows each visitor gets)
    ("GET", "/api/votes.csv"): Rule("public", 200, fixed("/api/votes.csv")),
    ("GET", "/api/takes.csv"): Rule("public", 200, fixed("/api/takes.csv")),
    # leaderboards over every visible board: the same rule (tests/test_leaderboard_access.py checks
    # that a private board's votes stay out of an outsider's)
    ("GET", "/leaderboard"): Rule("public", 200, fixed("/leaderboard")),
    ("GET", "/api/leaderboard"): Rule("public", 200, fixed("/api/leaderboard")),
    ("GET", "/api/leaderboard.csv"): Rule("public", 200, fixed("/api/leaderboard.csv")),
    ("GET", "/api/comparison-table.csv"): Rule("public", 200, fixed("/api/comparison-table.csv")),
    # accounts
    ("GET", "/signin"): Rule("public", 200, fixed("/signin")),
    ("POST", "/signin"): Rule("public", 303, b_signin),
    ("GET", "/signup"): Rule("public", 200, fixed("/signup")),
    ("POST", "/signup"): Rule("public", 303, b_signup),
    ("POST", "/signout"): Rule("public", 303, b_signout),
    ("POST", "/me/name"): Rule("public", 303, fixed("/me/name", data={"name": "Rev"})),
    ("PUT", "/api/me/name"): Rule("public", 200, fixed("/api/me/name", json={"name": "Rev"})),
    ("GET", "/account"): Rule("user", 200, fixed("/account")),
    ("POST", "/account/password"): Rule("user", 200, b_password),
    ("POST", "/account/name"): Rule("user", 303, fixed("/account/name", data={"name": "N"})),
    ("POST", "/account/tokens"): Rule("user", 200, fixed("/account/tokens", data={"name": "t"})),
    ("POST", "/account/tokens/{token_id}/revoke"): Rule("user", 303, b_revoke_token_form),
    ("GET", "/api/tokens"): Rule("user", 200, fixed("/api/tokens")),
    ("GET", "/api/selections"): Rule("user", 200, fixed("/api/selections")),
    ("POST", "/api/selections"): Rule("user", 201, fixed("/api/selections", json={"name": "s", "models": ["demo/aurora"]})),
    ("DELETE", "/api/selections/{selection_id}"): Rule("user", 204, b_delete_selection),
    ("POST", "/api/tokens"): Rule("user", 201, fixed("/api/tokens", json={"name": "t"})),
    ("DELETE", "/api/tokens/{token_id}"): Rule("user", 204, b_revoke_token_api),
    # making things
    ("POST", "/boards"): Rule("user", 303, fixed("/boards", data={"name": "New"})),
    ("POST", "/api/boards"): Rule("user", 201, fixed("/api/boards", json={"name": "New"})),
    ("POST", "/comparisons"): Rule("create", 303, b_compare_form),
    ("POST", "/api/comparisons"): Rule("create", 202, b_compare_api),
    ("POST", "/suites"): Rule("create", 303, b_suite_form),
    ("POST", "/suites/preview"): Rule("create", 200, b_suite_preview_form),
    ("POST", "/api/suites"): Rule("create", 202, b_suite_api),
    ("POST", "/api/suites/preview"): Rule("create", 200, b_suite_preview_api),
    ("GET", "/suites/new"): Rule("public", 200, fixed("/suites/new")),
    ("GET", "/api/suites/bundled"): Rule("public", 200, fixed("/api/suites/bundled")),
    # a suite: its board's rules
    ("GET", "/suites/{suite_id}"): Rule("view", 200, suite("/suites/{sid}")),
    ("GET", "/suites/{suite_id}/progress"): Rule("view", 200, suite("/suites/{sid}/progress")),
    ("GET", "/suites/{suite_id}/report"): Rule("view", 200, suite("/suites/{sid}/report")),
    ("GET", "/api/suites/{suite_id}"): Rule("view", 200, suite("/api/suites/{sid}")),
    **{("POST", f"/suites/{{suite_id}}/{a}"): Rule("edit", 303, suite(f"/suites/{{sid}}/{a}"))
       for a in ("pause", "resume", "cancel", "retry")},
    **{("POST", f"/api/suites/{{suite_id}}/{a}"): Rule("edit", 200, suite(f"/api/suites/{{sid}}/{a}"))
       for a in ("pause", "resume", "cancel", "retry")},
    # share links and invites
    ("GET", "/s/{token}"): Rule("share", 303, b_share),
    ("GET", "/invite/{token}"): Rule("public", 200, b_invite_page),
    ("POST", "/invite/{token}"): Rule("user", 303, b_accept_invite),
    ("POST", "/api/invites/{token}/accept"): Rule("user", 200, b_accept_invite_api),
    # a board
    ("GET", "/b/{slug}"): Rule("view", 200, fixed("/b/{slug}")),
    ("GET", "/api/boards/{slug}"): Rule("view", 200, fixed("/api/boards/{slug}")),
    ("GET", "/api/boards/{slug}/votes.csv"): Rule("view", 200, fixed("/api/boards/{slug}/votes.csv")),
    ("GET", "/api/boards/{slug}/takes.csv"): Rule("view", 200, fixed("/api/boards/{slug}/takes.csv")),
    ("GET", "/b/{slug}/leaderboard"): Rule("view", 200, fixed("/b/{slug}/leaderboard")),
    ("GET", "/api/boards/{slug}/leaderboard"): Rule("view", 200, fixed("/api/boards/{slug}/leaderboard")),
    ("GET", "/api/boards/{slug}/comparison-table"): Rule("view", 200, fixed("/api/boards/{slug}/comparison-table")),
    ("GET", "/api/boards/{slug}/leaderboard.csv"): Rule("view", 200, fixed("/api/boards/{slug}/leaderboard.csv")),
    ("GET", "/api/boards/{slug}/comparison-table.csv"):
        Rule("view", 200, fixed("/api/boards/{slug}/comparison-table.csv")),
    # the review flow: GETs run before any vote of the matrix, so there is an unvoted comparison
    ("GET", "/b/{slug}/next"): Rule("view", 303, fixed("/b/{slug}/next")),
    ("GET", "/api/boards/{slug}/next"): Rule("view", 200, fixed("/api/boards/{slug}/next")),
    ("GET", "/b/{slug}/decisions"): Rule("view", 200, fixed("/b/{slug}/decisions")),
    ("GET", "/b/{slug}/report"): Rule("view", 200, fixed("/b/{slug}/report")),
    ("GET", "/b/{slug}/reviewers"): Rule("manage", 200, fixed("/b/{slug}/reviewers")),
    ("GET", "/api/boards/{slug}/reviewers"): Rule("manage", 200, fixed("/api/boards/{slug}/reviewers")),
    ("GET", "/b/{slug}/settings"): Rule("manage", 200, fixed("/b/{slug}/settings")),
    ("POST", "/b/{slug}/settings"): Rule("manage", 303, b_settings),
    ("POST", "/b/{slug}/archive"): Rule("manage", 303, b_archive),
    ("POST", "/b/{slug}/observer"): Rule("edit", 303, fixed("/b/{slug}/observer", data={"observer": "false"})),
    ("PUT", "/api/boards/{slug}/observer"): Rule("edit", 200, fixed("/api/boards/{slug}/observer",
                                                                   json={"observer": False})),
    ("POST", "/b/{slug}/restore"): Rule("manage", 303, fixed("/b/{slug}/restore")),
    ("POST", "/b/{slug}/link"): Rule("manage", 303, b_new_link),
    ("POST", "/b/{slug}/invites"): Rule("manage", 200, fixed("/b/{slug}/invites", data={"role": "voter"})),
    ("POST", "/b/{slug}/invites/{invite_id}/revoke"): Rule("manage", 303, b_revoke_invite_form),
    ("POST", "/b/{slug}/members/{user_id}"): Rule("manage", 303, b_member_role_form),
    ("POST", "/b/{slug}/members/{user_id}/remove"): Rule("manage", 303, b_member_remove_form),
    ("PATCH", "/api/boards/{slug}"): Rule("manage", 200, fixed("/api/boards/{slug}", json={"description": "d"})),
    ("GET", "/api/boards/{slug}/members"): Rule("manage", 200, fixed("/api/boards/{slug}/members")),
    ("PUT", "/api/boards/{slug}/members/{user_id}"): Rule("manage", 200, b_member_role_api),
    ("DELETE", "/api/boards/{slug}/members/{user_id}"): Rule("manage", 204, b_member_remove_api),
    ("GET", "/api/boards/{slug}/invites"): Rule("manage", 200, fixed("/api/boards/{slug}/invites")),
    ("POST", "/api/boards/{slug}/invites"): Rule("manage", 201, fixed("/api/boards/{slug}/invites",
                                                                      json={"role": "voter"})),
    ("DELETE", "/api/boards/{slug}/invites/{invite_id}"): Rule("manage", 204, b_revoke_invite_api),
    # outgoing webhooks (owners)
    ("POST", "/b/{slug}/webhooks"): Rule("manage", 303, fixed("/b/{slug}/webhooks", data={
        "url": "https://hooks.example.com/a", "events": "take.ready"})),
    ("POST", "/b/{slug}/webhooks/{webhook_id}/delete"): Rule("manage", 303, b_delete_webhook_form),
    ("GET", "/api/boards/{slug}/webhooks"): Rule("manage", 200, fixed("/api/boards/{slug}/webhooks")),
    ("POST", "/api/boards/{slug}/webhooks"): Rule("manage", 201, fixed("/api/boards/{slug}/webhooks", json={
        "url": "https://hooks.example.com/b", "events": ["vote.cast"]})),
    ("DELETE", "/api/boards/{slug}/webhooks/{webhook_id}"): Rule("manage", 204, b_delete_webhook_api),
    ("GET", "/api/boards/{slug}/webhooks/deliveries"): Rule("manage", 200,
                                                           fixed("/api/boards/{slug}/webhooks/deliveries")),
    # a comparison
    ("GET", C): Rule("view", 200, fixed("/c/{cid}")),
    ("GET", C + "/status"): Rule("view", 200, fixed("/c/{cid}/status")),
    ("GET", C + "/grid"): Rule("view", 200, fixed("/c/{cid}/grid")),
    ("GET", C + "/comments"): Rule("view", 200, fixed("/c/{cid}/comments")),
    ("GET", C + "/events"): Rule("view", 200, fixed("/c/{cid}/events", params={"hold_s": "0"})),
    ("GET", "/b/{slug}/events"): Rule("view", 200, fixed("/b/{slug}/events", params={"hold_s": "0"})),
    ("POST", C + "/link"): Rule("edit", 303, fixed("/c/{cid}/link")),
    ("POST", C + "/link/revoke"): Rule("edit", 303, fixed("/c/{cid}/link/revoke")),
    ("POST", "/api/comparisons/{comparison_id}/link"): Rule("edit", 201, fixed("/api/comparisons/{cid}/link")),
    ("DELETE", "/api/comparisons/{comparison_id}/link"): Rule("edit", 204, fixed("/api/comparisons/{cid}/link")),
    ("GET", "/v/{token}"): Rule("public", 303, b_comparison_link),
    ("GET", "/api/comparisons/{comparison_id}/takes.zip"): Rule("view", 200, fixed("/api/comparisons/{cid}/takes.zip")),
    ("GET", "/api/comparisons/{comparison_id}/comments.csv"):
        Rule("view", 200, fixed("/api/comparisons/{cid}/comments.csv")),
    ("GET", "/api/comparisons/{comparison_id}/takes/{take_id}/markers.edl"):
        Rule("view", 200, fixed("/api/comparisons/{cid}/takes/{tid}/markers.edl")),
    ("GET", "/api/comparisons/{comparison_id}/takes/{take_id}/markers.xml"):
        Rule("view", 200, fixed("/api/comparisons/{cid}/takes/{tid}/markers.xml")),
    ("POST", C + "/vote"): Rule("vote", 200, b_vote_form),
    ("POST", C + "/comments"): Rule("comment", 200, b_comment_form),
    ("POST", C + "/comments/{comment_id}/delete"): Rule("view", 200, b_delete_comment_form),   # own comment
    ("POST", C + "/takes/{take_id}/cancel"): Rule("edit", 303, fixed("/c/{cid}/takes/{tid}/cancel")),
    ("POST", "/api/comparisons/{comparison_id}/takes/{take_id}/cancel"): Rule(
        "edit", 200, fixed("/api/comparisons/{cid}/takes/{tid}/cancel")),
    ("POST", C + "/reroll"): Rule("edit", 303, b_reroll),
    ("POST", C + "/takes/{take_id}/accept"): Rule("edit", 303, fixed("/c/{cid}/takes/{tid}/accept")),
    ("POST", C + "/takes/{take_id}/unaccept"): Rule("edit", 303, fixed("/c/{cid}/takes/{tid}/unaccept")),
    ("POST", "/api/comparisons/{comparison_id}/reroll"): Rule("edit", 202, b_reroll_api),
    ("POST", "/api/comparisons/{comparison_id}/takes/{take_id}/accept"): Rule(
        "edit", 200, fixed("/api/comparisons/{cid}/takes/{tid}/accept")),
    ("POST", "/api/comparisons/{comparison_id}/takes/{take_id}/unaccept"): Rule(
        "edit", 200, fixed("/api/comparisons/{cid}/takes/{tid}/unaccept")),
    ("GET", "/api/comparisons/{comparison_id}"): Rule("view", 200, fixed("/api/comparisons/{cid}")),
    ("POST", C + "/tags"): Rule("edit", 303, fixed("/c/{cid}/tags", data={"tags": "crowd, dusk"})),
    ("PUT", "/api/comparisons/{comparison_id}/tags"): Rule("edit", 200, fixed("/api/comparisons/{cid}/tags",
                                                                               json={"tags": ["crowd"]})),
    ("GET", C + "/check-items"): Rule("edit", 200, fixed("/c/{cid}/check-items")),
    ("POST", C + "/check-items"): Rule("edit", 200, fixed("/c/{cid}/check-items",
                                                          data={"criterion": "overall", "expected_take": ""})),
    ("PUT", "/api/comparisons/{comparison_id}/check-items/{criterion}"): Rule(
        "edit", 200, fixed("/api/comparisons/{cid}/check-items/overall", json={"expected_take": None})),
    ("POST", "/api/comparisons/{comparison_id}/votes"): Rule("vote", 201, b_vote_api),
    ("GET", "/api/comparisons/{comparison_id}/comments"): Rule("view", 200, fixed("/api/comparisons/{cid}/comments")),
    ("POST", "/api/comparisons/{comparison_id}/comments"): Rule("comment", 201, b_comment_api),
    ("DELETE", "/api/comparisons/{comparison_id}/comments/{comment_id}"): Rule("view", 204, b_delete_comment_api),
    # media
    ("GET", "/media/takes/{take_id}/video.mp4"): Rule("view", 200, fixed("/media/takes/{tid}/video.mp4")),
    ("GET", "/media/takes/{take_id}/original.{ext}"): Rule("view", 200, fixed("/media/takes/{tid}/original.mp4")),
    ("GET", "/media/takes/{take_id}/poster.jpg"): Rule("view", 200, fixed("/media/takes/{tid}/poster.jpg")),
    ("GET", "/media/comparisons/{comparison_id}/source"): Rule("view", 200, fixed("/media/comparisons/{cid}/source")),
    ("GET", "/media/comparisons/{comparison_id}/reference"): Rule(
        "view", 200, fixed("/media/comparisons/{cid}/reference")),
    # provider webhooks: who calls makes no difference (the per-take token and the provider's
    # signature decide, tests/test_provider_hooks.py); off here, where PUBLIC_URL is unset
    ("POST", "/hooks/{provider}/{take_id}"): Rule("public", 404, fixed("/hooks/kling/{tid}", json={})),
}


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route, walked from the router (HEAD is GET's twin)."""
    try:
        from fastapi.routing import iter_route_contexts
        routes = list(iter_route_contexts(app.routes))
    except ImportError:  # FastAPI before lazily included routers
        routes = list(app.routes)
    out = set()
    for r in routes:
        methods = getattr(r, "methods", None) or {"GET"}  # a Mount (static files) serves GET
        out |= {(m, r.path) for m in methods if m != "HEAD"}
    return out


def test_every_route_has_a_rule():
    """Fails naming any route added without an access rule (and any rule left behind)."""
    from pathlib import Path

    from app.main import create_app
    from tests.support.settings import make_settings

    app = create_app(make_settings("sqlite+aiosqlite:////nonexistent.db", Path("/tmp/takes-matrix")))
    routes = app_routes(app)
    missing = sorted(routes - set(RULES))
    stale = sorted(set(RULES) - routes)
    assert not missing, "routes without an access rule in tests/test_access_matrix.py RULES: " + ", ".join(
        f"{m} {p}" for m, p in missing)
    assert not stale, "rules for routes that do not exist: " + ", ".join(f"{m} {p}" for m, p in stale)


def expected(rule: Rule, persona: Persona, role: str | None, board: Board) -> int:
    if rule.needs == "public":
        return rule.ok
    if rule.needs == "user":
        return 401 if persona.anonymous else rule.ok
    if rule.needs == "share":
        return rule.ok if board.visibility in ("link", "public") else 404
    if rule.needs == "create" and persona.anonymous:
        return 401
    action = "edit" if rule.needs == "create" else rule.needs
    assert action in ACTIONS, rule
    if allows(role, action):
        return rule.ok
    return 404 if role is None else 403


ROLE_ON_TARGET = {"owner": "owner", "editor": "editor", "voter": "voter", "viewer": "viewer", "outsider": None,
                  "admin": "owner", "anonymous": None, "anonymous+link": "voter", "anonymous-link": None,
                  # public: everyone is a voter, with no link and no membership
                  "anonymous@public": "voter", "outsider@public": "voter"}


async def _world(app) -> tuple[World, list[Persona]]:
    team = await make_team(app)
    owner = team.users["owner"]
    async with app.state.db.session() as s:
        linked = await create_board(s, name="Linked", visibility="link", owner_id=owner.id, random_slug=True)
        scratch = await create_board(s, name="Scratch", owner_id=owner.id, random_slug=True)
        public = await create_board(s, name="Public", visibility="public", owner_id=owner.id, random_slug=True)
    for role in ("editor", "voter", "viewer"):
        await add_member(app, linked, team.users[role], role)
    boards = {}
    for key, board in (("private", team.board), ("link", linked), ("public", public)):
        c = await ready_comparison(app, board, reference_video=True)
        boards[key] = BoardWorld(board, c.id, c.takes[0].id, c.takes[1].id)
    world = World(app, boards, scratch, owner)
    secret = app.state.settings.resolved_secret()
    personas = [Persona(name, "private", team.users[name], team.sessions[name])
                for name in ("owner", "editor", "voter", "viewer", "outsider", "admin")]
    personas.append(Persona("outsider@public", "public", team.users["outsider"], team.sessions["outsider"]))
    for name, target, links in (("anonymous", "private", False), ("anonymous+link", "link", True),
                                ("anonymous-link", "link", False), ("anonymous@public", "public", False)):
        async with app.state.db.session() as s:
            v = Voter(display_name=name)
            s.add(v)
            await s.commit()
        cookies = {"takes_voter": Signer(secret, salt="takes.voter").sign(v.id).decode(),
                   "takes_csrf": f"seed-{name}"}
        if links:
            cookies["takes_links"] = Signer(secret, salt="takes.links").sign(
                json.dumps([linked.link_token]).encode()).decode()
        personas.append(Persona(name, target, cookies=cookies, voter_id=v.id))
    return world, personas


@pytest.mark.long(40)
async def test_access_matrix(app):
    async def no_jobs(ids):  # nothing is generated: the matrix is about who may ask
        return None

    app.state.queue.enqueue = no_jobs
    world, personas = await _world(app)
    secret = app.state.settings.resolved_secret()
    assert set(RULES) == app_routes(app)
    failures, count = [], 0
    for (method, path), rule in sorted(RULES.items()):
        for p in personas:
            bw = world.boards[p.target]
            req = await rule.build(world, p, bw)
            session = req.session if req.session is not None else p.session
            cookies = dict(p.cookies)
            if session:
                cookies["takes_session"] = session
                seed = "session|" + accounts.digest(session)
            else:
                seed = cookies.get("takes_csrf", "")
            headers = {"x-csrf-token": csrf_for(secret, seed)} if method != "GET" else {}
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                                         cookies=cookies, timeout=30) as c:
                r = await c.request(method, req.path, json=req.json, data=req.data, params=req.params,
                                    headers=headers)
            if req.cleanup:
                await req.cleanup()
            want = expected(rule, p, ROLE_ON_TARGET[p.name], bw.board)
            count += 1
            if r.status_code == 403 and "(CSRF check)" in r.text:
                failures.append(f"{method} {path} as {p.name}: refused by the CSRF check, which the matrix passes")
            elif r.status_code != want:
                failures.append(f"{method} {path} as {p.name} ({p.target} board): expected {want}, got "
                                f"{r.status_code} {r.text[:120]!r}")
    assert not failures, f"{len(failures)} of {count} checks failed:\n" + "\n".join(failures)
    assert count == len(RULES) * len(personas)
