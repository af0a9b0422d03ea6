"""405 answers that tell the truth: `Allow` lists every method some route serves at the path.

Starlette answers 405 with the methods of the first route whose path matched, so
`OPTIONS /api/boards/{slug}` said `Allow: GET` although PATCH is served there too (by another
route on the same path). `AllowedMethods` (pure ASGI) rewrites the header of every 405 from
all the routes whose path matches. HEAD, which Starlette serves for every GET, is left out, as
/openapi.json leaves it out."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.routing import Match, Route, get_route_path


METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def allowed_methods(routes, scope) -> list[str]:
    """The methods some route fully matches at this request's path (each route asked through
    Starlette's own `matches`, so included routers are searched too). Where a literal path and
    a parameter's both match (`/api/suites/preview` and `/api/suites/{suite_id}`), the path is
    the literal one's, as /openapi.json lists it: only the routes with the fewest parameters
    count. The definition; each 405 is answered by MethodIndex, held to it by a test."""
    return _fewest(_matches(list(_leaves(routes)), scope))


def _matches(routes, scope):
    """(parameters in the route's path, method) for every method the route fully matches."""
    return [(len(getattr(route, "param_convertors", {})), m) for m in METHODS for route in routes
            if route.matches({**scope, "method": m})[0] == Match.FULL]


def _fewest(found) -> list[str]:
    """The methods of the matches with the fewest path parameters (the literal path's)."""
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


class MethodIndex:
    """`allowed_methods`, answered from the routes grouped by path pattern: one regex match per
    distinct path instead of `matches` for every route with each of five methods (1.5 ms for
    each 405 with this app's 143 routes; every 405 a fuzzer or a scanner draws paid it). Built
    once, from the routes as they are when the first 405 is answered; routes that are not plain
    method routes (a mount) are asked as `allowed_methods` asks them. tests/test_hardening.py
    holds it to `allowed_methods` on every route's path."""

    def __init__(self, routes) -> None:
        groups: dict[str, tuple] = {}
        self.others = []
        for route in _leaves(routes):
            if isinstance(route, Route) and route.methods:
                regex, n, methods = groups.setdefault(route.path_regex.pattern,
                                                      (route.path_regex, len(route.param_convertors), set()))
                methods.update(m for m in route.methods if m in METHODS)
            else:
                self.others.append(route)
        self.groups = list(groups.values())

    def allowed(self, scope) -> list[str]:
        path = get_route_path(scope)
        found = [(n, m) for regex, n, methods in self.groups if regex.match(path) for m in methods]
        return _fewest(found + _matches(self.others, scope))


class AllowedMethods:
    def __init__(self, app, router):
        self.app, self.router = app, router
        self._index: MethodIndex | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_wrapper(message):
            if message["type"] == "http.response.start" and message["status"] == 405:
                headers = MutableHeaders(scope=message)
                if self._index is None:
                    self._index = MethodIndex(self.router.routes)
                headers["allow"] = ", ".join(self._index.allowed(scope))
            await send(message)

        await self.app(scope, receive, send_wrapper)
