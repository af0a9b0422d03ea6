"""The reference video (app/reference.py) and Kling v3 Motion Control on fal: the upload is
checked by content, size and length (bad ones get a 4xx and write nothing), stored and served
like takes (access-checked, with Range), sent to fal's motion-control endpoint as its schema
lists (the fal fake refuses anything else), and shown in the grid as a reference tile
(tests/test_reference_browser.py plays it with the takes in real headless Chromium)."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from app.errors import InputError
from app.models import Comparison
from app.reference import check_reference_video
from tests.fakes import serve
from tests.fakes.fal import FalState
from tests.fakes.fal import create_app as fal_app
from tests.support.clients import browser_like, wait_for_takes
from tests.support.clips import moving_pattern, write_clip
from tests.support.settings import make_settings

MC = "fal/kling-v3-motion-control-pro"


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    ref = write_clip(d / "ref.mp4", moving_pattern(640, 360), width=640, height=360, fps=24, seconds=4.0)
    short = write_clip(d / "short.mp4", moving_pattern(640, 360), width=640, height=360, fps=24, seconds=2.0)
    blip = write_clip(d / "blip.mp4", moving_pattern(640, 360), width=640, height=360, fps=24, seconds=0.5)
    png = io.BytesIO()
    Image.new("RGB", (640, 360), (30, 90, 160)).save(png, format="PNG")
    return {"ref": ref.read_bytes(), "short": short.read_bytes(), "blip": blip.read_bytes(), "png": png.getvalue()}


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.fixture(scope="module")
def fal():
    state = FalState()
    with serve(fal_app(state)) as url:
        yield state, url


@pytest.fixture
def settings(db_url, tmp_path, fal):
    fal[0].creates.clear()
    return make_settings(db_url, tmp_path, fal_key=fal[0].key, fal_queue_url=fal[1])


# ---------------------------------------------------------------------- the check itself
def test_the_upload_is_judged_by_its_content(media, tmp_path):
    s = make_settings("sqlite+aiosqlite:///unused.db", tmp_path)
    ref = check_reference_video(media["ref"], s)
    assert (ref.mime, ref.ext, ref.width, ref.height) == ("video/mp4", "mp4", 640, 360)
    assert ref.duration_s == pytest.approx(4.0, abs=0.05)
    with pytest.raises(InputError, match="not an MP4, MOV or WebM video"):
        check_reference_video(media["png"], s)                     # a PNG, whatever it is called
    with pytest.raises(InputError, match="must be 1–30 s long"):
        check_reference_video(media["blip"], s)
    small = make_settings("sqlite+aiosqlite:///unused.db", tmp_path, max_reference_bytes=1000)
    with pytest.raises(InputError, match="the limit is 0 MB") as too_big:
        check_reference_video(media["ref"], small)
    assert too_big.value.status_code == 413


# ---------------------------------------------------------------------- API, storage, provider
def _body(media, **kw) -> dict:
    body = {"prompt": "she dances on a rooftop", "models": [MC], "resolution": "1080p", "aspect_ratio": "16:9",
            "image": data_url(media["png"], "image/png"), "reference_video": data_url(media["ref"], "video/mp4")}
    body.update(kw)
    return body


async def test_motion_control_gets_the_reference_and_the_grid_shows_it(client, app, media, fal):
    r = await client.post("/api/comparisons", json=_body(media))
    assert r.status_code == 202, r.text
    created = r.json()
    assert created["reference_video_url"] == f"/media/comparisons/{created['id']}/reference"
    assert created["params"]["durations"][MC] == pytest.approx(4.0, abs=0.05)   # as long as the reference
    done = await wait_for_takes(client, created["id"], timeout=60)
    assert done["takes"][0]["status"] == "ready", done["takes"][0]

    sent = fal[0].creates[-1]
    assert sent["endpoint"] == "fal-ai/kling-video/v3/pro/motion-control"
    assert set(sent["body"]) == {"prompt", "image_url", "video_url", "character_orientation", "keep_original_sound"}
    assert sent["body"]["video_url"] == data_url(media["ref"], "video/mp4")
    assert sent["body"]["image_url"].startswith("data:image/png;base64,")
    assert (sent["body"]["character_orientation"], sent["body"]["keep_original_sound"]) == ("video", False)

    served = await client.get(created["reference_video_url"])
    assert served.status_code == 200 and served.content == media["ref"]
    assert served.headers["content-type"].startswith("video/mp4")
    part = await client.get(created["reference_video_url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == media["ref"][:100]
    grid = (await client.get(f"/c/{created['id']}/grid")).text
    assert grid.count("data-reference-tile") == 1 and f'src="{created["reference_video_url"]}"' in grid


async def test_bad_references_get_a_4xx_and_write_nothing(client, app, media, fal):
    cases = [
        (_body(media, reference_video=data_url(media["png"], "video/mp4")), 422, "not an MP4, MOV or WebM video"),
        (_body(media, reference_video=None), 422, "needs a reference video"),
        (_body(media, reference_video=data_url(media["short"], "video/mp4")), 422, "takes reference videos of 3–30 s"),
        (_body(media, models=["demo/aurora"], image=None, resolution="360p"), 422, "none of the chosen models takes"),
        (_body(media, reference_video="data:video/mp4;base64,!!"), 422, "reference_video must be a base64 data URL"),
    ]
    for body, status, words in cases:
        r = await client.post("/api/comparisons", json=body)
        assert r.status_code == status and words in r.text, (words, r.status_code, r.text[:300])
    assert fal[0].creates == []
    async with app.state.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Comparison))).scalar_one() == 0


async def test_the_form_takes_a_reference_video_and_shows_a_bad_one(client, app, media, fal):
    assert (await client.get("/")).status_code == 200 and 'name="reference_video"' in (await client.get("/")).text
    fields = {"prompt": "she dances on a rooftop", "models": MC, "resolution": "1080p", "aspect_ratio": "16:9"}
    bad = await client.post("/comparisons", data=fields, files={"image": ("c.png", media["png"], "image/png"),
                                                                 "reference_video": ("r.mp4", media["png"], "video/mp4")})
    assert bad.status_code == 422 and "not an MP4, MOV or WebM video" in bad.text
    good = await client.post("/comparisons", data=fields, files={"image": ("c.png", media["png"], "image/png"),
                                                                  "reference_video": ("r.mp4", media["ref"], "video/mp4")})
    assert good.status_code == 303, good.text[:500]
