"""Board routes: create a board, its settings (name, description, voting, visibility, budget),
archive, the share link, invites and members — as pages and as JSON. Every route asks
app.access first; the logic lives in app.boards and app.invites."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app import invites as inv
from app.access import Actor, board_for, require_signed_in, roles_by_board, visible_boards
from app.boards import (CRITERIA, UNSET, board_by_link, create_board, rotate_link, set_archived, update_board)
from app.budget import board_spend
from app.errors import InputError
from app.models import BOARD_ROLES, Board
from app.web.deps import session
from app.web.security import guard, remember_link, require_user

router = APIRouter()


def render(request: Request, name: str, ctx: dict, status_code: int = 200) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, name, ctx, status_code=status_code)


def share_url(request: Request, board: Board) -> str | None:
    if board.visibility != "link" or not board.link_token:
        return None
    return f"{str(request.base_url).rstrip('/')}/s/{board.link_token}"


def invite_url(request: Request, token: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/invite/{token}"


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


async def _create(request: Request, s: AsyncSession, actor: Actor, **fields) -> Board:
    require_signed_in(actor, "make boards")
    return await create_board(s, **fields, owner_id=actor.user_id, random_slug=not actor.open_mode)


# ---- pages ------------------------------------------------------------------------------------

@router.post("/boards", include_in_schema=False)
async def create_board_form(request: Request, s: AsyncSession = Depends(session), actor: Actor = Depends(guard)):
    form = await request.form()
    board = await _create(request, s, actor, name=str(form.get("name") or ""), slug=form.get("slug") or None,
                          description=str(form.get("description") or ""), blind=form.get("blind") == "on",
                          criteria=form.getlist("criteria") or ["overall"],
                          visibility=str(form.get("visibility") or "private"), budget_usd=form.get("budget_usd"))
    return RedirectResponse(f"/b/{board.slug}", status_code=303)


async def _settings_page(request: Request, s: AsyncSession, board: Board, status_code: int = 200, **ctx):
    return render(request, "board_settings.html", {
        "board": board, "members": await inv.list_members(s, board), "invites": await inv.list_invites(s, board),
        "roles": BOARD_ROLES, "share_url": share_url(request, board), "spent": await board_spend(s, board.id),
        "me": getattr(request.state, "user", None), **ctx}, status_code=status_code)


@router.get("/b/{slug}/settings", response_class=HTMLResponse, include_in_schema=False)
async def settings_page(slug: str, request: Request, s: AsyncSession = Depends(session),
                        actor: Actor = Depends(guard)):
    board, _ = await board_for(s, actor, slug, "manage")
    return await _settings_page(request, s, board)


@router.post("/b/{slug}/settings", include_in_schema=False)
async def settings_form(slug: str, request: Request, s: AsyncSession = Depends(session),
                        actor: Actor = Depends(guard)):
    board, _ = await board_for(s, actor, slug, "manage")
    form = await request.form()
    try:
        await update_board(s, board, name=form.get("name"), description=form.get("description"),
                           blind=form.get("blind") == "on", criteria=form.getlist("criteria") or ["overall"],
                           visibility=form.get("visibility") or None,
                           budget_usd=form.get("budget_usd") if "budget_usd" in form else UNSET)
    except InputError as exc:
        await s.rollback()
        board, _ = await board_for(s, actor, slug, "manage")
        return await _settings_page(request, s, board, status_code=exc.status_code, settings_error=exc.message)
    return RedirectResponse(f"/b/{board.slug}/settings", status_code=303)


@router.post("/b/{slug}/archive", include_in_schema=False)
async def archive_form(slug: str, request: Request, s: AsyncSession = Depends(session), actor: Actor = Depends(guard)):
    board, _ = await board_for(s, actor, slug, "manage")
    await set_archived(s, board, True)
    return RedirectResponse(f"/b/{board.slug}", status_code=303)


@router.post("/b/{slug}/restore", include_in_schema=False)
async def restore_form(slug: str, request: Request, s: AsyncSession = Depends(session), actor: Actor = Depends(guard)):
    board, _ = await board_for(s, actor, slug, "manage")
    await set_archived(s, board, False)
    return RedirectResponse(f"/b/{board.slug}", status_code=303)


@router.post("/b/{slug}/link", include_in_schema=False)
async def new_link_form(slug: str, request: Request, s: AsyncSession = Depends(session),
                        actor: Actor = Depends(guard)):
    board, _ = await board_for(s, actor, slug, "manage")
    await rotate_link(s, board)
    return RedirectResponse(f"/b/{board.slug}/settings", status_code=303)


@router.post("/b/{slug}/invites", include_in_schema=False)
async def invite_form(slug: str, request: Request, s: AsyncSession = Depends(session), actor: Actor = Depends(guard)):
    board, _ = await board_for(s, actor, slug, "manage")
    form = await request.form()
    try:
        new = await inv.create_invite(s, board, actor.user_id, str(form.get("role") or "voter"),
                                      form.get("expires_in_hours") or inv.DEFAULT_HOURS)
    except InputError as exc:
        return await _settings_page(request, s, board, status_code=exc.status_code, invite_error=exc.message)
    return await _settings_page(request, s, board, new_invite=invite_url(request, new.token),
                                new_invite_role=new.invite.role)


@router.post("/b/{slug}/invites/{invite_id}/revoke", include_in_schema=False)
async def revoke_invite_form(slug: str, invite_id: str, request: Request, s: AsyncSession = Depends(session),
                             actor: Actor = Depends(guard)):
    board, _ = await board_for(s, actor, slug, "manage")
    await inv.revoke_invite(s, board, invite_id)
    return RedirectResponse(f"/b/{board.slug}/settings", status_code=303)


@router.post("/b/{slug}/members/{user_id}", include_in_schema=False)
async def member_role_form(slug: str, user_id: str, request: Request, s: AsyncSession = Depends(session),
                           actor: Actor = Depends(guard)):
    board, _ = await board_for(s, actor, slug, "manage")
    form = await request.form()
    try:
        await inv.set_role(s, board, user_id, str(form.get("role") or ""))
    except InputError as exc:
        await s.rollback()
        return await _settings_page(request, s, board, status_code=exc.status_code, members_error=exc.message)
    return RedirectResponse(f"/b/{board.slug}/settings", status_code=303)


@router.post("/b/{slug}/members/{user_id}/remove", include_in_schema=False)
async def member_remove_form(slug: str, user_id: str, request: Request, s: AsyncSession = Depends(session),
                             actor: Actor = Depends(guard)):
    board, _ = await board_for(s, actor, slug, "manage")
    try:
        await inv.remove_member(s, board, user_id)
    except InputError as exc:
        await s.rollback()
        return await _settings_page(request, s, board, status_code=exc.status_code, members_error=exc.message)
    return RedirectResponse(f"/b/{board.slug}/settings", status_code=303)


@router.get("/s/{token}", include_in_schema=False)
async def share_link(token: str, request: Request, s: AsyncSession = Depends(session)):
    """A board's share link: remember it in this browser (a signed cookie) and open the board.
    The token leaves the address bar at once (a redirect), and Referrer-Policy keeps it from
    leaking to other sites."""
    board = await board_by_link(s, token)
    response = RedirectResponse(f"/b/{board.slug}", status_code=303)
    if board.visibility == "link":
        remember_link(request, response, token)
    return response


@router.get("/invite/{token}", response_class=HTMLResponse, include_in_schema=False)
async def invite_page(token: str, request: Request, s: AsyncSession = Depends(session)):
    invite = await inv.invite_by_token(s, token)
    board = await s.get(Board, invite.board_id)
    return render(request, "invite.html", {"invite": invite, "board": board, "token": token,
                                           "me": getattr(request.state, "user", None)})


@router.post("/invite/{token}", include_in_schema=False)
async def accept_invite_form(token: str, request: Request, s: AsyncSession = Depends(session)):
    user = require_user(request)
    board, _ = await inv.accept_invite(s, token, user)
    return RedirectResponse(f"/b/{board.slug}", status_code=303)


# ---- JSON -------------------------------------------------------------------------------------

class BoardIn(BaseModel):
    name: str = Field(description="Display name (1–200 characters).")
    slug: str | None = Field(None, description="URL name; default: made from the name. Once accounts exist a "
                                               "random tail is added, so private boards' URLs cannot be guessed.")
    description: str = ""
    blind: bool = Field(True, description="Blind voting: takes shown as A, B, C … in a per-voter shuffled "
                                          "order, names revealed after the vote. False: open (named) voting.")
    criteria: list[str] = Field(["overall"], description=f"What the board asks about; known: {', '.join(CRITERIA)}.")
    visibility: Literal["private", "link", "public"] = Field(
        "private", description="private: members only; link: anyone with the share link can view and vote; "
                               "public: listed, anyone can view and vote")
    budget_usd: float | None = Field(None, description="Spending cap: a comparison that would exceed it is refused.")


class BoardPatch(BaseModel):
    name: str | None = None
    description: str | None = None
    blind: bool | None = None
    criteria: list[str] | None = None
    visibility: Literal["private", "link", "public"] | None = None
    budget_usd: float | None = Field(None, description="null (or leave it out) keeps the budget; 0 or more sets it")
    clear_budget: bool = Field(False, description="true removes the budget")
    archived: bool | None = Field(None, description="true archives (read-only), false restores")
    new_share_link: bool = Field(False, description="true replaces the share link (the old one stops working)")


class InviteIn(BaseModel):
    role: Literal["viewer", "voter", "editor", "owner"] = "voter"
    expires_in_hours: float = Field(inv.DEFAULT_HOURS, description=f"1 to {inv.MAX_HOURS} hours")


class RoleIn(BaseModel):
    role: Literal["viewer", "voter", "editor", "owner"]


def invite_json(i) -> dict:
    return {"id": i.id, "role": i.role, "created_at": i.created_at.isoformat(), "expires_at": i.expires_at.isoformat(),
            "revoked": i.revoked_at is not None, "uses": i.uses}


@router.get("/api/boards", tags=["api"], summary="Boards you can see, with your role on each")
async def api_boards(s: AsyncSession = Depends(session), actor: Actor = Depends(guard)) -> list[dict]:
    boards = await visible_boards(s, actor)
    roles = await roles_by_board(s, actor, boards)
    return [board_json(b, roles.get(b.id)) for b in boards]


@router.post("/api/boards", tags=["api"], status_code=201, summary="Make a board (you are its owner)")
async def api_create_board(body: BoardIn, request: Request, s: AsyncSession = Depends(session),
                           actor: Actor = Depends(guard)) -> dict:
    board = await _create(request, s, actor, **body.model_dump())
    return board_json(board, "owner", request)


@router.get("/api/boards/{slug}", tags=["api"], summary="A board and its settings")
async def api_board(slug: str, request: Request, s: AsyncSession = Depends(session),
                    actor: Actor = Depends(guard)) -> dict:
    board, role = await board_for(s, actor, slug, "view")
    return board_json(board, role, request, await board_spend(s, board.id))


@router.patch("/api/boards/{slug}", tags=["api"], summary="Change a board (owners)")
async def api_update_board(slug: str, body: BoardPatch, request: Request, s: AsyncSession = Depends(session),
                           actor: Actor = Depends(guard)) -> dict:
    board, role = await board_for(s, actor, slug, "manage")
    budget = None if body.clear_budget else (body.budget_usd if body.budget_usd is not None else UNSET)
    await update_board(s, board, name=body.name, description=body.description, blind=body.blind,
                       criteria=body.criteria, visibility=body.visibility, budget_usd=budget)
    if body.archived is not None:
        await set_archived(s, board, body.archived)
    if body.new_share_link:
        await rotate_link(s, board)
    return board_json(board, role, request, await board_spend(s, board.id))


@router.get("/api/boards/{slug}/members", tags=["api"], summary="A board's members and their roles (owners)")
async def api_members(slug: str, s: AsyncSession = Depends(session), actor: Actor = Depends(guard)) -> list[dict]:
    board, _ = await board_for(s, actor, slug, "manage")
    return [{"user_id": m.user_id, "email": m.email, "name": m.name, "role": m.role}
            for m in await inv.list_members(s, board)]


@router.put("/api/boards/{slug}/members/{user_id}", tags=["api"], summary="Change a member's role (owners)")
async def api_set_role(slug: str, user_id: str, body: RoleIn, s: AsyncSession = Depends(session),
                       actor: Actor = Depends(guard)) -> dict:
    board, _ = await board_for(s, actor, slug, "manage")
    m = await inv.set_role(s, board, user_id, body.role)
    return {"user_id": m.user_id, "role": m.role}


@router.delete("/api/boards/{slug}/members/{user_id}", tags=["api"], status_code=204,
               summary="Remove a member (owners)")
async def api_remove_member(slug: str, user_id: str, s: AsyncSession = Depends(session),
                            actor: Actor = Depends(guard)):
    board, _ = await board_for(s, actor, slug, "manage")
    await inv.remove_member(s, board, user_id)


@router.get("/api/boards/{slug}/invites", tags=["api"], summary="A board's usable invites (owners)")
async def api_invites(slug: str, s: AsyncSession = Depends(session), actor: Actor = Depends(guard)) -> list[dict]:
    board, _ = await board_for(s, actor, slug, "manage")
    return [invite_json(i) for i in await inv.list_invites(s, board)]


@router.post("/api/boards/{slug}/invites", tags=["api"], status_code=201,
             summary="Make an invite link (owners); its URL is in this response only")
async def api_create_invite(slug: str, body: InviteIn, request: Request, s: AsyncSession = Depends(session),
                            actor: Actor = Depends(guard)) -> dict:
    board, _ = await board_for(s, actor, slug, "manage")
    new = await inv.create_invite(s, board, actor.user_id, body.role, body.expires_in_hours)
    return {**invite_json(new.invite), "url": invite_url(request, new.token)}


@router.delete("/api/boards/{slug}/invites/{invite_id}", tags=["api"], status_code=204,
               summary="Revoke an invite (owners)")
async def api_revoke_invite(slug: str, invite_id: str, s: AsyncSession = Depends(session),
                            actor: Actor = Depends(guard)):
    board, _ = await board_for(s, actor, slug, "manage")
    await inv.revoke_invite(s, board, invite_id)
