"""Luma Dream Machine adapter against the local fake, and the official lumaai SDK against the fake."""

from __future__ import annotations


import av
import httpx
import pytest

from app.catalog import check_request, frame_size, load_catalog
from app.providers.base import GenerationRequest, ProviderError
from app.providers.luma import LumaProvider
from app.settings import Settings
from tests.fakes import free_port, serve
from tests.fakes.luma import API_KEY, PREFIX, create_app

CATALOG = load_catalog()
RAY2 = CATALOG.get("luma/ray-2")
FLASH = CATALOG.get("luma/ray-flash-2")


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
    values = dict(lumaai_api_key=API_KEY, luma_base_url=base_url)
    values.update(kw)
    return Settings(_env_file=None, **values)


@pytest.fixture
async def provider(fake, state):
    p = LumaProvider(make_settings(fake[1]), httpx.AsyncClient(timeout=httpx.Timeout(10.0)))
    yield p
    await p.aclose()


def request(take_id="take-1", **kw) -> GenerationRequest:
    resolution = kw.pop("resolution", "720p")
    aspect = kw.pop("aspect_ratio", "16:9")
    w, h = frame_size(resolution, aspect)
    return GenerationRequest(take_id=take_id, prompt=kw.pop("prompt", "an old lady laughing underwater"),
                             duration_s=kw.pop("duration_s", 5), aspect_ratio=aspect, resolution=resolution,
                             width=w, height=h, **kw)


async def poll_to_end(p, spec, sub, limit=10):
    seen = []
    for _ in range(limit):
        st = await p.poll(spec, sub.remote_id, sub.meta)
        seen.append(st.state)
        if st.state in ("succeeded", "failed", "cancelled"):
            return st, seen
    raise AssertionError(f"no terminal state after {limit} polls: {seen}")


async def test_lifecycle(provider, state, tmp_path):
    sub = await provider.submit(RAY2, request())
    final, seen = await poll_to_end(provider, RAY2, sub)
    assert seen == ["queued", "running", "succeeded"]
    dest = tmp_path / "clip.mp4"
    await provider.download(RAY2, final, dest, max_bytes=10_000_000)
    with av.open(str(dest)) as container:
        assert sum(1 for _ in container.decode(container.streams.video[0])) > 0
    assert len(state.creates) == 1 and state.creates[0]["path"] == f"{PREFIX}/generations/video"


@pytest.mark.parametrize("spec,duration,resolution,aspect", [
    (RAY2, 5, "540p", "16:9"), (RAY2, 9, "4k", "9:21"), (FLASH, 9, "1080p", "1:1"), (FLASH, 5, "720p", "3:4"),
])
async def test_body_per_model(provider, state, spec, duration, resolution, aspect):
    await provider.submit(spec, request(duration_s=duration, resolution=resolution, aspect_ratio=aspect, seed=7,
                                        negative_prompt="ignored"))
    assert state.creates[0]["body"] == {"model": spec.endpoint, "prompt": "an old lady laughing underwater",
                                        "aspect_ratio": aspect, "duration": f"{duration}s", "resolution": resolution}


async def test_local_image_refused_before_any_call(provider, state, tmp_path):
    img = tmp_path / "a.png"
    img.write_bytes(b"\x89PNG")
    with pytest.raises(ProviderError) as err:
        await provider.submit(RAY2, request(image=img, image_mime="image/png"))
    assert err.value.code == "invalid_request" and "text-to-video only" in err.value.message
    with pytest.raises(ProviderError) as err:
        await provider.submit(RAY2, request(duration_s=7))
    assert "5 or 9 s" in err.value.message
    assert state.creates == []


@pytest.mark.parametrize("status,text,code,retryable", [
    (400, "Invalid resolution for model", "invalid_request", False),
    (400, "400: prompt not allowed because advanced moderation failed", "moderation", False),
    (400, "Insufficient credits", "quota", False),
    (401, "Invalid API key", "auth", False),
    (402, "Payment required", "quota", False),
    (429, "Too many concurrent generations", "rate_limit", True),
    (503, "Service unavailable", "provider_error", True),
    (500, "Internal server error", "outcome_unknown", False),
    (502, "Bad gateway", "outcome_unknown", False),
])
async def test_create_faults(provider, state, status, text, code, retryable):
    state.script.fail_next_create = (status, text)
    with pytest.raises(ProviderError) as err:
        await provider.submit(RAY2, request())
    assert (err.value.code, err.value.retryable) == (code, retryable)
    assert text in err.value.message
    if status == 429:
        assert err.value.retry_after == 5.0
    assert len(state.creates) == 1


async def test_timeout_after_send_is_outcome_unknown_once(fake, state):
    p = LumaProvider(make_settings(fake[1]), httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=0.3)))
    state.script.hang_next_create_s = 1.0
    with pytest.raises(ProviderError) as err:
        await p.submit(RAY2, request())
    await p.aclose()
    assert err.value.code == "outcome_unknown"
    assert len(state.creates) == 1 and len(state.generations) == 1


async def test_connect_error_is_retryable(state):
    p = LumaProvider(make_settings(f"http://127.0.0.1:{free_port()}{PREFIX}"))
    with pytest.raises(ProviderError) as err:
        await p.submit(RAY2, request())
    await p.aclose()
    assert err.value.code == "provider_error" and err.value.retryable


@pytest.mark.parametrize("status,text,code,retryable", [
    (429, "Rate limited", "rate_limit", True),
    (500, "Internal server error", "provider_error", True),
    (401, "Invalid API key", "auth", False),
])
async def test_poll_faults(provider, state, status, text, code, retryable):
    sub = await provider.submit(FLASH, request())
    state.script.fail_next_poll = (status, text)
    with pytest.raises(ProviderError) as err:
        await provider.poll(FLASH, sub.remote_id, sub.meta)
    assert (err.value.code, err.value.retryable) == (code, retryable)
    assert text in err.value.message
    final, _ = await poll_to_end(provider, FLASH, sub)
    assert final.state == "succeeded"


@pytest.mark.parametrize("reason,code", [
    ("400: prompt not allowed because advanced moderation failed", "moderation"),
    ("400: failed to moderate image", "moderation"),
    ("Job failed due to an internal error", "provider_error"),
])
async def test_failed_generation_keeps_luma_reason(provider, state, reason, code):
    state.script.fail_next_generation = reason
    sub = await provider.submit(RAY2, request())
    final, _ = await poll_to_end(provider, RAY2, sub)
    assert final.state == "failed"
    assert final.error.code == code and final.error.message == reason and not final.error.retryable


async def test_expired_asset_url_is_download_error(provider, state, tmp_path):
    sub = await provider.submit(RAY2, request())
    final, _ = await poll_to_end(provider, RAY2, sub)
    state.script.expire_results = True
    with pytest.raises(ProviderError) as err:
        await provider.download(RAY2, final, tmp_path / "x.mp4", max_bytes=10_000_000)
    assert err.value.code == "download"


async def test_cancel_deletes_the_generation(provider, state):
    sub = await provider.submit(RAY2, request())
    await provider.cancel(RAY2, sub.remote_id, sub.meta)
    assert state.deletes == [sub.remote_id] and sub.remote_id not in state.generations
    await provider.cancel(RAY2, sub.remote_id, sub.meta)   # already gone: fine


async def test_lumaai_async_sdk_drives_the_fake(fake, state):
    import lumaai

    client = lumaai.AsyncLumaAI(auth_token=API_KEY, base_url=fake[1], max_retries=0)
    gen = await client.generations.create(model="ray-flash-2", prompt="a paper boat", aspect_ratio="9:16",
                                          duration="5s", resolution="540p")
    assert gen.state == "queued" and gen.model == "ray-flash-2"
    states = []
    for _ in range(5):
        gen = await client.generations.get(gen.id)
        states.append(gen.state)
        if gen.state == "completed":
            break
    assert states == ["queued", "dreaming", "completed"]
    assert gen.assets.video.endswith(f"/files/{gen.id}.mp4")
    assert gen.request.duration == "5s" and gen.request.resolution == "540p"
    await client.generations.delete(gen.id)
    with pytest.raises(lumaai.NotFoundError):
        await client.generations.get(gen.id)
    await client.close()


def test_lumaai_sync_sdk_errors(fake, state):
    import lumaai

    with pytest.raises(lumaai.AuthenticationError):
        lumaai.LumaAI(auth_token="wrong", base_url=fake[1], max_retries=0).generations.get("x")
    client = lumaai.LumaAI(auth_token=API_KEY, base_url=fake[1], max_retries=0)
    with pytest.raises(lumaai.BadRequestError) as err:
        client.generations.create(model="ray-2", prompt="x", duration="7s")
    assert "Invalid duration" in str(err.value)
    state.script.fail_next_create = (429, "slow down")
    with pytest.raises(lumaai.RateLimitError):
        client.generations.create(model="ray-2", prompt="x")
    assert len(state.creates) == 2      # max_retries=0: no hidden retry of the POST
    state.script.fail_next_generation = "400: prompt not allowed because advanced moderation failed"
    gen = client.generations.create(model="ray-2", prompt="x")
    for _ in range(3):
        gen = client.generations.get(gen.id)
    assert gen.state == "failed" and "moderation" in gen.failure_reason
    client.close()


def test_catalog_refuses_unsupported_combinations():
    errors = " | ".join(check_request(RAY2, duration_s=10, aspect_ratio="2:1", resolution="360p", has_image=True,
                                      audio=True, negative_prompt="x"))
    assert "text-to-video only" in errors
    assert "accepts 5, 9 s" in errors
    assert "accepts 16:9, 9:16, 1:1, 4:3, 3:4, 21:9, 9:21" in errors
    assert "accepts 540p, 720p, 1080p, 4k" in errors
    assert "does not generate audio" in errors and "negative prompt" in errors
    assert check_request(FLASH, duration_s=9, aspect_ratio="21:9", resolution="4k", has_image=False) == []


def test_available_needs_the_key():
    assert not LumaProvider(Settings(_env_file=None)).available()
    assert LumaProvider(Settings(_env_file=None)).missing_keys() == ["LUMAAI_API_KEY"]
    assert LumaProvider(Settings(_env_file=None, lumaai_api_key="k")).available()
