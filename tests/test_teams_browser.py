"""A team in two real browsers: the owner (made with `takes create-user --admin` on a running
server) makes a private blind board and a comparison, invites a reviewer by link; the reviewer
signs up from the invite, votes blind, comments at a time code (and clicking the comment seeks
the player); the owner sees the vote and, after voting, the comment."""

import csv
import io
import re

import pytest

from tests.support import sqlite_only
from tests.support.browser import PageErrors
from tests.support.factories import PASSWORD
from tests.support.live import run_cli
from tests.support.settings import settings_env

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only

pytestmark = pytest.mark.browser


def _sign_in(page, base, email):
    page.goto(base + "/signin")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#signin button[type=submit]")
    page.wait_for_url(base + "/")


@pytest.mark.long(27)
def test_owner_invites_reviewer_votes_blind_and_comments(browser, live_app, settings, tmp_path):
    made = run_cli(["create-user", "owner@example.com", "--admin", "--name", "Olga", "--password-stdin"],
                   settings_env(settings), tmp_path / "cli", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    errors = PageErrors()
    dialogs = []
    owner_ctx = browser.new_context(accept_downloads=True, viewport={"width": 1300, "height": 900})
    owner = errors.attach(owner_ctx.new_page())
    owner.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # The owner signs in, makes a private blind board and a comparison on it.
    _sign_in(owner, live_app, "owner@example.com")
    owner.goto(live_app + "/boards")
    owner.fill("#new-board input[name=name]", "Launch shots")
    owner.select_option("#new-board select[name=visibility]", "private")
    owner.click("#new-board button[type=submit]")
    owner.wait_for_url(re.compile(r".*/b/launch-shots-[a-z0-9]{10}$"))
    board_url = owner.url
    slug = board_url.rsplit("/", 1)[1]

    owner.goto(live_app + "/")
    owner.fill("textarea[name=prompt]", "A paper boat drifts down a rain-soaked street")
    for model in ("demo/aurora", "demo/blocks"):
        owner.check(f"input[name=models][value='{model}']")
    owner.fill("input[name=duration_s]", "4")
    owner.select_option("select[name=resolution]", "360p")
    owner.select_option("select[name=board]", slug)
    owner.click("#new-comparison button[type=submit]")
    owner.wait_for_url("**/c/*")
    comparison_url = owner.url
    owner.wait_for_selector("[data-sync-grid] video", timeout=60_000)

    # An invite link for a voter.
    owner.goto(board_url + "/settings")
    owner.select_option("#new-invite-form select[name=role]", "voter")
    owner.click("#new-invite-form button[type=submit]")
    invite = owner.locator("#new-invite").inner_text().strip()
    assert invite.startswith(live_app + "/invite/")

    # The reviewer, in a separate browser context, joins by the link …
    rev_ctx = browser.new_context(viewport={"width": 1300, "height": 900})
    rev = errors.attach(rev_ctx.new_page())
    rev.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    rev.goto(comparison_url)
    assert "Not Found" in rev.content() or "no comparison" in rev.content()  # not before joining
    rev.goto(invite)
    rev.click("#signup-link")
    rev.fill("#signup input[name=name]", "Rui")
    rev.fill("#signup input[name=email]", "rui@example.com")
    rev.fill("#signup input[name=password]", PASSWORD)
    rev.click("#signup button[type=submit]")
    rev.wait_for_url(board_url)
    assert "0 of 1 voted" in rev.locator("#review-progress").inner_text()

    # … votes blind: no model names before the vote …
    rev.click(".poster-card a")
    rev.wait_for_selector("[data-sync-grid] video", timeout=60_000)
    assert "2 of 2 takes finished" in rev.locator("#blind-progress").inner_text()
    assert rev.locator(".take-list").count() == 0  # no per-take names, timings or costs before the vote
    for part in ("#takes", "#grid", "#vote-panel"):
        text = rev.locator(part).inner_text()
        assert "Aurora" not in text and "Blocks" not in text, part
    rev.click("#vote-panel button[data-vote=a]")
    rev.wait_for_selector("#vote-recorded")
    revealed = rev.locator("#vote-recorded .reveal li").all_inner_texts()
    assert any("Aurora (demo)" in r for r in revealed) and any("Blocks (demo)" in r for r in revealed)

    # … and comments on take A at 2.5 s (markup in it stays text). The comments reload after the
    # vote (they were hidden until it), so wait for that before typing.
    rev.wait_for_selector("#comments[data-voted=true] #comment-form")
    rev.select_option("#comment-form select[name=take]", label="A")
    rev.fill("#comment-form input[name=time_s]", "2.5")
    rev.fill("#comment-form textarea[name=body]", 'The boat melts into the curb <img src=x onerror="alert(1)">')
    rev.click("#comment-form button[type=submit]")
    item = rev.locator("[data-comment-list] li[data-time]")
    item.wait_for()
    assert item.inner_text().startswith("[A] 00:02.5")
    assert 'The boat melts into the curb <img src=x onerror="alert(1)">' in item.inner_text()
    # Clicking the time code seeks every take there; a marker sits on the player's timeline.
    rev.click("[data-comment-list] li[data-time] button.seek")
    rev.wait_for_function("[...document.querySelectorAll('[data-sync-grid] video')]"
                          ".every(v => Math.abs(v.currentTime - 2.5) < 0.1)")
    rev.wait_for_selector("[data-sync-grid] .comment-marker")
    rev.goto(board_url)
    assert "1 of 1 voted" in rev.locator("#review-progress").inner_text()

    # The owner sees the vote (board page, CSV) and, after voting too, the comment.
    owner.goto(board_url)
    card = owner.locator(".poster-card").first
    assert "1 vote" in card.inner_text() and "1 comment" in card.inner_text()
    with owner.expect_download() as info:
        owner.click("text=Download votes (CSV)")
    rows = list(csv.DictReader(io.StringIO(open(info.value.path(), encoding="utf-8-sig").read())))
    assert len(rows) == 1 and rows[0]["judge"] == "Rui" and rows[0]["blind"] == "true"
    owner.goto(comparison_url)
    owner.wait_for_selector("#comments-hidden")
    assert "1 comment from other reviewers will show after you vote" in owner.locator("#comments-hidden").inner_text()
    owner.click("#vote-panel button[data-vote=b]")
    owner.wait_for_selector("#vote-recorded")
    owner.wait_for_selector("#comments[data-voted=true] [data-comment-list] li[data-time]")
    seen = owner.locator("[data-comment-list] li[data-time]").inner_text()
    assert "00:02.5" in seen and "The boat melts into the curb" in seen and "Rui" in seen

    assert dialogs == [], dialogs
    assert [e for e in errors if "404" not in e] == [], errors
    rev_ctx.close()
    owner_ctx.close()
