"""Comparisons: the new-comparison form (the home page), starting one (form and API, one
function), the comparison page with the fragments it polls, its JSON, and the cost estimate.
The logic lives in app.comparisons; access in app.access."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import StringConstraints
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import blind as blind_rules
from app.access import Actor, boards_where, can_create, comparison_for, target_board, visible_boards
from app.catalog import check_request, unknown_model
from app.comparisons import (ASPECT_ORDER, DEFAULT_ASPECT, DEFAULT_RESOLUTION, RESOLUTION_ORDER, ComparisonInput, check_image,
                             create_comparison, decode_data_url, estimate_cost, load_comparison, plan_durations,
                             shared_choice, validate)
from app.errors import TakesError
from app.idempotency import fresh_row, remember_with
from app.models import Comparison, IdempotencyKey
from app.tags import tags_by_comparison
from app.picks import voted_and_open_pick
from app.selections import list_selections
from app.uploads import drop_pending, keep_pending, thumbnail_url
from app.web.catalog import picker_data
from app.web.forms import comparison_fields, comparison_input
from app.web.identity import ActorDep, current_user, ensure_voter, view_voter, voter_of
from app.web.selections import selection_json
from app.web.schemas import ComparisonIn, ComparisonOut, EstimateOut, errors
from app.web.services import Services, ServicesDep, SessionDep
from app.web.views import ComparisonView, comparison_json, comparison_view, recent_comparisons

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
    await svc.events.comparison_changed(c.id, c.board_id)   # the board page shows it at once
    return c


def idempotency_scope(actor: Actor) -> str:
    """Whose keys these are: the account; without one, anonymous callers together (a script
    has no cookie to tell it apart, and a first request may make the browser's voter id, so
    that cannot scope it either). Keys are meant to be random (a UUID)."""
    return f"user:{actor.user_id}" if actor.user_id else "anonymous"


async def earlier_answer(s: AsyncSession, scope: str, key: str) -> Comparison | None:
    """The comparison an earlier request with this key made, within the window."""
    row = await fresh_row(s, IdempotencyKey, scope, key)
    return await load_comparison(s, row.comparison_id) if row else None


def remember_key(s: AsyncSession, scope: str, key: str) -> None:
    """Store the key with the comparison the next flush inserts, in the same transaction: a
    comparison made under a key is never without it, and a twin request fails at commit."""
    remember_with(s, Comparison, lambda made: IdempotencyKey(actor=scope, key=key, comparison=made))


async def viewer_view(request: Request, svc: Services, s: AsyncSession, actor: Actor, comparison_id: str,
                      action: str = "view") -> tuple[Comparison, ComparisonView]:
    """The comparison as this viewer may see it (their screen order; blind rules applied)."""
    c, role = await comparison_for(s, actor, comparison_id, action)
    # No voter yet (a first visit, or a script without cookies): the id minted now has no
    # votes and no picks, so the two lookups of them are skipped.
    fresh = voter_of(request, svc) is None
    voter = await view_voter(request, svc, s)
    observer = await blind_rules.observing(s, actor, c.board, role)
    voted, view_asked = await voted_and_open_pick(s, c.id, voter) if not fresh else (False, None)
    view = comparison_view(c, svc.catalog, voter, voted, observer)
    view.role, view.asked = role, view_asked
    return c, view


async def _home(request: Request, svc: Services, s: AsyncSession, actor: Actor, form: dict | None = None,
                errors_: list[str] | None = None, status_code: int = 200) -> HTMLResponse:
    """The new-comparison form (for whoever may start comparisons) and recent comparisons of
    the boards this visitor can see."""
    visible = await visible_boards(s, actor)
    recent = await recent_comparisons(s, visible)
    boards = await boards_where(s, actor, "edit", visible) if can_create(actor) else []
    picker = picker_data(svc, ASPECT_ORDER, RESOLUTION_ORDER)
    chosen = set((form or {}).get("models") or [])
    user = current_user(request)
    saved = [selection_json(x) for x in await list_selections(s, user)] if user else None
    return svc.render(request, "home.html", {
        "picker": picker, "recent": recent, "boards": boards, "form": form or {}, "chosen": chosen,
        "chosen_families": {f.key for f in picker.families if chosen and any(r.spec.id in chosen for r in f.routes)},
        "errors": errors_ or [], "can_create": can_create(actor), "saved_selections": saved,
    }, status_code=status_code)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home(request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    return await _home(request, svc, s, actor)


@router.post("/comparisons", include_in_schema=False)
async def create_from_form(request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    form = await request.form()
    raw = comparison_fields(form)
    data = None
    try:
        data = await comparison_input(form, raw, svc.storage)
        c = await start_comparison(request, svc, s, actor, data)
    except TakesError as exc:
        if exc.status_code == 401:
            raise
        await s.rollback()
        keep_image(svc, raw, data.image if data else None)
        return await _home(request, svc, s, actor, form=raw, errors_=exc.errors, status_code=exc.status_code)
    drop_pending(svc.storage, raw["pending_image"])
    return RedirectResponse(f"/c/{c.id}", status_code=303)


def keep_image(svc: Services, raw: dict, image: bytes | None) -> None:
    """A refused form keeps its source image (a file input cannot be refilled): a valid image is
    stored as a pending upload, named in the redrawn form with a thumbnail (app/uploads.py)."""
    if image is None:
        raw["pending_image"] = None
        return
    try:
        checked = check_image(image, svc.settings)
    except TakesError:
        raw["pending_image"] = None   # the image itself was refused: the form says so; nothing kept
        return
    if not raw.get("pending_image"):
        raw["pending_image"] = keep_pending(svc.storage, checked)
    raw["pending_thumb"] = thumbnail_url(checked.data)


@router.post("/api/comparisons", status_code=202, tags=["comparisons"], summary="Fan a prompt out to models",
             response_model=ComparisonOut, response_model_exclude_unset=True,
             responses=errors(401, 402, 403, 404, 409))
async def api_create(body: ComparisonIn, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                     idempotency_key: str | None = Header(
                         None, min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
                         description="Send the same key again (within 24 h) to get the first answer, "
                                     "not a second comparison: a retry after a lost reply is safe.")) -> dict:
    data = ComparisonInput(**body.model_dump(exclude={"image", "reference_video"}),
                           image=decode_data_url(body.image) if body.image else None,
                           reference_video=decode_data_url(body.reference_video, "reference_video", "video/mp4")
                           if body.reference_video else None)
    scope = idempotency_scope(actor)
    if idempotency_key:
        # a bad body is refused even with a key seen before: the key replays an answer to the
        # same request, it does not let another request through unchecked
        validate(data, svc.catalog, svc.providers, svc.settings)
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
    tags = (await tags_by_comparison(s, [c.id])).get(c.id, [])
    return svc.render(request, "comparison.html", {"c": c, "view": view, "cost": cost, "tags": tags})


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


# A model id as a query value: `models=` (empty) is refused, not read as "no model" (the form
# never sends one; the fuzz gate found the empty value answered 200). 120 is the column's width.
ModelIdParam = Annotated[str, StringConstraints(min_length=1, max_length=120)]


@router.get("/api/estimate", tags=["comparisons"], summary="What a comparison would cost (used by the form)",
            response_model=EstimateOut, response_model_exclude_unset=True)
async def estimate(svc: ServicesDep, models: list[ModelIdParam] | None = Query(None, max_length=20),
                   duration_s: float | None = Query(None, gt=0, le=60, allow_inf_nan=False),
                   audio: bool = False, resolution: str | None = None, aspect_ratio: str | None = None,
                   image: bool = Query(False, description="a source image will be sent")) -> dict:
    """The price of the comparison the form would start, and what a chosen model would refuse
    of it: the form shows no price while `problems` has any (the request would be refused).
    An id the catalog does not hold is such a problem too (creating the comparison refuses it
    with the same words), not a model silently left out of the price."""
    found = {m: svc.catalog.get(m) for m in (models or [])}   # one lookup per distinct id
    specs = [found[m] for m in (models or []) if found[m]]
    unknown = [unknown_model(m) for m, sp in found.items() if sp is None]
    if not specs:
        return {"cost_usd": 0.0, "problems": unknown} if unknown else {"cost_usd": 0.0}
    d, durations = plan_durations(specs, duration_s or None, {})
    resolution = resolution or shared_choice(specs, "resolutions", DEFAULT_RESOLUTION, RESOLUTION_ORDER)
    aspect = aspect_ratio or shared_choice(specs, "aspect_ratios", DEFAULT_ASPECT, ASPECT_ORDER)
    params = {"duration_s": d, "durations": durations, "audio": audio, "resolution": resolution}
    problems = unknown + [p for sp in specs for p in check_request(sp, duration_s=durations.get(sp.id, d), aspect_ratio=aspect,
                                                          resolution=resolution, has_image=image, audio=audio)]
    return {"cost_usd": estimate_cost(specs, params), "duration_s": d, "durations": durations, "resolution": resolution,
            "problems": problems}
