"""/docs works with the network off: Swagger UI's script and styles come from the app itself.
Every request the page makes to anything but the local server is aborted (and recorded), and
the page must still list the API's operations."""

from urllib.parse import urlsplit

import pytest

from tests.support.browser import PageErrors
from tests.support import sqlite_only

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_offline(browser, live_app):
    blocked, errors = [], PageErrors()
    ctx = browser.new_context()
    page = errors.attach(ctx.new_page())

    def only_local(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            return route.continue_()
        blocked.append(route.request.url)
        return route.abort()

    page.route("**/*", only_local)
    page.goto(live_app + "/docs")
    op = page.locator(".opblock-post:has([data-path='/api/comparisons'])").first
    op.wait_for(timeout=30_000)
    assert page.locator(".opblock").count() > 30
    assert "Fan a prompt out to models" in op.inner_text()
    assert blocked == [], f"/docs asked for outside resources: {blocked}"
    page.goto(live_app + "/redoc")
    page.locator("h2", has_text="Fan a prompt out to models").first.wait_for(timeout=30_000)  # ReDoc drew it
    ctx.close()
    # ReDoc's own "by Redocly" footer logo is an <img> from its CDN: decoration, not the page.
    assert all(u.endswith("/logo-mini.svg") for u in blocked), f"/redoc asked for outside resources: {blocked}"
    assert not [e for e in errors if "net::ERR" not in e], errors
