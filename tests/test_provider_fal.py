"""fal adapter against the local fake of fal's queue API (tests/fakes/fal.py)."""

from __future__ import annotations

from pathlib import Path

import av
import httpx
import pytest

from app.catalog import check_request, load_catalog
from app.providers import provider_class
from app.providers.base import GenerationRequest, ProviderError
from app.providers.fal import FalProvider
from app.settings import Settings
from tests.fakes import serve
from tests.fakes.fal import FalState, create_app

CATALOG = load_catalog()
KEY = FalState().key


@pytest.fixture(scope="module")
def fake():
    state = FalState()
    with serve(create_app(state)) as url:
        yield url, state


@pytest.fixture
def state(fake):
    url, st = fake
    fresh = FalState()
    st.__dict__.update(fresh.__dict__)  # reset the script in place (the app holds this object)
    return st


@pytest.fixture
async def provider(fake, state):
    url, _ = fake
    settings = Settings(_env_file=None, fal_key=KEY, fal_queue_url=url, take_timeout_s=900)
    p = FalProvider(settings, http=httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=True))
    yield p
    await p.aclose()


def model(model_id: str):
    spec = CATALOG.get(model_id)
    assert spec is not None, model_id
    return spec


def request(**kw) -> GenerationRequest:
    base = dict(take_id="take-1", prompt="a red kite over a grey sea", duration_s=5, aspect_ratio="16:9",
                resolution="1080p", width=1920, height=1080)
    base.update(kw)
    return GenerationRequest(**base)


async def run_to_end(p, spec, sub, limit=10):
    for _ in range(limit):
        st = await p.poll(spec, sub.remote_id, sub.meta)
        if st.state in ("succeeded", "failed", "cancelled"):
            return st
    raise AssertionError("the fake never finished")


@pytest.fixture
def png(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "first.png"
    Image.new("RGB", (64, 36), (200, 30, 30)).save(path)
    return path


# ---------------------------------------------------------------------- lifecycle
async def test_lifecycle_submit_poll_download_playable(provider, state, tmp_path):
    spec = model("fal/kling-v2.1-master")
    sub = await provider.submit(spec, request())
    assert sub.meta["status_url"].endswith(f"/fal-ai/kling-video/requests/{sub.remote_id}/status")

    states = []
    for _ in range(6):
        st = await provider.poll(spec, sub.remote_id, sub.meta)
        states.append(st.state)
        if st.state == "running":
            assert st.progress is not None and 0 < st.progress < 1
        if st.state == "succeeded":
            break
    assert states[0] == "queued" and "running" in states and states[-1] == "succeeded"

    dest = tmp_path / "clip.mp4"
    await provider.download(spec, st, dest, max_bytes=10_000_000)
    with av.open(str(dest)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (160, 90)
        assert sum(1 for _ in container.decode(stream)) == 12
    assert len(state.creates) == 1


async def test_submit_sends_key_and_start_timeout(provider, state):
    await provider.submit(model("fal/kling-v2.1-master"), request())
    headers = state.creates[0]["headers"]
    assert headers["authorization"] == f"Key {KEY}"
    assert headers["x-fal-request-timeout"] == "900"


# ---------------------------------------------------------------------- request mapping
async def test_mapping_kling_text_to_video(provider, state):
    await provider.submit(model("fal/kling-v2.1-master"),
                          request(duration_s=10, aspect_ratio="9:16", negative_prompt="blur", seed=7))
    c = state.creates[0]
    assert c["endpoint"] == "fal-ai/kling-video/v2.1/master/text-to-video"
    # Kling takes the duration as a string, has no resolution or seed input.
    assert c["body"] == {"prompt": "a red kite over a grey sea", "duration": "10", "aspect_ratio": "9:16",
                         "negative_prompt": "blur"}


async def test_mapping_kling_v26_image_to_video_uses_start_image_url(provider, state, png):
    await provider.submit(model("fal/kling-v2.6-pro"), request(image=png, image_mime="image/png", audio=True))
    c = state.creates[0]
    assert c["endpoint"] == "fal-ai/kling-video/v2.6/pro/image-to-video"
    body = c["body"]
    assert body["start_image_url"].startswith("data:image/png;base64,iVBOR")
    assert "aspect_ratio" not in body and "image_url" not in body
    assert body["generate_audio"] is True and body["duration"] == "5"


async def test_mapping_veo_durations_with_s_suffix_and_audio(provider, state):
    await provider.submit(model("fal/veo-3.1"), request(duration_s=8, resolution="4k", audio=False, seed=3,
                                                        negative_prompt="text overlays"))
    body = state.creates[0]["body"]
    assert state.creates[0]["endpoint"] == "fal-ai/veo3.1"
    assert body == {"prompt": "a red kite over a grey sea", "duration": "8s", "aspect_ratio": "16:9",
                    "resolution": "4k", "generate_audio": False, "negative_prompt": "text overlays", "seed": 3,
                    "auto_fix": False}


async def test_mapping_veo_image_to_video_endpoint(provider, state, png):
    await provider.submit(model("fal/veo-3.1"), request(duration_s=8, resolution="720p", image=png))
    assert state.creates[0]["endpoint"] == "fal-ai/veo3.1/image-to-video"
    assert state.creates[0]["body"]["image_url"].startswith("data:image/png;base64,")


async def test_mapping_ltx_int_duration_and_2160p(provider, state):
    await provider.submit(model("fal/ltx-2.3"), request(duration_s=6, resolution="4k", audio=True))
    body = state.creates[0]["body"]
    assert body["duration"] == 6 and body["resolution"] == "2160p" and body["generate_audio"] is True


async def test_mapping_wan_int_duration_seed_negative(provider, state):
    await provider.submit(model("fal/wan-2.7"), request(duration_s=12, resolution="720p", seed=99,
                                                        negative_prompt="watermark"))
    body = state.creates[0]["body"]
    assert body["duration"] == 12 and body["seed"] == 99 and body["negative_prompt"] == "watermark"
    assert body["resolution"] == "720p"


async def test_mapping_hailuo_pro_sends_no_duration_or_ratio(provider, state):
    await provider.submit(model("fal/hailuo-02-pro"), request(duration_s=6))
    assert state.creates[0]["body"] == {"prompt": "a red kite over a grey sea", "prompt_optimizer": False}


async def test_mapping_seedance_and_luma(provider, state):
    await provider.submit(model("fal/seedance-2.0"), request(duration_s=7, aspect_ratio="21:9", resolution="480p"))
    await provider.submit(model("fal/luma-ray-2"), request(duration_s=9, resolution="540p"))
    seed_body, luma_body = state.creates[0]["body"], state.creates[1]["body"]
    assert seed_body["duration"] == "7" and seed_body["aspect_ratio"] == "21:9" and seed_body["generate_audio"] is False
    assert luma_body["duration"] == "9s" and luma_body["resolution"] == "540p"
    assert state.creates[0]["endpoint"] == "bytedance/seedance-2.0/text-to-video"


# ---------------------------------------------------------------------- submit faults
@pytest.mark.parametrize("status,code,retryable", [
    (401, "auth", False),
    (403, "quota", False),
    (422, "invalid_request", False),
    (429, "rate_limit", True),
    (503, "provider_error", True),
    (500, "outcome_unknown", False),
])
async def test_submit_faults_map_and_are_not_retried(provider, state, status, code, retryable):
    state.fail_next_create = status
    with pytest.raises(ProviderError) as err:
        await provider.submit(model("fal/kling-v2.1-master"), request())
    e = err.value
    assert (e.code, e.retryable) == (code, retryable)
    assert len(state.creates) == 1, "the adapter must never repeat a submit"
    if status in (429, 503):
        assert e.retry_after == 7
    if status == 422:
        assert "permitted: '5', '10'" in e.message and e.message.startswith("duration:")
    if status == 403:
        assert "Exhausted balance" in e.message


async def test_submit_timeout_after_send_is_outcome_unknown(provider, state):
    state.fail_next_create, state.hang_s = "hang", 0.6
    await provider.http.aclose()
    provider._http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=0.2))  # the answer comes after our read timeout
    with pytest.raises(ProviderError) as err:
        await provider.submit(model("fal/kling-v2.1-master"), request())
    assert err.value.code == "outcome_unknown" and not err.value.retryable
    assert len(state.creates) == 1 and len(state.jobs) == 1  # fal did queue it


async def test_submit_connect_error_is_retryable():
    settings = Settings(_env_file=None, fal_key=KEY, fal_queue_url="http://127.0.0.1:9")  # nothing listens
    p = FalProvider(settings, http=httpx.AsyncClient(timeout=1.0))
    try:
        with pytest.raises(ProviderError) as err:
            await p.submit(model("fal/kling-v2.1-master"), request())
        assert err.value.retryable and err.value.code == "provider_error"
    finally:
        await p.aclose()


async def test_wrong_key_is_auth(fake, state):
    url, _ = fake
    p = FalProvider(Settings(_env_file=None, fal_key="nope", fal_queue_url=url), http=httpx.AsyncClient())
    try:
        with pytest.raises(ProviderError) as err:
            await p.submit(model("fal/kling-v2.1-master"), request())
        assert err.value.code == "auth" and "No user found" in err.value.message
    finally:
        await p.aclose()


# ---------------------------------------------------------------------- poll faults and outcomes
@pytest.mark.parametrize("status,code", [(429, "rate_limit"), (500, "provider_error"), (503, "provider_error")])
async def test_poll_transient_errors_are_retryable(provider, state, status, code):
    spec = model("fal/kling-v2.1-master")
    sub = await provider.submit(spec, request())
    state.fail_next_status = status
    with pytest.raises(ProviderError) as err:
        await provider.poll(spec, sub.remote_id, sub.meta)
    assert err.value.retryable and err.value.code == code
    if status == 429:
        assert err.value.retry_after == 7
    assert (await provider.poll(spec, sub.remote_id, sub.meta)).state == "queued"


async def test_result_fetch_5xx_is_retryable_then_succeeds(provider, state):
    spec = model("fal/kling-v2.1-master")
    state.queued_polls = state.running_polls = 0
    sub = await provider.submit(spec, request())
    state.fail_next_result = 502
    with pytest.raises(ProviderError) as err:
        await provider.poll(spec, sub.remote_id, sub.meta)
    assert err.value.retryable
    assert (await provider.poll(spec, sub.remote_id, sub.meta)).state == "succeeded"


async def test_start_timeout_504_is_terminal_timeout(provider, state):
    spec = model("fal/kling-v2.1-master")
    state.queued_polls = state.running_polls = 0
    sub = await provider.submit(spec, request())
    state.fail_next_result = 5040
    st = await provider.poll(spec, sub.remote_id, sub.meta)
    assert st.state == "failed" and st.error.code == "timeout" and not st.error.retryable
    assert "Request timed out before processing started" in st.error.message


async def test_moderation_on_result_get_is_terminal_with_fal_text(provider, state):
    spec = model("fal/kling-v2.1-master")
    state.next_outcome = "moderation"
    sub = await provider.submit(spec, request())
    st = await run_to_end(provider, spec, sub)
    assert st.state == "failed"
    assert st.error.code == "moderation" and not st.error.retryable
    assert st.error.message == "prompt: The content was flagged by a content checker."


async def test_validation_on_result_get_is_invalid_request(provider, state):
    spec = model("fal/kling-v2.1-master")
    state.next_outcome = "validation"
    sub = await provider.submit(spec, request())
    st = await run_to_end(provider, spec, sub)
    assert st.state == "failed" and st.error.code == "invalid_request"
    assert "Could not read the image." in st.error.message


async def test_completed_with_error_is_failed(provider, state):
    spec = model("fal/kling-v2.1-master")
    state.next_outcome = "error"
    sub = await provider.submit(spec, request())
    st = await run_to_end(provider, spec, sub)
    assert st.state == "failed" and st.error.code == "provider_error"
    assert st.error.message == "Runner crashed while generating the video"


async def test_expired_result_url_is_download_error(provider, state, tmp_path):
    spec = model("fal/kling-v2.1-master")
    sub = await provider.submit(spec, request())
    st = await run_to_end(provider, spec, sub)
    state.expire_results = True
    with pytest.raises(ProviderError) as err:
        await provider.download(spec, st, tmp_path / "x.mp4", max_bytes=10_000_000)
    assert err.value.code == "download" and not (tmp_path / "x.mp4").exists()


async def test_poll_without_stored_urls_rebuilds_owner_alias_urls(provider, state):
    spec = model("fal/kling-v2.1-master")
    sub = await provider.submit(spec, request())
    st = await provider.poll(spec, sub.remote_id, {})  # a row saved before meta existed
    assert st.state == "queued"


# ---------------------------------------------------------------------- cancel
async def test_cancel_puts_cancel_url(provider, state):
    spec = model("fal/kling-v2.1-master")
    sub = await provider.submit(spec, request())
    await provider.cancel(spec, sub.remote_id, sub.meta)
    assert state.cancels == [sub.remote_id]
    st = await provider.poll(spec, sub.remote_id, sub.meta)
    assert st.state == "cancelled" and st.error.message == "Request was cancelled by the user"


async def test_cancel_after_completion_is_quiet(provider, state):
    spec = model("fal/kling-v2.1-master")
    sub = await provider.submit(spec, request())
    await run_to_end(provider, spec, sub)
    await provider.cancel(spec, sub.remote_id, sub.meta)  # ALREADY_COMPLETED: no error
    assert state.cancels == [sub.remote_id]


# ---------------------------------------------------------------------- the official SDK drives the fake
async def test_fal_client_sdk_against_fake(fake, state, monkeypatch):
    """fal_client builds the submit URL from a module constant, `https://{FAL_QUEUE_RUN_HOST}/`,
    computed at import from the FAL_QUEUE_RUN_HOST env var: the env var alone cannot point it at a
    plain-http fake, so the constant is patched. Status/result/cancel then follow the URLs the
    fake returned, exactly as against fal."""
    import fal_client
    import fal_client.client as fc

    url, _ = fake
    monkeypatch.setattr(fc, "QUEUE_URL_FORMAT", url + "/")
    client = fal_client.AsyncClient(key=KEY)
    handle = await client.submit("fal-ai/kling-video/v2.1/master/text-to-video",
                                 arguments={"prompt": "kite", "duration": "5"})
    assert state.creates[0]["body"] == {"prompt": "kite", "duration": "5"}
    first = await handle.status(with_logs=True)
    assert isinstance(first, fal_client.Queued) and first.position == 0
    result = await handle.get()  # polls status until Completed, then fetches the result
    assert result["video"]["url"].endswith(".mp4") and result["seed"] == 42

    handle2 = await client.submit("fal-ai/kling-video/v2.1/master/text-to-video", arguments={"prompt": "b"})
    await handle2.cancel()
    assert state.cancels == [handle2.request_id]
    final = await handle2.status()
    assert isinstance(final, fal_client.Completed) and final.error_type == "request_cancelled"


# ---------------------------------------------------------------------- catalog and availability
def test_catalog_refuses_unsupported_combinations():
    kling = model("fal/kling-v2.1-master")
    errs = check_request(kling, duration_s=7, aspect_ratio="4:3", resolution="720p", has_image=False, audio=True)
    assert any("accepts 5, 10 s" in e for e in errs)
    assert any("accepts 16:9, 9:16, 1:1" in e for e in errs)
    assert any("it accepts 1080p" in e for e in errs)
    assert any("does not generate audio" in e for e in errs)
    assert check_request(kling, duration_s=5, aspect_ratio="16:9", resolution="1080p", has_image=True) == []
    kling3 = model("fal/kling-v3-pro")
    assert check_request(kling3, duration_s=16, aspect_ratio="16:9", resolution="1080p", has_image=False) == [
        "Kling 3 Pro (fal) does not support 16 s; it accepts 3–15 s"]


def test_every_fal_entry_maps_to_the_adapter():
    fal_models = [m for m in CATALOG if m.provider == "fal"]
    assert len(fal_models) >= 15
    assert provider_class("fal") is FalProvider
    for m in fal_models:
        assert m.endpoint and (m.status in ("live", "unverified", "retired")), m.id
        if m.status == "retired":   # kept so old boards resolve; says when and why
            assert m.retired_on and m.retired_reason and not m.selectable, m.id
            continue
        if "i2v" in m.modes:
            assert m.endpoint_i2v, m.id


def test_available_only_with_key():
    assert not FalProvider(Settings(_env_file=None, fal_key=None)).available()
    assert FalProvider(Settings(_env_file=None, fal_key=None)).missing_keys() == ["FAL_KEY"]
    assert FalProvider(Settings(_env_file=None, fal_key="k:s")).available()


# ---------------------------------------------------------------------- catalog truth (issue 13)
async def test_luma_ray_32_sends_the_resolution_asked(provider, state):
    """fal's default is 540p: without `resolution` a 1080p take came back at 540p."""
    await provider.submit(model("fal/luma-ray-3.2"), request(duration_s=5, resolution="1080p"))
    assert state.creates[0]["endpoint"] == "luma/agent/ray/v3.2/text-to-video"
    assert state.creates[0]["body"]["resolution"] == "1080p" and state.creates[0]["body"]["duration"] == "5s"


def test_luma_ray_32_image_to_video_at_10_s_is_refused_at_the_form():
    ray = model("fal/luma-ray-3.2")
    errs = check_request(ray, duration_s=10, aspect_ratio="16:9", resolution="720p", has_image=True)
    assert errs == ["Luma Ray 3.2 (fal) renders image-to-video only at 5 s (not 10 s: longer image-to-video "
                    "needs keyframes, which Takes does not send)"]
    assert check_request(ray, duration_s=5, aspect_ratio="16:9", resolution="720p", has_image=True) == []
    assert check_request(ray, duration_s=10, aspect_ratio="16:9", resolution="720p", has_image=False) == []


@pytest.mark.parametrize("model_id", ["fal/luma-ray-2", "fal/luma-ray-2-flash"])
async def test_luma_ray_2_takes_9_21_and_refuses_1_1(provider, state, model_id):
    spec = model(model_id)
    errs = check_request(spec, duration_s=5, aspect_ratio="1:1", resolution="540p", has_image=False)
    assert errs == [f"{spec.name} does not support aspect ratio 1:1; it accepts 16:9, 9:16, 4:3, 3:4, 21:9, 9:21"]
    await provider.submit(spec, request(duration_s=5, aspect_ratio="9:21", resolution="540p"))
    assert state.creates[0]["body"]["aspect_ratio"] == "9:21"


def test_veo_31_4k_is_priced_at_its_own_rate():
    veo = model("fal/veo-3.1")
    assert veo.price_for(8, True, "4k") == pytest.approx(4.80)     # $0.60/s with audio at 4k
    assert veo.price_for(8, False, "4k") == pytest.approx(3.20)    # $0.40/s without
    assert veo.price_for(8, True, "1080p") == pytest.approx(3.20)  # $0.40/s with audio at 720p/1080p
    assert veo.price_for(8, False, "720p") == pytest.approx(1.60)
    assert "4k $0.40/s without, $0.60/s with audio" in veo.price_source


async def test_wan_27_is_labelled_as_never_silent(provider, state):
    wan = model("fal/wan-2.7")
    assert wan.audio == "always" and "background music" in wan.description
    assert check_request(wan, duration_s=5, aspect_ratio="16:9", resolution="720p", has_image=False, audio=True) == []
    await provider.submit(wan, request(duration_s=5, resolution="720p"))
    assert "generate_audio" not in state.creates[0]["body"]   # no switch to send: it always has sound


@pytest.mark.parametrize("model_id", ["fal/kling-v3-pro", "fal/seedance-2.0", "fal/wan-2.7"])
def test_fractional_durations_are_refused_on_whole_second_range_models(model_id):
    spec = model(model_id)
    res = spec.resolutions[0]
    errs = check_request(spec, duration_s=7.5, aspect_ratio="16:9", resolution=res, has_image=False)
    assert errs == [f"{spec.name} takes whole seconds only (7.5 s would be refused or rounded); choose 7 or 8 s"]
    assert check_request(spec, duration_s=8, aspect_ratio="16:9", resolution=res, has_image=False) == []


@pytest.mark.parametrize("model_id,field", [("fal/veo-3.1", "auto_fix"), ("fal/veo-3.1-fast", "auto_fix"),
                                            ("fal/wan-2.7", "enable_prompt_expansion"),
                                            ("fal/hailuo-02-standard", "prompt_optimizer"),
                                            ("fal/hailuo-2.3-pro", "prompt_optimizer")])
async def test_prompt_rewriters_are_off_unless_the_comparison_allows_them(provider, state, model_id, field):
    spec = model(model_id)
    duration = spec.pick_default_duration()
    await provider.submit(spec, request(duration_s=duration, resolution=spec.resolutions[0]))
    await provider.submit(spec, request(duration_s=duration, resolution=spec.resolutions[0], rewrite_prompt=True))
    assert state.creates[0]["body"][field] is False
    assert state.creates[1]["body"][field] is True


async def test_wan_reports_the_prompt_it_actually_used(provider, state):
    wan = model("fal/wan-2.7")
    sub = await provider.submit(wan, request(duration_s=5, resolution="720p", rewrite_prompt=True))
    st = await run_to_end(provider, wan, sub)
    assert st.state == "succeeded"
    assert st.meta["rewritten_prompt"] == "a red kite over a grey sea, cinematic lighting, shallow depth of field"


async def test_fal_client_sdk_reads_wans_actual_prompt(fake, state, monkeypatch):
    """The fake's Wan output holds to fal's own client: `actual_prompt` beside the video."""
    import fal_client
    import fal_client.client as fc

    url, _ = fake
    monkeypatch.setattr(fc, "QUEUE_URL_FORMAT", url + "/")
    client = fal_client.AsyncClient(key=KEY)
    handle = await client.submit("fal-ai/wan/v2.7/text-to-video",
                                 arguments={"prompt": "kite", "duration": 5, "enable_prompt_expansion": False})
    result = await handle.get()
    assert result["actual_prompt"] == "kite" and result["video"]["url"].endswith(".mp4")
