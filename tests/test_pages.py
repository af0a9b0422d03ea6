import pytest
"""Every page renders, on both databases, with what a reader expects to see."""

from tests.support.clients import wait_for_takes
from tests.support.factories import ready_json


async def test_pages_render(client, app):
    c = await ready_json(client, app, models=["demo/aurora", "demo/blocks"], prompt="A <b>bold</b> fox")
    home = await client.get("/")
    assert home.status_code == 200 and "Aurora (demo)" in home.text and "Generate takes" in home.text
    assert "A &lt;b&gt;bold&lt;/b&gt; fox" in home.text and "<b>bold</b>" not in home.text
    page = await client.get(f"/c/{c['id']}")
    assert page.status_code == 200 and "data-sync-grid" in page.text and "Aurora (demo)" in page.text
    status = await client.get(f"/c/{c['id']}/status", params={"ready": ""})
    assert status.status_code == 200 and status.headers.get("hx-trigger") == "takes-grid-changed"
    grid = await client.get(f"/c/{c['id']}/grid")
    assert grid.status_code == 200 and grid.text.count("<video") == 2
    board = await client.get("/b/default")
    assert board.status_code == 200 and "Download votes (CSV)" in board.text and "/poster.jpg" in board.text
    assert "Aurora (demo), Blocks (demo)" in board.text or "Blocks (demo), Aurora (demo)" in board.text
    assert (await client.get("/boards")).status_code == 200
    models = await client.get("/models")
    assert models.status_code == 200 and "retired 2026-09-24" in models.text and "Sora 2 Pro" in models.text
    assert (await client.get("/b/nope")).status_code == 404


async def test_form_post_creates_and_redirects(client):
    r = await client.post("/comparisons", data={"prompt": "a kite", "models": ["demo/aurora"], "duration_s": "2",
                                                 "resolution": "360p", "aspect_ratio": "1:1"})
    assert r.status_code == 303 and r.headers["location"].startswith("/c/")
    assert "takes_voter" in r.headers.get("set-cookie", "")
    c = await wait_for_takes(client, r.headers["location"].split("/")[-1])
    assert c["params"]["aspect_ratio"] == "1:1" and (c["takes"][0]["width"], c["takes"][0]["height"]) == (360, 360)


async def test_form_errors_keep_input_and_write_nothing(client):
    r = await client.post("/comparisons", data={"prompt": "", "models": ["demo/ember"], "duration_s": "3"},
                          headers={"accept": "text/html"})
    assert r.status_code == 422 and "the prompt is empty" in r.text and "Nothing was sent" in r.text
    assert "value=\"demo/ember\"" in r.text and "checked" in r.text
    assert "Recent comparisons" not in (await client.get("/")).text


@pytest.mark.parametrize("seed, needle", [("1.7", "the seed must be a whole number, not &#39;1.7"), ("inf", "whole number, not &#39;inf"),
                                           ("4294967296", "from 0 to 4294967295")])
async def test_form_seed_must_be_a_whole_32_bit_number(client, seed, needle):
    r = await client.post("/comparisons", data={"prompt": "a kite", "models": ["demo/ember"], "seed": seed},
                          headers={"accept": "text/html"})
    assert r.status_code == 422 and needle in r.text and "Nothing was sent" in r.text
    assert "Recent comparisons" not in (await client.get("/")).text


async def test_vote_fragment_reveals_names(client, app):
    c = await ready_json(client, app, models=["demo/aurora", "demo/blocks"], prompt="p")
    a, b = (t["id"] for t in c["takes"])
    v = await client.post(f"/c/{c['id']}/vote", data={"kind": "pair", "take_a": a, "take_b": b, "outcome": "tie"})
    assert v.status_code == 200 and "Vote recorded" in v.text and "takes-reveal" in v.headers["hx-trigger"]
    bad = await client.post(f"/c/{c['id']}/vote", data={"kind": "pair", "take_a": a, "take_b": "zzz", "outcome": "a"})
    assert bad.status_code == 422 and "not part of this comparison" in bad.text
