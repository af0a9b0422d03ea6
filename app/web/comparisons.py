"""Comparisons: the new-comparison form (the home page), starting one (form and API, one
function), the comparison page with the fragments it polls, its JSON, and the cost estimate.
The logic lives in app.comparisons; access in app.access."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.access import Actor, boards_where, can_create, comparison_for, target_board, visible_boards
from app.comparisons import (ASPECT_ORDER, DEFAULT_RESOLUTION, RESOLUTION_ORDER, ComparisonInput, create_comparison,
                             decode_data_url, estimate_cost, load_comparison, ordered, plan_durations, shared_choice)
from app.errors import TakesError
from app.models import Comparison, IdempotencyKey, utcnow
from app.votes import voted_on
from app.web.catalog import catalog_rows
from app.web.forms import comparison_fields, comparison_input
from app.web.identity import ActorDep, ensure_voter, view_voter
from app.web.schemas import ComparisonIn, ComparisonOut, EstimateOut, errors
from app.web.services import Services, ServicesDep, SessionDep
from app.web.views import ComparisonView, comparison_json, comparison_view

router = APIRouter()


async def start_comparison(request: Request, svc: Services, s: AsyncSession, actor: Actor,
                           data: ComparisonInput) -> Comparison:
    """Check, store and queue a comparison: its takes go to the job queue at once. The form
    and the API both come here."""
    board = await target_board(s, actor, data.board)
    voter = await ensure_voter(request, svc, s, commit=False)   # committed with the write
    c = await create_comparison(s, data, catalog=svc.catalog, providers=svc.providers, settings=svc.settings,
                                storage=svc.storage, voter_id=voter, board=board)
    # Committed already: if the queue is down this does not raise; the takes wait, unheld, for
    # the next sweep (app/jobs/runner.py), so the answer is a 202 either way, never a 500.
    await svc.queue.enqueue([t.id for t in c.takes])
    return c


IDEMPOTENCY_WINDOW = timedelta(hours=24)


def idempotency_scope(actor: Actor) -> str:
    """Whose keys these are: the account; without one, anonymous callers together (a script
    has no cookie to tell it apart, and a first request may make the browser's voter id, so
    that cannot scope it either). Keys are meant to be random (a UUID)."""
    return f"user:{actor.user_id}" if actor.user_id else "anonymous"


async def earlier_answer(s: AsyncSession, scope: str, key: str) -> Comparison | None:
    """The comparison an earlier request with this key made, within the window."""
    row = await s.get(IdempotencyKey, (scope, key))
    if row is None:
        return None
    if row.created_at < utcnow() - IDEMPOTENCY_WINDOW:
        await s.delete(row)
        await s.flush()
        return None
    return await load_comparison(s, row.comparison_id)


def remember_key(s: AsyncSession, scope: str, key: str) -> None:
    """Store the key with the comparison the next flush inserts, in the same transaction: a
    comparison made under a key is never without it, and a twin request fails at commit."""
    done = []

    def attach(session, _context, _instances):
        made = next((o for o in session.new if isinstance(o, Comparison)), None)
        if made is not None and not done:
            session.add(IdempotencyKey(actor=scope, key=key, comparison=made))
            done.append(made)

    event.listen(s.sync_session, "before_flush", attach)


async def viewer_view(request: Request, svc: Services, s: AsyncSession, actor: Actor, comparison_id: str,
                      action: str = "view") -> tuple[Comparison, ComparisonView]:
    """The comparison as this viewer may see it (their screen order; blind rules applied)."""
    c, role = await comparison_for(s, actor, comparison_id, action)
    voter = await view_voter(request, svc, s)
    view = comparison_view(c, svc.catalog, voter, await voted_on(s, c.id, voter))
    view.role = role
    return c, view


async def _home(request: Request, svc: Services, s: AsyncSession, actor: Actor, form: dict | None = None,
                errors_: list[str] | None = None, status_code: int = 200) -> HTMLResponse:
    """The new-comparison form (for whoever may start comparisons) and recent comparisons of
    the boards this visitor can see."""
    visible = [b.id for b in await visible_boards(s, actor)]
    recent = (await s.execute(
        select(Comparison).where(Comparison.board_id.in_(visible))
        .options(selectinload(Comparison.takes), selectinload(Comparison.board))
        .order_by(Comparison.created_at.desc()).limit(12)
    )).scalars().all() if visible else []
    boards = await boards_where(s, actor, "edit") if can_create(actor) else []
    rows = catalog_rows(svc)
    live = [r["spec"] for r in rows if r["spec"].selectable]
    return svc.render(request, "home.html", {
        "models": rows, "recent": recent, "boards": boards, "form": form or {},
        "aspect_options": ordered([a for m in live for a in m.aspect_ratios], ASPECT_ORDER),
        "resolution_options": ordered([r for m in live for r in m.resolutions], RESOLUTION_ORDER),
        "errors": errors_ or [], "can_create": can_create(actor),
    }, status_code=status_code)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home(request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    return await _home(request, svc, s, actor)


@router.post("/comparisons", include_in_schema=False)
async def create_from_form(request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    form = await request.form()
    raw = comparison_fields(form)
    try:
        c = await start_comparison(request, svc, s, actor, await comparison_input(form, raw))
    except TakesError as exc:
        if exc.status_code == 401:
            raise
        await s.rollback()
        return await _home(request, svc, s, actor, form=raw, errors_=exc.errors, status_code=exc.status_code)
    return RedirectResponse(f"/c/{c.id}", status_code=303)


@router.post("/api/comparisons", status_code=202, tags=["comparisons"], summary="Fan a prompt out to models",
             response_model=ComparisonOut, response_model_exclude_unset=True,
             responses=errors(401, 402, 403, 404, 409))
async def api_create(body: ComparisonIn, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                     idempotency_key: str | None = Header(
                         None, min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
                         description="Send the same key again (within 24 h) to get the first answer, "
                                     "not a second comparison: a retry after a lost reply is safe.")) -> dict:
    data = ComparisonInput(**body.model_dump(exclude={"image"}),
                           image=decode_data_url(body.image) if body.image else None)
    scope = idempotency_scope(actor)
    if idempotency_key:
        if (earlier := await earlier_answer(s, scope, idempotency_key)) is not None:
            return comparison_json(earlier, svc.catalog)
        remember_key(s, scope, idempotency_key)
    try:
        c = await start_comparison(request, svc, s, actor, data)
    except IntegrityError:
        # a twin request with the same key committed first: answer with its comparison
        await s.rollback()
        if not idempotency_key or (c := await earlier_answer(s, scope, idempotency_key)) is None:
            raise
    return comparison_json(c, svc.catalog)


@router.get("/c/{comparison_id}", response_class=HTMLResponse, include_in_schema=False)
async def comparison_page(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    c, view = await viewer_view(request, svc, s, actor, comparison_id)
    cost = sum(t.cost_estimate_usd or 0 for t in c.takes)
    return svc.render(request, "comparison.html", {"c": c, "view": view, "cost": cost})


@router.get("/c/{comparison_id}/status", response_class=HTMLResponse, include_in_schema=False)
async def comparison_status(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                            ready: str = ""):
    """Polled by the page; tells the grid to reload (HX-Trigger) when the playable set changed."""
    c, view = await viewer_view(request, svc, s, actor, comparison_id)
    headers = {"HX-Trigger": "takes-grid-changed"} if view.ready_key != ready else None
    return svc.render(request, "partials/takes.html", {"c": c, "view": view}, headers=headers)


@router.get("/c/{comparison_id}/grid", response_class=HTMLResponse, include_in_schema=False)
async def comparison_grid(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    c, view = await viewer_view(request, svc, s, actor, comparison_id)
    return svc.render(request, "partials/grid.html", {"c": c, "view": view})


@router.get("/api/comparisons/{comparison_id}", tags=["comparisons"], summary="A comparison and each take's status",
            response_model=ComparisonOut, response_model_exclude_unset=True, responses=errors(404))
async def api_comparison(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep,
                         actor: ActorDep) -> dict:
    c, view = await viewer_view(request, svc, s, actor, comparison_id)
    return comparison_json(c, svc.catalog, view)


@router.get("/api/estimate", tags=["comparisons"], summary="What a comparison would cost (used by the form)",
            response_model=EstimateOut, response_model_exclude_unset=True)
async def estimate(svc: ServicesDep, models: list[str] | None = Query(None, max_length=20),
                   duration_s: float | None = Query(None, gt=0, le=60, allow_inf_nan=False),
                   audio: bool = False, resolution: str | None = None) -> dict:
    specs = [svc.catalog.get(m) for m in (models or []) if svc.catalog.get(m)]
    if not specs:
        return {"cost_usd": 0.0}
    d, durations = plan_durations(specs, duration_s or None, {})
    resolution = resolution or shared_choice(specs, "resolutions", DEFAULT_RESOLUTION, RESOLUTION_ORDER)
    params = {"duration_s": d, "durations": durations, "audio": audio, "resolution": resolution}
    return {"cost_usd": estimate_cost(specs, params), "duration_s": d, "durations": durations, "resolution": resolution}
