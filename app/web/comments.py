"""Comments on takes at a time code: an htmx fragment beside the player and JSON, each action
one function for both. The logic lives in app.comments; access in app.access (view to read,
the voter role to write); whether others' comments are kept back is app.blind's call."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app import blind
from app.access import Actor, allows, comparison_for
from app.comments import MAX_CHARS, add_comment, count_comments, delete_comment, list_comments
from app.errors import TakesError, TooManyRequests
from app.models import Comparison
from app.votes import voted_on
from app.web.identity import ActorDep, ensure_voter, view_voter, voter_of
from app.web.schemas import CommentIn, CommentOut, CommentsOut, errors
from app.web.services import Services, ServicesDep, SessionDep
from app.web.views import comparison_view

router = APIRouter()


def comment_limit(svc: Services, voter_id: str) -> None:
    wait = svc.limits.comments.hit(voter_id)
    if wait:
        raise TooManyRequests(f"too many comments in a minute; try again in {wait} s", wait)


async def visible_comments(s: AsyncSession, c: Comparison, voter: str | None, role: str, actor: Actor
                           ) -> tuple[list, bool, int]:
    """The comments this voter may read, whether others' are kept back (until they vote) and
    how many are."""
    hidden = blind.comments_hidden(c.board.blind, role, await voted_on(s, c.id, voter),
                                   await blind.observing(s, actor, c.board, role))
    rows = [r for r in await list_comments(s, c, voter) if not hidden or r.mine]
    return rows, hidden, ((await count_comments(s, c.id)) - len(rows) if hidden else 0)


async def commenter(request: Request, svc: Services, s: AsyncSession, actor: Actor,
                    comparison_id: str) -> tuple[Comparison, str, str]:
    """The comparison, the actor's role and the voter a comment is written as (created on
    their first write), once the actor may comment and is within the rate limit."""
    c, role = await comparison_for(s, actor, comparison_id, "comment")
    voter = await ensure_voter(request, svc, s, commit=False)   # committed with the write
    comment_limit(svc, voter)
    return c, role, voter


async def remove_comment(request: Request, svc: Services, s: AsyncSession, actor: Actor, comparison_id: str,
                         comment_id: str) -> tuple[Comparison, str]:
    """Delete a comment: its author, or a board owner."""
    c, role = await comparison_for(s, actor, comparison_id, "view")
    await delete_comment(s, c, comment_id, voter_of(request, svc), allows(role, "manage"))
    return c, role


async def _fragment(request: Request, svc: Services, s: AsyncSession, actor: Actor, c: Comparison, role: str,
                    status_code: int = 200, **ctx) -> HTMLResponse:
    voter = await view_voter(request, svc, s)
    rows, hidden, kept_back = await visible_comments(s, c, voter, role, actor)
    view = comparison_view(c, svc.catalog, voter, not hidden)
    labels = {t.take.id: t.label for t in view.tiles}
    return svc.render(request, "partials/comments.html", {
        "c": c, "rows": rows, "voted": await voted_on(s, c.id, voter), "labels": labels, "hidden": kept_back,
        "ready": view.ready_tiles, "can_comment": allows(role, "comment") and c.board.archived_at is None,
        "can_moderate": allows(role, "manage"), "max_chars": MAX_CHARS, **ctx}, status_code=status_code)


@router.get("/c/{comparison_id}/comments", response_class=HTMLResponse, include_in_schema=False)
async def comments_fragment(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    c, role = await comparison_for(s, actor, comparison_id, "view")
    return await _fragment(request, svc, s, actor, c, role)


@router.post("/c/{comparison_id}/comments", response_class=HTMLResponse, include_in_schema=False)
async def comment_form(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    form = await request.form()
    c, role, voter = await commenter(request, svc, s, actor, comparison_id)
    try:
        await add_comment(s, c, voter, str(form.get("take") or ""), form.get("time_s"), str(form.get("body") or ""))
    except TakesError as exc:
        await s.rollback()
        return await _fragment(request, svc, s, actor, c, role, status_code=exc.status_code, error=exc.message,
                               draft=form.get("body") or "")
    return await _fragment(request, svc, s, actor, c, role)


@router.post("/c/{comparison_id}/comments/{comment_id}/delete", response_class=HTMLResponse,
             include_in_schema=False)
async def delete_comment_form(comparison_id: str, comment_id: str, request: Request, svc: ServicesDep,
                              s: SessionDep, actor: ActorDep):
    c, role = await remove_comment(request, svc, s, actor, comparison_id, comment_id)
    return await _fragment(request, svc, s, actor, c, role)


# ---- JSON -------------------------------------------------------------------------------------

def comment_json(row) -> dict:
    c = row.comment
    return {"id": c.id, "take": c.take_id, "time_s": c.time_s, "body": c.body, "author": row.author,
            "mine": row.mine, "created_at": c.created_at.isoformat()}


@router.get("/api/comparisons/{comparison_id}/comments", tags=["comments"], response_model=CommentsOut,
            summary="Comments on the comparison's takes (on a blind board: after you vote)", responses=errors(404))
async def api_comments(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep,
                       actor: ActorDep) -> dict:
    c, role = await comparison_for(s, actor, comparison_id, "view")
    rows, _, kept_back = await visible_comments(s, c, voter_of(request, svc), role, actor)
    return {"comments": [comment_json(r) for r in rows], "hidden_until_you_vote": kept_back}


@router.post("/api/comparisons/{comparison_id}/comments", tags=["comments"], status_code=201,
             summary="Comment on a take at a time code", response_model=CommentOut,
             responses=errors(403, 404, 409, 429))
async def api_add_comment(comparison_id: str, body: CommentIn, request: Request, svc: ServicesDep, s: SessionDep,
                          actor: ActorDep) -> dict:
    c, _, voter = await commenter(request, svc, s, actor, comparison_id)
    comment = await add_comment(s, c, voter, body.take, body.time_s, body.body)
    return comment_json(next(r for r in await list_comments(s, c, voter) if r.comment.id == comment.id))


@router.delete("/api/comparisons/{comparison_id}/comments/{comment_id}", tags=["comments"], status_code=204,
               summary="Delete a comment (its author, or a board owner)", responses=errors(403, 404, 409))
async def api_delete_comment(comparison_id: str, comment_id: str, request: Request, svc: ServicesDep,
                             s: SessionDep, actor: ActorDep) -> None:
    await remove_comment(request, svc, s, actor, comparison_id, comment_id)
