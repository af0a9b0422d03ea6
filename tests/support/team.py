"""Building a team for tests: users, their signed-in clients, boards with members, and a
comparison whose takes are ready (rows and media files written directly, no generation)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from app import accounts
from app.boards import create_board
from app.models import Board, Comparison, Membership, Take, utcnow
from tests.conftest import browser_like

PASSWORD = "correct horse battery"


async def make_user(app, email: str, *, admin: bool = False, name: str | None = None):
    async with app.state.db.session() as s:
        return await accounts.create_user(s, email, PASSWORD, display_name=name, is_admin=admin)


async def session_token(app, user) -> str:
    async with app.state.db.session() as s:
        return await accounts.start_session(s, user)


@asynccontextmanager
async def client_for(app, session: str | None = None, *, csrf: bool = True, headers: dict | None = None):
    """An in-process client, signed in with `session` if given, that has loaded a page (so it
    holds its CSRF token, as a browser would) and sends the token on writes. With csrf=False
    it neither loads a page nor sends the token (to test that such requests are refused)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=30,
                                 headers=headers) as c:
        if session:
            c.cookies.set("takes_session", session)
        if csrf:
            browser_like(c)
            r = await c.get("/api/me")
            assert r.status_code == 200, r.text
        yield c


async def add_member(app, board: Board, user, role: str) -> None:
    async with app.state.db.session() as s:
        s.add(Membership(board_id=board.id, user_id=user.id, role=role))
        await s.commit()


async def ready_comparison(app, board: Board, models=("demo/aurora", "demo/blocks"), prompt: str = "a red kite",
                           source_image: bool = True) -> Comparison:
    """A comparison with ready takes and real files behind every media URL."""
    storage = app.state.storage
    async with app.state.db.session() as s:
        c = Comparison(board_id=board.id, prompt=prompt, params={"duration_s": 4, "aspect_ratio": "16:9",
                                                                 "resolution": "360p", "audio": False,
                                                                 "image_mime": "image/png"})
        s.add(c)
        await s.flush()
        if source_image:
            c.source_image = f"comparisons/{c.id}/source.png"
            storage.write_bytes(c.source_image, b"\x89PNG fake")
        for m in models:
            t = Take(comparison_id=c.id, model_id=m, provider="demo", status="ready", duration_s=4.0, fps=24,
                     width=640, height=360, has_audio=False, cost_estimate_usd=0.0, submitted_at=utcnow(),
                     finished_at=utcnow())
            s.add(t)
            await s.flush()
            t.clip_key, t.poster_key = f"takes/{t.id}/clip.mp4", f"takes/{t.id}/poster.jpg"
            storage.write_bytes(t.clip_key, b"\x00\x00\x00\x18ftypmp42 fake")
            storage.write_bytes(t.poster_key, b"\xff\xd8 fake")
        await s.commit()
        cid = c.id
    from app.comparisons import load_comparison

    async with app.state.db.session() as s:
        return await load_comparison(s, cid)


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
    async with app.state.db.session() as s:
        team.board = await create_board(s, name=name, visibility=visibility, blind=blind,
                                        owner_id=team.users["owner"].id, random_slug=True)
    for role in ("editor", "voter", "viewer"):
        await add_member(app, team.board, team.users[role], role)
    return team
