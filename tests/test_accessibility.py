"""Issue 12 §8: an automated accessibility check (axe-core, through the axe-playwright-python
package, which ships axe.min.js; run in Debian's Chromium) on every main page, at desktop and
phone sizes, signed in and out, and on the comparison page in its other states (takes panel
open, after a vote): 0 serious or critical violations — contrast (WCAG 2.1 AA), names of
controls, labels, landmarks."""

import pytest

from tests.support import sqlite_only
from tests.support.browser import PageErrors
from tests.support.factories import seed
from tests.support.review import add_models, build_world, main_pages, signed_out_pages
from tests.support.settings import make_settings

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only

pytestmark = pytest.mark.browser

BAD = {"serious", "critical"}


@pytest.fixture
def settings(db_url, tmp_path):
    s = make_settings(db_url, tmp_path)
    add_models(s)
    return s


def _problems(axe, page, where: str) -> list[str]:
    found = axe.run(page).response["violations"]
    return [f"{where}: {v['impact']} {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes'][:4]]}"
            for v in found if v["impact"] in BAD]


@pytest.mark.parametrize("size", [(1440, 900), (390, 844)], ids=["desktop", "phone"])   # two halves for two workers
@pytest.mark.long(45)
def test_no_serious_or_critical_violations_on_any_main_page(browser, live_app, settings, size):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    world = seed(settings, build_world)
    errors, problems = PageErrors(), []
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
    ctx.add_cookies([{"name": "takes_session", "value": world["session"], "url": live_app}])
    page = errors.attach(ctx.new_page())
    for name, path in main_pages(world).items():
        page.goto(live_app + path)
        page.wait_for_load_state("networkidle")
        if size[0] < 720:
            page.click("[data-menu-toggle]")     # the open menu is checked too
        problems += _problems(axe, page, f"{name} at {size[0]}")
    # the comparison page's other states: takes panel open, then after a vote
    page.goto(f"{live_app}/c/{world['comparisons'][4]}")
    page.wait_for_selector("[data-sync-grid][data-phase=paused]", timeout=30_000)
    page.click("#takes summary")
    problems += _problems(axe, page, f"comparison, takes open, at {size[0]}")
    page.click("[data-vote-form=overall] button >> nth=1")
    page.wait_for_selector("#takes[data-revealed=true] .take-list")
    problems += _problems(axe, page, f"comparison after the vote at {size[0]}")
    ctx.clear_cookies()
    for name, path in signed_out_pages(world).items():
        page.goto(live_app + path)
        page.wait_for_load_state("networkidle")
        problems += _problems(axe, page, f"{name} at {size[0]}")
    ctx.close()
    assert problems == []
    assert [e for e in errors if "401" not in e] == []


def test_the_check_finds_the_old_primary_blue(browser, live_app, settings):
    """The check can fail: with the old white-on-#5b9dff button (2.72:1) axe reports the
    contrast as serious."""
    from axe_playwright_python.sync_playwright import Axe

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(live_app + "/")
    page.add_style_tag(content="button.primary { background: #5b9dff !important; border-color: #5b9dff !important; }")
    found = _problems(Axe(), page, "home with the old blue")
    assert any("color-contrast" in p for p in found), found
    page.close()


def test_keyboard_focus_is_visible(browser, live_app, settings):
    """Tabbing through a page shows where the focus is: every focused control has an outline
    (or the player's own focus ring) of at least 2 px."""
    world = seed(settings, build_world)
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    ctx.add_cookies([{"name": "takes_session", "value": world["session"], "url": live_app}])
    page = ctx.new_page()
    for path in ("/", f"/c/{world['comparisons'][4]}", f"/b/{world['board']}"):
        page.goto(live_app + path)
        page.wait_for_load_state("networkidle")
        seen = []
        for _ in range(12):
            page.keyboard.press("Tab")
            seen.append(page.evaluate("""() => { const e = document.activeElement; const cs = getComputedStyle(e);
                return [e.tagName + (e.className ? '.' + e.className : ''), cs.outlineStyle, parseFloat(cs.outlineWidth)]; }"""))
        unmarked = [s for s in seen if s[1] == "none" or s[2] < 2]
        assert unmarked == [], (path, unmarked)
    ctx.close()
