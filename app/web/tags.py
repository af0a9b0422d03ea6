"""A comparison's tags, set by its board's editors: a small form on the comparison page and
`PUT /api/comparisons/{comparison_id}/tags`, over one function (app.tags.set_tags)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, comparison_for
from app.tags import set_tags, split_tags
from app.web.identity import ActorDep
from app.web.schemas import errors
from app.web.services import ServicesDep, SessionDep
from app.web.suite_schemas import TagsIn, TagsOut

router = APIRouter()


async def change_tags(s: AsyncSession, actor: Actor, comparison_id: str, tags: list[str]) -> list[str]:
    c, _ = await comparison_for(s, actor, comparison_id, "edit")
    return await set_tags(s, c, tags)


@router.post("/c/{comparison_id}/tags", include_in_schema=False)
async def tags_form(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    form = await request.form()
    await change_tags(s, actor, comparison_id, split_tags(str(form.get("tags") or "")))
    return RedirectResponse(f"/c/{comparison_id}", status_code=303)


@router.put("/api/comparisons/{comparison_id}/tags", tags=["comparisons"], response_model=TagsOut,
            summary="Set a comparison's tags (editors)", responses=errors(403, 404, 409))
async def api_set_tags(comparison_id: str, body: TagsIn, s: SessionDep, actor: ActorDep) -> dict:
    return {"comparison": comparison_id, "tags": await change_tags(s, actor, comparison_id, body.tags)}
