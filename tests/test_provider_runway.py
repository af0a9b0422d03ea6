"""Runway adapter against the local Runway fake, and the official runwayml SDK against the fake."""

from __future__ import annotations

import base64
from pathlib import Path

import av
import httpx
import pytest

from app.catalog import check_request, frame_size, load_catalog
from app.providers.base import GenerationRequest, ProviderError
from app.providers.runway import RATIOS, RunwayProvider
from app.settings import Settings
from tests.fakes import free_port, serve
from tests.fakes.runway import API_SECRET, create_app

CATALOG = load_catalog()
TURBO = CATALOG.get("runway/gen4-turbo")
GEN45 = CATALOG.get("runway/gen4.5")


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
    values = dict(runwayml_api_secret=API_SECRET, runway_base_url=base_url)
    values.update(kw)
    return Settings(_env_file=None, **values)


@pytest.fixture
async def provider(fake, state):
    p = RunwayProvider(make_settings(fake[1]), httpx.AsyncClient(timeout=httpx.Timeout(10.0)))
    yield p
    await p.aclose()


@pytest.fixture
def png(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "first.png"
    Image.new("RGB", (320, 180), (10, 120, 200)).save(path)
    return path


def request(spec, take_id="take-1", image: Path | None = None, **kw) -> GenerationRequest:
    aspect = kw.pop("aspect_ratio", "16:9")
    w, h = frame_size("720p", aspect)
    return GenerationRequest(take_id=take_id, prompt=kw.pop("prompt", "a lighthouse beam sweeping the sea"),
                             duration_s=kw.pop("duration_s", 5), aspect_ratio=aspect, resolution="720p",
                             width=w, height=h, image=image, image_mime="image/png" if image else None, **kw)


async def poll_to_end(p, spec, sub, limit=10):
    seen = []
    for _ in range(limit):
        st = await p.poll(spec, sub.remote_id, sub.meta)
        seen.append((st.state, st.progress))
        if st.state in ("succeeded", "failed", "cancelled"):
            return st, seen
    raise AssertionError(f"no terminal state after {limit} polls: {seen}")


def assert_playable(path: Path) -> None:
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(container.streams.video[0]))
    assert frames > 0


# --- lifecycle ---------------------------------------------------------------------------

async def test_text_to_video_lifecycle_with_progress(provider, state, tmp_path):
    sub = await provider.submit(GEN45, request(GEN45))
    final, seen = await poll_to_end(provider, GEN45, sub)
    assert [s for s, _ in seen] == ["queued", "running", "succeeded"]
    assert seen[1][1] == pytest.approx(0.67)     # RUNNING carries Runway's progress
    dest = tmp_path / "clip.mp4"
    await provider.download(GEN45, final, dest, max_bytes=10_000_000)
    assert_playable(dest)
    assert len(state.creates) == 1


async def test_throttled_is_queued_not_an_error(provider, state):
    state.script.throttle_next_task = True
    sub = await provider.submit(GEN45, request(GEN45))
    first = await provider.poll(GEN45, sub.remote_id, sub.meta)
    assert first.state == "queued" and first.meta == {"runway_status": "THROTTLED"}
    final, _ = await poll_to_end(provider, GEN45, sub)
    assert final.state == "succeeded"


# --- request mapping ---------------------------------------------------------------------

@pytest.mark.parametrize("aspect", ["16:9", "9:16"])
async def test_gen45_text_to_video_body(provider, state, aspect):
    await provider.submit(GEN45, request(GEN45, aspect_ratio=aspect, duration_s=7, seed=1234))
    create = state.creates[0]
    assert create["endpoint"] == "text_to_video"
    assert create["body"] == {"model": "gen4.5", "promptText": "a lighthouse beam sweeping the sea",
                              "ratio": RATIOS[aspect], "duration": 7, "seed": 1234}


@pytest.mark.parametrize("aspect,ratio", sorted(RATIOS.items()))
async def test_gen4_turbo_image_to_video_body(provider, state, png, aspect, ratio):
    await provider.submit(TURBO, request(TURBO, image=png, aspect_ratio=aspect, duration_s=10))
    create = state.creates[0]
    assert create["endpoint"] == "image_to_video"
    body = create["body"]
    assert body["model"] == "gen4_turbo" and body["ratio"] == ratio and body["duration"] == 10
    prefix = "data:image/png;base64,"
    assert body["promptImage"].startswith(prefix)
    assert base64.b64decode(body["promptImage"][len(prefix):]) == png.read_bytes()
    assert "seed" not in body


async def test_gen45_image_to_video_uses_image_endpoint(provider, state, png):
    await provider.submit(GEN45, request(GEN45, image=png, aspect_ratio="9:16"))
    assert state.creates[0]["endpoint"] == "image_to_video"
    assert state.creates[0]["body"]["model"] == "gen4.5"


async def test_fake_rejects_requests_without_version_header(fake, state):
    async with httpx.AsyncClient() as client:
        resp = await client.post(f"{fake[1]}/v1/text_to_video", headers={"Authorization": f"Bearer {API_SECRET}"},
                                 json={"model": "gen4.5", "promptText": "x", "ratio": "1280:720", "duration": 5})
    assert resp.status_code == 400
    assert "X-Runway-Version" in resp.json()["error"]


async def test_refusals_before_any_call(provider, state, tmp_path):
    with pytest.raises(ProviderError) as err:
        await provider.submit(GEN45, request(GEN45, duration_s=4.5))
    assert err.value.code == "invalid_request" and "whole seconds" in err.value.message
    with pytest.raises(ProviderError) as err:
        await provider.submit(GEN45, request(GEN45, prompt="é" * 1001))
    assert "at most 1000 characters" in err.value.message
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"\0" * (4 * 1024 * 1024))
    with pytest.raises(ProviderError) as err:
        await provider.submit(TURBO, request(TURBO, image=big))
    assert "too large for Runway" in err.value.message
    assert state.creates == []


# --- faults on create --------------------------------------------------------------------

@pytest.mark.parametrize("status,text,code,retryable", [
    (400, "Invalid asset aspect ratio. width / height ratio must be between 0.5 and 2.", "invalid_request", False),
    (401, "The API key you provided is incorrect.", "auth", False),
    (429, "You have exceeded the daily task limit for your tier.", "rate_limit", True),
    (502, "Bad gateway: Runway is shedding load", "provider_error", True),
    (503, "Service unavailable: Runway is shedding load", "provider_error", True),
    (500, "Internal server error", "outcome_unknown", False),
    (504, "Gateway timeout", "outcome_unknown", False),
])
async def test_create_faults(provider, state, status, text, code, retryable):
    state.script.fail_next_create = (status, text)
    with pytest.raises(ProviderError) as err:
        await provider.submit(GEN45, request(GEN45))
    assert (err.value.code, err.value.retryable) == (code, retryable)
    assert text in err.value.message
    if status == 429:
        assert err.value.retry_after == 4.0
    assert len(state.creates) == 1


async def test_bad_key_is_auth(fake, state):
    p = RunwayProvider(make_settings(fake[1], runwayml_api_secret="key_wrong"))
    with pytest.raises(ProviderError) as err:
        await p.submit(GEN45, request(GEN45))
    await p.aclose()
    assert err.value.code == "auth" and "incorrect" in err.value.message


async def test_timeout_after_send_is_outcome_unknown_once(fake, state):
    p = RunwayProvider(make_settings(fake[1]), httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=0.3)))
    state.script.hang_next_create_s = 1.0
    with pytest.raises(ProviderError) as err:
        await p.submit(GEN45, request(GEN45))
    await p.aclose()
    assert err.value.code == "outcome_unknown" and not err.value.retryable
    assert len(state.creates) == 1
    assert len(state.tasks) == 1          # the task exists: exactly why we must not retry
    assert await RunwayProvider(make_settings(fake[1])).reconcile(GEN45, request(GEN45)) is None  # no client key


async def test_connect_error_is_retryable(state):
    p = RunwayProvider(make_settings(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(ProviderError) as err:
        await p.submit(GEN45, request(GEN45))
    await p.aclose()
    assert err.value.code == "provider_error" and err.value.retryable


# --- poll faults, failures, download, cancel ----------------------------------------------

@pytest.mark.parametrize("status,text,code,retryable", [
    (429, "Too many requests", "rate_limit", True),
    (502, "Bad gateway", "provider_error", True),
    (500, "Internal server error", "provider_error", True),
    (401, "The API key you provided is incorrect.", "auth", False),
])
async def test_poll_faults(provider, state, status, text, code, retryable):
    sub = await provider.submit(GEN45, request(GEN45))
    state.script.fail_next_poll = (status, text)
    with pytest.raises(ProviderError) as err:
        await provider.poll(GEN45, sub.remote_id, sub.meta)
    assert (err.value.code, err.value.retryable) == (code, retryable)
    assert text in err.value.message
    final, _ = await poll_to_end(provider, GEN45, sub)
    assert final.state == "succeeded"


@pytest.mark.parametrize("failure_code,failure,code,retryable", [
    ("SAFETY.INPUT.TEXT", "The prompt text did not pass content moderation.", "moderation", False),
    ("SAFETY.OUTPUT.VIDEO", "The output did not pass content moderation.", "moderation", False),
    ("INTERNAL.BAD_OUTPUT.CODE01", "The output was rejected for quality reasons.", "provider_error", True),
    ("ASSET.INVALID", "The input image could not be processed.", "invalid_request", False),
])
async def test_task_failures_keep_runway_text(provider, state, failure_code, failure, code, retryable):
    state.script.fail_next_task = (failure_code, failure)
    sub = await provider.submit(GEN45, request(GEN45))
    final, _ = await poll_to_end(provider, GEN45, sub)
    assert final.state == "failed"
    assert (final.error.code, final.error.retryable) == (code, retryable)
    assert failure in final.error.message and failure_code in final.error.message


async def test_expired_output_url_is_download_error(provider, state, tmp_path):
    sub = await provider.submit(GEN45, request(GEN45))
    final, _ = await poll_to_end(provider, GEN45, sub)
    state.script.expire_results = True
    with pytest.raises(ProviderError) as err:
        await provider.download(GEN45, final, tmp_path / "x.mp4", max_bytes=10_000_000)
    assert err.value.code == "download" and "403" in err.value.message


async def test_cancel_deletes_the_task(provider, state):
    sub = await provider.submit(GEN45, request(GEN45))
    await provider.cancel(GEN45, sub.remote_id, sub.meta)
    assert state.deletes == [sub.remote_id]
    st = await provider.poll(GEN45, sub.remote_id, sub.meta)
    assert st.state == "cancelled"
    await provider.cancel(GEN45, "no-such-task", {})     # already gone: not an error


async def test_poll_of_a_deleted_task(provider, state):
    with pytest.raises(ProviderError) as err:
        await provider.poll(GEN45, "no-such-task", {})
    assert err.value.status == 404 and not err.value.retryable


# --- the official SDK against the fake ---------------------------------------------------

async def test_runwayml_async_sdk_drives_the_fake(fake, state, monkeypatch, png):
    import runwayml
    import runwayml.lib.polling as polling

    monkeypatch.setattr(polling, "POLL_TIME", 0.01)
    monkeypatch.setattr(polling, "POLL_JITTER", 0.0)
    client = runwayml.AsyncRunwayML(api_key=API_SECRET, base_url=fake[1], max_retries=0)
    task = await client.text_to_video.create(model="gen4.5", prompt_text="a red kite", ratio="1280:720", duration=5)
    done = await task.wait_for_task_output(timeout=10)
    assert done.status == "SUCCEEDED" and done.output[0].endswith(f"/files/{task.id}.mp4")
    assert state.creates[-1]["body"] == {"model": "gen4.5", "promptText": "a red kite", "ratio": "1280:720", "duration": 5}

    uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    task2 = await client.image_to_video.create(model="gen4_turbo", prompt_image=uri, ratio="960:960", duration=10)
    running = None
    for _ in range(5):
        running = await client.tasks.retrieve(task2.id)
        if running.status == "RUNNING":
            break
    assert running.status == "RUNNING" and 0 < running.progress < 1
    await client.tasks.delete(task2.id)
    assert (await client.tasks.retrieve(task2.id)).status == "CANCELLED"

    state.script.fail_next_task = ("SAFETY.INPUT.TEXT", "flagged")
    task3 = await client.text_to_video.create(model="gen4.5", prompt_text="bad", ratio="720:1280", duration=2)
    with pytest.raises(runwayml.TaskFailedError) as failed:
        await task3.wait_for_task_output(timeout=10)
    assert failed.value.task_details.failure_code == "SAFETY.INPUT.TEXT"
    await client.close()


def test_runwayml_sync_sdk_errors_match_runway(fake, state):
    import runwayml

    bad = runwayml.RunwayML(api_key="key_wrong", base_url=fake[1], max_retries=0)
    with pytest.raises(runwayml.AuthenticationError):
        bad.tasks.retrieve("x")
    client = runwayml.RunwayML(api_key=API_SECRET, base_url=fake[1], max_retries=0)
    with pytest.raises(runwayml.BadRequestError) as err:
        client.text_to_video.create(model="gen4.5", prompt_text="x", ratio="960:960", duration=5)
    assert "Invalid ratio" in str(err.value)
    state.script.fail_next_create = (429, "slow down")
    with pytest.raises(runwayml.RateLimitError):
        client.text_to_video.create(model="gen4.5", prompt_text="x", ratio="1280:720", duration=5)
    assert len(state.creates) == 2     # max_retries=0: the SDK did not retry the 429
    bad.close()
    client.close()


# --- catalog -----------------------------------------------------------------------------

def test_catalog_refuses_unsupported_combinations():
    errors = " | ".join(check_request(TURBO, duration_s=5, aspect_ratio="16:9", resolution="720p", has_image=False))
    assert "image-to-video only" in errors
    errors = " | ".join(check_request(GEN45, duration_s=11, aspect_ratio="1:1", resolution="1080p", has_image=False,
                                      negative_prompt="x", audio=True))
    assert "accepts 2, 3, 4, 5, 6, 7, 8, 9, 10 s" in errors
    assert "accepts 16:9, 9:16" in errors
    assert "accepts 720p" in errors
    assert "does not take a negative prompt" in errors
    assert "does not generate audio" in errors
    assert check_request(TURBO, duration_s=10, aspect_ratio="21:9", resolution="720p", has_image=True) == []
    assert "at most 1000 characters" in " ".join(
        check_request(GEN45, duration_s=5, aspect_ratio="16:9", resolution="720p", has_image=False, prompt="x" * 1001))


def test_available_needs_the_secret():
    assert not RunwayProvider(Settings(_env_file=None)).available()
    assert RunwayProvider(Settings(_env_file=None)).missing_keys() == ["RUNWAYML_API_SECRET"]
    assert RunwayProvider(Settings(_env_file=None, runwayml_api_secret="key_x")).available()


async def test_image_over_runways_limit_is_a_422_at_the_api_and_writes_nothing(db_url, tmp_path):
    """Runway takes the image as a data URI of at most 5 MB: refused when the comparison is
    created (naming the limit), not when the take is submitted, and nothing is written."""
    import io

    import numpy as np
    from PIL import Image
    from sqlalchemy import func, select

    from app.main import create_app
    from app.models import Comparison, Take
    from tests import conftest

    settings = conftest.make_settings(db_url, tmp_path, runwayml_api_secret=API_SECRET,
                                      runway_base_url=f"http://127.0.0.1:{free_port()}")
    noise = np.random.default_rng(7).integers(0, 256, (1000, 1400, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG")   # noise does not compress: ~4.2 MB, 5.6 MB as base64
    data = buf.getvalue()
    assert 5 * 1024 * 1024 < 4 * ((len(data) + 2) // 3) and len(data) < settings.max_upload_bytes
    body = {"prompt": "the ship leaves the harbour", "models": ["runway/gen4-turbo"], "duration_s": 5,
            "image": "data:image/png;base64," + base64.b64encode(data).decode()}
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            r = await c.post("/api/comparisons", json=body)
        async with app.state.db.session() as s:
            rows = [(await s.execute(select(func.count()).select_from(t))).scalar_one() for t in (Comparison, Take)]
    assert r.status_code == 422, r.text
    assert "too large for Runway" in r.text and "3840 KiB at most" in r.text
    assert rows == [0, 0]
    assert not list(settings.media_dir.rglob("source.*")), "the source image was written"


async def test_veo3_is_retired_on_runway_and_refused_by_it(provider, state):
    """Veo 3, which the seed names: Runway's `veo3` is gone from runwayml 5.24.0's request types,
    so the row is retired (the form and the API refuse it before any job, app/comparisons.py), and
    a call that got through anyway is refused by the fake as by Runway: a 400, never a take."""
    veo3 = CATALOG.get("runway/veo-3")
    assert veo3.status == "retired" and not veo3.selectable and veo3.retired_on == "2026-12-01"
    assert "runwayml 5.24.0" in veo3.retired_reason and "docs/providers/runway.md" in veo3.retired_reason
    assert check_request(veo3, duration_s=8, aspect_ratio="16:9", resolution="720p", has_image=False) == [
        f"Veo 3 (Runway) was retired on 2026-12-01: {veo3.retired_reason}"]
    with pytest.raises(ProviderError) as err:
        await provider.submit(veo3, request(veo3, aspect_ratio="9:16", duration_s=8))
    assert err.value.code == "invalid_request" and "Invalid model 'veo3'" in str(err.value)
