"""The whole flow in real headless Chromium: form → takes → synced grid → play → vote → CSV."""

import csv
import io

import pytest

from tests.support import sqlite_only
from tests.support.browser import PageErrors

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only

pytestmark = pytest.mark.browser


@pytest.mark.long(24)
def test_form_to_vote_to_csv(browser, live_app, tmp_path):
    errors = PageErrors()
    context = browser.new_context(accept_downloads=True, viewport={"width": 1300, "height": 900})
    page = errors.attach(context.new_page())
    page.goto(live_app + "/")
    page.fill("textarea[name=prompt]", "A paper boat drifts down a rain-soaked street")
    for model in ("demo/aurora", "demo/blocks"):
        page.check(f"input[name=models][value='{model}']")
    page.fill("input[name=duration_s]", "4")
    page.select_option("select[name=resolution]", "360p")
    page.wait_for_function("document.querySelector('#estimate strong').textContent.includes('free')")
    page.click("button[type=submit]")
    page.wait_for_url("**/c/*")

    # My comparisons is an open board: names show, and the grid grows as takes become ready.
    page.wait_for_selector("[data-sync-grid] video", timeout=60_000)
    page.wait_for_function("document.querySelectorAll('[data-sync-grid] video').length == 2", timeout=60_000)
    page.click("#takes summary")   # the takes panel is folded so the review fits one screen
    assert sorted(page.locator(".take .who").all_inner_texts()) == ["Aurora (demo)", "Blocks (demo)"]
    page.wait_for_function("[...document.querySelectorAll('[data-sync-grid] video')].every(v => v.readyState >= 3)")

    page.click("[data-sync-grid] [data-action=play]")
    page.wait_for_function("[...document.querySelectorAll('[data-sync-grid] video')].every(v => !v.paused && v.currentTime > 0.5)")
    times = page.evaluate("[...document.querySelectorAll('[data-sync-grid] video')].map(v => v.currentTime)")
    assert max(times) - min(times) < 0.25, times
    page.click("[data-sync-grid] [data-action=pause]")
    page.wait_for_function("[...document.querySelectorAll('[data-sync-grid] video')].every(v => v.paused)")

    page.click("#vote-panel button[data-vote=a]")
    page.wait_for_selector("#vote-recorded")
    revealed = page.locator("#vote-recorded .reveal li").all_inner_texts()
    assert any("Aurora (demo)" in r for r in revealed) and any("Blocks (demo)" in r for r in revealed)

    page.goto(live_app + "/b/default")
    with page.expect_download() as info:
        page.click("text=Download votes (CSV)")
    path = info.value.path()
    rows = list(csv.DictReader(io.StringIO(open(path, encoding="utf-8-sig").read())))
    assert len(rows) == 1
    row = rows[0]
    assert {row["model_a"], row["model_b"]} == {"demo/aurora", "demo/blocks"}
    assert row["winner"] == "model_a" and row["position_a"] == "0" and row["position_b"] == "1"
    assert row["prompt"] == "A paper boat drifts down a rain-soaked street" and row["blind"] == "false"
    assert errors == []
    context.close()


def test_form_errors_are_shown_and_nothing_is_created(browser, live_app):
    errors = PageErrors()
    page = errors.attach(browser.new_page())
    page.goto(live_app + "/")
    page.fill("textarea[name=prompt]", "x")
    page.check("input[name=models][value='demo/ember']")
    page.fill("input[name=duration_s]", "3")
    page.click("button[type=submit]")
    note = page.locator("#form-errors")
    assert "Ember (demo) does not support 3 s; it accepts 2, 4, 5, 6, 8, 10 s" in note.inner_text()
    # what the user typed is kept
    assert page.input_value("textarea[name=prompt]") == "x"
    assert page.is_checked("input[name=models][value='demo/ember']")
    page.goto(live_app + "/")
    assert page.locator(".recent li").count() == 0
    assert [e for e in errors if "422" not in e] == []


def test_mixed_codecs_fps_and_lengths_play_in_lockstep(browser, live_app):
    """A real comparison page whose takes differ in codec (H.264 and VP9), frame rate (24, 30, 16)
    and length (4–7 s): the grid plays them together, and after pause or seek every player shows
    the frame the shared clock asks of it (shorter clips hold their last frame)."""
    import httpx

    from tests.support.clients import browser_like

    api = browser_like(httpx.Client(base_url=live_app, timeout=10))
    api.get("/")
    r = api.post("/api/comparisons", json={
        "prompt": "a lighthouse beam over a stormy sea", "models": ["demo/aurora", "demo/ember", "demo/tape", "demo/blocks"],
        "duration_s": 4, "durations": {"demo/ember": 6, "demo/tape": 7, "demo/blocks": 3}, "resolution": "360p"})
    assert r.status_code == 202, r.text
    errors = PageErrors()
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = errors.attach(context.new_page())
    page.goto(f"{live_app}/c/{r.json()['id']}")
    page.wait_for_function("document.querySelectorAll('[data-sync-grid] video').length == 4", timeout=90_000)
    page.wait_for_function("(() => { const g = document.querySelector('[data-sync-grid]');"
                           " return g.takesPlayer && g.takesPlayer.phase === 'paused'; })()", timeout=30_000)
    grid = "document.querySelector('[data-sync-grid]').takesPlayer"
    s = page.evaluate(f"{grid}.state()")
    assert sorted((t["fps"], t["duration"]) for t in s["tiles"]) == [(16, 3), (24, 4), (30, 6), (30, 7)]
    assert s["duration"] == 7

    page.evaluate(f"{grid}.play()")
    page.wait_for_function(f"{grid}.state().t > 2.2", timeout=20_000)
    page.evaluate(f"{grid}.pause()")
    s = page.evaluate(f"{grid}.settled()")
    assert all(t["paused"] for t in s["tiles"])
    assert [t["frame"] for t in s["tiles"]] == [t["expectedFrame"] for t in s["tiles"]], s

    page.evaluate(f"{grid}.seek(5.5)")
    s = page.evaluate(f"{grid}.settled()")
    by_fps_len = {(t["fps"], t["duration"]): t for t in s["tiles"]}
    assert by_fps_len[(16, 3)]["held"] and by_fps_len[(24, 4)]["held"]
    assert by_fps_len[(16, 3)]["frame"] == 47 and by_fps_len[(24, 4)]["frame"] == 95
    assert by_fps_len[(30, 6)]["frame"] == 165 and by_fps_len[(30, 7)]["frame"] == 165
    assert errors == []
    context.close()
