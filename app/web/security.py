"""Who is asking, and may they change anything: the actor behind each request, CSRF tokens,
cookies and security headers.

`guard` runs before every route (a global FastAPI dependency) and

- resolves the actor: an API token (`Authorization: Bearer takes_…`), else the session cookie,
  else an anonymous browser (its signed voter cookie and the share links it has opened);
- refuses a state-changing request (POST, PUT, PATCH, DELETE) that does not carry the CSRF
  token when it was made with a cookie or by a browser (an `Origin` or `Sec-Fetch-Site`
  header). Bearer-token calls are exempt: a token is never sent by a browser on its own.
  A request with neither cookie nor browser headers is a script acting anonymously, and gets
  only what anyone gets.

The CSRF token is an HMAC of the session (signed in) or of a random `takes_csrf` cookie
(anonymous) under the app's secret; pages send it as a hidden `csrf_token` field and htmx as an
`X-CSRF-Token` header (set on <body>). Every response also carries it in `X-CSRF-Token`, for
scripts that keep a cookie jar.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from fastapi import Request, Response
from itsdangerous import BadSignature, Signer
from starlette.datastructures import MutableHeaders

from app import accounts
from app.access import Actor, Forbidden, SignInRequired
from app.errors import InputError

SESSION_COOKIE = "takes_session"
CSRF_COOKIE = "takes_csrf"
LINKS_COOKIE = "takes_links"
VOTER_COOKIE = "takes_voter"
NEW_VOTER_SCOPE_KEY = "takes.new_voter"   # an anonymous voter id minted for this page (deps.view_voter)
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
OUR_COOKIES = (SESSION_COOKIE, CSRF_COOKIE, LINKS_COOKIE, VOTER_COOKIE)
MAX_LINKS = 50
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),          # share and invite tokens never leak in a Referer
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'"),
]


class Unauthorized(InputError):
    status_code = 401


def _secret(request: Request) -> str:
    return request.app.state.settings.resolved_secret()


def secure_cookies(request: Request) -> bool:
    forced = request.app.state.settings.cookie_secure
    return forced if forced is not None else request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=secure_cookies(request),
                        path="/")


def csrf_for(secret: str, seed: str) -> str:
    return hmac.new(secret.encode(), f"takes.csrf|{seed}".encode(), hashlib.sha256).hexdigest()


def _links_signer(request: Request) -> Signer:
    return Signer(_secret(request), salt="takes.links")


def link_tokens(request: Request) -> list[str]:
    raw = request.cookies.get(LINKS_COOKIE)
    if not raw:
        return []
    try:
        value = json.loads(_links_signer(request).unsign(raw).decode())
    except (BadSignature, ValueError):
        return []
    return [t for t in value if isinstance(t, str)] if isinstance(value, list) else []


def remember_link(request: Request, response: Response, token: str) -> None:
    """Add a board's share-link token to this browser's signed list of opened links."""
    tokens = [t for t in link_tokens(request) if t != token] + [token]
    value = _links_signer(request).sign(json.dumps(tokens[-MAX_LINKS:]).encode()).decode()
    set_cookie(request, response, LINKS_COOKIE, value, max_age=365 * 86400)


def voter_signer(request: Request) -> Signer:
    return Signer(_secret(request), salt="takes.voter")


def cookie_voter(request: Request) -> str | None:
    raw = request.cookies.get(VOTER_COOKIE)
    if not raw:
        return None
    try:
        return voter_signer(request).unsign(raw).decode()
    except BadSignature:
        return None


async def accounts_on(request: Request, s) -> bool:
    """Whether any account exists (open mode ends for good with the first one)."""
    state = request.app.state
    if getattr(state, "accounts_on", False):
        return True
    on = await accounts.any_user(s)
    if on:
        state.accounts_on = True
    return on


async def guard(request: Request) -> Actor:
    """The actor behind this request (see the module docstring); enforces CSRF."""
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    auth = request.headers.get("authorization", "")
    async with request.app.state.db.session() as s:
        open_mode = not await accounts_on(request, s)
        if auth.lower().startswith("bearer "):
            user = await accounts.token_user(s, auth[7:].strip())
            if user is None:
                raise Unauthorized("the API token is unknown or revoked")
            actor = Actor(user_id=user.id, is_admin=user.is_admin, voter_id=user.voter_id, open_mode=open_mode,
                          via_token=True, display_name=user.display_name)
            request.state.actor, request.state.user, request.state.csrf_token = actor, user, ""
            return actor
        session_token = request.cookies.get(SESSION_COOKIE)
        user = await accounts.session_user(s, session_token) if session_token else None
    if user is not None:
        actor = Actor(user_id=user.id, is_admin=user.is_admin, voter_id=user.voter_id, open_mode=open_mode,
                      link_tokens=frozenset(link_tokens(request)), display_name=user.display_name)
        seed = "session|" + accounts.digest(session_token)
    else:
        actor = Actor(voter_id=cookie_voter(request), open_mode=open_mode,
                      link_tokens=frozenset(link_tokens(request)))
        seed = request.cookies.get(CSRF_COOKIE) or ""
    request.state.actor, request.state.user = actor, user
    token = csrf_for(_secret(request), seed or request.scope.get("takes.csrf_new_seed", ""))
    request.state.csrf_token = token
    request.scope["takes.csrf_token"], request.scope["takes.secure"] = token, secure_cookies(request)
    if request.method in UNSAFE and _needs_csrf(request):
        sent = request.headers.get(CSRF_HEADER)
        if not sent and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = (await request.form()).get(CSRF_FIELD)
        if not (seed and isinstance(sent, str) and hmac.compare_digest(sent, token)):
            raise Forbidden("the form's security token is missing or out of date (CSRF check): reload the page "
                            "and try again")
    return actor


def _needs_csrf(request: Request) -> bool:
    return (any(c in request.cookies for c in OUR_COOKIES) or "origin" in request.headers
            or "sec-fetch-site" in request.headers)


def actor_of(request: Request) -> Actor:
    return request.state.actor


def require_user(request: Request):
    """The signed-in user of this request, or a 401 (pages redirect to the sign-in form)."""
    user = getattr(request.state, "user", None)
    if user is None:
        raise SignInRequired("sign in first")
    return user


class SecurityMiddleware:
    """Pure ASGI: gives every browser a CSRF seed cookie, adds the CSRF token header and the
    security headers to every response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cookie_header = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"cookie"), "")
        new_seed = None
        if f"{CSRF_COOKIE}=" not in cookie_header and not scope["path"].startswith(("/static/", "/media/")):
            new_seed = secrets.token_urlsafe(24)
            scope["takes.csrf_new_seed"] = new_seed

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS:
                    if k.decode() not in headers:
                        headers.append(k.decode(), v.decode())
                token = scope.get("takes.csrf_token")
                if token:
                    headers.append("X-CSRF-Token", token)
                secure = "; Secure" if scope.get("takes.secure") else ""
                if new_seed:
                    headers.append("set-cookie", f"{CSRF_COOKIE}={new_seed}; Path=/; Max-Age={365 * 86400}; "
                                                 f"HttpOnly; SameSite=lax{secure}")
                new_voter = scope.get(NEW_VOTER_SCOPE_KEY)
                if new_voter and not any(v.startswith(f"{VOTER_COOKIE}=") for v in headers.getlist("set-cookie")):
                    signed = Signer(scope["app"].state.settings.resolved_secret(), salt="takes.voter").sign(new_voter)
                    headers.append("set-cookie", f"{VOTER_COOKIE}={signed.decode()}; Path=/; "
                                                 f"Max-Age={5 * 365 * 86400}; HttpOnly; SameSite=lax{secure}")
            await send(message)

        await self.app(scope, receive, send_wrapper)


class Limits:
    """The app's rate limiters (per process), sized from settings."""

    def __init__(self, settings):
        from app.ratelimit import RateLimiter

        w = settings.signin_window_s
        self.signin_failures = RateLimiter(settings.signin_max_failures, w)       # key: email|address
        self.signin_email = RateLimiter(settings.signin_max_failures * 10, w)     # key: email, any address
        self.signin_ip = RateLimiter(settings.signin_max_per_ip, w)               # key: address
        self.signup_ip = RateLimiter(settings.signup_per_ip_per_hour, 3600)
        self.votes = RateLimiter(settings.votes_per_minute, 60)                   # key: voter
        # key: address — a script that drops its cookies is a new voter on every request
        self.votes_ip = RateLimiter(settings.votes_per_minute * 5, 60)
        self.comments = RateLimiter(settings.comments_per_minute, 60)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and (
        "text/html" in request.headers.get("accept", "") or request.headers.get("hx-request") == "true")


def install(app) -> None:
    """Wire accounts and access into an app made by create_app: limiters, the middleware, and
    error responses for "sign in first" (pages redirect to the form) and "slow down"."""
    from fastapi.responses import JSONResponse, RedirectResponse
    from urllib.parse import quote, urlsplit

    from app.web.auth import TooManyRequests

    app.state.limits = Limits(app.state.settings)
    app.add_middleware(SecurityMiddleware)
    plain_openapi = app.openapi

    def openapi():
        """/docs gets an Authorize button for personal API tokens."""
        if app.openapi_schema:
            return app.openapi_schema
        schema = plain_openapi()
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["token"] = {
            "type": "http", "scheme": "bearer",
            "description": "A personal API token (make one on /account): `Authorization: Bearer takes_…`. "
                           "Not needed in open mode, nor for public boards."}
        schema["security"] = [{"token": []}, {}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi

    @app.exception_handler(SignInRequired)
    async def _sign_in_first(request: Request, exc: SignInRequired):
        if _wants_html(request):
            if request.method == "GET" and request.headers.get("hx-request") != "true":
                target = request.url.path + ("?" + request.url.query if request.url.query else "")
            else:  # come back to the page the form or fragment was on
                here = urlsplit(request.headers.get("hx-current-url") or request.headers.get("referer") or "/")
                target = (here.path or "/") + ("?" + here.query if here.query else "")
            url = "/signin?next=" + quote(target, safe="/")
            if request.headers.get("hx-request") == "true":
                return Response(status_code=204, headers={"HX-Redirect": url})
            return RedirectResponse(url, status_code=303)
        return JSONResponse({"detail": exc.message, "errors": exc.errors}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="takes"'})

    @app.exception_handler(Unauthorized)
    async def _bad_token(request: Request, exc: Unauthorized):
        return JSONResponse({"detail": exc.message, "errors": exc.errors}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="takes", error="invalid_token"'})

    @app.exception_handler(TooManyRequests)
    async def _slow_down(request: Request, exc: TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
        if _wants_html(request):
            return app.state.templates.TemplateResponse(
                request, "error.html", {"message": exc.message, "errors": exc.errors}, status_code=429,
                headers=headers)
        return JSONResponse({"detail": exc.message, "errors": exc.errors}, status_code=429, headers=headers)
