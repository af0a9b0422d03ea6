"""Comments on takes at a time code, as an htmx fragment beside the player and as JSON. The
logic lives in app.comments; access comes from app.access (view to read, vote role to write)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, allows, comparison_for
from app.comments import MAX_CHARS, add_comment, count_comments, delete_comment, list_comments
from app.errors import InputError
from app.models import Comparison
from app.votes import voted_on
from app.web.deps import ensure_voter, session, view_voter, voter_from_cookie
from app.web.security import guard
from app.web.views import comparison_view

router = APIRouter()


def comment_limit(request: Request, voter_id: str) -> None:
    from app.web.auth import TooManyRequests

    wait = request.app.state.limits.comments.hit(voter_id)
    if wait:
        raise TooManyRequests(f"too many comments in a minute; try again in {wait} s", wait)


async def _hidden(s: AsyncSession, c: Comparison, voter_id: str | None, role: str) -> bool:
    """On a blind board a reviewer sees others' comments only after voting: a comment saying
    "B's hands melt" biases as much as a model name would. (Whoever cannot vote — a viewer —
    has no vote to bias and sees them at once.)"""
    if not c.board.blind or not allows(role, "vote"):
        return False
    return not await voted_on(s, c.id, voter_id)


async def _fragment(request: Request, s: AsyncSession, c: Comparison, role: str, status_code: int = 200,
                    **ctx) -> HTMLResponse:
    voter = await view_voter(request, s)
    hidden = await _hidden(s, c, voter, role)
    rows = [r for r in await list_comments(s, c, voter) if not hidden or r.mine]
    view = comparison_view(c, request.app.state.catalog, voter, not hidden)
    labels = {t.take.id: t.label for t in view.tiles}
    return request.app.state.templates.TemplateResponse(request, "partials/comments.html", {
        "c": c, "rows": rows, "voted": await voted_on(s, c.id, voter), "labels": labels, "hidden": (await count_comments(s, c.id)) - len(rows) if hidden else 0,
        "ready": view.ready_tiles, "can_comment": allows(role, "comment") and c.board.archived_at is None,
        "can_moderate": allows(role, "manage"), "max_chars": MAX_CHARS, **ctx}, status_code=status_code)


@router.get("/c/{comparison_id}/comments", response_class=HTMLResponse, include_in_schema=False)
async def comments_fragment(comparison_id: str, request: Request, s: AsyncSession = Depends(session),
                            actor: Actor = Depends(guard)):
    c, role = await comparison_for(s, actor, comparison_id, "view")
    return await _fragment(request, s, c, role)


@router.post("/c/{comparison_id}/comments", response_class=HTMLResponse, include_in_schema=False)
async def comment_form(comparison_id: str, request: Request, s: AsyncSession = Depends(session),
                       actor: Actor = Depends(guard)):
    c, role = await comparison_for(s, actor, comparison_id, "comment")
    form = await request.form()
    response = HTMLResponse("")
    voter = await ensure_voter(request, response, s)
    comment_limit(request, voter)
    try:
        await add_comment(s, c, voter, str(form.get("take") or ""), form.get("time_s"), str(form.get("body") or ""))
        out = await _fragment(request, s, c, role)
    except InputError as exc:
        await s.rollback()
        out = await _fragment(request, s, c, role, status_code=exc.status_code, error=exc.message,
                              draft=form.get("body") or "")
    for k, v in response.headers.items():  # the voter cookie of a first-time anonymous reviewer
        if k == "set-cookie":
            out.headers.append(k, v)
    return out


@router.post("/c/{comparison_id}/comments/{comment_id}/delete", response_class=HTMLResponse,
             include_in_schema=False)
async def delete_comment_form(comparison_id: str, comment_id: str, request: Request,
                              s: AsyncSession = Depends(session), actor: Actor = Depends(guard)):
    c, role = await comparison_for(s, actor, comparison_id, "view")
    await delete_comment(s, c, comment_id, voter_from_cookie(request), allows(role, "manage"))
    return await _fragment(request, s, c, role)


# ---- JSON -------------------------------------------------------------------------------------

class CommentIn(BaseModel):
    take: str = Field(description="The take the comment is about (its id).")
    time_s: float = Field(description="Time code in seconds from the start of the take.")
    body: str = Field(description=f"The comment (1–{MAX_CHARS} characters; plain text).")


def comment_json(row) -> dict:
    c = row.comment
    return {"id": c.id, "take": c.take_id, "time_s": c.time_s, "body": c.body, "author": row.author,
            "mine": row.mine, "created_at": c.created_at.isoformat()}


@router.get("/api/comparisons/{comparison_id}/comments", tags=["api"],
            summary="Comments on the comparison's takes (on a blind board: after you vote)")
async def api_comments(comparison_id: str, request: Request, s: AsyncSession = Depends(session),
                       actor: Actor = Depends(guard)) -> dict:
    c, role = await comparison_for(s, actor, comparison_id, "view")
    voter = voter_from_cookie(request)
    hidden = await _hidden(s, c, voter, role)
    rows = [r for r in await list_comments(s, c, voter) if not hidden or r.mine]
    return {"comments": [comment_json(r) for r in rows],
            "hidden_until_you_vote": (await count_comments(s, c.id)) - len(rows) if hidden else 0}


@router.post("/api/comparisons/{comparison_id}/comments", tags=["api"], status_code=201,
             summary="Comment on a take at a time code")
async def api_add_comment(comparison_id: str, body: CommentIn, request: Request, response: Response,
                          s: AsyncSession = Depends(session), actor: Actor = Depends(guard)) -> dict:
    c, _ = await comparison_for(s, actor, comparison_id, "comment")
    voter = await ensure_voter(request, response, s)
    comment_limit(request, voter)
    comment = await add_comment(s, c, voter, body.take, body.time_s, body.body)
    row = next(r for r in await list_comments(s, c, voter) if r.comment.id == comment.id)
    return comment_json(row)


@router.delete("/api/comparisons/{comparison_id}/comments/{comment_id}", tags=["api"], status_code=204,
               summary="Delete a comment (its author, or a board owner)")
async def api_delete_comment(comparison_id: str, comment_id: str, request: Request,
                             s: AsyncSession = Depends(session), actor: Actor = Depends(guard)):
    c, role = await comparison_for(s, actor, comparison_id, "view")
    await delete_comment(s, c, comment_id, voter_from_cookie(request), allows(role, "manage"))
