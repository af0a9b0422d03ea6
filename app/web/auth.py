"""Sign up, sign in, sign out, the account page (name, password, API tokens) and /api/me.
The logic lives in app.accounts; rate limits in app.ratelimit."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app import accounts
from app.access import Actor
from app.errors import InputError
from app.invites import accept_invite, invite_by_token
from app.models import Board, Voter
from app.web.deps import ensure_voter, session
from app.web.security import (SESSION_COOKIE, accounts_on, cookie_voter, guard, require_user, set_cookie)

router = APIRouter()


class TooManyRequests(InputError):
    status_code = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def render(request: Request, name: str, ctx: dict, status_code: int = 200) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, name, ctx, status_code=status_code)


def safe_next(value: str | None) -> str:
    """Only a path on this site: never `//evil.example` or an absolute URL (open redirect)."""
    value = (value or "").strip()
    if not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n\\"):
        return "/"
    return value


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _sign_in(request: Request, response, token: str) -> None:
    set_cookie(request, response, SESSION_COOKIE, token, max_age=accounts.SESSION_DAYS * 86400)


# ---- sign in / out ----------------------------------------------------------------------------

@router.get("/signin", response_class=HTMLResponse, include_in_schema=False)
async def signin_page(request: Request, next: str = "/", s: AsyncSession = Depends(session)):
    return render(request, "signin.html", {"next": safe_next(next), "open_mode": not await accounts_on(request, s)})


@router.post("/signin", include_in_schema=False)
async def signin(request: Request, s: AsyncSession = Depends(session)):
    """Rate limited: a few wrong passwords per email and address, then 429 with Retry-After
    (even for the right password, until the window passes)."""
    form = await request.form()
    email = str(form.get("email") or "").strip().lower()
    password = str(form.get("password") or "")
    nxt = safe_next(form.get("next"))
    limits, ip = request.app.state.limits, client_ip(request)
    wait = (limits.signin_ip.hit(ip) or limits.signin_failures.retry_after(f"{email}|{ip}")
            or limits.signin_email.retry_after(email))
    if wait:
        raise TooManyRequests(f"too many sign-in attempts; try again in {wait} s", wait)
    user = await accounts.authenticate(s, email, password)
    if user is None:
        limits.signin_failures.hit(f"{email}|{ip}")
        limits.signin_email.hit(email)
        return render(request, "signin.html", {"next": nxt, "email": email, "open_mode": False,
                                               "error": "wrong email or password"}, status_code=401)
    limits.signin_failures.reset(f"{email}|{ip}")
    await accounts.end_session(s, request.cookies.get(SESSION_COOKIE))  # no session fixation
    token = await accounts.start_session(s, user, request.headers.get("user-agent", ""))
    response = RedirectResponse(nxt, status_code=303)
    _sign_in(request, response, token)
    return response


@router.post("/signout", include_in_schema=False)
async def signout(request: Request, s: AsyncSession = Depends(session)):
    await accounts.end_session(s, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---- sign up ----------------------------------------------------------------------------------

async def _invite_board(s: AsyncSession, token: str | None) -> Board | None:
    if not token:
        return None
    invite = await invite_by_token(s, token)
    return await s.get(Board, invite.board_id)


@router.get("/signup", response_class=HTMLResponse, include_in_schema=False)
async def signup_page(request: Request, invite: str | None = None, next: str = "/",
                      s: AsyncSession = Depends(session)):
    board = await _invite_board(s, invite)
    return render(request, "signup.html", {
        "invite": invite if board else None, "invite_board": board, "next": safe_next(next),
        "open_mode": not await accounts_on(request, s),
        "allowed": bool(board) or request.app.state.settings.allow_signup})


@router.post("/signup", include_in_schema=False)
async def signup(request: Request, s: AsyncSession = Depends(session)):
    form = await request.form()
    invite = str(form.get("invite") or "") or None
    nxt = safe_next(form.get("next"))
    wait = request.app.state.limits.signup_ip.hit(client_ip(request))
    if wait:
        raise TooManyRequests(f"too many sign-ups from this address; try again in {wait} s", wait)
    if not await accounts_on(request, s):
        raise InputError("accounts are not set up yet: the first account is an admin, made with "
                         "`takes create-user --admin`", status_code=403)
    board = await _invite_board(s, invite)
    if board is None and not request.app.state.settings.allow_signup:
        raise InputError("sign-up is by invitation on this server: open the invite link you were sent",
                         status_code=403)
    ctx = {"invite": invite, "invite_board": board, "next": nxt, "open_mode": False, "allowed": True,
           "email": form.get("email") or "", "name": form.get("name") or ""}
    try:
        user = await accounts.create_user(s, str(form.get("email") or ""), str(form.get("password") or ""),
                                          display_name=str(form.get("name") or ""), voter_id=cookie_voter(request))
    except InputError as exc:
        await s.rollback()
        return render(request, "signup.html", {**ctx, "errors": exc.errors}, status_code=exc.status_code)
    if invite:
        board, _ = await accept_invite(s, invite, user)
        nxt = f"/b/{board.slug}"
    token = await accounts.start_session(s, user, request.headers.get("user-agent", ""))
    response = RedirectResponse(nxt, status_code=303)
    _sign_in(request, response, token)
    return response


# ---- account ----------------------------------------------------------------------------------

async def _account(request: Request, s: AsyncSession, status_code: int = 200, **ctx) -> HTMLResponse:
    user = require_user(request)
    return render(request, "account.html", {"user": user, "tokens": await accounts.list_tokens(s, user), **ctx},
                  status_code=status_code)


@router.get("/account", response_class=HTMLResponse, include_in_schema=False)
async def account_page(request: Request, s: AsyncSession = Depends(session)):
    require_user(request)
    return await _account(request, s)


@router.post("/account/password", include_in_schema=False)
async def account_password(request: Request, s: AsyncSession = Depends(session)):
    user = await s.merge(require_user(request))
    form = await request.form()
    new, again = str(form.get("new_password") or ""), str(form.get("new_password_again") or "")
    try:
        if new != again:
            raise InputError("the two new passwords differ")
        await accounts.change_password(s, user, str(form.get("password") or ""), new,
                                       keep_session=request.cookies.get(SESSION_COOKIE))
    except InputError as exc:
        await s.rollback()
        return await _account(request, s, status_code=exc.status_code, password_error=exc.message)
    return await _account(request, s, password_ok=True)


@router.post("/account/name", include_in_schema=False)
async def account_name(request: Request, s: AsyncSession = Depends(session)):
    user = await s.merge(require_user(request))
    form = await request.form()
    await accounts.set_display_name(s, user, str(form.get("name") or ""))
    return RedirectResponse("/account", status_code=303)


@router.post("/account/tokens", include_in_schema=False)
async def account_new_token(request: Request, s: AsyncSession = Depends(session)):
    user = await s.merge(require_user(request))
    form = await request.form()
    try:
        new = await accounts.create_token(s, user, str(form.get("name") or ""))
    except InputError as exc:
        return await _account(request, s, status_code=exc.status_code, token_error=exc.message)
    return await _account(request, s, new_token=new.secret)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
async def account_revoke_token(token_id: str, request: Request, s: AsyncSession = Depends(session)):
    await accounts.revoke_token(s, require_user(request), token_id)
    return RedirectResponse("/account", status_code=303)


@router.post("/me/name", include_in_schema=False)
async def my_name(request: Request, s: AsyncSession = Depends(session)):
    """The name shown with an anonymous reviewer's votes and comments (a signed-in user's
    display name otherwise)."""
    form = await request.form()
    name = accounts.clean_name(str(form.get("name") or ""))
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    user = getattr(request.state, "user", None)
    if user is not None:
        await accounts.set_display_name(s, await s.merge(user), name)
        return response
    voter_id = await ensure_voter(request, response, s)
    voter = await s.get(Voter, voter_id)
    voter.display_name = name or None
    await s.commit()
    return response


# ---- JSON -------------------------------------------------------------------------------------

class TokenIn(BaseModel):
    name: str = Field(description="What the token is for (shown in your token list).")


def _token_json(t) -> dict:
    return {"id": t.id, "name": t.name, "prefix": t.prefix, "created_at": t.created_at.isoformat(),
            "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None}


@router.get("/api/me", tags=["api"], summary="Who you are to this server")
async def api_me(request: Request, actor: Actor = Depends(guard)) -> dict:
    user = getattr(request.state, "user", None)
    return {
        "user": {"id": user.id, "email": user.email, "name": user.display_name, "admin": user.is_admin} if user else None,
        "voter": actor.voter_id, "open_mode": actor.open_mode, "via_token": actor.via_token,
        "csrf_token": request.state.csrf_token or None,
    }


@router.get("/api/tokens", tags=["api"], summary="Your personal API tokens (not their secrets)")
async def api_tokens(request: Request, s: AsyncSession = Depends(session)) -> list[dict]:
    return [_token_json(t) for t in await accounts.list_tokens(s, require_user(request))]


@router.post("/api/tokens", tags=["api"], status_code=201,
             summary="Make a personal API token; the secret is in this response only")
async def api_new_token(body: TokenIn, request: Request, s: AsyncSession = Depends(session)) -> dict:
    new = await accounts.create_token(s, await s.merge(require_user(request)), body.name)
    return {**_token_json(new.token), "token": new.secret}


@router.delete("/api/tokens/{token_id}", tags=["api"], status_code=204, summary="Revoke a personal API token")
async def api_revoke_token(token_id: str, request: Request, s: AsyncSession = Depends(session)):
    await accounts.revoke_token(s, require_user(request), token_id)
