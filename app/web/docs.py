"""/docs (Swagger UI) and /redoc, served with no CDN: their scripts and styles come from the
fastapi-offline package's static folder, which app.main mounts under /static beside ours, so
the API docs work on a machine without internet. Also the OpenAPI document's security scheme
(the Authorize button takes a personal API token)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse

from app.web.schemas import ERROR_TEXT

router = APIRouter(include_in_schema=False)
ASSETS = "/static"   # swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
TOKEN_SCHEME = {
    "type": "http", "scheme": "bearer",
    "description": "A personal API token (make one on /account): `Authorization: Bearer takes_…`. "
                   "Not needed in open mode, nor for public boards."}


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} — API",
                               oauth2_redirect_url=OAUTH2_REDIRECT, swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                               swagger_css_url=f"{ASSETS}/swagger-ui.css", swagger_favicon_url=f"{ASSETS}/favicon.png")


@router.get("/docs/oauth2-redirect", response_class=HTMLResponse)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} — API",
                          redoc_js_url=f"{ASSETS}/redoc.standalone.js", redoc_favicon_url=f"{ASSETS}/favicon.png",
                          with_google_fonts=False)


NO_CONTROL = "^[^\\x00-\\x1f\\x7f]*$"                     # paths and queries (app.web.inputs)
TEXT = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$"       # text fields: tab, LF and CR allowed
ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


def _error(op: dict, status: int) -> None:
    op["responses"].setdefault(str(status), {"description": ERROR_TEXT[status],
                                             "content": {"application/json": {"schema": ERROR_REF}}})


def _what_every_route_answers(path: str, method: str, op: dict) -> None:
    """The refusals any route can give, whatever it does (app.web.identity, app.web.inputs):
    401 for an unknown API token, 403 for a write without its CSRF token, 404 for an id that
    names nothing, 400 and 413 for a body that is not JSON or too large; and the rule on
    control characters in every string parameter."""
    _error(op, 401)
    if method in ("post", "put", "patch", "delete"):
        _error(op, 403)
    if "{" in path:
        _error(op, 404)
    if "requestBody" in op:
        _error(op, 400)
        _error(op, 413)
    for param in op.get("parameters", []):
        _no_control_characters(param.get("schema", {}), NO_CONTROL)


def _no_control_characters(schema: dict, pattern: str) -> None:
    if schema.get("type") == "string" and "enum" not in schema and "pattern" not in schema:
        schema["pattern"] = pattern
    for key in ("properties",):
        for sub in schema.get(key, {}).values():
            _no_control_characters(sub, pattern)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _no_control_characters(schema[key], pattern)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            _no_control_characters(sub, pattern)


def openapi_schema(app: FastAPI, catalog=None, providers=None) -> dict:
    """The app's OpenAPI document, made once, with the API token as its security scheme, the
    refusals every route gives, and (with the catalog and providers) the models it can make."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes,
                         tags=app.openapi_tags)
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["token"] = TOKEN_SCHEME
    schema["security"] = [{"token": []}, {}]
    for path, item in schema["paths"].items():
        for method, op in item.items():
            _what_every_route_answers(path, method, op)
    if catalog is not None and providers is not None:   # the models this server can generate now
        usable = sorted(m.id for m in catalog if m.selectable and providers.available(m.provider))
        schema["components"]["schemas"]["ComparisonIn"]["properties"]["models"]["items"]["enum"] = usable
    for name, body in schema["components"]["schemas"].items():
        if name.endswith("In") or name in ("BoardPatch",):
            _no_control_characters(body, TEXT)
    app.openapi_schema = schema
    return schema
