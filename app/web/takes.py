"""A comparison's takes: cancel one, re-roll a model (take 2, 3 …), accept a take or take the
acceptance back. Each action is one plain function here, answered by a page route (a form
post that redirects back to the comparison) and an API route (the take as JSON). All need the
editor role on the board (app.access)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, comparison_for
from app.comparisons import cancel_at_provider, reroll, set_accepted
from app.errors import NotFound
from app.models import Take, utcnow
from app.web.identity import ActorDep
from app.web.schemas import RerollIn, TakeOut, errors
from app.web.services import Services, ServicesDep, SessionDep
from app.web.views import take_json

router = APIRouter()
EDITORS = errors(403, 404, 409)


async def editable_take(s: AsyncSession, actor: Actor, comparison_id: str, take_id: str) -> Take:
    """The take, once the actor may edit its board (an outsider gets the same 404 for the
    comparison as for one that does not exist)."""
    await comparison_for(s, actor, comparison_id, "edit")
    take = await s.get(Take, take_id)
    if take is None or take.comparison_id != comparison_id:
        raise NotFound(f"no take {take_id!r} in comparison {comparison_id!r}")
    return take


async def cancel_take(svc: Services, s: AsyncSession, actor: Actor, comparison_id: str, take_id: str) -> Take:
    """Stop a take that has not finished: cancelled on our side at once, and at the provider
    as far as it allows (best effort). A finished take stays as it is."""
    take = await editable_take(s, actor, comparison_id, take_id)
    if take.terminal:
        return take
    take.status, take.finished_at, take.error_code = "cancelled", utcnow(), "cancelled"
    take.error_message = "cancelled by a reviewer"
    await s.commit()
    await svc.events.take_changed(svc.db, take.id)
    await cancel_at_provider(take, svc.catalog, svc.providers)
    return take


async def reroll_model(svc: Services, s: AsyncSession, actor: Actor, comparison_id: str, model: str) -> Take:
    """Another take of one of the comparison's models, queued at once."""
    c, _ = await comparison_for(s, actor, comparison_id, "edit")
    take = await reroll(s, c, model, catalog=svc.catalog, providers=svc.providers)
    await svc.queue.enqueue([take.id])
    await svc.events.comparison_changed(c.id, c.board_id)
    return take


async def accept_take(s: AsyncSession, actor: Actor, comparison_id: str, take_id: str, accepted: bool) -> Take:
    return await set_accepted(s, await editable_take(s, actor, comparison_id, take_id), accepted)


def _back(comparison_id: str) -> RedirectResponse:
    return RedirectResponse(f"/c/{comparison_id}", status_code=303)


# ---- pages ------------------------------------------------------------------------------------

@router.post("/c/{comparison_id}/takes/{take_id}/cancel", include_in_schema=False)
async def cancel_page(comparison_id: str, take_id: str, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    await cancel_take(svc, s, actor, comparison_id, take_id)
    return _back(comparison_id)


@router.post("/c/{comparison_id}/reroll", include_in_schema=False)
async def reroll_page(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    form = await request.form()
    await reroll_model(svc, s, actor, comparison_id, str(form.get("model") or ""))
    return _back(comparison_id)


@router.post("/c/{comparison_id}/takes/{take_id}/accept", include_in_schema=False)
async def accept_page(comparison_id: str, take_id: str, s: SessionDep, actor: ActorDep):
    await accept_take(s, actor, comparison_id, take_id, True)
    return _back(comparison_id)


@router.post("/c/{comparison_id}/takes/{take_id}/unaccept", include_in_schema=False)
async def unaccept_page(comparison_id: str, take_id: str, s: SessionDep, actor: ActorDep):
    await accept_take(s, actor, comparison_id, take_id, False)
    return _back(comparison_id)


# ---- JSON -------------------------------------------------------------------------------------

@router.post("/api/comparisons/{comparison_id}/takes/{take_id}/cancel", tags=["takes"],
             summary="Cancel a take that has not finished (editors)", response_model=TakeOut,
             response_model_exclude_unset=True, responses=EDITORS)
async def api_cancel(comparison_id: str, take_id: str, svc: ServicesDep, s: SessionDep, actor: ActorDep) -> dict:
    return take_json(await cancel_take(svc, s, actor, comparison_id, take_id), svc.catalog)


@router.post("/api/comparisons/{comparison_id}/reroll", tags=["takes"], status_code=202,
             summary="Generate another take of one model (take 2, 3 …; editors)", response_model=TakeOut,
             response_model_exclude_unset=True, responses=errors(402, 403, 404, 409))
async def api_reroll(comparison_id: str, body: RerollIn, svc: ServicesDep, s: SessionDep, actor: ActorDep) -> dict:
    return take_json(await reroll_model(svc, s, actor, comparison_id, body.model), svc.catalog)


@router.post("/api/comparisons/{comparison_id}/takes/{take_id}/accept", tags=["takes"],
             summary='Mark a take "good enough to use" (editors)', response_model=TakeOut,
             response_model_exclude_unset=True, responses=EDITORS)
async def api_accept(comparison_id: str, take_id: str, svc: ServicesDep, s: SessionDep, actor: ActorDep) -> dict:
    return take_json(await accept_take(s, actor, comparison_id, take_id, True), svc.catalog)


@router.post("/api/comparisons/{comparison_id}/takes/{take_id}/unaccept", tags=["takes"],
             summary="Take an acceptance back (editors)", response_model=TakeOut,
             response_model_exclude_unset=True, responses=EDITORS)
async def api_unaccept(comparison_id: str, take_id: str, svc: ServicesDep, s: SessionDep, actor: ActorDep) -> dict:
    return take_json(await accept_take(s, actor, comparison_id, take_id, False), svc.catalog)
