"""Who is asking: the actor behind a request, resolved once, and the voter they vote as.

`guard` runs before every route (app.main installs it as a global dependency) and

- resolves the actor: an API token (`Authorization: Bearer takes_…`), else the session cookie,
  else an anonymous browser (its signed voter cookie and the share links it has opened);
- refuses a state-changing request (POST, PUT, PATCH, DELETE) that does not carry the CSRF
  token when it was made with a cookie or by a browser (an `Origin` or `Sec-Fetch-Site`
  header). Bearer-token calls are exempt: a token is never sent by a browser on its own.
  A request with neither cookie nor browser headers is a script acting anonymously, and gets
  only what anyone gets.

The result is kept on `request.state` (actor, user, csrf_token); routes take it as
`actor: ActorDep`, and a second ask in the same request returns the same actor.

Voters. A signed-in user votes and comments through their own Voter row; an anonymous browser
through the voter in its signed cookie, created on its first write. A blind board shows each
voter the takes in their own shuffled order, seeded by the voter id, and stores the order with
the vote, so the id must exist from the first page a voter sees: `view_voter` gives an
anonymous browser its id before the page is drawn (the row comes with its first write, in
`ensure_voter`). Both hand a new id to `remember_voter`, the one way the voter cookie is set
(SecurityMiddleware signs it into the response).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app import accounts
from app.access import Actor
from app.db import dialect_insert
from app.errors import Forbidden, SignInRequired, TooManyRequests, Unauthorized
from app.ids import new_id
from app.models import User, Voter
from app.web.inputs import check_form
from app.web.security import (CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, CSRF_SCOPE_KEY, LINKS_COOKIE,
                              NEW_SEED_SCOPE_KEY, NEW_VOTER_SCOPE_KEY, SECURE_SCOPE_KEY, SESSION_COOKIE,
                              VOTER_COOKIE, csrf_for, links_signer, set_cookie, unsign, voter_signer)
from app.web.services import Services, ServicesDep, SessionDep

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
OUR_COOKIES = (SESSION_COOKIE, CSRF_COOKIE, LINKS_COOKIE, VOTER_COOKIE)
MAX_LINKS = 50


# ---- cookies ----------------------------------------------------------------------------------

def secure_cookies(request: Request, svc: Services) -> bool:
    forced = svc.settings.cookie_secure
    return forced if forced is not None else request.url.scheme == "https"


def cookie_voter(request: Request, svc: Services) -> str | None:
    return unsign(voter_signer(svc.settings.resolved_secret()), request.cookies.get(VOTER_COOKIE))


def link_tokens(request: Request, svc: Services) -> list[str]:
    raw = unsign(links_signer(svc.settings.resolved_secret()), request.cookies.get(LINKS_COOKIE))
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [t for t in value if isinstance(t, str)] if isinstance(value, list) else []


def remember_link(request: Request, response: Response, svc: Services, token: str) -> None:
    """Add a board's share-link token to this browser's signed list of opened links."""
    tokens = [t for t in link_tokens(request, svc) if t != token] + [token]
    value = links_signer(svc.settings.resolved_secret()).sign(json.dumps(tokens[-MAX_LINKS:]).encode()).decode()
    set_cookie(response, LINKS_COOKIE, value, 365 * 86400, secure_cookies(request, svc))


def start_session_cookie(request: Request, response: Response, svc: Services, token: str) -> None:
    set_cookie(response, SESSION_COOKIE, token, accounts.SESSION_DAYS * 86400, secure_cookies(request, svc))


def remember_voter(request: Request, voter_id: str) -> None:
    """Give this browser `voter_id` as its voter (the cookie is written by SecurityMiddleware)."""
    request.scope[NEW_VOTER_SCOPE_KEY] = voter_id


# ---- the actor --------------------------------------------------------------------------------

async def accounts_on(svc: Services, s: AsyncSession) -> bool:
    """Whether any account exists (open mode ends for good with the first one)."""
    if svc.memo.accounts_on:
        return True
    svc.memo.accounts_on = await accounts.any_user(s)
    return svc.memo.accounts_on


async def guard(request: Request, svc: ServicesDep, s: SessionDep) -> Actor:
    """The actor behind this request (see the module docstring); enforces CSRF.

    It looks the actor up in the request's own session (the route gets the same one), and
    detaches what it loaded, so a route sees the user as it did when the guard had a session
    of its own: a rollback in the route does not expire it."""
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    auth = request.headers.get("authorization", "")
    open_mode = not await accounts_on(svc, s)
    if auth.lower().startswith("bearer "):
        actor = await _token_actor(request, s, auth[7:].strip(), open_mode)
        s.expunge_all()
        return actor
    session_token = request.cookies.get(SESSION_COOKIE)
    user = await accounts.session_user(s, session_token) if session_token else None
    s.expunge_all()
    links = frozenset(link_tokens(request, svc))
    if user is not None:
        actor = Actor(user_id=user.id, is_admin=user.is_admin, voter_id=user.voter_id, open_mode=open_mode,
                      link_tokens=links, display_name=user.display_name)
        seed = "session|" + accounts.digest(session_token)
    else:
        actor = Actor(voter_id=cookie_voter(request, svc), open_mode=open_mode, link_tokens=links)
        seed = request.cookies.get(CSRF_COOKIE) or ""
    request.state.actor, request.state.user = actor, user
    token = csrf_for(svc.settings.resolved_secret(), seed or request.scope.get(NEW_SEED_SCOPE_KEY, ""))
    request.state.csrf_token = token
    request.scope[CSRF_SCOPE_KEY], request.scope[SECURE_SCOPE_KEY] = token, secure_cookies(request, svc)
    if request.method in UNSAFE and _needs_csrf(request):
        await _check_csrf(request, seed, token)
    if request.method in UNSAFE and _is_form(request):
        check_form(await request.form())
    return actor


async def _token_actor(request: Request, s: AsyncSession, secret: str, open_mode: bool) -> Actor:
    user = await accounts.token_user(s, secret)
    if user is None:
        raise Unauthorized("the API token is unknown or revoked")
    actor = Actor(user_id=user.id, is_admin=user.is_admin, voter_id=user.voter_id, open_mode=open_mode,
                  via_token=True, display_name=user.display_name)
    request.state.actor, request.state.user, request.state.csrf_token = actor, user, ""
    return actor


async def _check_csrf(request: Request, seed: str, token: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if not sent and _is_form(request):
        sent = (await request.form()).get(CSRF_FIELD)
    if not (seed and isinstance(sent, str) and hmac.compare_digest(sent, token)):
        raise Forbidden("the form's security token is missing or out of date (CSRF check): reload the page "
                        "and try again")


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded",
                                                               "multipart/form-data"))


def _needs_csrf(request: Request) -> bool:
    return (any(c in request.cookies for c in OUR_COOKIES) or "origin" in request.headers
            or "sec-fetch-site" in request.headers)


ActorDep = Annotated[Actor, Depends(guard)]


def current_user(request: Request) -> User | None:
    return getattr(request.state, "user", None)


def require_user(request: Request) -> User:
    """The signed-in user of this request, or a 401 (pages redirect to the sign-in form)."""
    user = current_user(request)
    if user is None:
        raise SignInRequired("sign in first")
    return user


# ---- the voter --------------------------------------------------------------------------------

def voter_of(request: Request, svc: Services) -> str | None:
    """This request's voter: the signed-in user's, else the anonymous browser's (None if neither)."""
    actor = getattr(request.state, "actor", None)
    if actor is not None and actor.signed_in:
        return actor.voter_id
    return cookie_voter(request, svc) or request.scope.get(NEW_VOTER_SCOPE_KEY)


async def view_voter(request: Request, svc: Services, s: AsyncSession) -> str:
    """The voter whose screen order a page shows; minted now if this browser or user has none,
    so the labels it sees are the ones its vote is recorded (and revealed) with."""
    actor = getattr(request.state, "actor", None)
    if actor is not None and actor.signed_in:
        return actor.voter_id or await ensure_voter(request, svc, s)
    voter_id = voter_of(request, svc)
    if not voter_id:
        voter_id = new_id()
        remember_voter(request, voter_id)
    return voter_id


def new_anonymous_voter(request: Request, svc: Services, cookie: str | None) -> None:
    """Once accounts exist, an anonymous voter (on a link or public board) is a browser that
    opened a page, which gave it its signed voter cookie; a script that keeps no cookie would
    otherwise be a new voter on every request (ballot stuffing). And each address makes at
    most NEW_VOTERS_PER_IP_PER_HOUR new voters."""
    if not cookie:
        raise Forbidden("an anonymous vote, comment or name comes from a browser: open the board's or the "
                        "comparison's page first (it gives you a voter cookie), or use an API token")
    ip = request.client.host if request.client else "unknown"
    wait = svc.limits.new_voters_ip.hit(ip)
    if wait:
        raise TooManyRequests(f"too many new voters from your address; try again in {wait} s", wait)


async def ensure_voter(request: Request, svc: Services, s: AsyncSession, *, commit: bool = True,
                       known: str | None = None) -> str:
    """The voter behind this request, created on first write (the row, and for an anonymous
    browser its cookie). With commit=False the row is only added to the session's transaction,
    to be committed with the vote or comment it comes for: a write that is then refused
    leaves no voter behind. `known`: a voter id the caller has just seen in the voters table
    (the vote path's one query), so it is not looked up again."""
    actor = getattr(request.state, "actor", None)
    if actor is not None and actor.signed_in:
        if actor.voter_id and (actor.voter_id == known or await s.get(Voter, actor.voter_id)):
            return actor.voter_id
        user = await s.get(User, actor.user_id)
        voter = Voter(display_name=user.display_name)
        s.add(voter)
        await s.flush()
        user.voter_id = voter.id
        if commit:
            await s.commit()
        request.state.actor = dataclasses.replace(actor, voter_id=voter.id)   # later calls see it
        return voter.id
    cookie = cookie_voter(request, svc)
    if cookie and (cookie == known or await s.get(Voter, cookie)):
        return cookie
    if actor is not None and not actor.open_mode:
        new_anonymous_voter(request, svc, cookie)
    voter_id = cookie or request.scope.get(NEW_VOTER_SCOPE_KEY) or new_id()
    # The id came with the first page (view_voter): two first writes at once (a double click,
    # two tabs) both create its row. ON CONFLICT DO NOTHING lets the second find it made.
    insert = dialect_insert(s.bind.dialect.name)
    await s.execute(insert(Voter).values(id=voter_id).on_conflict_do_nothing(index_elements=["id"]))
    if commit:
        await s.commit()
    if voter_id != cookie:
        remember_voter(request, voter_id)
    return voter_id
