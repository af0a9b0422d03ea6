"""CSRF tokens, our signed cookies and the security headers: the HTTP mechanics of identity,
with no knowledge of users or boards (app.web.identity decides who is asking).

The CSRF token is an HMAC of the session (signed in) or of a random `takes_csrf` cookie
(anonymous) under the app's secret; pages send it as a hidden `csrf_token` field and htmx as an
`X-CSRF-Token` header (set on <body>). Every response also carries it in `X-CSRF-Token`, for
scripts that keep a cookie jar.

`SecurityMiddleware` gives every browser its CSRF seed cookie, adds the security headers and
the token header to every response, and is the one place that writes the anonymous voter
cookie: a route that gives a browser a voter id (app.web.identity) only puts the id in the
request scope, and the middleware signs it into `takes_voter` on the way out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Response
from itsdangerous import BadSignature, Signer
from starlette.datastructures import MutableHeaders

SESSION_COOKIE = "takes_session"
CSRF_COOKIE = "takes_csrf"
LINKS_COOKIE = "takes_links"
VOTER_COOKIE = "takes_voter"
KNOWN_COOKIE = "takes_known"   # this browser has signed in to an account before (app.web.accounts)
NEW_VOTER_SCOPE_KEY = "takes.new_voter"   # a voter id this request gave the browser (identity.remember_voter)
CSRF_SCOPE_KEY, SECURE_SCOPE_KEY, NEW_SEED_SCOPE_KEY = "takes.csrf_token", "takes.secure", "takes.csrf_new_seed"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
VOTER_MAX_AGE = 5 * 365 * 86400
SEED_MAX_AGE = 365 * 86400
SECURITY_HEADERS = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),          # share and invite tokens never leak in a Referer
    ("x-frame-options", "DENY"),
    ("content-security-policy", "frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'"),
]


def csrf_for(secret: str, seed: str) -> str:
    return hmac.new(secret.encode(), f"takes.csrf|{seed}".encode(), hashlib.sha256).hexdigest()


def voter_signer(secret: str) -> Signer:
    return Signer(secret, salt="takes.voter")


def known_signer(secret: str) -> Signer:
    return Signer(secret, salt="takes.known")


def links_signer(secret: str) -> Signer:
    return Signer(secret, salt="takes.links")


def unsign(signer: Signer, raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return signer.unsign(raw).decode()
    except BadSignature:
        return None


def set_cookie(response: Response, name: str, value: str, max_age: int | None, secure: bool) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/")


class SecurityMiddleware:
    """Pure ASGI: the CSRF seed cookie, the voter cookie, the CSRF token header and the
    security headers (see the module docstring)."""

    def __init__(self, app, settings):
        self.app, self.settings = app, settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cookie_header = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"cookie"), "")
        new_seed = None
        if f"{CSRF_COOKIE}=" not in cookie_header and not scope["path"].startswith(("/static/", "/media/")):
            new_seed = secrets.token_urlsafe(24)
            scope[NEW_SEED_SCOPE_KEY] = new_seed

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                self._headers(scope, MutableHeaders(scope=message), new_seed)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _headers(self, scope, headers: MutableHeaders, new_seed: str | None) -> None:
        for k, v in SECURITY_HEADERS:
            if k not in headers:
                headers.append(k, v)
        token = scope.get(CSRF_SCOPE_KEY)
        if token:
            headers.append("X-CSRF-Token", token)
        secure = "; Secure" if scope.get(SECURE_SCOPE_KEY) else ""
        if new_seed:
            headers.append("set-cookie", f"{CSRF_COOKIE}={new_seed}; Path=/; Max-Age={SEED_MAX_AGE}; "
                                         f"HttpOnly; SameSite=lax{secure}")
        new_voter = scope.get(NEW_VOTER_SCOPE_KEY)
        if new_voter:
            signed = voter_signer(self.settings.resolved_secret()).sign(new_voter).decode()
            headers.append("set-cookie", f"{VOTER_COOKIE}={signed}; Path=/; Max-Age={VOTER_MAX_AGE}; "
                                         f"HttpOnly; SameSite=lax{secure}")
