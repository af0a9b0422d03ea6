"""Live updates as server-sent events: `GET /c/{comparison_id}/events` (a comparison's takes:
status, progress, elapsed time and time left) and `GET /b/{slug}/events` (a board's
comparisons: new ones, and each one's status). static/live.js listens and updates the page.

Each stream checks access exactly as the page does (an outsider's request is the page's 404),
then sends the viewer's state at once and again whenever the event bus (app.events) says the
comparison or board changed, recomputed per viewer from the same view the page draws — so on a
blind board it holds what the page holds before the vote: counts, no labels per take, no models,
no timings. Every heartbeat (a comment line, so proxies keep the connection) also recomputes:
a message lost to an outage only costs one heartbeat. After `hold_s` the stream ends and
EventSource reconnects (the `retry:` line says after how long); `hold_s=0` is a one-shot
snapshot for scripts, and `until_done=true` on a comparison's stream ends it right after the
state in which every take has finished (a script can follow a comparison to its end without
guessing a hold).

Plain StreamingResponse, not sse-starlette: the format is three lines per event (app.events.sse)
and Starlette already cancels the body when the client goes away, so the package would replace
about 25 lines here with a dependency and its own ping/disconnect machinery.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from app import blind as blind_rules
from app.access import board_for, comparison_for
from app.errors import TakesError
from app.events import board_channel, comparison_channel, sse
from app.models import Comparison, Take, utcnow
from app.progress import recent_medians, timing
from app.votes import voted_on
from app.web.comparisons import viewer_view
from app.web.identity import ActorDep, view_voter
from app.web.services import Services, ServicesDep, SessionDep
from app.web.views import ComparisonView, comparison_view

router = APIRouter()
HoldQ = Query(300.0, ge=0, le=3600, description="seconds before the stream ends (the browser reconnects)")
COALESCE_S = 0.15   # a burst of progress messages becomes one recomputation


async def comparison_state(s, view: ComparisonView, voted: bool) -> dict:
    """What the comparison's stream sends this viewer. Hidden (blind, not yet voted): counts
    only, as the page's takes panel; otherwise each take by label with its status, progress,
    elapsed time and an estimate of the time left from its model's median."""
    tiles = view.tiles
    finished = sum(t.take.terminal for t in tiles)
    out = {"comparison": view.comparison.id, "total": len(tiles), "finished": finished,
           "ready": sum(t.take.status == "ready" for t in tiles), "all_done": view.all_done,
           "revealed": view.revealed, "takes": []}
    if not blind_rules.live_detail_shown(view.blind, voted):
        return out
    medians = await recent_medians(s, [t.take.model_id for t in tiles if not t.take.terminal])
    now = utcnow()
    for tile in tiles:
        t = tile.take
        tm = timing(t, medians.get(t.model_id), now)
        out["takes"].append({"id": t.id, "label": tile.label, "status": t.status, "progress": t.progress,
                             "elapsed_s": round(tm.elapsed_s, 1),
                             "left_s": None if tm.left_s is None else round(tm.left_s, 1),
                             "overdue": tm.overdue})
    return out


async def board_state(s, board_id: str) -> dict:
    """A board's comparisons, newest first, each with its status and ready count: what the
    board page's cards show anyway (no models, no order of takes)."""
    rows = (await s.execute(select(Comparison.id, Take.status).join(Take, Take.comparison_id == Comparison.id)
                            .where(Comparison.board_id == board_id)
                            .order_by(Comparison.created_at.desc(), Comparison.id))).all()
    cards: dict[str, list[str]] = {}
    for cid, status in rows:
        cards.setdefault(cid, []).append(status)
    out = []
    for cid, statuses in cards.items():
        ready = statuses.count("ready")
        generating = any(st not in ("ready", "failed", "cancelled") for st in statuses)
        out.append({"id": cid, "status": "generating" if generating else ("ready" if ready else "failed"),
                    "ready": ready, "total": len(statuses)})
    return {"comparisons": out}


def event_stream(svc: Services, channel: str, state: Callable[[], Awaitable[dict]], hold_s: float,
                 done: Callable[[dict], bool] | None = None) -> StreamingResponse:
    """`done(state)` true ends the stream after that state is sent (before `hold_s` runs out)."""
    async def body() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        end, beat, last = loop.time() + hold_s, svc.settings.sse_heartbeat_s, None
        async with svc.events.subscribe(channel) as queue:
            yield "retry: 2000\n\n"
            while True:
                try:
                    now_state = await state()
                except TakesError:   # access revoked, or the comparison deleted
                    yield sse("gone", {})
                    return
                if now_state != last:
                    yield sse("state", now_state)
                    last = now_state
                if done is not None and done(now_state):
                    return
                left = end - loop.time()
                if left <= 0:
                    return
                try:
                    await asyncio.wait_for(queue.get(), min(beat, left))
                    await asyncio.sleep(COALESCE_S)
                    while not queue.empty():
                        queue.get_nowait()
                except asyncio.TimeoutError:
                    yield ": ping\n\n"

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/c/{comparison_id}/events", include_in_schema=False)
async def comparison_events(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                            hold_s: float = HoldQ,
                            until_done: bool = Query(False, description="end the stream once every take has finished")):
    await viewer_view(request, svc, s, actor, comparison_id)   # the page's access check, 404 and all
    voter = await view_voter(request, svc, s)
    await s.close()   # the stream opens a short session per recomputation; hold no connection

    async def state() -> dict:
        async with svc.db.session() as s2:
            c, role = await comparison_for(s2, actor, comparison_id)
            voted = await voted_on(s2, c.id, voter)
            return await comparison_state(s2, comparison_view(c, svc.catalog, voter, voted), voted)

    return event_stream(svc, comparison_channel(comparison_id), state, hold_s,
                        (lambda st: st["all_done"]) if until_done else None)


@router.get("/b/{slug}/events", include_in_schema=False)
async def board_events(slug: str, svc: ServicesDep, s: SessionDep, actor: ActorDep, hold_s: float = HoldQ):
    board, _ = await board_for(s, actor, slug)
    await s.close()

    async def state() -> dict:
        async with svc.db.session() as s2:
            await board_for(s2, actor, slug)
            return await board_state(s2, board.id)

    return event_stream(svc, board_channel(board.id), state, hold_s)

