"""Luma Agents adapter (Ray 3.2) against the local fake, and the official luma-agents SDK against the fake."""

from __future__ import annotations

import base64
from pathlib import Path

import av
import httpx
import pytest

from app.catalog import check_request, frame_size, load_catalog
from app.providers.base import GenerationRequest, ProviderError
from app.providers.luma_agents import LumaAgentsProvider
from app.settings import Settings
from tests.fakes import free_port, serve
from tests.fakes.luma_agents import API_KEY, PREFIX, create_app

RAY32 = load_catalog().get("luma_agents/ray-3.2")


@pytest.fixture(scope="module")
def fake():
    app = create_app()
    with serve(app) as url:
        yield app.state.fake, url + PREFIX


@pytest.fixture
def state(fake):
    fake[0].reset()
    return fake[0]


def make_settings(base_url: str, **kw) -> Settings:
    values = dict(luma_agents_api_key=API_KEY, luma_agents_base_url=base_url)
    values.update(kw)
    return Settings(_env_file=None, **values)


@pytest.fixture
async def provider(fake, state):
    p = LumaAgentsProvider(make_settings(fake[1]), httpx.AsyncClient(timeout=httpx.Timeout(10.0)))
    yield p
    await p.aclose()


@pytest.fixture
def jpeg(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "first.jpg"
    Image.new("RGB", (320, 180), (30, 160, 90)).save(path)
    return path


def request(take_id="take-1", image: Path | None = None, **kw) -> GenerationRequest:
    resolution = kw.pop("resolution", "720p")
    aspect = kw.pop("aspect_ratio", "16:9")
    w, h = frame_size(resolution, aspect)
    return GenerationRequest(take_id=take_id, prompt=kw.pop("prompt", "a slow dolly shot through a greenhouse"),
                             duration_s=kw.pop("duration_s", 5), aspect_ratio=aspect, resolution=resolution,
                             width=w, height=h, image=image, image_mime="image/jpeg" if image else None, **kw)


async def poll_to_end(p, sub, limit=10):
    seen = []
    for _ in range(limit):
        st = await p.poll(RAY32, sub.remote_id, sub.meta)
        seen.append(st.state)
        if st.state in ("succeeded", "failed", "cancelled"):
            return st, seen
    raise AssertionError(f"no terminal state after {limit} polls: {seen}")


async def test_lifecycle(provider, state, tmp_path):
    sub = await provider.submit(RAY32, request())
    final, seen = await poll_to_end(provider, sub)
    assert seen == ["queued", "running", "succeeded"]
    dest = tmp_path / "clip.mp4"
    await provider.download(RAY32, final, dest, max_bytes=10_000_000)
    with av.open(str(dest)) as container:
        assert sum(1 for _ in container.decode(container.streams.video[0])) > 0


@pytest.mark.parametrize("duration,resolution,aspect", [(5, "360p", "21:9"), (10, "1080p", "9:16"), (5, "540p", "1:1")])
async def test_text_to_video_body(provider, state, duration, resolution, aspect):
    await provider.submit(RAY32, request(duration_s=duration, resolution=resolution, aspect_ratio=aspect, seed=3))
    assert state.creates[0]["body"] == {"type": "video", "model": "ray-3.2",
                                        "prompt": "a slow dolly shot through a greenhouse", "aspect_ratio": aspect,
                                        "video": {"duration": f"{duration}s", "resolution": resolution}}


async def test_image_to_video_sends_inline_start_frame(provider, state, jpeg):
    sub = await provider.submit(RAY32, request(image=jpeg))
    frame = state.creates[0]["body"]["video"]["start_frame"]
    assert frame["media_type"] == "image/jpeg"
    assert base64.b64decode(frame["data"]) == jpeg.read_bytes()
    final, _ = await poll_to_end(provider, sub)
    assert final.state == "succeeded"


async def test_refusals_before_any_call(provider, state, jpeg):
    with pytest.raises(ProviderError) as err:
        await provider.submit(RAY32, request(image=jpeg, duration_s=10))
    assert err.value.code == "invalid_request" and "5 s clips only" in err.value.message
    with pytest.raises(ProviderError) as err:
        await provider.submit(RAY32, request(duration_s=7))
    assert "5 or 10 s" in err.value.message
    assert state.creates == []


async def test_fake_holds_the_10s_image_rule_too(fake, state, jpeg):
    async with httpx.AsyncClient() as client:
        resp = await client.post(f"{fake[1]}/generations", headers={"Authorization": f"Bearer {API_KEY}"},
                                 json={"type": "video", "model": "ray-3.2", "prompt": "x",
                                       "video": {"duration": "10s", "start_frame": {"url": "https://x/y.jpg"}}})
    assert resp.status_code == 422 and "10s" in resp.json()["detail"]


@pytest.mark.parametrize("status,text,code,retryable", [
    (400, "aspect_ratio '2:1' is not supported by ray-3.2", "invalid_request", False),
    (401, "Invalid or missing API key", "auth", False),
    (402, "Insufficient balance", "quota", False),
    (403, "Client is suspended", "auth", False),
    (413, "Input media exceeds size limit", "invalid_request", False),
    (422, "Parameter combination rejected", "invalid_request", False),
    (429, "Rate limited: too many concurrent generations", "rate_limit", True),
    (502, "Upstream service unavailable", "provider_error", True),
    (503, "Image ingestion unavailable", "provider_error", True),
    (500, "Internal server error", "outcome_unknown", False),
    (504, "Gateway timeout", "outcome_unknown", False),
])
async def test_create_faults(provider, state, status, text, code, retryable):
    state.script.fail_next_create = (status, text)
    with pytest.raises(ProviderError) as err:
        await provider.submit(RAY32, request())
    assert (err.value.code, err.value.retryable) == (code, retryable)
    assert text in err.value.message
    if status == 429:
        assert err.value.retry_after == 6.0
    assert len(state.creates) == 1


async def test_timeout_after_send_is_outcome_unknown_once(fake, state):
    p = LumaAgentsProvider(make_settings(fake[1]), httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=0.3)))
    state.script.hang_next_create_s = 1.0
    with pytest.raises(ProviderError) as err:
        await p.submit(RAY32, request())
    await p.aclose()
    assert err.value.code == "outcome_unknown"
    assert len(state.creates) == 1 and len(state.generations) == 1


async def test_connect_error_is_retryable(state):
    p = LumaAgentsProvider(make_settings(f"http://127.0.0.1:{free_port()}{PREFIX}"))
    with pytest.raises(ProviderError) as err:
        await p.submit(RAY32, request())
    await p.aclose()
    assert err.value.code == "provider_error" and err.value.retryable


@pytest.mark.parametrize("status,text,code,retryable", [
    (429, "Rate limited", "rate_limit", True),
    (502, "Upstream service unavailable", "provider_error", True),
    (401, "Invalid or missing API key", "auth", False),
])
async def test_poll_faults(provider, state, status, text, code, retryable):
    sub = await provider.submit(RAY32, request())
    state.script.fail_next_poll = (status, text)
    with pytest.raises(ProviderError) as err:
        await provider.poll(RAY32, sub.remote_id, sub.meta)
    assert (err.value.code, err.value.retryable) == (code, retryable)
    assert text in err.value.message
    final, _ = await poll_to_end(provider, sub)
    assert final.state == "succeeded"


@pytest.mark.parametrize("failure_code,reason,code,retryable", [
    ("content_moderated", "Prompt violated content guidelines", "moderation", False),
    ("budget_exhausted", "Ran out of funds mid-generation", "quota", False),
    ("rate_limited", "Concurrency limit reached", "rate_limit", True),
    ("generation_failed", "Internal model error during generation", "provider_error", True),
    ("output_not_found", "Generated output could not be retrieved", "provider_error", True),
    ("corrupt_input", "The start frame could not be decoded", "invalid_request", False),
])
async def test_failure_codes(provider, state, failure_code, reason, code, retryable):
    state.script.fail_next_generation = (failure_code, reason)
    sub = await provider.submit(RAY32, request())
    final, _ = await poll_to_end(provider, sub)
    assert final.state == "failed"
    assert (final.error.code, final.error.retryable) == (code, retryable)
    assert reason in final.error.message and failure_code in final.error.message


async def test_expired_presigned_url_is_download_error(provider, state, tmp_path):
    sub = await provider.submit(RAY32, request())
    final, _ = await poll_to_end(provider, sub)
    state.script.expire_results = True
    with pytest.raises(ProviderError) as err:
        await provider.download(RAY32, final, tmp_path / "x.mp4", max_bytes=10_000_000)
    assert err.value.code == "download"


async def test_cancel_is_a_no_op_without_an_endpoint(provider, state):
    sub = await provider.submit(RAY32, request())
    await provider.cancel(RAY32, sub.remote_id, sub.meta)
    final, _ = await poll_to_end(provider, sub)
    assert final.state == "succeeded"


async def test_luma_agents_async_sdk_drives_the_fake(fake, state, jpeg):
    import luma_agents

    client = luma_agents.AsyncLuma(auth_token=API_KEY, base_url=fake[1], max_retries=0)
    gen = await client.generations.create(prompt="a lantern in fog", model="ray-3.2", type="video",
                                          aspect_ratio="4:3", video={"duration": "10s", "resolution": "540p"})
    assert gen.state == "queued" and gen.type == "video"
    states = []
    for _ in range(5):
        gen = await client.generations.get(gen.id)
        states.append(gen.state)
        if gen.state == "completed":
            break
    assert states == ["queued", "processing", "completed"]
    assert gen.output[0].type == "video" and gen.output[0].url.split("?")[0].endswith(f"/files/{gen.id}.mp4")

    data = base64.b64encode(jpeg.read_bytes()).decode()
    state.script.fail_next_generation = ("content_moderated", "Prompt violated content guidelines")
    gen2 = await client.generations.create(prompt="x", model="ray-3.2", type="video",
                                           video={"duration": "5s", "start_frame": {"data": data, "media_type": "image/jpeg"}})
    for _ in range(3):
        gen2 = await client.generations.get(gen2.id)
    assert gen2.state == "failed" and gen2.failure_code == "content_moderated"
    await client.close()


def test_luma_agents_sync_sdk_errors(fake, state):
    import luma_agents

    with pytest.raises(luma_agents.AuthenticationError):
        luma_agents.Luma(auth_token="wrong", base_url=fake[1], max_retries=0).generations.get("x")
    client = luma_agents.Luma(auth_token=API_KEY, base_url=fake[1], max_retries=0)
    with pytest.raises(luma_agents.UnprocessableEntityError):
        client.generations.create(prompt="x", model="ray-3.2", type="video",
                                  video={"duration": "10s", "start_frame": {"url": "https://example.com/a.jpg"}})
    state.script.fail_next_create = (429, "slow down")
    with pytest.raises(luma_agents.RateLimitError):
        client.generations.create(prompt="x", model="ray-3.2", type="video")
    assert len(state.creates) == 2      # max_retries=0: the POST was not retried
    client.close()


def test_catalog_refuses_unsupported_combinations():
    errors = " | ".join(check_request(RAY32, duration_s=9, aspect_ratio="9:21", resolution="4k", has_image=False,
                                      audio=True, negative_prompt="x"))
    assert "accepts 5, 10 s" in errors
    assert "accepts 16:9, 9:16, 1:1, 4:3, 3:4, 21:9" in errors
    assert "accepts 360p, 540p, 720p, 1080p" in errors
    assert "does not generate audio" in errors and "negative prompt" in errors
    assert check_request(RAY32, duration_s=5, aspect_ratio="3:4", resolution="1080p", has_image=True) == []


def test_available_needs_the_key():
    assert not LumaAgentsProvider(Settings(_env_file=None)).available()
    assert LumaAgentsProvider(Settings(_env_file=None)).missing_keys() == ["LUMA_AGENTS_API_KEY"]
    assert LumaAgentsProvider(Settings(_env_file=None, luma_agents_api_key="k")).available()
