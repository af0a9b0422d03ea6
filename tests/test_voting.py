"""Boards and their voting settings, criteria, the next-comparison flow, accepting and re-rolling
takes, and what a blind board hides — on SQLite and PostgreSQL."""

import re

import httpx
from sqlalchemy import select

from app.models import Take, Vote
from tests.support.clients import browser_like, wait_for_takes
from tests.support.factories import ready_json

DEMOS = ["demo/aurora", "demo/ember", "demo/blocks"]


async def _board(client, **body):
    r = await client.post("/api/boards", json={"name": "Launch shots", **body})
    assert r.status_code == 201, r.text
    return r.json()


async def _comparison(client, board=None, models=DEMOS, **body):
    payload = {"prompt": "a red kite over a beach", "models": models, "duration_s": 4, "resolution": "360p", **body}
    if board:
        payload["board"] = board
    r = await client.post("/api/comparisons", json=payload)
    assert r.status_code == 202, r.text
    return r.json()


async def test_board_api_defaults_to_blind_and_validates(client):
    b = await _board(client)
    assert (b["slug"], b["blind"], b["criteria"]) == ("launch-shots", True, ["overall"])
    b2 = await _board(client, name="Motion study", slug="motion", blind=False, criteria=["motion", "prompt_adherence"])
    # overall is always asked, and criteria come back in the catalogue order
    assert b2["criteria"] == ["overall", "prompt_adherence", "motion"] and b2["blind"] is False
    assert (await client.post("/api/boards", json={"name": "x", "slug": "motion"})).status_code == 409
    r = await client.post("/api/boards", json={"name": "x", "slug": "Bad Slug"})
    assert r.status_code == 422 and "lowercase" in r.json()["detail"]
    r = await client.post("/api/boards", json={"name": "x", "criteria": ["vibes"]})
    assert r.status_code == 422 and "unknown criterion 'vibes'" in r.json()["detail"]
    assert (await client.post("/api/boards", json={"name": "  "})).status_code == 422
    r = await client.patch("/api/boards/motion", json={"blind": True, "criteria": ["visual_quality"]})
    assert r.status_code == 200 and r.json()["blind"] is True and r.json()["criteria"] == ["overall", "visual_quality"]
    assert {x["slug"] for x in (await client.get("/api/boards")).json()} >= {"launch-shots", "motion"}
    assert (await client.get("/api/boards/nope")).status_code == 404


async def test_board_forms(client):
    r = await client.post("/boards", data={"name": "Form board", "criteria": ["motion"], "blind": "on"})
    assert r.status_code == 303 and r.headers["location"] == "/b/form-board"
    page = await client.get("/b/form-board")
    assert "blind voting" in page.text and "motion and physics realism" in page.text
    r = await client.post("/b/form-board/settings", data={"criteria": ["visual_quality"]})
    assert r.status_code == 303
    b = (await client.get("/api/boards/form-board")).json()
    assert b["blind"] is False and b["criteria"] == ["overall", "visual_quality"]
    assert "New board" in (await client.get("/boards")).text


async def test_criteria_asked_follow_the_board_and_the_source_image(client, app):
    await _board(client, slug="crit", criteria=["motion", "image_fidelity"])
    t2v = await ready_json(client, app, "crit", models=["demo/aurora", "demo/blocks"])
    i2v = await ready_json(client, app, "crit", models=["demo/aurora"], source_image=True)
    a, b = (t["id"] for t in t2v["takes"])
    url = f"/api/comparisons/{t2v['id']}/votes"
    assert (await client.post(url, json={"take_a": a, "take_b": b, "outcome": "a", "criterion": "motion"})).status_code == 201
    r = await client.post(url, json={"take_a": a, "take_b": b, "outcome": "a", "criterion": "image_fidelity"})
    assert r.status_code == 422 and "source image" in r.json()["detail"]
    r = await client.post(url, json={"take_a": a, "take_b": b, "outcome": "a", "criterion": "visual_quality"})
    assert r.status_code == 422 and "does not ask about visual quality" in r.json()["detail"]
    # The page offers motion as an optional row, and image fidelity only with a source image.
    page = (await client.get(f"/c/{t2v['id']}")).text
    assert 'data-vote-form="motion"' in page and 'data-vote-form="image_fidelity"' not in page
    assert i2v["source_image_url"]
    # one demo model takes a source image: re-roll it for a second take to have a pair
    r = await client.post(f"/api/comparisons/{i2v['id']}/reroll", json={"model": "demo/aurora"})
    assert r.status_code == 202
    i2v = await wait_for_takes(client, i2v["id"])
    x, y = (t["id"] for t in i2v["takes"])
    r = await client.post(f"/api/comparisons/{i2v['id']}/votes",
                          json={"take_a": x, "take_b": y, "outcome": "b", "criterion": "image_fidelity"})
    assert r.status_code == 201
    assert 'data-vote-form="image_fidelity"' in (await client.get(f"/c/{i2v['id']}")).text


async def test_next_comparison_skips_voted_and_unvotable(client, app):
    """`next` (app/active.py) picks among the comparisons this voter can vote on now: never one
    with a single take, never the one on screen (`after`), never one already voted on; one whose
    takes are still being made only when nothing else is left. Which of the votable ones comes
    first is the sampler's call (tests/test_next_active.py)."""
    await _board(client, slug="rev")
    first = await ready_json(client, app, "rev", models=["demo/aurora", "demo/blocks"])
    single = await ready_json(client, app, "rev", models=["demo/blocks"])
    second = await ready_json(client, app, "rev", models=["demo/aurora", "demo/blocks"])
    third = await _comparison(client, "rev", models=["demo/aurora", "demo/blocks"])  # may still be generating

    async def nxt(after=None):
        r = await client.get("/api/boards/rev/next", params={"after": after} if after else {})
        assert r.status_code == 200
        return r.json()

    votable = {first["id"], second["id"]}
    for _ in range(6):
        got = await nxt()
        assert got["comparison"] in votable | {third["id"]}, "a comparison with one take has nothing to vote on"
        if got["comparison"] in votable:
            assert got["sampled_by"] in ("active", "uniform") and 0 < got["probability"] <= 1 and got["pick"]
    assert (await nxt(first["id"]))["comparison"] != first["id"], "the one on screen is skipped"
    a, b = (t["id"] for t in first["takes"])
    await client.post(f"/api/comparisons/{first['id']}/votes", json={"take_a": a, "take_b": b, "outcome": "a"})
    for _ in range(4):
        assert (await nxt())["comparison"] in {second["id"], third["id"]}
    # the page route redirects there (htmx follows it and pushes the comparison URL)
    r = await client.get("/b/rev/next", params={"after": first["id"]})
    assert r.status_code == 303 and r.headers["location"] in (f"/c/{second['id']}", f"/c/{third['id']}")
    third = await wait_for_takes(client, third["id"])
    assert (await nxt(second["id"]))["comparison"] == third["id"]
    for c in (second, third):
        x, y = (t["id"] for t in c["takes"])
        await client.post(f"/api/comparisons/{c['id']}/votes", json={"take_a": x, "take_b": y, "outcome": "tie"})
    assert (await nxt())["comparison"] is None
    done = await client.get("/b/rev/next")
    assert done.status_code == 200 and "You have voted on every comparison" in done.text
    # another voter (a fresh cookie jar) has everything still to do
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as other:
        assert (await other.get("/api/boards/rev/next")).json()["comparison"] in votable | {third["id"]}
    assert single["takes"][0]["status"] == "ready"


async def test_accept_and_reroll(client, app):
    c = await ready_json(client, app, models=["demo/aurora", "demo/blocks"])
    take = c["takes"][0]
    base = f"/api/comparisons/{c['id']}/takes/{take['id']}"
    r = await client.post(base + "/accept")
    assert r.status_code == 200 and r.json()["accepted"] is True
    assert (await client.get(f"/api/comparisons/{c['id']}")).json()["takes"][0]["accepted"] is True
    r = await client.post(base + "/unaccept")
    assert r.status_code == 200 and r.json()["accepted"] is False
    assert (await client.post(f"/api/comparisons/{c['id']}/takes/nope/accept")).status_code == 404

    r = await client.post(f"/api/comparisons/{c['id']}/reroll", json={"model": "demo/blocks"})
    assert r.status_code == 202, r.text
    rerolled = r.json()
    assert (rerolled["model"], rerolled["attempt"]) == ("demo/blocks", 2)
    done = await wait_for_takes(client, c["id"])
    assert [(t["model"], t["attempt"], t["status"]) for t in done["takes"]][-1] == ("demo/blocks", 2, "ready")
    r = await client.post(f"/api/comparisons/{c['id']}/reroll", json={"model": "demo/ember"})
    assert r.status_code == 422 and "not part of this comparison" in r.json()["detail"]

    # page routes
    r = await client.post(f"/c/{c['id']}/takes/{rerolled['id']}/accept")
    assert r.status_code == 303
    async with app.state.db.session() as s:
        assert (await s.get(Take, rerolled["id"])).accepted is True
    page = (await client.get(f"/c/{c['id']}")).text
    assert "accepted" in page and f"/c/{c['id']}/takes/{rerolled['id']}/unaccept" in page


async def test_reroll_of_a_model_that_can_no_longer_run_is_refused(client, app):
    c = await ready_json(client, app, models=["demo/aurora", "demo/blocks"])
    spec = app.state.catalog.get("demo/blocks")
    import dataclasses

    app.state.catalog.models["demo/blocks"] = dataclasses.replace(spec, status="retired")
    try:
        r = await client.post(f"/api/comparisons/{c['id']}/reroll", json={"model": "demo/blocks"})
    finally:
        app.state.catalog.models["demo/blocks"] = spec
    assert r.status_code == 422 and "can no longer be generated" in r.json()["detail"]


async def test_blind_board_hides_models_timings_and_costs_until_the_vote(client, app):
    await _board(client, slug="blind")
    c = await ready_json(client, app, "blind", models=DEMOS)
    page = (await client.get(f"/c/{c['id']}")).text
    for name in ("Aurora (demo)", "Ember (demo)", "Blocks (demo)"):
        assert name not in page
    assert "generated in" not in page and "blind-progress" in page
    assert "3 of 3 takes finished" in page
    # the grid is there (every take finished), labelled A, B, C in this voter's order
    assert page.count("<video") == 3
    labels = re.findall(r'data-key="([A-Z])"', page)
    assert labels == ["A", "B", "C"]
    # one key press = one best-of-N vote
    best = re.search(r'name="best" value="([a-z0-9]+)" data-vote="best-B"', page).group(1)
    r = await client.post(f"/c/{c['id']}/vote", data={"kind": "best", "best": best, "criterion": "overall"})
    assert r.status_code == 200 and "Vote recorded" in r.text and "Aurora (demo)" in r.text
    assert 'id="next-comparison"' in r.text
    after = (await client.get(f"/c/{c['id']}")).text
    assert "Aurora (demo)" in after and "generated in" in after
    async with app.state.db.session() as s:
        rows = (await s.execute(select(Vote).where(Vote.comparison_id == c["id"]))).scalars().all()
    assert len(rows) == 2 and all(v.blind and v.kind == "best" for v in rows)
    # B was shown at position 1; the best take is recorded as the winner of each pair
    for v in rows:
        winner = v.take_a_id if v.winner == "model_a" else v.take_b_id
        assert winner == best
    assert {v.position_a if v.take_a_id == best else v.position_b for v in rows} == {1}


async def test_blind_comparison_shows_no_player_until_every_take_is_done(db_url, tmp_path):
    from app.main import create_app
    from tests.support.settings import make_settings

    s = make_settings(db_url, tmp_path, demo_latency_s=1.5)
    application = create_app(s)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as client:
            browser_like(client)  # keeps the CSRF cookie, so it sends the token like a page does
            await _board(client, slug="slow")
            c = await _comparison(client, "slow", models=["demo/aurora", "demo/blocks"])
            page = (await client.get(f"/c/{c['id']}")).text
            assert "<video" not in page and "players appear when every take has finished" in page
            assert 'data-vote-form' not in page
            r = await client.post(f"/api/comparisons/{c['id']}/takes/{c['takes'][0]['id']}/accept")
            assert r.status_code == 409 and "only a ready take can be accepted" in r.json()["detail"]
            await wait_for_takes(client, c["id"])
            assert (await client.get(f"/c/{c['id']}")).text.count("<video") == 2


async def test_reroll_stops_at_six_takes_the_grid_can_show(client, app, no_generation):
    from tests.support.factories import ready_comparison

    async with app.state.db.session() as s:
        from app.boards import default_board

        board = await default_board(s)
        await s.commit()
    c = await ready_comparison(app, board, models=("demo/aurora", "demo/blocks", "demo/ember", "demo/tape"))
    for model in ("demo/aurora", "demo/blocks"):   # takes 5 and 6 (queued or generating counts: they will show)
        assert (await client.post(f"/api/comparisons/{c.id}/reroll", json={"model": model})).status_code == 202
    r = await client.post(f"/api/comparisons/{c.id}/reroll", json={"model": "demo/ember"})
    assert r.status_code == 409 and "already has 6 takes" in r.json()["detail"], r.text
    async with app.state.db.session() as s:
        assert len((await s.execute(select(Take).where(Take.comparison_id == c.id))).scalars().all()) == 6
    # a failed take does not count: its place in the grid is free
    async with app.state.db.session() as s:
        t = await s.get(Take, c.takes[0].id)
        t.status, t.error_code, t.error_message = "failed", "provider_error", "boom"
        await s.commit()
    r = await client.post(f"/api/comparisons/{c.id}/reroll", json={"model": "demo/ember"})
    assert r.status_code == 202 and r.json()["attempt"] == 2, r.text
