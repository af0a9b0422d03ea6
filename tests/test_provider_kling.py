"""Kling adapter against the local Kling fake: lifecycle, request mapping, JWT, faults, reconcile."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import av
import httpx
import jwt
import pytest

from app.catalog import check_request, frame_size, load_catalog
from app.providers.base import GenerationRequest, ProviderError
from app.providers.kling import TOKEN_TTL_S, KlingProvider, external_task_id
from app.settings import Settings
from tests.fakes import free_port, serve
from tests.fakes.kling import ACCESS_KEY, SECRET_KEY, create_app

CATALOG = load_catalog()
KLING_MODELS = [m for m in CATALOG if m.provider == "kling"]


def model(model_id: str):
    return CATALOG.get(model_id)


@pytest.fixture(scope="module")
def fake():
    app = create_app()
    with serve(app) as url:
        yield app.state.fake, url


@pytest.fixture
def state(fake):
    fake[0].reset()
    return fake[0]


def make_settings(base_url: str, **kw) -> Settings:
    values = dict(kling_access_key=ACCESS_KEY, kling_secret_key=SECRET_KEY, kling_base_url=base_url)
    values.update(kw)
    return Settings(_env_file=None, **values)


@pytest.fixture
async def provider(fake, state):
    p = KlingProvider(make_settings(fake[1]), httpx.AsyncClient(timeout=httpx.Timeout(10.0)))
    yield p
    await p.aclose()


def request(spec, take_id="take-1", image: Path | None = None, **kw) -> GenerationRequest:
    resolution = kw.pop("resolution", spec.resolutions[0])
    aspect = kw.pop("aspect_ratio", "16:9")
    w, h = frame_size(resolution, aspect)
    return GenerationRequest(take_id=take_id, prompt=kw.pop("prompt", "a red fox running through snow"),
                             duration_s=kw.pop("duration_s", 5), aspect_ratio=aspect, resolution=resolution,
                             width=w, height=h, image=image, image_mime="image/png" if image else None, **kw)


async def poll_to_end(p, spec, sub, limit=10):
    seen = []
    for _ in range(limit):
        st = await p.poll(spec, sub.remote_id, sub.meta)
        seen.append(st.state)
        if st.state in ("succeeded", "failed", "cancelled"):
            return st, seen
    raise AssertionError(f"no terminal state after {limit} polls: {seen}")


def assert_playable(path: Path) -> None:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = sum(1 for _ in container.decode(stream))
    assert frames > 0


@pytest.fixture
def png(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "first.png"
    Image.new("RGB", (320, 180), (200, 30, 30)).save(path)
    return path


# --- lifecycle ---------------------------------------------------------------------------

async def test_text_to_video_lifecycle(provider, state, tmp_path):
    spec = model("kling/kling-v2.5-turbo-pro")
    sub = await provider.submit(spec, request(spec))
    assert sub.meta == {"endpoint": "text2video", "external_task_id": "takes-take-1"}
    final, seen = await poll_to_end(provider, spec, sub)
    assert seen == ["queued", "running", "succeeded"]
    assert final.result_url.endswith(f"/files/{sub.remote_id}.mp4")
    dest = tmp_path / "clip.mp4"
    await provider.download(spec, final, dest, max_bytes=10_000_000)
    assert_playable(dest)
    assert len(state.creates) == 1


async def test_image_to_video_sends_raw_base64_and_polls_image2video(provider, state, png, tmp_path):
    spec = model("kling/kling-v2.1-master")
    sub = await provider.submit(spec, request(spec, image=png))
    create = state.creates[0]
    assert create["endpoint"] == "image2video"
    body = create["body"]
    assert not body["image"].startswith("data:")
    assert base64.b64decode(body["image"]) == png.read_bytes()
    assert "aspect_ratio" not in body          # the image decides the frame
    assert sub.meta["endpoint"] == "image2video"
    final, _ = await poll_to_end(provider, spec, sub)   # the fake 404s if the wrong path is queried
    assert final.state == "succeeded"


# --- request mapping ---------------------------------------------------------------------

@pytest.mark.parametrize("spec", KLING_MODELS, ids=lambda m: m.id)
async def test_text_to_video_body_per_model(provider, state, spec):
    audio = spec.audio != "none"
    duration = 10 if 10 in spec.durations else spec.durations[0]
    await provider.submit(spec, request(spec, take_id=f"t-{spec.id}", duration_s=duration, aspect_ratio="9:16",
                                        negative_prompt="blurry, text", audio=audio))
    body = state.creates[0]["body"]
    assert body["model_name"] == spec.endpoint
    assert body["prompt"] == "a red fox running through snow"
    assert body["duration"] == str(duration)           # a string, as Kling documents
    assert body["aspect_ratio"] == "9:16"
    assert body["negative_prompt"] == "blurry, text"
    assert body["external_task_id"] == external_task_id(f"t-{spec.id}")
    if spec.options.get("mode"):
        assert body["mode"] == spec.options["mode"]
    else:
        assert "mode" not in body
    if audio:
        assert body["sound"] == "on"
    else:
        assert "sound" not in body
    assert "seed" not in body and "image" not in body


async def test_sound_off_when_audio_not_asked(provider, state):
    spec = model("kling/kling-v2.6-pro")
    await provider.submit(spec, request(spec, audio=False))
    assert state.creates[0]["body"]["sound"] == "off"


async def test_v3_takes_any_whole_second_but_not_fractions(provider, state):
    spec = model("kling/kling-v3-std")
    await provider.submit(spec, request(spec, duration_s=13))
    assert state.creates[0]["body"]["duration"] == "13"
    with pytest.raises(ProviderError) as err:
        await provider.submit(spec, request(spec, take_id="frac", duration_s=4.5))
    assert err.value.code == "invalid_request" and "whole seconds" in err.value.message
    assert len(state.creates) == 1   # refused before any call


# --- JWT ---------------------------------------------------------------------------------

async def test_jwt_claims_cached_and_refreshed_before_expiry(fake, state):
    p = KlingProvider(make_settings(fake[1]))
    now = [1_800_000_000.0]
    p.clock = lambda: now[0]
    first = p.token()
    claims = jwt.decode(first, SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False})
    assert claims == {"iss": ACCESS_KEY, "exp": int(now[0]) + TOKEN_TTL_S, "nbf": int(now[0]) - 5}
    assert jwt.get_unverified_header(first)["alg"] == "HS256"
    now[0] += 600
    assert p.token() == first                      # still fresh: cached
    now[0] += TOKEN_TTL_S - 600 - 200              # inside the refresh margin
    second = p.token()
    assert second != first
    assert jwt.decode(second, SECRET_KEY, algorithms=["HS256"],
                      options={"verify_exp": False, "verify_nbf": False})["exp"] == int(now[0]) + TOKEN_TTL_S


async def test_fake_rejects_expired_token_as_auth(fake, state):
    p = KlingProvider(make_settings(fake[1]))
    p.clock = lambda: time.time() - 3 * TOKEN_TTL_S   # a token that expired long ago
    spec = model("kling/kling-v2.6-std")
    with pytest.raises(ProviderError) as err:
        await p.submit(spec, request(spec))
    await p.aclose()
    assert err.value.code == "auth" and not err.value.retryable
    assert "expired" in err.value.message
    assert state.creates == []


async def test_wrong_secret_is_auth(fake, state):
    p = KlingProvider(make_settings(fake[1], kling_secret_key="not-the-secret-0123456789abcdef012345"))
    spec = model("kling/kling-v2.6-std")
    with pytest.raises(ProviderError) as err:
        await p.submit(spec, request(spec))
    await p.aclose()
    assert err.value.code == "auth" and "Authentication failed" in err.value.message


# --- faults on create --------------------------------------------------------------------

@pytest.mark.parametrize("status,kcode,message,code,retryable", [
    (401, 1000, "Authentication failed", "auth", False),
    (429, 1101, "Account in arrears", "quota", False),
    (429, 1102, "Resource pack exhausted", "quota", False),
    (429, 1302, "API request rate limit exceeded", "rate_limit", True),
    (429, 1303, "Concurrent task limit of the resource pack exceeded", "rate_limit", True),
    (400, 1301, "Content security policy triggered", "moderation", False),
    (400, 1201, "Invalid value for parameter aspect_ratio", "invalid_request", False),
    (503, 5001, "Service temporarily unavailable, try again later", "provider_error", True),
    (500, 5000, "Internal server error", "outcome_unknown", False),
    (504, 5002, "Server timeout", "outcome_unknown", False),
])
async def test_create_faults(provider, state, status, kcode, message, code, retryable):
    state.script.fail_next_create = (status, kcode, message)
    spec = model("kling/kling-v2.6-std")
    with pytest.raises(ProviderError) as err:
        await provider.submit(spec, request(spec))
    assert err.value.code == code
    assert err.value.retryable is retryable
    assert message in err.value.message
    assert len(state.creates) == 1          # never retried by the adapter


async def test_rate_limit_on_create_carries_retry_after(provider, state):
    state.script.fail_next_create = (429, 1302, "API request rate limit exceeded")
    state.script.retry_after = "7"
    spec = model("kling/kling-v2.6-std")
    with pytest.raises(ProviderError) as err:
        await provider.submit(spec, request(spec))
    assert err.value.retry_after == 7.0


async def test_timeout_after_send_is_outcome_unknown_then_reconcile_finds_the_task(fake, state):
    p = KlingProvider(make_settings(fake[1]), httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=0.3)))
    spec = model("kling/kling-v2.6-std")
    req = request(spec, take_id="crashy")
    state.script.hang_next_create_s = 1.0
    with pytest.raises(ProviderError) as err:
        await p.submit(spec, req)
    assert err.value.code == "outcome_unknown" and not err.value.retryable
    assert len(state.creates) == 1
    found = await p.reconcile(spec, req)
    await p.aclose()
    assert found is not None
    assert found.remote_id in state.tasks
    assert found.meta == {"endpoint": "text2video", "external_task_id": "takes-crashy"}


async def test_reconcile_without_a_task_is_none(provider, state, png):
    spec = model("kling/kling-v2.6-std")
    assert await provider.reconcile(spec, request(spec, take_id="never-sent")) is None
    assert await provider.reconcile(spec, request(spec, take_id="never-sent", image=png)) is None


async def test_connect_error_is_retryable_and_sends_nothing(state):
    p = KlingProvider(make_settings(f"http://127.0.0.1:{free_port()}"))
    spec = model("kling/kling-v2.6-std")
    with pytest.raises(ProviderError) as err:
        await p.submit(spec, request(spec))
    await p.aclose()
    assert err.value.code == "provider_error" and err.value.retryable
    assert state.creates == []


async def test_same_take_reuses_its_external_task_id(provider, state):
    spec = model("kling/kling-v2.6-std")
    await provider.submit(spec, request(spec, take_id="same"))
    with pytest.raises(ProviderError):
        await provider.submit(spec, request(spec, take_id="same"))   # the fake refuses a duplicate key
    keys = [c["body"]["external_task_id"] for c in state.creates]
    assert keys == ["takes-same", "takes-same"]


# --- faults on poll, moderation, download ------------------------------------------------

@pytest.mark.parametrize("status,kcode,message,code,retryable", [
    (429, 1302, "API request rate limit exceeded", "rate_limit", True),
    (500, 5000, "Internal server error", "provider_error", True),
    (503, 5001, "Service unavailable", "provider_error", True),
    (401, 1004, "Authorization token has expired", "auth", False),
])
async def test_poll_faults(provider, state, status, kcode, message, code, retryable):
    spec = model("kling/kling-v2.6-std")
    sub = await provider.submit(spec, request(spec))
    state.script.fail_next_poll = (status, kcode, message)
    with pytest.raises(ProviderError) as err:
        await provider.poll(spec, sub.remote_id, sub.meta)
    assert (err.value.code, err.value.retryable) == (code, retryable)
    assert message in err.value.message
    if status == 429:
        assert err.value.retry_after == 3.0
    final, _ = await poll_to_end(provider, spec, sub)   # the next poll goes through
    assert final.state == "succeeded"


async def test_poll_network_error_is_retryable(state):
    p = KlingProvider(make_settings(f"http://127.0.0.1:{free_port()}"))
    spec = model("kling/kling-v2.6-std")
    with pytest.raises(ProviderError) as err:
        await p.poll(spec, "abc", {"endpoint": "text2video"})
    await p.aclose()
    assert err.value.retryable


async def test_moderation_failure_is_terminal_with_kling_text(provider, state):
    state.script.moderate_next_task = "Failure to pass the risk control system"
    spec = model("kling/kling-v2.6-std")
    sub = await provider.submit(spec, request(spec))
    final, _ = await poll_to_end(provider, spec, sub)
    assert final.state == "failed"
    assert final.error.code == "moderation" and not final.error.retryable
    assert final.error.message == "Failure to pass the risk control system"


async def test_other_task_failure_is_provider_error(provider, state):
    state.script.fail_next_task = "Generation error, please try again"
    spec = model("kling/kling-v2.6-std")
    sub = await provider.submit(spec, request(spec))
    final, _ = await poll_to_end(provider, spec, sub)
    assert final.error.code == "provider_error"
    assert final.error.message == "Generation error, please try again"


async def test_expired_result_url_is_download_error(provider, state, tmp_path):
    spec = model("kling/kling-v2.6-std")
    sub = await provider.submit(spec, request(spec))
    final, _ = await poll_to_end(provider, spec, sub)
    state.script.expire_results = True
    with pytest.raises(ProviderError) as err:
        await provider.download(spec, final, tmp_path / "x.mp4", max_bytes=10_000_000)
    assert err.value.code == "download"
    assert not (tmp_path / "x.mp4").exists()


async def test_cancel_is_a_documented_no_op(provider, state):
    spec = model("kling/kling-v2.6-std")
    sub = await provider.submit(spec, request(spec))
    await provider.cancel(spec, sub.remote_id, sub.meta)   # Kling has no cancel endpoint
    final, _ = await poll_to_end(provider, spec, sub)
    assert final.state == "succeeded"


# --- catalog -----------------------------------------------------------------------------

def test_catalog_refuses_what_kling_models_do_not_accept():
    std = model("kling/kling-v2.6-std")
    errors = check_request(std, duration_s=7, aspect_ratio="4:3", resolution="1080p", has_image=False, audio=True)
    text = " | ".join(errors)
    assert "accepts 5, 10 s" in text
    assert "accepts 16:9, 9:16, 1:1" in text
    assert "accepts 720p" in text
    assert "does not generate audio" in text
    assert check_request(std, duration_s=10, aspect_ratio="1:1", resolution="720p", has_image=True) == []
    v3 = model("kling/kling-v3-pro")
    assert check_request(v3, duration_s=15, aspect_ratio="16:9", resolution="1080p", has_image=False, audio=True) == []
    assert "accepts 3, 4, 5" in " ".join(check_request(v3, duration_s=2, aspect_ratio="16:9", resolution="1080p",
                                                       has_image=False))


def test_every_kling_model_is_complete():
    assert {m.id for m in KLING_MODELS} >= {"kling/kling-v3-std", "kling/kling-v3-pro", "kling/kling-v2.6-std",
                                            "kling/kling-v2.6-pro", "kling/kling-v2.5-turbo-pro",
                                            "kling/kling-v2.1-master"}
    for m in KLING_MODELS:
        assert m.endpoint and m.price_per_second and m.price_source and m.price_date and m.docs
        assert set(m.modes) == {"t2v", "i2v"}


def test_available_needs_both_keys():
    assert not KlingProvider(Settings(_env_file=None)).available()
    assert not KlingProvider(Settings(_env_file=None, kling_access_key="a")).available()
    assert KlingProvider(Settings(_env_file=None, kling_access_key="a", kling_secret_key="s")).available()
    assert KlingProvider(Settings(_env_file=None, kling_access_key="a")).missing_keys() == ["KLING_SECRET_KEY"]
