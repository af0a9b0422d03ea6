"""In headless Chromium: paste a tagged shot list on /suites/new, preview it, create it, watch
the suite page run it to the end (demo models render real clips), open the per-tag
leaderboard from it; a bad line shows its number and nothing is made; a CSV upload previews."""

from __future__ import annotations

import httpx
import pytest

from tests.support import sqlite_only
from tests.support.browser import PageErrors

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only

pytestmark = pytest.mark.browser


def _fill(page, lines: str | None = None) -> None:
    page.fill("input[name=name]", "Browser shots")
    page.check("input[name=models][value='demo/aurora']")
    page.check("input[name=models][value='demo/blocks']")
    page.fill("input[name=seeds]", "2")
    page.fill("input[name=duration_s]", "4")
    page.fill("input[name=resolution]", "360p")
    if lines is not None:
        page.fill("textarea[name=lines]", lines)


@pytest.mark.long(29)
def test_paste_preview_create_and_run(browser, live_app):
    errors = PageErrors()
    page = errors.attach(browser.new_context(viewport={"width": 1300, "height": 1000}).new_page())
    page.goto(live_app + "/")
    page.click("nav a[href='/suites/new']")
    _fill(page, "a dancer crosses a bridge | character walk\na crowd cheers at night | crowd, night")
    page.click("#preview-suite")
    page.wait_for_selector("#suite-preview")
    assert page.inner_text("#preview-takes") == "8" and page.inner_text("#preview-comparisons") == "4"
    assert page.inner_text("#preview-rows tbody tr:nth-child(2) td:first-child") == "line 2"
    # The preview wrote nothing, not even the open mode's default board the suite will go to.
    assert httpx.get(live_app + "/api/boards/default").status_code == 404
    page.click("#create-suite")
    page.wait_for_url("**/suites/*")
    assert page.inner_text("h1") == "Suite: Browser shots"
    page.wait_for_function("document.querySelector('#suite-status').textContent === 'done'", timeout=90_000)
    assert page.inner_text("[data-count=ready]") == "8"
    suite_id = page.url.rsplit("/", 1)[1]
    assert httpx.get(f"{live_app}/api/suites/{suite_id}").json()["takes"]["ready"] == 8
    page.click("text=character walk")
    page.wait_for_selector("#tag-filter")
    assert page.eval_on_selector("#tag", "e => e.value") == "character walk"
    assert page.inner_text("#tag-winners-table tr[data-tag='crowd'] .says") == "for crowd: no votes yet"
    page.select_option("#tag", "crowd")
    page.wait_for_url("**tag=crowd**")
    assert errors == []


def test_a_bad_line_is_shown_and_a_csv_previews(browser, live_app):
    errors = PageErrors()
    page = errors.attach(browser.new_context(viewport={"width": 1300, "height": 1000}).new_page())
    page.goto(live_app + "/suites/new")
    _fill(page, "fine | ok\n | crowd\n")
    page.click("#preview-suite")
    page.wait_for_selector("#suite-errors")
    assert "line 2: the prompt is empty" in page.inner_text("#suite-errors")
    assert page.query_selector("#create-suite") is None
    assert httpx.get(live_app + "/api/boards/default").status_code == 404   # nothing made, not even the board
    page.check("input[name=source][value=upload]")
    page.set_input_files("input[name=file]", files=[{"name": "shots.csv", "mimeType": "text/csv",
                                                     "buffer": b"prompt,tags\na kite over a beach,\"sky, wind\"\n"}])
    page.click("#preview-suite")
    page.wait_for_selector("#suite-preview")
    assert page.inner_text("#preview-takes") == "4" and "sky, wind" in page.inner_text("#preview-rows")
    assert "shots.csv" in page.inner_text("#kept-upload")
    # the refused preview is itself a 422 page, which Chromium logs as a failed load; nothing else
    assert [e for e in errors if "status of 422" not in e] == [] and len(errors) == 1
