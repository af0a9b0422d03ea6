"""The one place that turns an app.errors.TakesError (or a request FastAPI could not parse)
into a response. app.main installs these handlers.

- The API (`/api/…`) and scripts get JSON: `{"detail": message, "errors": [...]}` with the
  error's status and headers (Retry-After for 429, WWW-Authenticate for 401), the body
  declared as `ErrorOut` in /openapi.json.
- A browser (Accept: text/html, or an htmx request) gets the error page with the message;
  "sign in first" sends it to the sign-in form instead, coming back where it was. Forms that
  can show an error beside their fields catch the error themselves and redraw the form.
- A bad API token is always JSON: only scripts send one.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import SignInRequired, TakesError, Unauthorized
from app.web.services import services_of


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and (
        "text/html" in request.headers.get("accept", "") or request.headers.get("hx-request") == "true")


def error_json(message: str, errors: list[str], status: int, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": message, "errors": errors}, status_code=status, headers=headers or None)


def _sign_in_first(request: Request) -> Response:
    if request.method == "GET" and request.headers.get("hx-request") != "true":
        target = request.url.path + ("?" + request.url.query if request.url.query else "")
    else:  # come back to the page the form or fragment was on
        here = urlsplit(request.headers.get("hx-current-url") or request.headers.get("referer") or "/")
        target = (here.path or "/") + ("?" + here.query if here.query else "")
    url = "/signin?next=" + quote(target, safe="/")
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


async def takes_error(request: Request, exc: TakesError) -> Response:
    if isinstance(exc, Unauthorized) or not wants_html(request):
        return error_json(exc.message, exc.errors, exc.status_code, exc.headers)
    if isinstance(exc, SignInRequired):
        return _sign_in_first(request)
    return services_of(request).render(request, "error.html", {"message": exc.message, "errors": exc.errors},
                                       status_code=exc.status_code, headers=exc.headers or None)


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Starlette's own refusals (a body that is not JSON: 400; no such route: 404; 405) in the
    same `{"detail", "errors"}` shape as ours, with their headers (Allow)."""
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return error_json(detail, [detail], exc.status_code, dict(exc.headers or {}))


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()]
    return error_json(errors[0] if errors else "invalid request", errors, 422)
