"""Leaderboard pages, JSON and CSV over HTTP, from votes cast through the API, on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

from tests.support.clients import wait_for_takes
from tests.support.factories import ready_json

DEMOS = ["demo/aurora", "demo/ember", "demo/blocks"]
NS = {"s": "http://www.w3.org/2000/svg"}


async def _setup(client, app, slug="lb", n=3):
    r = await client.post("/api/boards", json={"name": f"Board {slug}", "slug": slug, "criteria": ["motion"],
                                                    "blind": False})
    assert r.status_code == 201, r.text
    return [await ready_json(client, app, slug, models=DEMOS, prompt="a kite") for _ in range(n)]


def _take(c, model):
    return next(t["id"] for t in c["takes"] if t["model"] == model)


async def _vote(client, c, a, b, outcome="a", **extra):
    r = await client.post(f"/api/comparisons/{c['id']}/votes",
                          json={"take_a": _take(c, a), "take_b": _take(c, b), "outcome": outcome, **extra})
    assert r.status_code == 201, r.text


async def test_leaderboard_json_reflects_votes(client, app):
    cs = await _setup(client, app)
    for c in cs:  # aurora beats ember and blocks everywhere; ember beats blocks once
        await _vote(client, c, "demo/aurora", "demo/ember")
        await _vote(client, c, "demo/aurora", "demo/blocks")
    await _vote(client, cs[0], "demo/ember", "demo/blocks")
    await _vote(client, cs[0], "demo/blocks", "demo/ember", "a", criterion="motion")
    r = await client.get("/api/boards/lb/leaderboard")
    assert r.status_code == 200
    body = r.json()
    assert [m["model"] for m in body["models"]][0] == "demo/aurora"
    top = body["models"][0]
    assert (top["votes"], top["wins"], top["rank"], top["provisional"]) == (6, 6, 1, True)
    assert top["ci_low"] <= top["rating"] <= top["ci_high"] and top["name"] != "demo/aurora"
    assert body["votes"] == 7 and body["criterion"] == "overall" and body["bootstrap_rounds"] == 1000
    assert body["win_rate"]["demo/aurora"]["demo/ember"] == 1.0
    assert body["position_bias"] is not None
    motion = (await client.get("/api/boards/lb/leaderboard", params={"criterion": "motion"})).json()
    assert motion["votes"] == 1 and motion["models"][0]["model"] == "demo/blocks"
    r = await client.get("/api/boards/lb/leaderboard", params={"criterion": "vibes"})
    assert r.status_code == 422 and "unknown criterion" in r.json()["detail"]
    assert (await client.get("/api/boards/nope/leaderboard")).status_code == 404
    everywhere = (await client.get("/api/leaderboard")).json()
    assert "lb" in everywhere["boards"] and everywhere["votes"] == 7

    table = (await client.get("/api/boards/lb/comparison-table")).json()
    rows = {m["model"]: m for m in table["models"]}
    assert rows["demo/aurora"]["win_rate"]["overall"] == 1.0 and rows["demo/blocks"]["win_rate"]["motion"] == 1.0
    assert rows["demo/aurora"]["failure_rate"] == 0.0 and rows["demo/aurora"]["median_generation_s"] > 0
    assert rows["demo/aurora"]["attempts_to_first_accept"] is None


async def test_accepting_and_rerolling_feed_the_table(client, app):
    cs = await _setup(client, app, "acc", n=1)
    c = cs[0]
    r = await client.post(f"/api/comparisons/{c['id']}/reroll", json={"model": "demo/ember"})
    assert r.status_code == 202, r.text
    c = await wait_for_takes(client, c["id"])
    second = [t for t in c["takes"] if t["model"] == "demo/ember" and t["attempt"] == 2][0]
    r = await client.post(f"/api/comparisons/{c['id']}/takes/{second['id']}/accept")
    assert r.status_code == 200, r.text
    rows = {m["model"]: m for m in (await client.get("/api/boards/acc/comparison-table")).json()["models"]}
    assert rows["demo/ember"]["attempts_to_first_accept"] == 2 and rows["demo/ember"]["accepted_comparisons"] == 1
    assert rows["demo/ember"]["takes"] == 2 and rows["demo/aurora"]["attempts_to_first_accept"] is None


async def test_leaderboard_page_has_table_plot_and_heatmap(client, app):
    cs = await _setup(client, app, "page", n=2)
    for c in cs:
        await _vote(client, c, "demo/ember", "demo/aurora")
        await _vote(client, c, "demo/ember", "demo/blocks", "tie")
    page = await client.get("/b/page/leaderboard")
    assert page.status_code == 200
    html = page.text
    assert 'id="leaderboard-table"' in html and 'data-model="demo/ember"' in html
    assert html.index('data-model="demo/ember"') < html.index('data-model="demo/blocks"')
    start = html.index("<svg", html.index('id="rating-plot"'))
    plot = ET.fromstring(html[start:html.index("</svg>", start) + 6])
    assert len(plot.findall("s:g", NS)) == 3
    start = html.index("<svg", html.index('id="win-rate-heatmap"'))
    heat = ET.fromstring(html[start:html.index("</svg>", start) + 6])
    rates = {(g.get("data-row"), g.get("data-col")): float(g.get("data-rate")) for g in heat.findall("s:g", NS)}
    assert len(rates) == 4 and 1.0 in rates.values() and 0.5 in rates.values()
    assert 'id="position-bias"' in html and 'id="comparison-table"' in html
    assert "provisional" in html
    motion = await client.get("/b/page/leaderboard", params={"criterion": "motion"})
    assert motion.status_code == 200 and 'id="no-votes"' in motion.text
    assert (await client.get("/b/page/leaderboard", params={"criterion": "x"})).status_code == 422
    assert (await client.get("/b/nope/leaderboard")).status_code == 404
    assert 'href="/b/page/leaderboard"' in (await client.get("/b/page")).text
    everywhere = await client.get("/leaderboard")
    assert everywhere.status_code == 200 and 'id="leaderboard-table"' in everywhere.text
    assert 'href="/leaderboard"' in everywhere.text  # nav


def _csv(r) -> list[dict]:
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


async def test_csv_exports(client, app):
    cs = await _setup(client, app, "csvb", n=1)
    await _vote(client, cs[0], "demo/aurora", "demo/ember")
    await _vote(client, cs[0], "demo/blocks", "demo/ember", criterion="motion")
    rows = _csv(await client.get("/api/boards/csvb/leaderboard.csv"))
    assert {(r["criterion"], r["model"]) for r in rows} == {
        ("overall", "demo/aurora"), ("overall", "demo/ember"), ("motion", "demo/blocks"), ("motion", "demo/ember")}
    assert all(r["board"] == "csvb" for r in rows)
    table = _csv(await client.get("/api/boards/csvb/comparison-table.csv"))
    assert {r["model"] for r in table} == set(DEMOS)
    assert next(r for r in table if r["model"] == "demo/aurora")["win_rate_overall"] == "1.0"
    everywhere = _csv(await client.get("/api/leaderboard.csv"))
    assert {r["board"] for r in everywhere} >= {"csvb", "*"}
    all_tables = _csv(await client.get("/api/comparison-table.csv"))
    assert {r["board"] for r in all_tables} >= {"csvb", "*"}
    assert (await client.get("/api/boards/nope/leaderboard.csv")).status_code == 404
    assert (await client.get("/api/boards/nope/comparison-table.csv")).status_code == 404
