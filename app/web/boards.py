"""Boards: the list, making one, the board page, its settings (name, description, voting,
visibility, budget, archive, share link) and the share link itself — as pages and as JSON, one
function per action. Access is app.access's call; the logic lives in app.boards. Members and
invites are in app.web.members."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import invites as inv
from app import webhooks as wh
from app.access import Actor, allows, board_for, can_create, require_signed_in, roles_by_board, visible_boards
from app.blind import observing
from app.boards import (UNSET, board_by_link, create_board, default_board, rotate_link, set_archived, set_observer,
                        update_board)
from app.budget import board_spend
from app.errors import TakesError
from app.models import BOARD_ROLES, Board, Comparison, Voter
from app.suites import suites_of_board
from app.web.identity import ActorDep, current_user, remember_link, view_voter, voter_of
from app.web.board_schemas import BoardIn, BoardOut, BoardPatch, ObserverIn, ObserverOut
from app.web.schemas import errors
from app.web.services import Services, ServicesDep, SessionDep
from app.web.board_view import board_overview

router = APIRouter()
OWNERS = errors(403, 404, 409)


def share_url(request: Request, board: Board) -> str | None:
    if board.visibility != "link" or not board.link_token:
        return None
    return f"{str(request.base_url).rstrip('/')}/s/{board.link_token}"


def board_json(b: Board, role: str | None = None, request: Request | None = None, spent: float | None = None) -> dict:
    out = {"id": b.id, "slug": b.slug, "name": b.name, "description": b.description, "visibility": b.visibility,
           "blind": b.blind, "criteria": list(b.criteria or ["overall"]), "archived": b.archived_at is not None,
           "budget_usd": b.budget_usd, "created_at": b.created_at.isoformat(), "role": role,
           "personal": b.personal_user_id is not None}
    if role == "owner" and request is not None:
        out["share_url"] = share_url(request, b)
    if spent is not None:
        out["spent_usd"] = spent
    return out


async def new_board(s: AsyncSession, actor: Actor, **fields) -> Board:
    require_signed_in(actor, "make boards")
    return await create_board(s, **fields, owner_id=actor.user_id, random_slug=not actor.open_mode)


async def change_board(s: AsyncSession, board: Board, patch: BoardPatch) -> Board:
    """Apply a settings change (the settings form and PATCH both send one)."""
    budget = None if patch.clear_budget else (patch.budget_usd if patch.budget_usd is not None else UNSET)
    await update_board(s, board, name=patch.name, description=patch.description, blind=patch.blind,
                       criteria=patch.criteria, visibility=patch.visibility, budget_usd=budget)
    if patch.archived is not None:
        await set_archived(s, board, patch.archived)
    if patch.new_share_link:
        await rotate_link(s, board)
    return board


async def _open_default(s: AsyncSession, actor: Actor) -> None:
    if actor.open_mode:   # open mode: the shared default board exists from the first visit
        await default_board(s)
        await s.commit()


# ---- pages ------------------------------------------------------------------------------------

@router.get("/boards", response_class=HTMLResponse, include_in_schema=False)
async def boards_page(request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    """Boards this visitor can see: theirs, public ones and link boards whose link they opened."""
    await _open_default(s, actor)
    boards = await visible_boards(s, actor)
    counts = dict((await s.execute(
        select(Comparison.board_id, func.count(Comparison.id)).where(Comparison.board_id.in_([b.id for b in boards]))
        .group_by(Comparison.board_id))).all()) if boards else {}
    roles = await roles_by_board(s, actor, boards)
    rows = [(b, counts.get(b.id, 0)) for b in boards]
    return svc.render(request, "boards.html", {"rows": rows, "roles": roles, "can_create": can_create(actor)})


@router.post("/boards", include_in_schema=False)
async def create_board_form(request: Request, s: SessionDep, actor: ActorDep):
    form = await request.form()
    board = await new_board(s, actor, name=str(form.get("name") or ""), slug=form.get("slug") or None,
                            description=str(form.get("description") or ""), blind=form.get("blind") == "on",
                            criteria=form.getlist("criteria") or ["overall"],
                            visibility=str(form.get("visibility") or "private"), budget_usd=form.get("budget_usd"))
    return RedirectResponse(f"/b/{board.slug}", status_code=303)


@router.get("/b/{slug}", response_class=HTMLResponse, include_in_schema=False)
async def board_page(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                     model: str = "", status: str = "", mine: str = ""):
    """The board: posters of every comparison with status, vote counts and each model's win
    share, filters (model, status, voted or not by me) and how far my review has got."""
    if slug == "default":
        await _open_default(s, actor)
    board, role = await board_for(s, actor, slug, "view")
    voter = voter_of(request, svc)
    fresh = False   # a voter id minted by this request: no votes and no name to look up yet
    if voter is None and not actor.signed_in and allows(role, "vote"):
        voter, fresh = await view_voter(request, svc, s), True   # the voter cookie an anonymous vote needs
    observer = await observing(s, actor, board, role)
    overview = await board_overview(s, board, svc.catalog, voter, model=model, status=status, mine=mine,
                                    observer=observer, fresh_voter=fresh)
    reviewer = await s.get(Voter, voter) if voter and not fresh and not actor.signed_in else None
    return svc.render(request, "board.html", {"board": board, "role": role, "o": overview,
                                              "reviewer_name": reviewer.display_name if reviewer else None,
                                              "can_vote": allows(role, "vote"), "can_edit": allows(role, "edit"),
                                              "can_manage": allows(role, "manage"),
                                              "suites": await suites_of_board(s, board.id),
                                              "observer": observer})


def invite_links(request: Request, svc: Services, invites) -> dict[str, str]:
    """{invite id: its link} for the usable invites whose token can be derived (app.invites)."""
    base, secret = str(request.base_url).rstrip("/"), svc.settings.resolved_secret()
    return {i.id: f"{base}/invite/{t}" for i in invites if (t := inv.invite_token(i, secret))}


async def settings_page(request: Request, svc: Services, s: AsyncSession, board: Board, status_code: int = 200,
                        **ctx) -> HTMLResponse:
    """The settings page (members and invites included), with whatever note `ctx` adds."""
    invites = await inv.list_invites(s, board)
    return svc.render(request, "board_settings.html", {
        "board": board, "members": await inv.list_members(s, board), "invites": invites,
        "invite_links": invite_links(request, svc, invites),
        "roles": BOARD_ROLES, "share_url": share_url(request, board), "spent": await board_spend(s, board.id),
        "me": current_user(request), "webhooks": await wh.endpoints(s, board), "events": wh.EVENTS,
        "deliveries": await wh.delivery_log(s, board, 20), **ctx}, status_code=status_code)


@router.get("/b/{slug}/settings", response_class=HTMLResponse, include_in_schema=False)
async def settings_get(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    board, _ = await board_for(s, actor, slug, "manage")
    return await settings_page(request, svc, s, board)


@router.post("/b/{slug}/settings", include_in_schema=False)
async def settings_form(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    board, _ = await board_for(s, actor, slug, "manage")
    form = await request.form()
    try:
        await update_board(s, board, name=form.get("name"), description=form.get("description"),
                           blind=form.get("blind") == "on", criteria=form.getlist("criteria") or ["overall"],
                           visibility=form.get("visibility") or None,
                           budget_usd=form.get("budget_usd") if "budget_usd" in form else UNSET)
    except TakesError as exc:
        await s.rollback()
        board, _ = await board_for(s, actor, slug, "manage")
        return await settings_page(request, svc, s, board, status_code=exc.status_code, settings_error=exc.message)
    return RedirectResponse(f"/b/{board.slug}/settings", status_code=303)


async def _patch_form(slug: str, s: AsyncSession, actor: Actor, patch: BoardPatch, back: str) -> RedirectResponse:
    board, _ = await board_for(s, actor, slug, "manage")
    await change_board(s, board, patch)
    return RedirectResponse(back.format(slug=board.slug), status_code=303)


@router.post("/b/{slug}/archive", include_in_schema=False)
async def archive_form(slug: str, s: SessionDep, actor: ActorDep):
    return await _patch_form(slug, s, actor, BoardPatch(archived=True), "/b/{slug}")


@router.post("/b/{slug}/restore", include_in_schema=False)
async def restore_form(slug: str, s: SessionDep, actor: ActorDep):
    return await _patch_form(slug, s, actor, BoardPatch(archived=False), "/b/{slug}")


@router.post("/b/{slug}/link", include_in_schema=False)
async def new_link_form(slug: str, s: SessionDep, actor: ActorDep):
    return await _patch_form(slug, s, actor, BoardPatch(new_share_link=True), "/b/{slug}/settings")


@router.get("/s/{token}", include_in_schema=False)
async def share_link(token: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    """A board's share link: remember it in this browser (a signed cookie) and open the board.
    The token leaves the address bar at once (a redirect), and Referrer-Policy keeps it from
    leaking to other sites. Browsers only: a script with a token is a member instead. An
    anonymous browser also gets its voter cookie here, as on the board's page."""
    board = await board_by_link(s, token)
    response = RedirectResponse(f"/b/{board.slug}", status_code=303)
    if board.visibility == "link":
        remember_link(request, response, svc, token)
    if not actor.signed_in and voter_of(request, svc) is None:
        await view_voter(request, svc, s)
    return response


# ---- JSON -------------------------------------------------------------------------------------

@router.get("/api/boards", tags=["boards"], summary="Boards you can see, with your role on each",
            response_model=list[BoardOut], response_model_exclude_unset=True)
async def api_boards(s: SessionDep, actor: ActorDep) -> list[dict]:
    boards = await visible_boards(s, actor)
    roles = await roles_by_board(s, actor, boards)
    return [board_json(b, roles.get(b.id)) for b in boards]


@router.post("/api/boards", tags=["boards"], status_code=201, summary="Make a board (you are its owner)",
             response_model=BoardOut, response_model_exclude_unset=True, responses=errors(401, 409))
async def api_create_board(body: BoardIn, request: Request, s: SessionDep, actor: ActorDep) -> dict:
    return board_json(await new_board(s, actor, **body.model_dump()), "owner", request)


@router.get("/api/boards/{slug}", tags=["boards"], summary="A board and its settings",
            response_model=BoardOut, response_model_exclude_unset=True, responses=errors(404))
async def api_board(slug: str, request: Request, s: SessionDep, actor: ActorDep) -> dict:
    board, role = await board_for(s, actor, slug, "view")
    return board_json(board, role, request, await board_spend(s, board.id))


@router.patch("/api/boards/{slug}", tags=["boards"], summary="Change a board (owners)",
              response_model=BoardOut, response_model_exclude_unset=True, responses=OWNERS)
async def api_update_board(slug: str, body: BoardPatch, request: Request, s: SessionDep, actor: ActorDep) -> dict:
    board, role = await board_for(s, actor, slug, "manage")
    await change_board(s, board, body)
    return board_json(board, role, request, await board_spend(s, board.id))


# ---- observers (app/blind.py): owners and editors who watch instead of judging blind ----------

@router.post("/b/{slug}/observer", include_in_schema=False)
async def observer_form(slug: str, request: Request, s: SessionDep, actor: ActorDep):
    board, _ = await board_for(s, actor, slug, "edit")
    form = await request.form()
    await set_observer(s, board, actor.user_id, actor.is_admin, form.get("observer") == "true")
    return RedirectResponse(f"/b/{board.slug}", status_code=303)


@router.put("/api/boards/{slug}/observer", tags=["boards"], summary="Watch a board as an observer (owners, editors)",
            response_model=ObserverOut, responses=errors(403, 404, 409))
async def api_observer(slug: str, body: ObserverIn, s: SessionDep, actor: ActorDep) -> dict:
    board, _ = await board_for(s, actor, slug, "edit")
    return {"board": board.slug, "observer": await set_observer(s, board, actor.user_id, actor.is_admin,
                                                                body.observer)}
