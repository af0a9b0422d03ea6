"""The board settings page's webhooks in Chromium: an owner's bad URL gets a visible note, a
good one is listed with its secret, a take's events arrive signed at a local receiver and show
in the delivery log, and the endpoint can be removed."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support import sqlite_only
from tests.support.clients import wait_for_takes_over_http
from tests.test_webhooks import receiving

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only


@pytest.mark.browser
def test_owner_adds_a_webhook_and_reads_the_log_in_the_browser(browser, live_app):
    from tests.support.browser import PageErrors

    with receiving() as (rec, hook_url):
        errors = PageErrors()
        page = errors.attach(browser.new_page())
        slug = httpx.post(live_app + "/api/boards", json={"name": "Asset manager"}).json()["slug"]
        page.goto(f"{live_app}/b/{slug}/settings")
        page.fill("#new-webhook-form input[name=url]", "gopher://nowhere")
        page.click("#new-webhook-form button[type=submit]")
        assert "http(s) URL" in page.inner_text("#webhooks [role=alert]")
        page.fill("#new-webhook-form input[name=url]", hook_url)
        page.uncheck("#new-webhook-form input[value='vote.cast']")
        page.click("#new-webhook-form button[type=submit]")
        page.wait_for_selector("#webhook-endpoints")
        row = page.inner_text("#webhook-endpoints tbody tr")
        assert hook_url in row and "take.ready" in row and "vote.cast" not in row
        rec.secret = page.inner_text("#webhook-endpoints code.secret")
        r = httpx.post(live_app + "/api/comparisons", json={"prompt": "a red kite", "models": ["demo/blocks"],
                                                            "duration_s": 3, "resolution": "360p", "board": slug})
        wait_for_takes_over_http(live_app, r.json()["id"])
        end = time.monotonic() + 30
        while len(rec.delivered()) < 2:
            assert time.monotonic() < end, rec.got
            time.sleep(0.1)
        page.reload()
        log = page.inner_text("#webhook-log")
        assert "take.ready" in log and "comparison.complete" in log and "delivered" in log
        page.click("#webhook-endpoints button:has-text('Remove')")
        page.wait_for_selector("#webhook-endpoints", state="detached")
        assert [e for e in errors if "422" not in e] == [], errors   # the refused form answers 422
    assert all(g["verified"] for g in rec.got)
