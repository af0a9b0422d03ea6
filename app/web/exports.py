"""CSV downloads across boards (the per-board vote CSV is in app.web.api). Every export
streams: the session lives inside the response body, not the request. Which boards an export
covers is app.access's call: only the boards the actor may see."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from app.access import Actor, blind_to, visible_boards
from app.exports import vote_csv
from app.web.deps import voter_from_cookie
from app.web.security import guard

router = APIRouter(tags=["api"])


def csv_response(request: Request, make: Callable[..., AsyncIterator[bytes]], filename: str) -> StreamingResponse:
    async def body():
        async with request.app.state.db.session() as s:
            async for chunk in make(s):
                yield chunk

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/api/votes.csv", summary="Votes of every board you can see, one row per pairwise outcome (streamed)",
            response_class=StreamingResponse)
async def all_votes_csv(request: Request, actor: Actor = Depends(guard)):
    async with request.app.state.db.session() as s:
        boards = await visible_boards(s, actor)
        hidden = (await blind_to(s, actor, boards), voter_from_cookie(request))
    ids = [b.id for b in boards]
    return csv_response(request, lambda s: vote_csv(s, ids, hidden_for=hidden), "takes-votes.csv")
