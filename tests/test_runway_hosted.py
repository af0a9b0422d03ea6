"""Runway's hosted models of other vendors (Veo 3.1, Kling 3.0, Seedance 2.0 behind the one
Runway key): each catalog row's request, built by the Runway adapter, is accepted by the Runway
fake, and is the body the official runwayml SDK sends for the same call (runwayml 5.24.0's
request types are where the rows' ids, ratios, durations and audio flag come from)."""

from __future__ import annotations

import httpx
import pytest

from app.catalog import check_request, frame_size, load_catalog
from app.costs import actual_cost
from app.providers.base import GenerationRequest
from app.providers.runway import RunwayProvider
from app.settings import Settings
from tests.fakes import serve
from tests.fakes.runway import API_SECRET, create_app

CATALOG = load_catalog()
HOSTED = ["runway/veo-3.1", "runway/veo-3.1-fast", "runway/kling-3.0-pro", "runway/kling-3.0-standard",
          "runway/kling-3.0-4k", "runway/kling-o3-pro", "runway/kling-o3-standard", "runway/kling-o3-4k",
          "runway/seedance-2", "runway/seedance-2-fast", "runway/seedance-2-mini", "runway/hailuo-3"]


def _sdk_models(module) -> set[str]:
    """Every `model` literal of one runwayml request-type module (one TypedDict per model)."""
    import typing

    out = set()
    for name in module.__all__:
        hints = getattr(getattr(module, name), "__annotations__", {})
        if "model" in hints:
            out.update(typing.get_args(typing.get_args(typing.get_type_hints(getattr(module, name),
                                                                            include_extras=True)["model"])[0]))
    return out


def test_every_runway_row_is_a_model_of_the_sdk_or_retired():
    """The rows follow runwayml 5.24.0's request types: a routed row's id is a model of the
    endpoint each of its modes calls; the retired runway/veo-3 is in neither any more."""
    from runwayml.types import image_to_video_create_params as i2v
    from runwayml.types import text_to_video_create_params as t2v

    t2v_models, i2v_models = _sdk_models(t2v), _sdk_models(i2v)
    assert {"veo3.1", "kling3.0_4k", "klingO3_pro", "seedance2_mini", "hailuo3"} <= t2v_models
    rows = [m for m in CATALOG if m.provider == "runway"]
    for spec in rows:
        if spec.status == "retired":
            assert spec.endpoint not in t2v_models | i2v_models and spec.retired_on, spec.id
            continue
        if "t2v" in spec.modes:
            assert spec.endpoint in t2v_models, spec.id
        if "i2v" in spec.modes:
            assert (spec.endpoint_i2v or spec.endpoint) in i2v_models, spec.id
    routed = {m.endpoint for m in rows if m.status != "retired"}
    # the seed's hosted models (issue 13): Veo 3.1, Kling 3.0 incl. 4K, Kling O3, Seedance 2 incl. Mini, Hailuo 3
    assert {"veo3.1", "veo3.1_fast", "kling3.0_pro", "kling3.0_standard", "kling3.0_4k", "klingO3_pro",
            "klingO3_standard", "klingO3_4k", "seedance2", "seedance2_fast", "seedance2_mini", "hailuo3"} <= routed


async def test_the_fake_refuses_veo3_as_runway_does(fake):
    async with httpx.AsyncClient(base_url=fake[1]) as c:
        r = await c.post("/v1/text_to_video", json={"model": "veo3", "promptText": "a heron", "ratio": "1280:720",
                                                    "duration": 8},
                         headers={"Authorization": f"Bearer {API_SECRET}", "X-Runway-Version": "2024-11-06"})
    assert r.status_code == 400 and "veo3" in r.json()["error"]


@pytest.fixture(scope="module")
def fake():
    app = create_app()
    with serve(app) as url:
        yield app.state.fake, url


@pytest.fixture
async def provider(fake):
    fake[0].reset()
    p = RunwayProvider(Settings(_env_file=None, runwayml_api_secret=API_SECRET, runway_base_url=fake[1]),
                       httpx.AsyncClient(timeout=5))
    yield p
    await p.aclose()


def req(spec, resolution: str, aspect: str = "16:9", audio: bool = True, seed: int | None = 7,
        duration: float | None = None) -> GenerationRequest:
    w, h = frame_size(resolution, aspect)
    return GenerationRequest(take_id="take-h", prompt="a heron lifting off a misty pond", aspect_ratio=aspect,
                             duration_s=duration or spec.default_duration, resolution=resolution, width=w,
                             height=h, audio=audio, seed=seed)


@pytest.mark.parametrize("model_id", HOSTED)
async def test_every_resolution_and_ratio_of_each_row_is_accepted(provider, fake, model_id):
    spec = CATALOG.get(model_id)
    assert spec is not None and spec.provider == "runway"
    assert spec.status == ("unverified" if model_id == "runway/hailuo-3" else "live")   # its durations are assumed
    for resolution in spec.resolutions:
        for aspect in spec.aspect_ratios:
            r = req(spec, resolution, aspect, audio=spec.audio != "none")
            assert check_request(spec, duration_s=r.duration_s, aspect_ratio=aspect, resolution=resolution,
                                 has_image=False, audio=r.audio) == []
            assert provider.validate(spec, r) == []
            await provider.submit(spec, r)
    bodies = [c["body"] for c in fake[0].creates]
    assert {b["model"] for b in bodies} == {spec.endpoint}
    assert all(b.get("audio") is (True if spec.options.get("send_audio") else None) for b in bodies)
    assert all(("seed" in b) == spec.seed for b in bodies)       # Kling 3.0 on Runway has no seed field


async def test_ratios_follow_the_resolution_where_runway_names_pixels(provider, fake):
    veo = CATALOG.get("runway/veo-3.1")
    await provider.submit(veo, req(veo, "1080p", "9:16", audio=False, duration=4))
    await provider.submit(veo, req(veo, "720p", "16:9", duration=6))
    (a, b) = (c["body"] for c in fake[0].creates)
    assert (a["ratio"], a["duration"], a["audio"]) == ("1080:1920", 4, False)
    assert (b["ratio"], b["duration"], b["audio"]) == ("1280:720", 6, True)
    assert check_request(veo, duration_s=5, aspect_ratio="16:9", resolution="720p", has_image=False) == [
        "Veo 3.1 (Runway) does not support 5 s; it accepts 4, 6, 8 s"]
    gen45 = CATALOG.get("runway/gen4.5")
    await provider.submit(gen45, req(gen45, "720p", audio=False, duration=5))
    assert "audio" not in fake[0].creates[-1]["body"]      # Gen-4.5 takes no audio field


async def test_the_runwayml_sdk_sends_the_body_our_adapter_sends(provider, fake, monkeypatch):
    import runwayml
    import runwayml.lib.polling as polling

    monkeypatch.setattr(polling, "POLL_TIME", 0.01)
    monkeypatch.setattr(polling, "POLL_JITTER", 0.0)
    client = runwayml.AsyncRunwayML(api_key=API_SECRET, base_url=fake[1], max_retries=0)
    calls = [("runway/veo-3.1", "1080p", dict(model="veo3.1", ratio="1920:1080", duration=8, audio=True, seed=7)),
             ("runway/kling-3.0-pro", "1080p", dict(model="kling3.0_pro", ratio="1920:1080", duration=5, audio=True)),
             ("runway/seedance-2", "720p", dict(model="seedance2", ratio="1280:720", duration=5, audio=True, seed=7)),
             ("runway/hailuo-3", "768p", dict(model="hailuo3", ratio="16:9", duration=6, resolution="768p")),
             ("runway/kling-3.0-4k", "4k", dict(model="kling3.0_4k", ratio="3840:2160", duration=5, audio=True)),
             ("runway/kling-o3-pro", "1080p", dict(model="klingO3_pro", ratio="1920:1080", duration=5, audio=True)),
             ("runway/kling-o3-4k", "4k", dict(model="klingO3_4k", ratio="3840:2160", duration=5, audio=True)),
             ("runway/seedance-2", "4k", dict(model="seedance2", ratio="3840:2160", duration=5, audio=True, seed=7)),
             ("runway/seedance-2-mini", "720p", dict(model="seedance2_mini", ratio="1280:720", duration=5, audio=True,
                                                     seed=7))]
    for model_id, resolution, sdk_args in calls:
        spec = CATALOG.get(model_id)
        task = await client.text_to_video.create(prompt_text="a heron lifting off a misty pond", **sdk_args)
        done = await task.wait_for_task_output(timeout=10)
        assert done.status == "SUCCEEDED"
        sdk_body = fake[0].creates[-1]["body"]
        await provider.submit(spec, req(spec, resolution, duration=sdk_args["duration"], audio="audio" in sdk_args))
        assert fake[0].creates[-1]["body"] == sdk_body
        # the finished task carries its cost; the row has no price, the actual cost is Runway's
        assert spec.price_for(5, True, resolution) is None
        assert actual_cost(spec, {"credits": done.to_dict().get("cost", {}).get("credits", 0)}) is not None
    await client.close()
