"""Media answers after the access check, and a short memory of checks that said yes.

A player seeking through a clip sends a Range request every second or so, each for the same
take and with the same cookies. Each went through the whole request path: the guard (who is
asking), a session and one query for the take and its board, about 6 ms of CPU — most of what
a 1 MiB answer costs (docs/benchmarks.md §Clip serving). So a positive check is remembered for
MEDIA_GRANT_TTL_S seconds (default 5; 0 turns it off), keyed by the exact media path and the
credentials that decided it (the Authorization header, the session cookie and the share-link
cookie: what app.web.identity.guard builds the actor from). `MediaGrants`, a pure ASGI
middleware, answers a GET for a remembered (path, credentials) from the file directly, with no
route, no session and no query; anything else goes through the app as before.

Correctness: only yes is remembered, never no, so nothing is shown that was not allowed
within the TTL. Any state-changing request (POST, PUT, PATCH, DELETE) that this process
answers clears every grant, so a revocation made through this process (a member removed, a
board made private, a link replaced, a sign-out, a token revoked) takes effect on the next
request. Votes and new comments are the exception (`KEEPS_GRANTS`): they change no one's
access, and a busy board's votes would otherwise clear the grants of everyone watching. A change made elsewhere (another `--workers` process, the CLI) is seen within the TTL
at the latest (docs/teams.md). Grants are per process, for local media only (object storage
and the X-Accel-Redirect answer without a file are served the same way, see `answer`).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import anyio
from fastapi import Request, Response
from fastapi.responses import FileResponse
from starlette.datastructures import MutableHeaders

from app.web.security import LINKS_COOKIE, SESSION_COOKIE

IMMUTABLE = "private, max-age=31536000, immutable"
SAFE = {"GET", "HEAD", "OPTIONS"}
# writes that change nobody's access: a vote or a new comment, from the page or the API
KEEPS_GRANTS = re.compile(r"^/(api/comparisons/[^/]+/(votes|comments)|c/[^/]+/(vote|comments))$")
MAX_GRANTS = 20_000


def _read_slice(path, start: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(length)


class ClipResponse(FileResponse):
    """FileResponse in 1 MiB reads instead of 64 KiB: each read is a hop to a worker thread
    and each chunk passes every middleware, so a 20 MB clip costs 20 of them, not 305. A
    single Range of up to 4 MiB (a player's seek) is read in one hop (open, seek, read and
    close together) and sent as one body; Starlette's own single-range path, which this
    overrides, takes four hops for it. Bigger ranges and HEAD go to Starlette's."""

    chunk_size = 1024 * 1024

    async def _handle_single_range(self, send, start: int, end: int, file_size: int, send_header_only: bool) -> None:
        if send_header_only or end - start > 4 * self.chunk_size:
            return await super()._handle_single_range(send, start, end, file_size, send_header_only)
        body = await anyio.to_thread.run_sync(_read_slice, self.path, start, end - start)
        headers = MutableHeaders(raw=list(self.raw_headers))
        headers["content-range"] = f"bytes {start}-{end - 1}/{file_size}"
        headers["content-length"] = str(len(body))
        await send({"type": "http.response.start", "status": 206, "headers": headers.raw})
        await send({"type": "http.response.body", "body": body, "more_body": False})


@dataclass(frozen=True)
class Plan:
    """What a media path answers once access is granted: a stored file and how to send it."""

    key: str
    media_type: str
    filename: str | None = None


def credentials(scope) -> tuple[str, str, str]:
    """The parts of a request the actor is made from (app.web.identity.guard): the bearer
    token, the session cookie and the opened share links. The voter cookie is left out: it
    gives no access to anything."""
    auth, cookie = "", ""
    for k, v in scope.get("headers", []):
        if k == b"authorization":
            auth = v.decode("latin-1")
        elif k == b"cookie":
            cookie = v.decode("latin-1")
    jar = dict(part.strip().partition("=")[::2] for part in cookie.split(";") if "=" in part)
    return auth, jar.get(SESSION_COOKIE, ""), jar.get(LINKS_COOKIE, "")


class Grants:
    """(path, credentials) → Plan, each for `ttl` seconds; `clock` is time.monotonic (tests
    move it)."""

    def __init__(self, ttl: float, clock=time.monotonic):
        self.ttl, self.clock, self._grants = ttl, clock, {}

    def put(self, scope, plan: Plan) -> None:
        """Remember a yes for playback (clip, proxy, poster), never for a download: a download's
        file name says the model once a board's takes are revealed, and must follow a board
        made blind at once, not a TTL later (a download is one request; nothing to save)."""
        if self.ttl <= 0 or plan.filename is not None:
            return
        if len(self._grants) >= MAX_GRANTS:
            self._grants.clear()
        self._grants[(scope["path"], credentials(scope))] = (self.clock() + self.ttl, plan)

    def get(self, scope) -> Plan | None:
        if not self._grants:
            return None
        key = (scope["path"], credentials(scope))
        found = self._grants.get(key)
        if found is None:
            return None
        if found[0] < self.clock():
            self._grants.pop(key, None)
            return None
        return found[1]

    def forget(self, scope) -> None:
        self._grants.pop((scope["path"], credentials(scope)), None)

    def clear(self) -> None:
        self._grants.clear()


def not_modified(request: Request, headers) -> bool:
    """RFC 9110 §13.1: If-None-Match wins over If-Modified-Since; a revalidating player or
    browser then gets 304 instead of the clip again."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        etag = headers["etag"].removeprefix("W/")
        return inm.strip() == "*" or etag in {t.strip().removeprefix("W/") for t in inm.split(",")}
    ims = request.headers.get("if-modified-since")
    if ims and "range" not in request.headers:
        try:
            return parsedate_to_datetime(headers["last-modified"]) <= parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
    return False


def accel(settings, plan: Plan) -> Response:
    """Hand the bytes to the proxy in front (MEDIA_ACCEL_REDIRECT, e.g. nginx's internal
    location over MEDIA_DIR): the access check is done, the proxy sends the file with
    sendfile and does Range, ETag and If-None-Match itself."""
    headers = {"X-Accel-Redirect": settings.media_accel_redirect + quote(plan.key), "Cache-Control": IMMUTABLE}
    if plan.filename is not None:
        headers["Content-Disposition"] = f"attachment; filename*=utf-8''{quote(plan.filename)}"
    return Response(status_code=200, media_type=plan.media_type, headers=headers)


def answer(request: Request, settings, storage, plan: Plan) -> Response:
    """The answer for a local file the actor may see (raises FileNotFoundError if it went)."""
    if settings.media_accel_redirect:
        return accel(settings, plan)
    path = storage.path(plan.key)
    response = ClipResponse(path, media_type=plan.media_type, filename=plan.filename, stat_result=os.stat(path),
                            content_disposition_type="inline" if plan.filename is None else "attachment",
                            headers={"Cache-Control": IMMUTABLE})
    if not_modified(request, response.headers):
        return Response(status_code=304, headers={k: response.headers[k] for k in ("etag", "last-modified",
                                                                                    "cache-control")})
    return response


class MediaGrants:
    """Pure ASGI: a GET under /media/ with a remembered grant is answered from the file; an
    unsafe request clears the grants once answered (see the module docstring). The grants
    are made by app.main, which hands them to the media routes through app.web.services."""

    def __init__(self, app, settings, grants: Grants, storage_of):
        self.app, self.settings, self.grants, self.storage_of = app, settings, grants, storage_of

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method = scope["method"]
        if method == "GET" and scope["path"].startswith("/media/"):
            plan = self.grants.get(scope)
            if plan is not None:
                try:
                    response = answer(Request(scope, receive), self.settings, self.storage_of(), plan)
                except (FileNotFoundError, ValueError):
                    self.grants.forget(scope)
                else:
                    return await response(scope, receive, send)
        try:
            await self.app(scope, receive, send)
        finally:
            if method not in SAFE and not KEEPS_GRANTS.match(scope["path"]):
                self.grants.clear()
