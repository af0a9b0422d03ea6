"""The JSON API end to end on the in-process runner, on SQLite and PostgreSQL."""

import base64
import csv
import io
import re

import pytest
from sqlalchemy import func, select

from app.models import Comparison, Take, Vote
from tests.support.clients import wait_for_takes
from tests.support.factories import ready_json

DEMOS = ["demo/aurora", "demo/ember", "demo/blocks"]


async def _create(client, **body):
    body = {"prompt": "a paper boat in the rain", "models": DEMOS, "duration_s": 4, "resolution": "360p", **body}
    r = await client.post("/api/comparisons", json=body)
    assert r.status_code == 202, r.text
    return r.json()


async def _counts(app):
    async with app.state.db.session() as s:
        return tuple([(await s.execute(select(func.count()).select_from(t))).scalar_one() for t in (Comparison, Take, Vote)])


def _png(w=128, h=96) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


async def test_models_lists_availability(client):
    models = {m["id"]: m for m in (await client.get("/api/models")).json()}
    assert models["demo/aurora"]["available"] is True
    assert models["openai/sora-2"]["available"] is False and models["openai/sora-2"]["status"] == "retired"


async def test_comparison_reaches_ready_with_playable_clips(client):
    created = await _create(client)
    assert created["board"] == "default" and len(created["takes"]) == 3
    assert {t["status"] for t in created["takes"]} == {"queued"}
    done = await wait_for_takes(client, created["id"])
    for t in done["takes"]:
        assert t["status"] == "ready", t
        assert abs(t["duration_s"] - 4) <= 0.1
        assert (t["width"], t["height"]) == (640, 360)
        assert t["error"] is None and t["generation_s"] is not None
        head = await client.get(t["video_url"], headers={"Range": "bytes=0-99"})
        assert head.status_code == 206 and len(head.content) == 100
        assert head.headers["content-range"].startswith("bytes 0-99/")
        assert head.content[4:8] == b"ftyp"
        assert "immutable" in head.headers["cache-control"] and head.headers["etag"]
        poster = await client.get(t["poster_url"])
        assert poster.status_code == 200 and poster.content[:2] == b"\xff\xd8"
    assert {t["fps"] for t in done["takes"]} == {24, 30, 16}


async def test_image_to_video(client, app):
    data_url = "data:image/png;base64," + base64.b64encode(_png()).decode()
    created = await _create(client, models=["demo/aurora"], image=data_url)
    assert created["source_image_url"]
    assert (await client.get(created["source_image_url"])).content[:4] == b"\x89PNG"
    done = await wait_for_takes(client, created["id"])
    assert done["takes"][0]["status"] == "ready"


@pytest.mark.parametrize("body,status,needle", [
    ({"prompt": "   "}, 422, "prompt is empty"),
    ({"prompt": "x" * 4001}, 422, "limit is 4000"),
    ({"models": ["nope/unknown"]}, 422, "unknown model"),
    ({"models": []}, 422, "at least one model"),
    ({"models": ["openai/sora-2"]}, 422, "retired"),
    ({"models": ["demo/ember"], "duration_s": 3}, 422, "accepts 2, 4, 5, 6, 8, 10 s"),
    ({"models": ["demo/blocks"], "aspect_ratio": "9:16"}, 422, "accepts 16:9, 1:1"),
    ({"models": ["demo/ember"], "resolution": "1080p"}, 422, "accepts 360p, 480p, 720p"),
    ({"models": ["demo/ember"], "image": "data:image/png;base64," + base64.b64encode(_png()).decode()}, 422,
     "does not take a source image"),
    ({"models": ["demo/aurora"], "image": "data:image/png;base64," + base64.b64encode(b"not an image").decode()},
     422, "not a PNG, JPEG or WebP"),
    ({"models": ["demo/aurora"], "image": "%%%"}, 422, "base64"),
    ({"models": ["demo/aurora"], "image": "data:image/png;base64," + base64.b64encode(_png(16, 16)).decode()},
     422, "at least 64"),
    ({"board": "no-such-board"}, 404, "no board"),
    ({"models": ["demo/aurora", "demo/aurora"]}, 422, "listed twice"),
    ({"models": ["demo/aurora"], "durations": {"demo/ember": 4}}, 422, "not one of the chosen models"),
    ({"models": ["demo/aurora", "demo/ember"], "durations": {"demo/ember": 3}}, 422, "accepts 2, 4, 5, 6, 8, 10 s"),
    ({"models": ["demo/aurora"], "durations": {"demo/aurora": 0}}, 422, "between 0 and 60"),
    ({"models": ["demo/aurora"], "seed": -1}, 422, "seed must be a whole number from 0 to 4294967295"),
    ({"models": ["demo/aurora"], "seed": 2**32}, 422, "seed must be a whole number from 0 to 4294967295"),
])
async def test_bad_input_is_refused_and_writes_nothing(client, app, body, status, needle):
    before = await _counts(app)
    payload = {"prompt": "ok", "models": ["demo/aurora"], **body}
    r = await client.post("/api/comparisons", json=payload)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"] + " ".join(r.json()["errors"])
    assert await _counts(app) == before


async def test_oversized_image_is_413(client, app, settings):
    settings.max_upload_bytes = 1000
    r = await client.post("/api/comparisons", json={
        "prompt": "p", "models": ["demo/aurora"], "image": "data:image/png;base64," + base64.b64encode(b"\0" * 2000).decode()})
    assert r.status_code == 413 and "limit" in r.json()["detail"]


@pytest.mark.parametrize("size", [(128, 96), (400, 300)])
async def test_image_over_the_pixel_limit_is_refused_and_writes_nothing(client, app, settings, size):
    """max_upload_pixels, checked before the image is decoded: a small PNG file with too many
    pixels is refused with a message naming the limit, and no comparison, take or file is made.
    400×300 is more than twice the limit, where Pillow itself refuses to open the image."""
    settings.max_upload_pixels = 10_000
    media = settings.media_dir
    files_before = sorted(media.rglob("*")) if media.exists() else []
    before = await _counts(app)
    png = _png(*size)
    assert len(png) < settings.max_upload_bytes
    r = await client.post("/api/comparisons", json={
        "prompt": "p", "models": ["demo/aurora"], "image": "data:image/png;base64," + base64.b64encode(png).decode()})
    assert r.status_code in (413, 422), r.text
    detail = r.json()["detail"]
    assert "10000 pixels" in detail and "limit" in detail and "not a PNG" not in detail, detail
    assert await _counts(app) == before
    assert (sorted(media.rglob("*")) if media.exists() else []) == files_before


async def test_votes_and_csv(client, app):
    c = await ready_json(client, app, models=DEMOS, prompt="a paper boat in the rain")
    a, b, d = (t["id"] for t in c["takes"])
    r = await client.post(f"/api/comparisons/{c['id']}/votes", json={"take_a": a, "take_b": b, "outcome": "a"})
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/comparisons/{c['id']}/votes", json={"kind": "ranking", "ranking": [d, a, b],
                                                                      "criterion": "overall"})
    assert r.status_code == 201 and len(r.json()["pairs"]) == 3

    text = (await client.get("/api/boards/default/votes.csv")).text
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    # The ranking replaced the earlier a-vs-b vote (same voter, criterion and pair): 3 active rows.
    assert len(rows) == 3
    for col in ("vote_id", "board", "comparison_id", "prompt", "criterion", "model_a", "model_b", "winner", "judge",
                "tstamp", "position_a", "position_b", "blind", "vote_kind", "take_a", "take_b", "ranking_id"):
        assert col in rows[0]
    by_pair = {frozenset((r["take_a"], r["take_b"])): r for r in rows}
    model = {t["id"]: t["model"] for t in c["takes"]}
    for hi, lo in ((d, a), (d, b), (a, b)):
        row = by_pair[frozenset((hi, lo))]
        winner_take = row["take_a"] if row["winner"] == "model_a" else row["take_b"]
        assert winner_take == hi
        assert row[row["winner"]] == model[hi]
        assert row["prompt"] == "a paper boat in the rain" and row["board"] == "default"
        assert row["vote_kind"] == "ranking" and row["ranking_id"]
        assert int(row["position_a"]) < int(row["position_b"])
    async with app.state.db.session() as s:
        total = (await s.execute(select(func.count()).select_from(Vote))).scalar_one()
        superseded = (await s.execute(select(func.count()).select_from(Vote).where(Vote.superseded_at.is_not(None)))).scalar_one()
    assert (total, superseded) == (4, 1), "the replaced vote is kept in the history"


async def test_pair_outcomes_map_to_arena_winners(client, app):
    c = await ready_json(client, app, models=["demo/aurora", "demo/blocks"])
    a, b = (t["id"] for t in c["takes"])
    for outcome, winners in (("tie", {"tie"}), ("bothbad", {"tie (bothbad)"})):
        r = await client.post(f"/api/comparisons/{c['id']}/votes", json={"take_a": a, "take_b": b, "outcome": outcome})
        assert r.status_code == 201
        assert {p["winner"] for p in r.json()["pairs"]} == winners


async def test_vote_errors(client, app):
    c1 = await ready_json(client, app, models=["demo/aurora", "demo/blocks"])
    c2 = await ready_json(client, app, models=["demo/aurora", "demo/blocks"])
    before = await _counts(app)
    a = c1["takes"][0]["id"]
    foreign = c2["takes"][0]["id"]
    url = f"/api/comparisons/{c1['id']}/votes"
    r = await client.post(url, json={"take_a": a, "take_b": foreign, "outcome": "a"})
    assert r.status_code == 422 and "not part of this comparison" in r.json()["detail"]
    r = await client.post(url, json={"take_a": a, "take_b": a, "outcome": "a"})
    assert r.status_code == 422
    r = await client.post(url, json={"take_a": a, "take_b": c1["takes"][1]["id"], "outcome": "maybe"})
    assert r.status_code == 422
    r = await client.post(url, json={"take_a": a, "take_b": c1["takes"][1]["id"], "outcome": "a", "criterion": "vibes"})
    assert r.status_code == 422 and "unknown criterion" in r.json()["detail"]
    # a take that is not ready (made so here, once its job is done, not left to the demo's timing)
    # cannot be voted on: 409
    await wait_for_takes(client, c2["id"])
    async with app.state.db.session() as s:
        t = await s.get(Take, c2["takes"][1]["id"])
        t.status = "running"
        await s.commit()
    r = await client.post(f"/api/comparisons/{c2['id']}/votes",
                          json={"take_a": c2["takes"][0]["id"], "take_b": c2["takes"][1]["id"], "outcome": "a"})
    assert r.status_code == 409 and "not ready" in r.json()["detail"]
    assert (await client.post("/api/comparisons/nope/votes", json={})).status_code == 404
    assert (await _counts(app))[2] == before[2]


async def test_unknown_ids_are_404(client):
    assert (await client.get("/api/comparisons/doesnotexist")).status_code == 404
    assert (await client.get("/media/takes/doesnotexist/video.mp4")).status_code == 404
    assert (await client.get("/api/boards/nope/votes.csv")).status_code == 404


async def test_openapi_documents_the_api(client):
    spec = (await client.get("/openapi.json")).json()
    for path in ("/api/models", "/api/comparisons", "/api/comparisons/{comparison_id}",
                 "/api/comparisons/{comparison_id}/votes", "/api/boards/{slug}/votes.csv"):
        assert path in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_failed_take_shows_the_provider_reason(db_url, tmp_path):
    import httpx

    from app.main import create_app
    from tests.support.settings import make_settings

    s = make_settings(db_url, tmp_path, demo_fail_models=["demo/ember"])
    application = create_app(s)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as c:
            created = await _create(c, models=["demo/aurora", "demo/ember"])
            done = await wait_for_takes(c, created["id"])
    status = {t["model"]: t for t in done["takes"]}
    assert status["demo/aurora"]["status"] == "ready"
    failed = status["demo/ember"]
    assert failed["status"] == "failed" and failed["video_url"] is None
    assert failed["error"]["code"] in ("moderation", "provider_error")
    assert failed["error"]["message"].startswith("demo: ")


async def test_mixed_codecs_fps_and_lengths_in_one_comparison(client, app):
    """VP9 next to H.264, 24/30/16 fps, each model at its own duration: every take is ready,
    keeps its own length and codec, and is served to the player as is (VP9 needs no proxy)."""
    created = await _create(client, models=DEMOS + ["demo/tape"], duration_s=4,
                            durations={"demo/tape": 7, "demo/ember": 6, "demo/blocks": 3})
    done = await wait_for_takes(client, created["id"], timeout=120)
    takes = {t["model"]: t for t in done["takes"]}
    assert {m: t["status"] for m, t in takes.items()} == dict.fromkeys(DEMOS + ["demo/tape"], "ready")
    lengths = {m: round(t["duration_s"], 1) for m, t in takes.items()}
    assert lengths == {"demo/aurora": 4.0, "demo/ember": 6.0, "demo/blocks": 3.0, "demo/tape": 7.0}
    assert takes["demo/tape"]["fps"] == 30
    async with app.state.db.session() as s:
        rows = {t.model_id: t for t in (await s.execute(select(Take).where(Take.comparison_id == created["id"]))).scalars()}
        assert rows["demo/tape"].media_info["codec"] == "vp9" and rows["demo/tape"].proxy_key is None
        assert rows["demo/aurora"].media_info["codec"] == "h264"
        comparison = await s.get(Comparison, created["id"])
        assert comparison.params["durations"] == {"demo/tape": 7.0, "demo/ember": 6.0, "demo/blocks": 3.0}


async def test_estimate_names_per_model_durations(client):
    est = (await client.get("/api/estimate", params={"models": ["demo/ember", "demo/tape"], "resolution": "360p"})).json()
    assert est["cost_usd"] == 0 and est["durations"] == {}


async def test_estimate_prices_the_chosen_models(client, app):
    """The form's estimate is the catalog's price for each chosen model at the duration each gets."""
    catalog = app.state.catalog
    priced = [m for m in catalog if m.price_per_second and m.selectable and m.durations][:2]
    assert len(priced) == 2
    ids = [m.id for m in priced]
    est = (await client.get("/api/estimate", params={"models": ids, "resolution": "720p"})).json()
    from app.comparisons import auto_durations, duration_for, pick_duration

    d = pick_duration(priced)
    params = {"duration_s": d, "durations": auto_durations(priced, d)}
    expected = sum(m.price_for(duration_for(params, m.id), False, "720p") for m in priced)
    assert est["cost_usd"] == pytest.approx(expected) and expected > 0


async def test_unset_resolution_and_aspect_are_ones_every_model_accepts(client, app, no_generation):
    """Nothing asked for: 720p and 16:9 where every chosen model takes them, else the first
    choice they all share (a 768p-only model would otherwise be unreachable without a setting)."""
    import dataclasses

    catalog = app.state.catalog
    ember, blocks = catalog.get("demo/ember"), catalog.get("demo/blocks")
    catalog.models["demo/ember"] = dataclasses.replace(ember, resolutions=("480p", "768p"), aspect_ratios=("1:1", "9:16"))
    catalog.models["demo/blocks"] = dataclasses.replace(blocks, resolutions=("360p", "480p", "768p"))
    try:
        r = await client.post("/api/comparisons", json={"prompt": "a kite", "models": ["demo/ember", "demo/blocks"],
                                                        "duration_s": 4})
        assert r.status_code == 202, r.text
        assert (r.json()["params"]["resolution"], r.json()["params"]["aspect_ratio"]) == ("768p", "1:1")
        est = (await client.get("/api/estimate", params={"models": ["demo/ember", "demo/blocks"]})).json()
        assert est["resolution"] == "768p"
        # asked for, it is checked as before, naming what the model accepts
        r = await client.post("/api/comparisons", json={"prompt": "a kite", "models": ["demo/ember"],
                                                        "resolution": "720p"})
        assert r.status_code == 422 and "accepts 480p, 768p" in r.json()["detail"]
        # and the form offers it (every resolution of the catalog's live models, plus "auto")
        home = (await client.get("/")).text
        options = re.search(r'<select name="resolution">(.*?)</select>', home, re.S).group(1)
        assert re.findall(r"<option[^>]*>([^<]+)</option>", options)[:2] == ["auto", "720p"]
        assert "<option >768p</option>" in options or "<option>768p</option>" in options
    finally:
        catalog.models["demo/ember"], catalog.models["demo/blocks"] = ember, blocks
    r = await client.post("/api/comparisons", json={"prompt": "a kite", "models": ["demo/ember", "demo/aurora"]})
    assert (r.json()["params"]["resolution"], r.json()["params"]["aspect_ratio"]) == ("720p", "16:9")


async def test_a_take_is_cancelled_through_the_api_as_on_the_page(app):
    """Cancelling a take is one action on both sides: editors only (a voter gets 403, an
    outsider the comparison's 404), an unfinished take ends cancelled and a finished one
    stays as it is."""
    from app.models import utcnow
    from tests.support.factories import ready_comparison
    from tests.support.team import make_team

    team = await make_team(app)
    c = await ready_comparison(app, team.board)
    async with app.state.db.session() as s:
        queued = [Take(comparison_id=c.id, model_id="demo/ember", provider="demo", status="queued", attempt=n)
                  for n in (2, 3)]
        s.add_all(queued)
        await s.commit()
        api_id, page_id = queued[0].id, queued[1].id
    url = f"/api/comparisons/{c.id}/takes/{api_id}/cancel"
    async with team.client("voter") as voter:
        r = await voter.post(url)
        assert r.status_code == 403 and "editor" in r.json()["detail"]
    async with team.client("outsider") as outsider:
        assert (await outsider.post(url)).status_code == 404
    async with team.client("editor") as editor:
        r = await editor.post(url)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == api_id and r.json()["status"] == "cancelled"
        r = await editor.post(f"/c/{c.id}/takes/{page_id}/cancel")
        assert r.status_code == 303 and r.headers["location"] == f"/c/{c.id}"
        r = await editor.post(f"/api/comparisons/{c.id}/takes/{c.takes[0].id}/cancel")
        assert r.status_code == 200 and r.json()["status"] == "ready"
        r = await editor.post(f"/api/comparisons/{c.id}/takes/nope/cancel")
        assert r.status_code == 404 and r.json()["errors"]
    async with app.state.db.session() as s:
        for tid in (api_id, page_id):
            take = await s.get(Take, tid)
            assert take.status == "cancelled" and take.error_code == "cancelled" and take.finished_at <= utcnow()
