"""Sharing in Debian's Chromium (clipboard permissions granted in the Playwright context): the
copy buttons of the share link, of a listed invite and of a comparison's read-only link put
exactly the link on the clipboard; the read-only link opens the comparison in a fresh
browser; "Download all takes" saves a ZIP of the originals."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.support import sqlite_only
from tests.support.browser import PageErrors
from tests.support.factories import ready_comparison, seed

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only
pytestmark = pytest.mark.browser
CLIPBOARD = ["clipboard-read", "clipboard-write"]


def _copied(page, button: str, code: str) -> str:
    page.click(button)
    page.wait_for_selector(f"{button}[data-copied=true]")
    text = page.evaluate("navigator.clipboard.readText()")
    assert text == page.text_content(code).strip()
    return text


def test_copy_buttons_and_the_read_only_link(browser, settings, live_app, tmp_path):
    async def build(app):
        from app.boards import create_board

        async with app.state.db.session() as s:
            board = await create_board(s, name="Shared kites", visibility="link", blind=False)
        c = await ready_comparison(app, board, prompt="a kite over dunes")
        return board.slug, c.id

    slug, cid = seed(settings, build)
    errors = PageErrors()
    ctx = browser.new_context(permissions=CLIPBOARD, accept_downloads=True)
    page = errors.attach(ctx.new_page())
    page.goto(f"{live_app}/b/{slug}/settings")
    assert "/s/" in _copied(page, 'button[data-copy="#share-url"]', "#share-url")
    page.click("#new-invite-form button[type=submit]")
    page.wait_for_selector("#invites tr[data-invite-id]")
    invite_id = page.get_attribute("#invites tr[data-invite-id]", "data-invite-id")
    link = _copied(page, f'button[data-copy="#invite-{invite_id}"]', f"#invite-{invite_id}")
    assert link == page.text_content("#new-invite").strip() and "/invite/" in link

    page.goto(f"{live_app}/c/{cid}")
    page.click("text=Make a read-only link")
    page.wait_for_selector("#comparison-link-url")
    shared = _copied(page, 'button[data-copy="#comparison-link-url"]', "#comparison-link-url")
    with page.expect_download() as dl:
        page.click("#download-zip")
    z = zipfile.ZipFile(io.BytesIO(open(dl.value.path(), "rb").read()))
    assert sorted(n[0] for n in z.namelist()) == ["A", "B"] and all("demo_" in n for n in z.namelist())

    fresh = browser.new_context()
    other = errors.attach(fresh.new_page())
    other.goto(shared)
    assert other.url == f"{live_app}/c/{cid}"
    assert other.text_content("h1.prompt").strip() == "a kite over dunes"
    fresh.close()
    ctx.close()
    assert not errors, errors
