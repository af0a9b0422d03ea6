"""Accounts: sign up, sign in, sign out, the account page (name, password, API tokens), the
reviewer's name, and /api/me. The logic lives in app.accounts; the rate limits in
app.ratelimit; who is asking in app.web.identity.

Signing in and up, signing out and changing the password are browser flows (a session
cookie); a script uses a personal API token instead, made on /account or POST /api/tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app import accounts
from app.errors import Forbidden, InputError, TakesError, TooManyRequests
from app.invites import accept_invite, invite_by_token
from app.models import Board, Voter
from app.web.identity import (ActorDep, accounts_on, cookie_voter, current_user, ensure_voter, require_user,
                              secure_cookies,
                              start_session_cookie)
from app.web.schemas import MeOut, NameIn, NameOut, TokenIn, TokenOut, errors
from app.web.security import KNOWN_COOKIE, SESSION_COOKIE, known_signer, set_cookie, unsign
from app.web.services import Services, ServicesDep, SessionDep
from app.web.votes import client_ip

router = APIRouter()


def safe_next(value: str | None) -> str:
    """Only a path on this site: never `//evil.example` or an absolute URL (open redirect)."""
    value = (value or "").strip()
    if not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n\\"):
        return "/"
    return value


def known_browser(request: Request, svc: Services, email: str) -> bool:
    """Whether this browser has signed in to `email` before (its signed `takes_known` cookie):
    failures of the account from elsewhere do not hold it back (app.ratelimit.Backoff)."""
    raw = unsign(known_signer(svc.settings.resolved_secret()), request.cookies.get(KNOWN_COOKIE))
    return raw is not None and raw == accounts.digest(email)[:32]


def remember_known(request: Request, response: Response, svc: Services, email: str) -> None:
    value = known_signer(svc.settings.resolved_secret()).sign(accounts.digest(email)[:32]).decode()
    set_cookie(response, KNOWN_COOKIE, value, 365 * 86400, secure_cookies(request, svc))


def _signed_in(request: Request, svc: Services, nxt: str, token: str) -> RedirectResponse:
    response = RedirectResponse(nxt, status_code=303)
    start_session_cookie(request, response, svc, token)
    return response


async def set_name(request: Request, svc: Services, s: AsyncSession, name: str) -> str | None:
    """The name shown with this visitor's votes and comments: a signed-in user's display name,
    else the anonymous reviewer's (their voter row, made now if need be)."""
    name = accounts.clean_name(name)
    user = current_user(request)
    if user is not None:
        user = await s.merge(user)
        await accounts.set_display_name(s, user, name)
        return user.display_name
    voter = await s.get(Voter, await ensure_voter(request, svc, s))
    voter.display_name = name or None
    await s.commit()
    return voter.display_name


# ---- sign in / out ----------------------------------------------------------------------------

@router.get("/signin", response_class=HTMLResponse, include_in_schema=False)
async def signin_page(request: Request, svc: ServicesDep, s: SessionDep, next: str = "/"):
    return svc.render(request, "signin.html", {"next": safe_next(next), "open_mode": not await accounts_on(svc, s)})


@router.post("/signin", include_in_schema=False)
async def signin(request: Request, svc: ServicesDep, s: SessionDep):
    """Rate limited: a few wrong passwords per email and address, then 429 with Retry-After
    (even for the right password, until the window passes)."""
    form = await request.form()
    email = str(form.get("email") or "").strip().lower()
    nxt = safe_next(form.get("next"))
    limits, ip, known = svc.limits, client_ip(request), known_browser(request, svc, email)
    wait = (limits.signin_ip.hit(ip) or limits.signin_failures.retry_after(f"{email}|{ip}")
            or (None if known else limits.signin_account.retry_after(email)))
    if wait:
        raise TooManyRequests(f"too many sign-in attempts; try again in {wait} s", wait)
    user = await accounts.authenticate(s, email, str(form.get("password") or ""))
    if user is None:
        limits.signin_failures.hit(f"{email}|{ip}")
        if not known:
            limits.signin_account.fail(email)
        return svc.render(request, "signin.html", {"next": nxt, "email": email, "open_mode": False,
                                                   "error": "wrong email or password"}, status_code=401)
    limits.signin_failures.reset(f"{email}|{ip}")
    await accounts.end_session(s, request.cookies.get(SESSION_COOKIE))  # no session fixation
    token = await accounts.start_session(s, user, request.headers.get("user-agent", ""))
    response = _signed_in(request, svc, nxt, token)
    remember_known(request, response, svc, email)
    return response


@router.post("/signout", include_in_schema=False)
async def signout(request: Request, s: SessionDep):
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
async def signup_page(request: Request, svc: ServicesDep, s: SessionDep, invite: str | None = None, next: str = "/"):
    board = await _invite_board(s, invite)
    return svc.render(request, "signup.html", {
        "invite": invite if board else None, "invite_board": board, "next": safe_next(next),
        "open_mode": not await accounts_on(svc, s), "allowed": bool(board) or svc.settings.allow_signup})


async def _may_sign_up(request: Request, svc: Services, s: AsyncSession, invite: str | None) -> Board | None:
    """The invite's board, once this address is within its sign-up limit and sign-up is open
    (or the visitor has an invite)."""
    wait = svc.limits.signup_ip.hit(client_ip(request))
    if wait:
        raise TooManyRequests(f"too many sign-ups from this address; try again in {wait} s", wait)
    if not await accounts_on(svc, s):
        raise Forbidden("accounts are not set up yet: the first account is an admin, made with "
                        "`takes create-user --admin`")
    board = await _invite_board(s, invite)
    if board is None and not svc.settings.allow_signup:
        raise Forbidden("sign-up is by invitation on this server: open the invite link you were sent")
    return board


@router.post("/signup", include_in_schema=False)
async def signup(request: Request, svc: ServicesDep, s: SessionDep):
    form = await request.form()
    invite = str(form.get("invite") or "") or None
    nxt = safe_next(form.get("next"))
    board = await _may_sign_up(request, svc, s, invite)
    ctx = {"invite": invite, "invite_board": board, "next": nxt, "open_mode": False, "allowed": True,
           "email": form.get("email") or "", "name": form.get("name") or ""}
    try:
        user = await accounts.create_user(s, str(form.get("email") or ""), str(form.get("password") or ""),
                                          display_name=str(form.get("name") or ""),
                                          voter_id=cookie_voter(request, svc))
    except TakesError as exc:
        await s.rollback()
        return svc.render(request, "signup.html", {**ctx, "errors": exc.errors}, status_code=exc.status_code)
    if invite:
        board, _ = await accept_invite(s, invite, user)
        nxt = f"/b/{board.slug}"
    token = await accounts.start_session(s, user, request.headers.get("user-agent", ""))
    return _signed_in(request, svc, nxt, token)


# ---- account ----------------------------------------------------------------------------------

async def _account(request: Request, svc: Services, s: AsyncSession, status_code: int = 200, **ctx) -> HTMLResponse:
    user = require_user(request)
    return svc.render(request, "account.html", {"user": user, "tokens": await accounts.list_tokens(s, user), **ctx},
                      status_code=status_code)


@router.get("/account", response_class=HTMLResponse, include_in_schema=False)
async def account_page(request: Request, svc: ServicesDep, s: SessionDep):
    return await _account(request, svc, s)


@router.post("/account/password", include_in_schema=False)
async def account_password(request: Request, svc: ServicesDep, s: SessionDep):
    user = await s.merge(require_user(request))
    form = await request.form()
    new, again = str(form.get("new_password") or ""), str(form.get("new_password_again") or "")
    try:
        if new != again:
            raise InputError("the two new passwords differ")
        await accounts.change_password(s, user, str(form.get("password") or ""), new,
                                       keep_session=request.cookies.get(SESSION_COOKIE))
    except TakesError as exc:
        await s.rollback()
        return await _account(request, svc, s, status_code=exc.status_code, password_error=exc.message)
    return await _account(request, svc, s, password_ok=True)


@router.post("/account/name", include_in_schema=False)
async def account_name(request: Request, svc: ServicesDep, s: SessionDep):
    require_user(request)
    await set_name(request, svc, s, str((await request.form()).get("name") or ""))
    return RedirectResponse("/account", status_code=303)


@router.post("/account/tokens", include_in_schema=False)
async def account_new_token(request: Request, svc: ServicesDep, s: SessionDep):
    user = await s.merge(require_user(request))
    form = await request.form()
    try:
        new = await accounts.create_token(s, user, str(form.get("name") or ""))
    except TakesError as exc:
        return await _account(request, svc, s, status_code=exc.status_code, token_error=exc.message)
    return await _account(request, svc, s, new_token=new.secret)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
async def account_revoke_token(token_id: str, request: Request, s: SessionDep):
    await accounts.revoke_token(s, require_user(request), token_id)
    return RedirectResponse("/account", status_code=303)


@router.post("/me/name", include_in_schema=False)
async def my_name(request: Request, svc: ServicesDep, s: SessionDep):
    """The name shown with an anonymous reviewer's votes and comments (a signed-in user's
    display name otherwise)."""
    form = await request.form()
    await set_name(request, svc, s, str(form.get("name") or ""))
    return RedirectResponse(safe_next(form.get("next")), status_code=303)


# ---- JSON -------------------------------------------------------------------------------------

def token_json(t) -> dict:
    return {"id": t.id, "name": t.name, "prefix": t.prefix, "created_at": t.created_at.isoformat(),
            "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None}


@router.get("/api/me", tags=["accounts"], summary="Who you are to this server", response_model=MeOut)
async def api_me(request: Request, actor: ActorDep) -> dict:
    user = current_user(request)
    return {
        "user": ({"id": user.id, "email": user.email, "name": user.display_name, "admin": user.is_admin}
                 if user else None),
        "voter": actor.voter_id, "open_mode": actor.open_mode, "via_token": actor.via_token,
        "csrf_token": request.state.csrf_token or None,
    }


@router.put("/api/me/name", tags=["accounts"], summary="The name shown with your votes and comments",
            response_model=NameOut)
async def api_my_name(body: NameIn, request: Request, svc: ServicesDep, s: SessionDep) -> dict:
    return {"name": await set_name(request, svc, s, body.name)}


@router.get("/api/tokens", tags=["accounts"], summary="Your personal API tokens (not their secrets)",
            response_model=list[TokenOut], response_model_exclude_unset=True, responses=errors(401))
async def api_tokens(request: Request, s: SessionDep) -> list[dict]:
    return [token_json(t) for t in await accounts.list_tokens(s, require_user(request))]


@router.post("/api/tokens", tags=["accounts"], status_code=201, response_model=TokenOut, responses=errors(401),
             summary="Make a personal API token; the secret is in this response only")
async def api_new_token(body: TokenIn, request: Request, s: SessionDep) -> dict:
    new = await accounts.create_token(s, await s.merge(require_user(request)), body.name)
    return {**token_json(new.token), "token": new.secret}


@router.delete("/api/tokens/{token_id}", tags=["accounts"], status_code=204, summary="Revoke a personal API token",
               responses=errors(401, 404))
async def api_revoke_token(token_id: str, request: Request, s: SessionDep) -> None:
    await accounts.revoke_token(s, require_user(request), token_id)
