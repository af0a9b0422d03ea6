"""axe-core (through axe-playwright-python, in Debian's Chromium) on the new-comparison page's
picker and parameters: no serious or critical violations at 1440×900 and 390×844, with every
row shown and a refusal marked. Scoped to the picker (#picker) and the parameters (#params):
the page around them (navigation, the primary button's colours in static/app.css) is checked
by the whole-page axe test of issue 12 item 8."""

from __future__ import annotations

import pytest

from tests.support import sqlite_only

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width, height", [(1440, 900), (390, 844)])
def test_picker_has_no_serious_accessibility_violations(browser, live_app, width, height):
    from axe_playwright_python.sync_playwright import Axe

    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(live_app + "/")
    page.click("#more-models summary")
    page.check("input[name=models][value='demo/ember']")
    page.fill("input[name=duration_s]", "3")
    assert page.locator("li.family[data-family=ember] [data-marks]").is_visible()
    results = Axe().run(page, context={"include": [["#picker"], ["#params"]]})
    assert results.response["passes"], "axe ran its checks"
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:5]) for v in results.response["violations"]
           if v["impact"] in ("serious", "critical")]
    assert bad == []
