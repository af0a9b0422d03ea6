"""Delivered as asked (app/delivery.py): the check on its own, then end to end through the job
layer with a demo model that renders the wrong clip (128×72, 1 s, no audio, for 1080p 5 s with
audio): the take ends ready and marked on the page, in the API, the vote CSV and the comparison
table. Also the comparison option "let providers rewrite my prompt" and unverified rows."""

from __future__ import annotations

import re

import csv
import io

import pytest

from app.catalog import load_catalog
from app.comparisons import generation_request
from app.delivery import mismatches, rewritten_prompt, take_fields
from app.models import ComparisonParams
from tests.support.clients import wait_for_takes
from tests.support.factories import make_board
from tests.support.settings import make_settings

CATALOG = load_catalog()

SHRUNK = '''
[[model]]
id = "demo/shrunk"
provider = "demo"
name = "Shrunk (demo)"
endpoint = "aurora"
family = "Demo"
modes = ["t2v"]
durations = [5]
aspect_ratios = ["16:9"]
resolutions = ["1080p"]
audio = "optional"
price_per_second = 0.0
price_source = "test model: renders the wrong clip on purpose"
price_date = "2026-12-01"
latency_s = 1
options = { look = "aurora", deliver = { width = 128, height = 72, duration_s = 1, audio = false } }

[[model]]
id = "demo/whole"
provider = "demo"
name = "Whole seconds (demo)"
endpoint = "blocks"
family = "Demo"
modes = ["t2v"]
duration_range = [1, 12]
aspect_ratios = ["16:9"]
resolutions = ["360p"]
price_per_second = 0.0
price_source = "test model: a range model that takes whole seconds, as fal, Replicate and Ark do"
price_date = "2026-12-01"
latency_s = 1
'''


def info(**kw) -> dict:
    base = {"duration_s": 5.0, "width": 1920, "height": 1080, "fps": 24.0, "has_audio": True}
    base.update(kw)
    return base


def params(**kw) -> ComparisonParams:
    base = dict(duration_s=5.0, aspect_ratio="16:9", resolution="1080p", audio=True)
    base.update(kw)
    return ComparisonParams(**base)


KLING3 = CATALOG.get("fal/kling-v3-pro")


# ---------------------------------------------------------------------- the check itself
def test_a_clip_as_asked_has_no_mismatch():
    assert mismatches(info(), KLING3, params()) == []
    # encoders round to macroblocks and containers to a frame: within the tolerances
    assert mismatches(info(width=1920, height=1088, duration_s=5.04), KLING3, params()) == []
    assert mismatches(info(duration_s=5.25), KLING3, params()) == []


def test_each_difference_is_named_in_words():
    got = mismatches(info(width=960, height=540, duration_s=1.0, fps=8.0, has_audio=False), KLING3, params())
    assert got == ["delivered 1.00 s for 5 s", "delivered 960×540 for 1080p",
                   "delivered 8 fps (expected 15–61)", "delivered no audio track though audio was asked"]
    assert mismatches(info(width=1080, height=1080), KLING3, params()) == [
        "delivered 1080×1080 (1.00:1) for 16:9"]
    assert mismatches(info(duration_s=5.3), KLING3, params()) == ["delivered 5.30 s for 5 s"]


def test_audio_is_only_held_against_a_clip_when_it_was_asked():
    assert mismatches(info(has_audio=False), KLING3, params(audio=False)) == []


def test_the_duration_asked_of_this_model_counts_and_its_own_tolerance():
    p = params(durations={"fal/kling-v3-pro": 8.0})
    assert mismatches(info(duration_s=8.0), KLING3, p) == []
    assert mismatches(info(duration_s=5.0), KLING3, p) == ["delivered 5.00 s for 8 s"]
    from dataclasses import replace

    lenient = replace(KLING3, options={**KLING3.options, "duration_tolerance_s": 0.6})
    assert mismatches(info(duration_s=5.5), lenient, params()) == []


def test_image_shaped_models_are_checked_against_the_source_image():
    """Kling image-to-video is sent no ratio and Seedance 2.5 "adaptive": the clip follows the image."""
    sd25 = CATALOG.get("ark/seedance-2.5")
    p = params(resolution="720p", image_size=(640, 480), aspect_ratio="16:9")
    assert mismatches(info(width=960, height=720), sd25, p) == []
    assert mismatches(info(width=1280, height=720), sd25, p) == [
        "delivered 1280×720 (1.78:1) for the source image's 640×480"]
    # a model that is sent the ratio is held to it, image or not
    sd2 = CATALOG.get("ark/seedance-2.0")
    assert mismatches(info(width=960, height=720), sd2, p) == ["delivered 960×720 (1.33:1) for 16:9"]


def test_take_fields_and_the_rewritten_prompt():
    fields = take_fields(info(width=960, height=540), KLING3, params(), {"rewritten_prompt": "kite, golden hour"},
                         "kite")
    assert fields == {"as_asked": False, "delivery_notes": ["delivered 960×540 for 1080p"],
                      "rewritten_prompt": "kite, golden hour"}
    assert rewritten_prompt({"rewritten_prompt": " kite "}, "kite") is None   # not rewritten
    assert rewritten_prompt({}, "kite") is None


def test_the_comparison_option_reaches_the_provider_request():
    spec = CATALOG.get("fal/wan-2.7")
    on = ComparisonParams.from_json(params(rewrite_prompt=True).to_json())
    off = ComparisonParams.from_json(params().to_json())
    assert on.rewrite_prompt and not off.rewrite_prompt and "rewrite_prompt" not in params().to_json()
    assert generation_request(on, spec, prompt="p").rewrite_prompt is True
    assert generation_request(off, spec, prompt="p").rewrite_prompt is False


# ---------------------------------------------------------------------- end to end
@pytest.fixture
def settings(db_url, tmp_path):
    """The test settings, with the wrong-clip demo model in the catalog overlay."""
    s = make_settings(db_url, tmp_path)
    s.catalog_dir.mkdir(parents=True, exist_ok=True)
    (s.catalog_dir / "shrunk.toml").write_text(SHRUNK)
    return s


async def test_a_wrongly_delivered_take_is_kept_ready_and_marked_everywhere(client, app):
    r = await client.post("/api/comparisons", json={
        "prompt": "a paper boat at dusk", "models": ["demo/shrunk"], "duration_s": 5, "resolution": "1080p",
        "aspect_ratio": "16:9", "audio": True})
    assert r.status_code == 202, r.text
    done = await wait_for_takes(client, r.json()["id"])
    take = done["takes"][0]
    assert take["status"] == "ready" and (take["width"], take["height"]) == (128, 72)
    assert take["as_asked"] is False
    assert take["delivery_notes"] == ["delivered 1.00 s for 5 s", "delivered 128×72 for 1080p",
                                      "delivered no audio track though audio was asked"]

    page = await client.get(f"/c/{done['id']}")
    assert page.status_code == 200 and 'data-delivery="mismatch"' in page.text
    assert "delivered 128×72 for 1080p" in page.text

    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["TakeOut"]["properties"]
    assert {"as_asked", "delivery_notes", "rewritten_prompt"} <= set(schema)

    table = (await client.get("/api/boards/default/comparison-table")).json()["models"]
    row = next(m for m in table if m["model"] == "demo/shrunk")
    assert (row["as_asked"], row["checked"], row["as_asked_rate"]) == (0, 1, 0.0)


async def test_as_asked_share_in_the_table_and_the_vote_csv(client, app):
    """A right clip and a wrong one: 50 % as asked over the board, each flag in the vote rows."""
    r = await client.post("/api/comparisons", json={
        "prompt": "a kite", "models": ["demo/shrunk", "demo/aurora"], "durations": {"demo/aurora": 2},
        "duration_s": 5, "resolution": "1080p", "aspect_ratio": "16:9"})
    assert r.status_code == 202, r.text
    done = await wait_for_takes(client, r.json()["id"], timeout=120)
    by_model = {t["model"]: t for t in done["takes"]}
    assert by_model["demo/aurora"]["as_asked"] is True and by_model["demo/aurora"]["delivery_notes"] == []
    assert by_model["demo/shrunk"]["as_asked"] is False

    a, b = by_model["demo/shrunk"]["id"], by_model["demo/aurora"]["id"]
    v = await client.post(f"/api/comparisons/{done['id']}/votes", json={"take_a": a, "take_b": b, "outcome": "b"})
    assert v.status_code == 201, v.text
    rows = list(csv.DictReader(io.StringIO((await client.get("/api/boards/default/votes.csv")).text.lstrip("\ufeff"))))
    assert [(row["take_a"], row["take_a_as_asked"], row["take_b"], row["take_b_as_asked"]) for row in rows] == [
        (a, "false", b, "true")]

    table = {m["model"]: m for m in (await client.get("/api/boards/default/comparison-table")).json()["models"]}
    assert table["demo/aurora"]["as_asked_rate"] == 1.0 and table["demo/shrunk"]["as_asked_rate"] == 0.0
    page = await client.get("/b/default/leaderboard")
    assert page.status_code == 200 and "as asked: 100 %" in page.text and "as asked: 0 %" in page.text


async def test_blind_boards_show_the_mark_only_after_the_vote(client, app):
    board = await make_board(app, "Blind launch", blind=True)
    r = await client.post("/api/comparisons", json={
        "prompt": "a kite", "models": ["demo/shrunk", "demo/aurora"], "durations": {"demo/aurora": 2},
        "duration_s": 5, "resolution": "1080p", "aspect_ratio": "16:9", "board": board.slug})
    assert r.status_code == 202, r.text
    done = await wait_for_takes(client, r.json()["id"], timeout=120)
    assert done["revealed"] is False and all("as_asked" not in t or t["as_asked"] is None for t in done["takes"])
    page = await client.get(f"/c/{done['id']}")
    assert "delivered 128×72" not in page.text
    a, b = (t["id"] for t in done["takes"])
    v = await client.post(f"/api/comparisons/{done['id']}/votes", json={"take_a": a, "take_b": b, "outcome": "tie"})
    assert v.status_code == 201, v.text
    after = (await client.get(f"/api/comparisons/{done['id']}")).json()
    assert after["revealed"] is True
    assert sorted(t["as_asked"] for t in after["takes"]) == [False, True]
    assert "delivered 128×72 for 1080p" in (await client.get(f"/c/{done['id']}")).text


# ---------------------------------------------------------------------- the option and unverified rows
async def test_rewrite_option_is_off_by_default_and_stored_when_asked(client, no_generation):
    base = {"prompt": "a kite", "models": ["demo/aurora"], "duration_s": 2, "resolution": "360p"}
    off = (await client.post("/api/comparisons", json=base)).json()
    on = (await client.post("/api/comparisons", json={**base, "rewrite_prompt": True})).json()
    assert "rewrite_prompt" not in off["params"] and on["params"]["rewrite_prompt"] is True
    r = await client.post("/comparisons", data={"prompt": "a kite", "models": ["demo/aurora"], "duration_s": "2",
                                                "resolution": "360p", "rewrite_prompt": "on"})
    assert r.status_code == 303
    form = (await client.get(f"/api/comparisons/{r.headers['location'].split('/')[-1]}")).json()
    assert form["params"]["rewrite_prompt"] is True
    home = await client.get("/")
    assert 'name="rewrite_prompt"' in home.text and "Let providers rewrite my prompt" in home.text


async def test_unverified_rows_are_listed_apart_never_checked_and_explained(client):
    # The picker (templates/home.html, app/catalog/picker.py) lists an unverified route inside
    # its model's row, after the working routes and labelled, never the one the row picks for
    # you; a model with only unverified routes is behind "show all", with the note saying why.
    home = (await client.get("/")).text
    main, _, more = home.partition('<details class="more-models"')
    assert more and 'id="unverified-note"' in more and "may answer 404" in more
    for model_id in ("google/veo-3.1", "google/veo-3.1-fast", "ark/seedance-2.0-mini", "ark/seedance-2.5"):
        options = re.findall(rf'<option value="{re.escape(model_id)}"([^>]*)>([^<]*)</option>', home)
        boxes = re.findall(rf'<input type="checkbox" name="models" value="{re.escape(model_id)}"([^>]*)>', home)
        assert options or boxes, model_id
        for attrs, label in options:
            assert "selected" not in attrs and "unverified: may not work" in label, (model_id, attrs, label)
        for attrs in boxes:
            assert "checked" not in attrs and f'value="{model_id}"' in more and f'value="{model_id}"' not in main, model_id
    assert 'value="vertex/veo-3.1"' in home and 'value="demo/aurora"' in main
    assert "unverified: may not work" in home
    models = (await client.get("/models")).text
    assert "unverified: may not work" in models and "price unverified" in models
    api = {m["id"]: m for m in (await client.get("/api/models")).json()}
    assert api["google/veo-3.1"]["status"] == "unverified" and "404" in CATALOG.get("google/veo-3.1").description
    assert api["replicate/kling-v3"]["price_unverified"] is True


async def test_fractional_durations_are_refused_at_the_form_and_write_nothing(client, no_generation):
    r = await client.post("/api/comparisons", json={"prompt": "a kite", "models": ["demo/whole"], "duration_s": 7.5})
    assert r.status_code == 422
    assert r.json()["detail"] == ("Whole seconds (demo) takes whole seconds only (7.5 s would be refused or rounded); "
                                  "choose 7 or 8 s")
    assert not no_generation
    ok = await client.post("/api/comparisons", json={"prompt": "a kite", "models": ["demo/aurora"], "duration_s": 2.5,
                                                     "resolution": "360p"})
    assert ok.status_code == 202 and no_generation


async def test_the_take_shows_the_prompt_the_provider_rewrote(client, app):
    from sqlalchemy import update

    from app.models import Take
    from tests.support.factories import ready_comparison

    c = await ready_comparison(app, models=("demo/aurora",), prompt="a kite")
    async with app.state.db.session() as s:
        await s.execute(update(Take).where(Take.comparison_id == c.id)
                        .values(rewritten_prompt="a kite, golden hour, 35 mm", as_asked=True))
        await s.commit()
    page = (await client.get(f"/c/{c.id}")).text
    assert "The provider rewrote the prompt" in page and "a kite, golden hour, 35 mm" in page
    assert 'data-delivery="mismatch"' not in page
    api = (await client.get(f"/api/comparisons/{c.id}")).json()["takes"][0]
    assert api["rewritten_prompt"] == "a kite, golden hour, 35 mm" and api["as_asked"] is True


def test_a_pixel_size_the_model_is_sent_is_the_size_it_is_held_to():
    """Runway names pixels: Kling 3.0 Pro's 1:1 at 1080p is 1440×1440, Gen-4 Turbo's 4:3 at 720p
    1104×832. Those clips are as asked; one at the named line's plain size is not."""
    kling = CATALOG.get("runway/kling-3.0-pro")
    square = params(aspect_ratio="1:1")
    assert mismatches(info(width=1440, height=1440), kling, square) == []
    assert mismatches(info(width=1080, height=1080), kling, square) == ["delivered 1080×1080 for 1080p"]
    gen4 = CATALOG.get("runway/gen4-turbo")
    four_three = params(aspect_ratio="4:3", resolution="720p", audio=False)
    assert mismatches(info(width=1104, height=832), gen4, four_three) == []
    assert mismatches(info(width=960, height=720), gen4, four_three) == ["delivered 960×720 for 720p"]
    # ratio words (Hailuo 3 on Runway) name no pixels: the named line holds
    hailuo = CATALOG.get("runway/hailuo-3")
    assert mismatches(info(width=1366, height=768, duration_s=6.0), hailuo, params(resolution="768p", duration_s=6.0,
                                                                                    audio=False)) == []
