"""The report page in headless Chromium: it prints to a non-empty PDF with its key sections,
and the print media hides the navigation."""

from __future__ import annotations

import pytest

from tests.support import sqlite_only
from tests.support.browser import PageErrors
from tests.support.factories import seed
from tests.support.report_board import report_board

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only

pytestmark = pytest.mark.browser


def test_report_prints_cleanly(browser, live_app, settings, tmp_path):
    async def build(app):
        await report_board(app)
    seed(settings, build)
    errors = PageErrors()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = errors.attach(context.new_page())
    page.goto(live_app + "/b/rep/report")
    assert page.is_visible("header.topbar") and page.is_visible(".crumbs.no-print")
    page.emulate_media(media="print")
    assert not page.is_visible("header.topbar"), "print: no navigation"
    assert not page.is_visible(".crumbs.no-print")
    for section in ("#report-leaderboard", "#decisions", "#report-costs", "#report-close-calls"):
        assert page.is_visible(section), section
    # every pair is listed on paper (no <details> to open)
    assert page.locator("#decisions li[data-pair]").count() == 3
    assert page.evaluate("[...document.querySelectorAll('#report-close-calls img')].every(i => i.complete && i.naturalWidth > 0)")
    pdf = page.pdf(format="A4", print_background=False)
    (tmp_path / "report.pdf").write_bytes(pdf)
    assert pdf[:5] == b"%PDF-" and len(pdf) > 20_000
    import io

    from pypdf import PdfReader

    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    for heading in ("Report board: report", "Leaderboard", "Decisions", "Cost and generation time per model",
                    "Closest calls", "Aurora (demo) beats Ember (demo): settled"):
        assert heading in " ".join(text.split()), heading
    assert "New comparison" not in text and "Print or save as PDF" not in text, "no navigation on paper"
    assert errors == []
    context.close()
