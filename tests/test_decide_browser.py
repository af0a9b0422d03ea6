"""In headless Chromium: the board page loads its decisions in words, an editor marks a check
item from the comparison page's panel (htmx), and the reviewers page shows the result."""

from __future__ import annotations

import pytest

from tests.support import sqlite_only
from tests.support.browser import PageErrors
from tests.support.factories import seed
from tests.support.report_board import report_board

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only

pytestmark = pytest.mark.browser


def test_decisions_check_items_and_reviewers(browser, live_app, settings):
    async def build(app):
        board, cs = await report_board(app, slug="dbb")
        return [(t.id, t.model_id) for t in cs[0].takes], cs[0].id
    takes, cid = seed(settings, build)
    errors = PageErrors()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = errors.attach(context.new_page())
    page.goto(live_app + "/b/dbb")
    page.wait_for_selector("#board-decisions #decisions [data-top]")
    top = page.inner_text("#board-decisions [data-top]")
    assert top.startswith("The top model is settled — further votes will not change it: Aurora (demo)")
    assert "Aurora (demo) beats Ember (demo): settled" in page.inner_text("#board-decisions")

    page.goto(f"{live_app}/c/{cid}")            # open mode: everyone is an owner, so an editor too
    page.wait_for_selector("#check-items [data-check-form=overall] select")
    aurora = next(t for t, m in takes if m == "demo/aurora")
    page.select_option("#check-items [data-check-form=overall] select", aurora)
    page.click("#check-items [data-check-form=overall] button[type=submit]")
    page.wait_for_selector("#check-items .note.ok")
    assert page.inner_text("#check-items .note.ok") == "Check item saved."
    assert page.eval_on_selector("#check-items [data-check-form=overall] select", "s => s.value") == aurora

    page.goto(live_app + "/b/dbb/reviewers")
    assert page.is_visible("#reviewers-table") and "Krippendorff" in page.inner_text("#alpha")
    assert "1 on this board" in page.inner_text(".reviewers .hint")
    assert errors == []
    context.close()
