"""A read-only link to a single comparison (app/links.py): make or replace it, revoke it (an
editor, on the comparison page or by API), and open it (`GET /v/{token}`, browsers: the token
goes into the signed list of links this browser opened, then the comparison opens)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from app.access import comparison_for
from app.links import comparison_by_link, make_link, revoke_link
from app.web.identity import ActorDep, remember_link, view_voter, voter_of
from app.web.schemas import errors
from app.web.services import ServicesDep, SessionDep

router = APIRouter()
EDITORS = errors(403, 404, 409)


class ComparisonLinkOut(BaseModel):
    url: str = Field(description="Opens the comparison read-only for whoever has it, until revoked or replaced.")


def link_url(request: Request, token: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/v/{token}"


@router.post("/c/{comparison_id}/link", include_in_schema=False)
async def make_link_form(comparison_id: str, s: SessionDep, actor: ActorDep):
    c, _ = await comparison_for(s, actor, comparison_id, "edit")
    await make_link(s, c)
    return RedirectResponse(f"/c/{comparison_id}#comparison-link", status_code=303)


@router.post("/c/{comparison_id}/link/revoke", include_in_schema=False)
async def revoke_link_form(comparison_id: str, s: SessionDep, actor: ActorDep):
    c, _ = await comparison_for(s, actor, comparison_id, "edit")
    await revoke_link(s, c)
    return RedirectResponse(f"/c/{comparison_id}", status_code=303)


@router.post("/api/comparisons/{comparison_id}/link", tags=["comparisons"], status_code=201,
             summary="Make (or replace) the comparison's read-only link (editors)",
             response_model=ComparisonLinkOut, responses=EDITORS)
async def api_make_link(comparison_id: str, request: Request, s: SessionDep, actor: ActorDep) -> dict:
    c, _ = await comparison_for(s, actor, comparison_id, "edit")
    return {"url": link_url(request, await make_link(s, c))}


@router.delete("/api/comparisons/{comparison_id}/link", tags=["comparisons"], status_code=204,
               summary="Revoke the comparison's read-only link (editors)", responses=EDITORS)
async def api_revoke_link(comparison_id: str, s: SessionDep, actor: ActorDep) -> None:
    c, _ = await comparison_for(s, actor, comparison_id, "edit")
    await revoke_link(s, c)


@router.get("/v/{token}", include_in_schema=False)
async def open_link(token: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    """Remember the link in this browser and open the comparison; the token leaves the address
    bar at once (a redirect). An anonymous browser gets its voter cookie here too."""
    c = await comparison_by_link(s, token)
    response = RedirectResponse(f"/c/{c.id}", status_code=303)
    remember_link(request, response, svc, token)
    if not actor.signed_in and voter_of(request, svc) is None:
        await view_voter(request, svc, s)
    return response
