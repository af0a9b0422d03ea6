"""/docs (Swagger UI) and /redoc, served with no CDN: their scripts and styles come from the
fastapi-offline package's static folder, which app.main mounts under /static beside ours, so
the API docs work on a machine without internet. Also the OpenAPI document's security scheme
(the Authorize button takes a personal API token)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse

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


def openapi_schema(app: FastAPI) -> dict:
    """The app's OpenAPI document, made once, with the API token as its security scheme."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes,
                         tags=app.openapi_tags)
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["token"] = TOKEN_SCHEME
    schema["security"] = [{"token": []}, {}]
    app.openapi_schema = schema
    return schema
