"""Building a team for tests: users, their signed-in clients, and a board with members (rows
written directly through tests/support/factories.py, no generation)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from app.models import Board
from tests.support.clients import browser_like, in_process_client
from tests.support.factories import add_member, make_board, make_user, session_token


@asynccontextmanager
async def client_for(app, session: str | None = None, *, csrf: bool = True, headers: dict | None = None):
    """An in-process client, signed in with `session` if given, that has loaded a page (so it
    holds its CSRF token, as a browser would) and sends the token on writes. With csrf=False
    it neither loads a page nor sends the token (to test that such requests are refused)."""
    async with in_process_client(app, headers=headers) as c:
        if session:
            c.cookies.set("takes_session", session)
        if csrf:
            browser_like(c)
            r = await c.get("/api/me")
            assert r.status_code == 200, r.text
        yield c


@dataclass
class Team:
    app: object
    users: dict = field(default_factory=dict)     # role → User
    sessions: dict = field(default_factory=dict)  # role → session token
    board: Board | None = None

    def client(self, who: str, *, csrf: bool = True):
        return client_for(self.app, self.sessions.get(who), csrf=csrf)


async def make_team(app, *, visibility: str = "private", blind: bool = True, name: str = "Launch shots") -> Team:
    """admin (made first: it ends open mode), then owner, editor, voter, viewer and outsider;
    a board owned by `owner` with the others as members (outsider is not one)."""
    team = Team(app)
    team.users["admin"] = await make_user(app, "admin@example.com", admin=True, name="Admin")
    for role in ("owner", "editor", "voter", "viewer", "outsider"):
        team.users[role] = await make_user(app, f"{role}@example.com", name=role.title())
    for who, user in team.users.items():
        team.sessions[who] = await session_token(app, user)
    team.board = await make_board(app, name, visibility=visibility, blind=blind, owner_id=team.users["owner"].id,
                                  random_slug=True)
    for role in ("editor", "voter", "viewer"):
        await add_member(app, team.board, team.users[role], role)
    return team
