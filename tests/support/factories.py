"""Rows written directly, for tests that are about what happens *after* generation: pages,
votes, boards, access, exports, the leaderboard.

`ready_comparison` makes a comparison whose takes are ready as if the demo provider had made
them — a row per take with its timings, size and probe, and behind every media URL a real,
playable file copied from tests/support/media/ (made once by its make.py), never rendered.
Only the job, end-to-end, media and browser-player tests render clips; everything else
builds its world here in milliseconds.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import threading
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from app import accounts
from app.boards import board_by_slug, create_board, default_board
from app.comparisons import load_comparison
from app.models import Board, Comparison, Membership, Take, Voter, utcnow
from app.votes import BallotInput, record_ballot

PASSWORD = "correct horse battery"
MEDIA = Path(__file__).resolve().parent / "media"
CLIP, POSTER = MEDIA / "clip.mp4", MEDIA / "poster.jpg"
GENERATION_S = 2.0
"""How long each factory take "took" (submitted → finished), so generation times are known."""


@lru_cache
def clip_info() -> dict:
    """The probe of the pre-made clip, as the job stores it in `Take.media_info`."""
    from app import media

    return media.probe(CLIP)


def png(width: int = 128, height: int = 96, colour=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "PNG")
    return buf.getvalue()


async def make_user(app, email: str, *, admin: bool = False, name: str | None = None):
    """An account through app.accounts.create_user (the first must be an admin: it ends open
    mode), with PASSWORD as its password."""
    async with app.state.db.session() as s:
        return await accounts.create_user(s, email, PASSWORD, display_name=name, is_admin=admin)


async def session_token(app, user) -> str:
    async with app.state.db.session() as s:
        return await accounts.start_session(s, user)


async def add_member(app, board: Board, user, role: str) -> None:
    async with app.state.db.session() as s:
        s.add(Membership(board_id=board.id, user_id=user.id, role=role))
        await s.commit()


async def make_board(app, name: str = "Launch shots", **options) -> Board:
    """A board through app.boards.create_board (its checks and defaults: blind, private);
    `options` are create_board's (slug, blind, criteria, visibility, owner_id, …)."""
    async with app.state.db.session() as s:
        return await create_board(s, name=name, **options)


async def get_board(app, board: Board | str | None = None) -> Board:
    """A Board as given, the board with this slug, or (None) the default board."""
    if isinstance(board, Board):
        return board
    async with app.state.db.session() as s:
        found = await board_by_slug(s, board) if board else await default_board(s)
        await s.commit()  # default_board may have just made it
        return found


async def make_voter(app, name: str | None = None) -> Voter:
    async with app.state.db.session() as s:
        voter = Voter(display_name=name)
        s.add(voter)
        await s.commit()
        return voter


async def ready_comparison(app, board: Board | str | None = None, models=("demo/aurora", "demo/blocks"),
                           prompt: str = "a red kite", source_image: bool = True, *, created_by: str | None = None,
                           reference_video: bool = False, **params) -> Comparison:
    """A comparison on `board` (a Board, a slug, or None: the default board) with one ready
    take per model and real files behind every media URL. `params` override the comparison's
    (duration_s 4, 16:9, 360p, no audio), as the form would have stored them; with
    `source_image` it has a real 128×96 PNG, so a re-roll can render from it; with
    `reference_video`, the take clip as its reference video (app/reference.py)."""
    storage = app.state.storage
    board = await get_board(app, board)
    values = {"duration_s": 4, "aspect_ratio": "16:9", "resolution": "360p", "audio": False, **params}
    if source_image:
        values.update(image_mime="image/png", image_size=[128, 96])
    info = clip_info()
    if reference_video:
        values.update(reference_mime="video/mp4", reference_duration_s=info["duration_s"],
                      reference_size=[info["width"], info["height"]])
    finished = utcnow()
    async with app.state.db.session() as s:
        c = Comparison(board_id=board.id, prompt=prompt, params=values, created_by=created_by)
        s.add(c)
        await s.flush()
        if source_image:
            c.source_image = f"comparisons/{c.id}/source.png"
            await storage.put_bytes(c.source_image, png())
        if reference_video:
            c.reference_video = f"comparisons/{c.id}/reference.mp4"
            await storage.put_bytes(c.reference_video, CLIP.read_bytes())
        for i, m in enumerate(models):
            spec = app.state.catalog.get(m)
            t = Take(comparison_id=c.id, model_id=m, provider=spec.provider if spec else m.split("/")[0],
                     status="ready", media_info=dict(info), duration_s=info["duration_s"], fps=info["fps"],
                     width=info["width"], height=info["height"], has_audio=info["has_audio"], progress=1.0,
                     cost_estimate_usd=0.0, cost_usd=0.0, submitted_at=finished - timedelta(seconds=GENERATION_S),
                     finished_at=finished, created_at=finished + timedelta(microseconds=i))
            s.add(t)
            await s.flush()
            t.clip_key, t.poster_key = f"takes/{t.id}/original.mp4", f"takes/{t.id}/poster.jpg"
            for key, src in ((t.clip_key, CLIP), (t.poster_key, POSTER)):
                dest = storage.scratch(key)   # the final file locally; uploaded to object storage
                shutil.copyfile(src, dest)
                await storage.put_file(key, dest)
        await s.commit()
        cid = c.id
    async with app.state.db.session() as s:
        return await load_comparison(s, cid)


async def ready_json(client, app, board: Board | str | None = None, models=("demo/aurora", "demo/blocks"),
                     prompt: str = "a red kite", source_image: bool = False, **params) -> dict:
    """`ready_comparison`, returned as `client` sees it through GET /api/comparisons/{id} —
    what waiting for a generated comparison's takes returns."""
    c = await ready_comparison(app, board, models, prompt, source_image, **params)
    r = await client.get(f"/api/comparisons/{c.id}")
    r.raise_for_status()
    return r.json()


async def vote(app, comparison: Comparison | str, voter_id: str, **ballot) -> list:
    """A ballot recorded through app.votes.record_ballot (its checks, positions and
    superseding), as voter `voter_id`; `ballot` holds BallotInput's fields."""
    cid = comparison if isinstance(comparison, str) else comparison.id
    async with app.state.db.session() as s:
        c = await load_comparison(s, cid)
        return await record_ballot(s, c, voter_id, BallotInput(**ballot))


def seed(settings, build):
    """`await build(app)` on an app made from `settings`, returning its result: rows for a
    server that runs as a subprocess (live_app) go into the same database and media folder.

    In a thread of its own, because Playwright's sync API keeps the main thread's event loop
    marked as running while a browser is open, and asyncio.run refuses to start there."""
    from app.main import create_app

    outcome: dict = {}

    async def main():
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            outcome["value"] = await build(app)

    def run():
        try:
            asyncio.run(main())
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    # daemon: if the test is failed by its timeout while this waits (on a lock a server holds),
    # the stuck thread must not keep the test process from exiting at the end of the run
    thread = threading.Thread(target=run, name="seed", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
