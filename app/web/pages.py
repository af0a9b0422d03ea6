"""HTML pages and the htmx fragments they poll. Logic stays in app.comparisons / app.votes."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.access import (Actor, allows, board_for, boards_where, can_create, comparison_for, require_signed_in,
                        roles_by_board, target_board, visible_boards)
from app.boards import default_board
from app.comparisons import (
    ASPECT_ORDER, DEFAULT_RESOLUTION, RESOLUTION_ORDER, ComparisonInput, create_comparison, estimate_cost, ordered,
    plan_durations, reroll, shared_choice,
)
from app.errors import InputError
from app.models import Comparison, Take, Voter, utcnow
from app.votes import BallotInput, record_ballot
from app.votes import voted_on
from app.web.deps import ensure_voter, session, view_voter, voter_from_cookie
from app.web.security import guard
from app.web.views import board_overview, comparison_view

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, ctx: dict, status_code: int = 200, headers: dict | None = None) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)


def catalog_rows(request: Request) -> list[dict]:
    providers = request.app.state.providers
    rows = []
    for m in request.app.state.catalog:
        p = providers.get(m.provider)
        rows.append({"spec": m, "available": bool(m.selectable and p and p.available()),
                     "missing": p.missing_keys() if p else [], "adapter": p})
    return rows


async def _home(request: Request, s: AsyncSession, actor: Actor, form: dict | None = None,
                errors: list[str] | None = None, status_code: int = 200) -> HTMLResponse:
    """The new-comparison form (for whoever may start comparisons) and recent comparisons of
    the boards this visitor can see."""
    visible = [b.id for b in await visible_boards(s, actor)]
    recent = (await s.execute(
        select(Comparison).where(Comparison.board_id.in_(visible))
        .options(selectinload(Comparison.takes), selectinload(Comparison.board))
        .order_by(Comparison.created_at.desc()).limit(12)
    )).scalars().all() if visible else []
    boards = await boards_where(s, actor, "edit") if can_create(actor) else []
    rows = catalog_rows(request)
    live = [r["spec"] for r in rows if r["spec"].selectable]
    return render(request, "home.html", {
        "models": rows, "recent": recent, "boards": boards, "form": form or {},
        "aspect_options": ordered([a for m in live for a in m.aspect_ratios], ASPECT_ORDER),
        "resolution_options": ordered([r for m in live for r in m.resolutions], RESOLUTION_ORDER),
        "errors": errors or [], "can_create": can_create(actor),
    }, status_code=status_code)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, s: AsyncSession = Depends(session), actor: Actor = Depends(guard)):
    return await _home(request, s, actor)


def _seed(v: str | None) -> int | None:
    """A whole number (its range is checked with the rest of the comparison); 1.7 or "inf" is refused, not cut."""
    if v in (None, ""):
        return None
    try:
        return int(v.strip())
    except ValueError:
        raise InputError(f"the seed must be a whole number, not {v!r}") from None


def _float(v: str | None) -> float | None:
    if v in (None, ""):
        return None
    try:
        return float(v)
    except ValueError:
        raise InputError(f"{v!r} is not a number") from None


@router.post("/comparisons")
async def create_from_form(request: Request, s: AsyncSession = Depends(session), actor: Actor = Depends(guard)):
    require_signed_in(actor, "start comparisons")
    form = await request.form()
    raw = {k: form.get(k) for k in ("prompt", "duration_s", "aspect_ratio", "resolution", "board", "seed",
                                    "negative_prompt")}
    raw["models"] = form.getlist("models")
    raw["audio"] = form.get("audio") == "on"
    upload = form.get("image")
    try:
        image = await upload.read() if upload is not None and getattr(upload, "filename", "") else None
        seed = _seed(raw["seed"])
        data = ComparisonInput(
            prompt=raw["prompt"] or "", models=raw["models"], duration_s=_float(raw["duration_s"]),
            aspect_ratio=raw["aspect_ratio"] or None, resolution=raw["resolution"] or None,
            board=raw["board"] or None, seed=seed,
            negative_prompt=raw["negative_prompt"] or None, audio=raw["audio"], image=image)
        board = await target_board(s, actor, data.board)
        response = RedirectResponse("/", status_code=303)
        voter = await ensure_voter(request, response, s)
        c = await create_comparison(s, data, catalog=request.app.state.catalog, providers=request.app.state.providers,
                                    settings=request.app.state.settings, storage=request.app.state.storage,
                                    voter_id=voter, board=board)
    except InputError as exc:
        await s.rollback()
        return await _home(request, s, actor, form=raw, errors=exc.errors, status_code=exc.status_code)
    await request.app.state.queue.enqueue([t.id for t in c.takes])
    response.headers["location"] = f"/c/{c.id}"
    return response


async def _view(request: Request, s: AsyncSession, comparison_id: str, actor: Actor, action: str = "view"):
    c, role = await comparison_for(s, actor, comparison_id, action)
    voter = await view_voter(request, s)
    view = comparison_view(c, request.app.state.catalog, voter, await voted_on(s, c.id, voter))
    view.role = role
    return c, view


@router.get("/c/{comparison_id}", response_class=HTMLResponse)
async def comparison_page(comparison_id: str, request: Request, s: AsyncSession = Depends(session),
                          actor: Actor = Depends(guard)):
    c, view = await _view(request, s, comparison_id, actor)
    cost = sum(t.cost_estimate_usd or 0 for t in c.takes)
    return render(request, "comparison.html", {"c": c, "view": view, "cost": cost})


@router.get("/c/{comparison_id}/status", response_class=HTMLResponse)
async def comparison_status(comparison_id: str, request: Request, ready: str = "", s: AsyncSession = Depends(session),
                            actor: Actor = Depends(guard)):
    """Polled by the page; tells the grid to reload (HX-Trigger) when the playable set changed."""
    c, view = await _view(request, s, comparison_id, actor)
    headers = {"HX-Trigger": "takes-grid-changed"} if view.ready_key != ready else None
    return render(request, "partials/takes.html", {"c": c, "view": view}, headers=headers)


@router.get("/c/{comparison_id}/grid", response_class=HTMLResponse)
async def comparison_grid(comparison_id: str, request: Request, s: AsyncSession = Depends(session),
                          actor: Actor = Depends(guard)):
    c, view = await _view(request, s, comparison_id, actor)
    return render(request, "partials/grid.html", {"c": c, "view": view})


def vote_limit(request: Request, voter_id: str) -> None:
    """Votes per minute per voter, and (five times as many) per address: a reviewer never gets
    near either, a script does."""
    from app.web.auth import TooManyRequests, client_ip

    limits = request.app.state.limits
    wait = limits.votes.hit(voter_id) or limits.votes_ip.hit(client_ip(request))
    if wait:
        raise TooManyRequests(f"too many votes in a minute; try again in {wait} s", wait)


@router.post("/c/{comparison_id}/vote", response_class=HTMLResponse)
async def vote_from_page(comparison_id: str, request: Request, s: AsyncSession = Depends(session),
                         actor: Actor = Depends(guard)):
    form = await request.form()
    c, _ = await comparison_for(s, actor, comparison_id, "vote")
    response = HTMLResponse("")
    voter = await ensure_voter(request, response, s)
    vote_limit(request, voter)
    kind = form.get("kind", "pair")
    ballot = BallotInput(kind=kind, criterion=form.get("criterion", "overall"), take_a=form.get("take_a"),
                         take_b=form.get("take_b"), outcome=form.get("outcome"), best=form.get("best"),
                         ranking=[t for t in form.get("ranking", "").split(",") if t] or None)
    try:
        rows = await record_ballot(s, c, voter, ballot)
    except InputError as exc:
        await s.rollback()
        c, view = await _view(request, s, comparison_id, actor)
        return render(request, "partials/vote.html", {"c": c, "view": view, "error": exc.message},
                      status_code=exc.status_code)
    c, role = await comparison_for(s, actor, comparison_id, "vote")
    view = comparison_view(c, request.app.state.catalog, voter, True)
    view.role = role
    names = {t.take.id: t.name for t in view.tiles}
    out = render(request, "partials/vote.html", {"c": c, "view": view, "recorded": rows},
                 headers={"HX-Trigger": json.dumps({"takes-reveal": {"names": names}})})
    for k, v in response.headers.items():
        if k == "set-cookie":
            out.headers.append(k, v)
    return out


@router.post("/c/{comparison_id}/takes/{take_id}/cancel")
async def cancel_take(comparison_id: str, take_id: str, request: Request, s: AsyncSession = Depends(session),
                      actor: Actor = Depends(guard)):
    await comparison_for(s, actor, comparison_id, "edit")
    take = await s.get(Take, take_id)
    if take is None or take.comparison_id != comparison_id:
        raise InputError("no such take", status_code=404)
    if not take.terminal:
        take.status, take.finished_at, take.error_code = "cancelled", utcnow(), "cancelled"
        take.error_message = "cancelled by a reviewer"
        await s.commit()
        spec = request.app.state.catalog.get(take.model_id)
        provider = request.app.state.providers.get(take.provider)
        if provider and spec and take.remote_id:
            try:
                await provider.cancel(spec, take.remote_id, take.remote_meta or {})
            except Exception:  # best effort: the take is cancelled on our side either way
                pass
    return RedirectResponse(f"/c/{comparison_id}", status_code=303)


@router.post("/c/{comparison_id}/reroll")
async def reroll_page(comparison_id: str, request: Request, s: AsyncSession = Depends(session),
                      actor: Actor = Depends(guard)):
    form = await request.form()
    c, _ = await comparison_for(s, actor, comparison_id, "edit")
    take = await reroll(s, c, form.get("model", ""), catalog=request.app.state.catalog,
                        providers=request.app.state.providers)
    await request.app.state.queue.enqueue([take.id])
    return RedirectResponse(f"/c/{comparison_id}", status_code=303)


@router.get("/boards", response_class=HTMLResponse)
async def boards_page(request: Request, s: AsyncSession = Depends(session), actor: Actor = Depends(guard)):
    """Boards this visitor can see: theirs, public ones and link boards whose link they opened."""
    if actor.open_mode:
        await default_board(s)
        await s.commit()
    boards = await visible_boards(s, actor)
    counts = dict((await s.execute(
        select(Comparison.board_id, func.count(Comparison.id)).where(Comparison.board_id.in_([b.id for b in boards]))
        .group_by(Comparison.board_id))).all()) if boards else {}
    roles = await roles_by_board(s, actor, boards)
    rows = [(b, counts.get(b.id, 0)) for b in boards]
    return render(request, "boards.html", {"rows": rows, "roles": roles, "can_create": can_create(actor)})


@router.get("/b/{slug}", response_class=HTMLResponse)
async def board_page(slug: str, request: Request, model: str = "", status: str = "", mine: str = "",
                     s: AsyncSession = Depends(session), actor: Actor = Depends(guard)):
    """The board: posters of every comparison with status, vote counts and each model's win
    share, filters (model, status, voted or not by me) and how far my review has got."""
    if slug == "default" and actor.open_mode:
        await default_board(s)
        await s.commit()
    board, role = await board_for(s, actor, slug, "view")
    voter = voter_from_cookie(request)
    overview = await board_overview(s, board, request.app.state.catalog, voter, model=model, status=status, mine=mine)
    reviewer = await s.get(Voter, voter) if voter and not actor.signed_in else None
    return render(request, "board.html", {"board": board, "role": role, "o": overview,
                                          "reviewer_name": reviewer.display_name if reviewer else None,
                                          "can_vote": allows(role, "vote"), "can_edit": allows(role, "edit"),
                                          "can_manage": allows(role, "manage")})


@router.get("/models", response_class=HTMLResponse)
async def models_page(request: Request):
    rows = catalog_rows(request)
    by_provider: dict[str, list[dict]] = {}
    for r in rows:
        by_provider.setdefault(r["spec"].provider, []).append(r)
    return render(request, "models.html", {"by_provider": by_provider})


@router.get("/api/estimate", include_in_schema=False)
async def estimate(request: Request, models: list[str] | None = Query(None), duration_s: float | None = None,
                   audio: bool = False, resolution: str | None = None):
    """Cost of a comparison before it is sent (used by the form)."""
    catalog = request.app.state.catalog
    specs = [catalog.get(m) for m in (models or []) if catalog.get(m)]
    if not specs:
        return {"cost_usd": 0.0}
    d, durations = plan_durations(specs, duration_s or None, {})
    resolution = resolution or shared_choice(specs, "resolutions", DEFAULT_RESOLUTION, RESOLUTION_ORDER)
    params = {"duration_s": d, "durations": durations, "audio": audio, "resolution": resolution}
    return {"cost_usd": estimate_cost(specs, params), "duration_s": d, "durations": durations, "resolution": resolution}
