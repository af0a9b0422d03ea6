"""In headless Chromium: vote a few blind comparisons, then the leaderboard's table, ratings
plot and win-rate heat map show those votes; change a vote and they follow."""

from __future__ import annotations

import httpx
import pytest

from tests.support import sqlite_only
from tests.support.clients import browser_like
from tests.support.factories import ready_comparison, seed

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only

pytestmark = pytest.mark.browser

MODELS = ["demo/aurora", "demo/ember", "demo/blocks"]


def _setup(base: str, settings) -> list[dict]:
    """The board through the API; three comparisons of ready takes from the factories, each as
    {id, takes: [{id, model}]} (what the creator's answer names; a blind GET would not)."""
    with browser_like(httpx.Client(base_url=base, timeout=30)) as api:
        assert api.post("/api/boards", json={"name": "Browser board", "slug": "lbb"}).status_code == 201

    async def comparisons(app):
        made = [await ready_comparison(app, "lbb", MODELS, f"shot {i}", False) for i in range(3)]
        return [{"id": c.id, "takes": [{"id": t.id, "model": t.model_id} for t in c.takes]} for c in made]

    return seed(settings, comparisons)


def _vote_best(page, base, comparison, model):
    take = next(t["id"] for t in comparison["takes"] if t["model"] == model)
    page.goto(f"{base}/c/{comparison['id']}")
    page.click(f"[data-vote-form=overall] button[value='{take}']")
    page.wait_for_selector("#vote-recorded")


def _heat(page) -> dict[tuple[str, str], float]:
    cells = page.eval_on_selector_all(
        "#win-rate-heatmap g.cell", "els => els.map(e => [e.dataset.row, e.dataset.col, e.dataset.rate])")
    return {(r, c): float(v) for r, c, v in cells}


def test_votes_show_up_in_table_plot_and_heatmap(browser, live_app, settings):
    comparisons = _setup(live_app, settings)
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    for c in comparisons:
        _vote_best(page, live_app, c, "demo/aurora")

    page.goto(live_app + "/b/lbb")
    page.click("#board-leaderboard")
    page.wait_for_selector("#leaderboard-table")
    rows = page.eval_on_selector_all("#leaderboard-table tbody tr", "els => els.map(e => e.dataset.model)")
    assert rows[0] == "demo/aurora" and set(rows) == set(MODELS)
    votes = page.inner_text("#leaderboard-table tr[data-model='demo/aurora'] td.votes")
    assert votes == "6"
    plot = page.eval_on_selector_all("#rating-plot g.point", "els => els.map(e => e.dataset.label)")
    assert plot[0] == "Aurora (demo)" and len(plot) == 3
    heat = _heat(page)
    assert heat[("Aurora (demo)", "Ember (demo)")] == 1.0 and heat[("Blocks (demo)", "Aurora (demo)")] == 0.0
    assert ("Ember (demo)", "Blocks (demo)") not in heat      # never compared yet
    assert "the take shown first" in page.inner_text("#position-bias")

    # Change the first comparison's vote: Ember is now best there.
    _vote_best(page, live_app, comparisons[0], "demo/ember")
    page.goto(live_app + "/b/lbb/leaderboard")
    heat = _heat(page)
    assert heat[("Aurora (demo)", "Ember (demo)")] == pytest.approx(0.667, abs=1e-3)
    assert heat[("Ember (demo)", "Blocks (demo)")] == 1.0
    assert page.inner_text("#leaderboard-table tr[data-model='demo/ember'] td.votes") == "4"

    # one vote per voter, comparison and pair: Aurora's win over Blocks in that comparison stands
    assert page.inner_text("#leaderboard-table tr[data-model='demo/aurora'] td.votes") == "6"

    # The filter reloads the page by itself (every vote here was cast blind: same numbers).
    page.check("input[name=blind]")
    page.wait_for_url("**blind=true**")
    assert page.inner_text("#leaderboard-table tr[data-model='demo/aurora'] td.votes") == "6"
    context.close()
