"""Who sees which leaderboard: a private board's leaderboard, comparison table and CSVs are a
404 for an outsider (the same as a board that does not exist), and the across-boards views
leave its votes out — on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

from tests.support.factories import ready_comparison
from tests.support.team import make_team


def _csv(r) -> list[dict]:
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.content.decode("utf-8").lstrip("\ufeff"))))


async def test_private_leaderboards_stay_private(app):
    team = await make_team(app)
    slug = team.board.slug
    c = await ready_comparison(app, team.board, models=("demo/aurora", "demo/blocks"), source_image=False)
    a, b = (t.id for t in c.takes)
    async with team.client("voter") as voter:
        r = await voter.post(f"/api/comparisons/{c.id}/votes", json={"take_a": a, "take_b": b, "outcome": "a"})
        assert r.status_code == 201, r.text
    paths = [f"/b/{slug}/leaderboard", f"/api/boards/{slug}/leaderboard", f"/api/boards/{slug}/comparison-table",
             f"/api/boards/{slug}/leaderboard.csv", f"/api/boards/{slug}/comparison-table.csv"]
    async with team.client("viewer") as viewer:
        for path in paths:
            assert (await viewer.get(path)).status_code == 200, path
        assert (await viewer.get(f"/api/boards/{slug}/leaderboard")).json()["votes"] == 1
        assert (await viewer.get("/api/leaderboard")).json()["votes"] == 1
        assert {r["board"] for r in _csv(await viewer.get("/api/leaderboard.csv"))} == {slug, "*"}
    async with team.client("outsider") as outsider:
        for path in paths:
            r = await outsider.get(path)
            missing = await outsider.get(path.replace(slug, "no-such-board"))
            assert r.status_code == missing.status_code == 404, path
            if path.startswith("/api/"):
                assert r.json()["detail"].replace(slug, "X") == missing.json()["detail"].replace("no-such-board", "X")
        everywhere = (await outsider.get("/api/leaderboard")).json()
        assert everywhere["votes"] == 0 and everywhere["models"] == [] and slug not in everywhere["boards"]
        assert _csv(await outsider.get("/api/leaderboard.csv")) == []
        assert _csv(await outsider.get("/api/comparison-table.csv")) == []
        page = await outsider.get("/leaderboard")
        assert page.status_code == 200 and "Aurora" not in page.text
