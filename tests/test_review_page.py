"""The comparison page's markup for the one-screen review and the reveal (issue 12 §3, §6), on
SQLite and PostgreSQL: the folded takes panel's summary line, the blind tiles' hidden frame
rates, and the vote fragment that reveals without reloading the players."""

import re

from app.models import Take
from tests.support.factories import ready_comparison
from tests.support.team import make_team

THREE = ("demo/aurora", "demo/blocks", "demo/ember")


async def test_the_folded_takes_panel_sums_up_the_takes(app):
    team = await make_team(app, blind=False)
    c = await ready_comparison(app, team.board, models=THREE)
    async with app.state.db.session() as s:
        t = await s.get(Take, c.takes[1].id)
        t.status, t.error_code, t.error_message = "failed", "provider", "refused"
        await s.commit()
    async with team.client("voter") as voter:
        page = (await voter.get(f"/c/{c.id}")).text
        summary = page[page.index("<summary><h2>Takes</h2>"):page.index("</summary>")]
        assert "2 of 3 ready" in summary and 'id="takes-failed">1 failed' in summary
        assert all(n in summary for n in ("Aurora (demo)", "Blocks (demo)", "Ember (demo)"))
        assert "<details class=\"takes-fold\" data-takes-fold>" in page    # folded until opened


async def test_blind_tiles_hide_frame_rates_until_the_vote_and_the_vote_reveals_in_place(app):
    team = await make_team(app)
    c = await ready_comparison(app, team.board, models=THREE)
    async with team.client("voter") as voter:
        page = (await voter.get(f"/c/{c.id}")).text
        summary = page[page.index("<summary><h2>Takes</h2>"):page.index("</summary>")]
        assert "Blind: 3 of 3 takes finished." in summary and "demo" not in summary and "failed" not in summary
        metas = re.findall(r'<span class="tp-meta" data-meta [^>]*>', page)
        assert len(metas) == 3 and all(m.endswith(" hidden>") for m in metas)
        key = re.search(r'id="grid-ready-key" name="ready" value="([^"]*)"', page).group(1)
        assert key and not key.endswith(":r")
        # the API keeps back the same: no length, frame rate or size per take before the vote
        body = (await voter.get(f"/api/comparisons/{c.id}")).json()
        assert all((t["duration_s"], t["fps"], t["width"], t["height"]) == (None,) * 4 for t in body["takes"])
        assert all(t["video_url"] for t in body["takes"])
        best = re.findall(r'data-tile data-index="\d+" data-take-id="([a-z0-9]+)"', page)[0]
        r = await voter.post(f"/c/{c.id}/vote", data={"criterion": "overall", "kind": "best", "best": best})
        assert r.status_code == 200, r.text
        assert r.headers["hx-trigger-after-settle"] == "takes-revealed"
        oob = re.search(r'<input type="hidden" id="grid-ready-key" name="ready" value="([^"]*)" hx-swap-oob="true">', r.text)
        assert oob and oob.group(1) == key + ":r"
        assert re.search(r'id="vote-choice">You picked A \((Aurora|Blocks|Ember) \(demo\)\) as the best of 3\.<', r.text)
        # the takes panel the page then loads (with the new key: no grid reload) names the takes
        r = await voter.get(f"/c/{c.id}/status", params={"ready": oob.group(1)})
        assert "hx-trigger" not in r.headers and 'data-revealed="true"' in r.text and "Aurora (demo)" in r.text
        body = (await voter.get(f"/api/comparisons/{c.id}")).json()
        assert all(t["fps"] == 24 and t["width"] == 640 and t["duration_s"] for t in body["takes"])
        grid = (await voter.get(f"/c/{c.id}/grid")).text
        assert len(re.findall(r'<span class="tp-meta" data-meta [^>]*title="[^"]*">', grid)) == 3   # not hidden now
