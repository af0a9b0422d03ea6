"""405 answers that tell the truth: `Allow` lists every method some route serves at the path.

Starlette answers 405 with the methods of the first route whose path matched, so
`OPTIONS /api/boards/{slug}` said `Allow: GET` although PATCH is served there too (by another
route on the same path). `AllowedMethods` (pure ASGI) rewrites the header of every 405 from
all the routes whose path matches. HEAD, which Starlette serves for every GET, is left out, as
/openapi.json leaves it out."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.routing import Match


METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def allowed_methods(routes, scope) -> list[str]:
    """The methods some route fully matches at this request's path (each route asked through
    Starlette's own `matches`, so included routers are searched too). Where a literal path and
    a parameter's both match (`/api/suites/preview` and `/api/suites/{suite_id}`), the path is
    the literal one's, as /openapi.json lists it: only the routes with the fewest parameters
    count."""
    found = [(len(getattr(route, "param_convertors", {})), m) for m in METHODS for route in _leaves(routes)
             if route.matches({**scope, "method": m})[0] == Match.FULL]
    fewest = min((n for n, _ in found), default=0)
    return sorted({m for n, m in found if n == fewest})


def _leaves(routes):
    """The routes themselves, through FastAPI's included-router wrappers (no prefixes are used:
    every path is written in full, so a wrapped route's path is the one it serves)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaves(inner.routes)
        else:
            yield route


class AllowedMethods:
    def __init__(self, app, router):
        self.app, self.router = app, router

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_wrapper(message):
            if message["type"] == "http.response.start" and message["status"] == 405:
                headers = MutableHeaders(scope=message)
                headers["allow"] = ", ".join(allowed_methods(self.router.routes, scope))
            await send(message)

        await self.app(scope, receive, send_wrapper)
