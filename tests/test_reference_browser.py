"""The reference tile in real headless Chromium: it plays, pauses and seeks with the takes of
the synced grid (static/player.js `followRefs`), on a comparison made through the API with Kling
v3 Motion Control on the fal fake."""

from __future__ import annotations

import httpx
import pytest

from tests.support import sqlite_only
from tests.support.browser import PageErrors
from tests.support.clients import browser_like
from tests.test_reference_video import _body, fal, media, settings  # noqa: F401 — shared fixtures

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only

pytestmark = pytest.mark.browser


@pytest.fixture
def live_app(settings, fal, tmp_path):
    """`python -m app serve` with the fal fake's key and URL in its environment."""
    from tests.test_providers_e2e import _serve

    proc, url = _serve(settings, {"FAL_KEY": fal[0].key, "FAL_QUEUE_URL": fal[1]}, tmp_path)
    try:
        yield url
    finally:
        proc.kill()


def test_the_reference_tile_plays_pauses_and_seeks_with_the_takes(browser, live_app, media, fal):
    with browser_like(httpx.Client(base_url=live_app)) as api:
        r = api.post("/api/comparisons", json=_body(media))
        assert r.status_code == 202, r.text
        cid = r.json()["id"]
    errors = PageErrors()
    page = errors.attach(browser.new_page())
    page.goto(f"{live_app}/c/{cid}")
    page.wait_for_selector("[data-sync-grid] [data-reference-tile] video", timeout=60_000)
    page.wait_for_function("[...document.querySelectorAll('[data-sync-grid] video')].every(v => v.readyState >= 3)",
                           timeout=30_000)
    page.click("[data-sync-grid] [data-action=play]")
    page.wait_for_function("(() => { const s = document.querySelector('[data-sync-grid]').takesPlayer.state();"
                           " return s.playing && s.t > 0.2 && !s.refs[0].paused; })()", timeout=15_000)
    s = page.evaluate("document.querySelector('[data-sync-grid]').takesPlayer.state()")
    assert abs(s["refs"][0]["currentTime"] - s["t"]) < 0.3, s
    page.click("[data-sync-grid] [data-action=pause]")
    page.wait_for_function("document.querySelector('[data-reference-tile] video').paused")
    # the fal fake's take is 0.5 s long: the grid's clock (and with it the reference) runs 0–0.5 s
    page.evaluate("document.querySelector('[data-sync-grid]').takesPlayer.seek(0.3)")
    page.wait_for_function("Math.abs(document.querySelector('[data-reference-tile] video').currentTime - 0.3) < 0.05",
                           timeout=5_000)
    assert errors == []
    page.close()
