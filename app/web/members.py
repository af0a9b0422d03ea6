"""A board's members and invites: make and revoke invite links, change a member's role, remove
one, and accept an invite — as the settings page's forms and as JSON, one function per action.
Managing needs the owner role (app.access); the logic lives in app.invites."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app import invites as inv
from app.access import Actor, board_for
from app.errors import TakesError
from app.models import Board, User
from app.web.boards import settings_page
from app.web.identity import ActorDep, current_user, require_user
from app.web.board_schemas import InviteIn, InviteOut, JoinedOut, MemberOut, RoleIn
from app.web.schemas import errors
from app.web.services import ServicesDep, SessionDep

router = APIRouter()
OWNERS = errors(403, 404, 409)


def invite_url(request: Request, token: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/invite/{token}"


def invite_json(i) -> dict:
    return {"id": i.id, "role": i.role, "created_at": i.created_at.isoformat(), "expires_at": i.expires_at.isoformat(),
            "revoked": i.revoked_at is not None, "uses": i.uses}


async def managed(s: AsyncSession, actor: Actor, slug: str) -> Board:
    board, _ = await board_for(s, actor, slug, "manage")
    return board


async def new_invite(s: AsyncSession, actor: Actor, slug: str, role: str, hours, secret: str
                     ) -> tuple[Board, inv.NewInvite]:
    board = await managed(s, actor, slug)
    return board, await inv.create_invite(s, board, actor.user_id, role, hours, secret=secret)


async def revoke_invite(s: AsyncSession, actor: Actor, slug: str, invite_id: str) -> Board:
    board = await managed(s, actor, slug)
    await inv.revoke_invite(s, board, invite_id)
    return board


async def set_role(s: AsyncSession, actor: Actor, slug: str, user_id: str, role: str):
    return await inv.set_role(s, await managed(s, actor, slug), user_id, role)


async def remove_member(s: AsyncSession, actor: Actor, slug: str, user_id: str) -> Board:
    board = await managed(s, actor, slug)
    await inv.remove_member(s, board, user_id)
    return board


async def join(s: AsyncSession, user: User, token: str) -> tuple[Board, str]:
    """Accept an invite as `user`: the board and the role they now have there."""
    return await inv.accept_invite(s, token, user)


# ---- pages ------------------------------------------------------------------------------------

def _settings(slug: str) -> RedirectResponse:
    return RedirectResponse(f"/b/{slug}/settings", status_code=303)


@router.post("/b/{slug}/invites", include_in_schema=False)
async def invite_form(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    board = await managed(s, actor, slug)
    form = await request.form()
    try:
        board, new = await new_invite(s, actor, slug, str(form.get("role") or "voter"),
                                      form.get("expires_in_hours") or inv.DEFAULT_HOURS,
                                      svc.settings.resolved_secret())
    except TakesError as exc:
        return await settings_page(request, svc, s, board, status_code=exc.status_code, invite_error=exc.message)
    return await settings_page(request, svc, s, board, new_invite=invite_url(request, new.token),
                               new_invite_role=new.invite.role)


@router.post("/b/{slug}/invites/{invite_id}/revoke", include_in_schema=False)
async def revoke_invite_form(slug: str, invite_id: str, s: SessionDep, actor: ActorDep):
    return _settings((await revoke_invite(s, actor, slug, invite_id)).slug)


async def _member_form(request: Request, svc, s: AsyncSession, actor: Actor, slug: str, change) -> HTMLResponse:
    board = await managed(s, actor, slug)
    try:
        await change(board)
    except TakesError as exc:
        await s.rollback()
        return await settings_page(request, svc, s, board, status_code=exc.status_code, members_error=exc.message)
    return _settings(board.slug)


@router.post("/b/{slug}/members/{user_id}", include_in_schema=False)
async def member_role_form(slug: str, user_id: str, request: Request, svc: ServicesDep, s: SessionDep,
                           actor: ActorDep):
    role = str((await request.form()).get("role") or "")
    return await _member_form(request, svc, s, actor, slug, lambda b: set_role(s, actor, slug, user_id, role))


@router.post("/b/{slug}/members/{user_id}/remove", include_in_schema=False)
async def member_remove_form(slug: str, user_id: str, request: Request, svc: ServicesDep, s: SessionDep,
                             actor: ActorDep):
    return await _member_form(request, svc, s, actor, slug, lambda b: remove_member(s, actor, slug, user_id))


@router.get("/invite/{token}", response_class=HTMLResponse, include_in_schema=False)
async def invite_page(token: str, request: Request, svc: ServicesDep, s: SessionDep):
    invite = await inv.invite_by_token(s, token)
    board = await s.get(Board, invite.board_id)
    return svc.render(request, "invite.html", {"invite": invite, "board": board, "token": token,
                                               "me": current_user(request)})


@router.post("/invite/{token}", include_in_schema=False)
async def accept_invite_form(token: str, request: Request, s: SessionDep):
    board, _ = await join(s, require_user(request), token)
    return RedirectResponse(f"/b/{board.slug}", status_code=303)


# ---- JSON -------------------------------------------------------------------------------------

@router.get("/api/boards/{slug}/members", tags=["members"], summary="A board's members and their roles (owners)",
            response_model=list[MemberOut], responses=OWNERS)
async def api_members(slug: str, s: SessionDep, actor: ActorDep) -> list[dict]:
    return [{"user_id": m.user_id, "email": m.email, "name": m.name, "role": m.role}
            for m in await inv.list_members(s, await managed(s, actor, slug))]


@router.put("/api/boards/{slug}/members/{user_id}", tags=["members"], summary="Change a member's role (owners)",
            response_model=MemberOut, response_model_exclude_unset=True, responses=OWNERS)
async def api_set_role(slug: str, user_id: str, body: RoleIn, s: SessionDep, actor: ActorDep) -> dict:
    m = await set_role(s, actor, slug, user_id, body.role)
    return {"user_id": m.user_id, "role": m.role}


@router.delete("/api/boards/{slug}/members/{user_id}", tags=["members"], status_code=204,
               summary="Remove a member (owners)", responses=OWNERS)
async def api_remove_member(slug: str, user_id: str, s: SessionDep, actor: ActorDep) -> None:
    await remove_member(s, actor, slug, user_id)


@router.get("/api/boards/{slug}/invites", tags=["members"], summary="A board's usable invites (owners)",
            response_model=list[InviteOut], response_model_exclude_unset=True, responses=OWNERS)
async def api_invites(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep) -> list[dict]:
    secret = svc.settings.resolved_secret()
    return [{**invite_json(i), "url": invite_url(request, t) if (t := inv.invite_token(i, secret)) else None}
            for i in await inv.list_invites(s, await managed(s, actor, slug))]


@router.post("/api/boards/{slug}/invites", tags=["members"], status_code=201,
             summary="Make an invite link (owners); its URL is also listed while it is usable",
             response_model=InviteOut, responses=OWNERS)
async def api_create_invite(slug: str, body: InviteIn, request: Request, svc: ServicesDep, s: SessionDep,
                            actor: ActorDep) -> dict:
    _, new = await new_invite(s, actor, slug, body.role, body.expires_in_hours, svc.settings.resolved_secret())
    return {**invite_json(new.invite), "url": invite_url(request, new.token)}


@router.delete("/api/boards/{slug}/invites/{invite_id}", tags=["members"], status_code=204,
               summary="Revoke an invite (owners)", responses=OWNERS)
async def api_revoke_invite(slug: str, invite_id: str, s: SessionDep, actor: ActorDep) -> None:
    await revoke_invite(s, actor, slug, invite_id)


@router.post("/api/invites/{token}/accept", tags=["members"], summary="Join a board with an invite token",
             response_model=JoinedOut, responses=errors(401, 404, 410))
async def api_accept_invite(token: str, request: Request, s: SessionDep) -> dict:
    board, role = await join(s, require_user(request), token)
    return {"board": board.slug, "role": role}
