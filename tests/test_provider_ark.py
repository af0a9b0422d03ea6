"""The ModelArk (Seedance) adapter against a local fake of Ark's tasks API (tests/fakes/ark.py)."""

from __future__ import annotations

import base64

import av
import httpx
import pytest
from PIL import Image

from app.catalog import check_request, load_catalog
from app.providers.ark import ArkProvider, derived_seed
from app.providers.base import GenerationRequest, JobStatus, ProviderError
from app.settings import Settings
from tests.fakes import free_port, serve
from tests.fakes.ark import create_app

CATALOG = load_catalog()
SD2 = CATALOG.get("ark/seedance-2.0")
FAST = CATALOG.get("ark/seedance-2.0-fast")
PRO15 = CATALOG.get("ark/seedance-1.5-pro")


@pytest.fixture
def fake():
    app, state = create_app()
    with serve(app) as url:
        yield f"{url}/api/v3", state


def make(url: str, key: str | None = "test-ark-key", timeout: float | httpx.Timeout = 10.0, **settings) -> Ark:
    return ArkProvider(Settings(_env_file=None, ark_api_key=key, ark_base_url=url, **settings),
               http=httpx.AsyncClient(timeout=timeout))


@pytest.fixture
async def ark(fake):
    p = make(fake[0])
    yield p
    await p.aclose()


def req(**kw) -> GenerationRequest:
    base = dict(take_id="take-ark-1", prompt="a paper boat on a rainy street", duration_s=5, aspect_ratio="16:9",
                resolution="720p", width=1280, height=720)
    base.update(kw)
    return GenerationRequest(**base)


async def run_to_end(p: Ark, model, remote_id: str, meta: dict, limit: int = 20) -> JobStatus:
    for _ in range(limit):
        st = await p.poll(model, remote_id, meta)
        if st.state in ("succeeded", "failed", "cancelled"):
            return st
    raise AssertionError("task never finished")


async def expect_error(coro) -> ProviderError:
    with pytest.raises(ProviderError) as exc:
        await coro
    return exc.value


# -- lifecycle ------------------------------------------------------------------------------------
async def test_submit_poll_download_gives_a_playable_video(ark, fake, tmp_path):
    _, state = fake
    sub = await ark.submit(SD2, req())
    assert sub.remote_id.startswith("cgt-") and sub.remote_id in state.tasks
    seen = []
    for _ in range(10):
        st = await ark.poll(SD2, sub.remote_id, sub.meta)
        seen.append(st.state)
        if st.state == "succeeded":
            break
    assert seen == ["queued", "running", "succeeded"]
    assert st.meta["framespersecond"] == 24 and st.meta["seed"] == derived_seed("take-ark-1")
    dest = tmp_path / "clip.mp4"
    await ark.download(SD2, st, dest, max_bytes=10_000_000)
    with av.open(str(dest)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12


# -- request mapping ------------------------------------------------------------------------------
async def test_text_to_video_body_uses_ark_field_names(ark, fake):
    _, state = fake
    await ark.submit(SD2, req(duration_s=8, aspect_ratio="9:16", resolution="1080p", audio=True))
    body = state.creates[-1]
    assert body == {
        "model": "dreamina-seedance-2-0-260128",
        "content": [{"type": "text", "text": "a paper boat on a rainy street"}],
        "resolution": "1080p", "ratio": "9:16", "duration": 8,
        "seed": derived_seed("take-ark-1"), "watermark": False,
        "execution_expires_after": 3600,    # TAKE_TIMEOUT_S 1800 clamped up to Ark's minimum
        "generate_audio": True,
    }


async def test_audio_off_and_explicit_seed_are_sent_as_asked(ark, fake):
    _, state = fake
    await ark.submit(PRO15, req(seed=1234, audio=False))
    body = state.creates[-1]
    assert body["model"] == "seedance-1-5-pro-251215"
    assert body["seed"] == 1234 and body["generate_audio"] is False


def test_derived_seed_is_stable_per_take_and_differs_between_takes():
    assert derived_seed("a") == derived_seed("a")
    assert derived_seed("a") != derived_seed("b")
    assert 0 <= derived_seed("a") < 2**31


async def test_image_to_video_sends_a_first_frame_data_url(ark, fake, tmp_path):
    _, state = fake
    img = tmp_path / "first.jpg"
    Image.new("RGB", (640, 360), (20, 90, 200)).save(img)
    await ark.submit(FAST, req(image=img, image_mime="image/jpeg"))
    content = state.creates[-1]["content"]
    assert content[0] == {"type": "text", "text": "a paper boat on a rainy street"}
    assert content[1]["type"] == "image_url" and content[1]["role"] == "first_frame"
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == img.read_bytes()


@pytest.mark.parametrize("timeout_s, expected", [(7200, 7200), (30 * 86400, 259200)])
async def test_execution_expires_after_follows_the_take_timeout(fake, timeout_s, expected):
    url, state = fake
    p = make(url, take_timeout_s=timeout_s)
    await p.submit(SD2, req())
    await p.aclose()
    assert state.creates[-1]["execution_expires_after"] == expected


# -- faults on create -----------------------------------------------------------------------------
@pytest.mark.parametrize("ark_code, our_code, retryable, text", [
    ("InputTextSensitiveContentDetected", "moderation", False, "sensitive information"),
    ("RateLimitExceeded.EndpointRPMExceeded", "rate_limit", True, "rate limit"),
    ("ServerOverloaded", "rate_limit", True, "server overload"),
    ("AccountOverdueError", "quota", False, "overdue balance"),
    ("ModelNotOpen", "invalid_request", False, "activate the model"),
])
async def test_create_refusals_map_from_error_code(ark, fake, ark_code, our_code, retryable, text):
    _, state = fake
    state.fail_next_create = ark_code
    err = await expect_error(ark.submit(SD2, req()))
    assert (err.code, err.retryable) == (our_code, retryable)
    assert text in err.message and ark_code in err.message
    if retryable:
        assert err.retry_after == 3
    assert len(state.creates) == 1


async def test_wrong_key_is_an_auth_error(fake):
    url, state = fake
    p = make(url, key="nope")
    err = await expect_error(p.submit(SD2, req()))
    await p.aclose()
    assert err.code == "auth" and not err.retryable and "API key" in err.message


async def test_parameter_refusal_names_the_parameter(ark, fake):
    # Seedance 1.5 Pro stops at 12 s; the catalog would refuse 20 s first, the fake refuses it too.
    err = await expect_error(ark.submit(PRO15, req(duration_s=20)))
    assert err.code == "invalid_request" and "duration must be between 4 and 12" in err.message


async def test_5xx_on_create_is_outcome_unknown_and_not_retried(ark, fake):
    _, state = fake
    state.fail_next_create = "InternalServiceError"
    err = await expect_error(ark.submit(SD2, req()))
    assert err.code == "outcome_unknown" and not err.retryable
    assert len(state.creates) == 1


async def test_timeout_after_sending_is_outcome_unknown_and_not_retried(fake):
    url, state = fake
    state.hang_next_create = 1.0
    p = make(url, timeout=httpx.Timeout(10.0, read=0.2))
    err = await expect_error(p.submit(SD2, req()))
    await p.aclose()
    assert err.code == "outcome_unknown" and len(state.creates) == 1


async def test_connect_error_before_sending_is_retryable():
    p = make(f"http://127.0.0.1:{free_port()}/api/v3")
    err = await expect_error(p.submit(SD2, req()))
    await p.aclose()
    assert err.code == "provider_error" and err.retryable


# -- poll -----------------------------------------------------------------------------------------
async def test_poll_429_and_5xx_are_retryable_then_it_carries_on(ark, fake):
    _, state = fake
    sub = await ark.submit(SD2, req())
    state.fail_next_get = "RateLimitExceeded.EndpointRPMExceeded"
    err = await expect_error(ark.poll(SD2, sub.remote_id, sub.meta))
    assert err.code == "rate_limit" and err.retryable and err.retry_after == 3
    state.fail_next_get = "InternalServiceError"
    err = await expect_error(ark.poll(SD2, sub.remote_id, sub.meta))
    assert err.code == "provider_error" and err.retryable
    assert (await run_to_end(ark, SD2, sub.remote_id, sub.meta)).state == "succeeded"


async def test_poll_of_an_unknown_task_is_not_retryable(ark, fake):
    err = await expect_error(ark.poll(SD2, "cgt-does-not-exist", {}))
    assert err.code == "provider_error" and not err.retryable and "not found" in err.message


async def test_output_moderation_is_terminal_with_ark_text(ark, fake):
    _, state = fake
    state.fail_task_with = "OutputVideoSensitiveContentDetected.PolicyViolation"
    sub = await ark.submit(SD2, req())
    st = await run_to_end(ark, SD2, sub.remote_id, sub.meta)
    assert st.state == "failed" and st.error.code == "moderation" and not st.error.retryable
    assert "output video may contain sensitive information" in st.error.message


async def test_expired_task_is_a_timeout(ark, fake):
    _, state = fake
    state.expire_tasks = True
    sub = await ark.submit(SD2, req())
    st = await run_to_end(ark, SD2, sub.remote_id, sub.meta)
    assert st.state == "failed" and st.error.code == "timeout" and "3600 s" in st.error.message


async def test_expired_video_url_is_a_download_error(ark, fake, tmp_path):
    _, state = fake
    sub = await ark.submit(SD2, req())
    st = await run_to_end(ark, SD2, sub.remote_id, sub.meta)
    state.expire_downloads = True
    err = await expect_error(ark.download(SD2, st, tmp_path / "x.mp4", max_bytes=10_000_000))
    assert err.code == "download"


# -- cancel ---------------------------------------------------------------------------------------
async def test_cancel_deletes_a_queued_task(ark, fake):
    _, state = fake
    sub = await ark.submit(SD2, req())
    await ark.cancel(SD2, sub.remote_id, sub.meta)
    assert f"DELETE /api/v3/contents/generations/tasks/{sub.remote_id}" in state.requests
    assert (await ark.poll(SD2, sub.remote_id, sub.meta)).state == "cancelled"


async def test_cancel_of_a_running_task_passes_on_arks_refusal(ark, fake):
    _, state = fake
    sub = await ark.submit(SD2, req())
    await ark.poll(SD2, sub.remote_id, sub.meta)
    assert (await ark.poll(SD2, sub.remote_id, sub.meta)).state == "running"
    err = await expect_error(ark.cancel(SD2, sub.remote_id, sub.meta))
    assert err.code == "invalid_request" and "cannot be cancelled" in err.message


async def test_cancel_of_a_task_that_is_gone_is_fine(ark, fake):
    await ark.cancel(SD2, "cgt-gone", {})


# -- reconcile ------------------------------------------------------------------------------------
async def test_reconcile_finds_the_task_by_model_and_derived_seed(ark, fake):
    _, state = fake
    others = [await ark.submit(SD2, req(take_id=f"other-{i}")) for i in range(3)]
    await ark.submit(FAST, req(take_id="crashed"))          # same take id, other model: not a match
    sub = await ark.submit(SD2, req(take_id="crashed"))
    found = await ark.reconcile(SD2, req(take_id="crashed"))
    assert found is not None and found.remote_id == sub.remote_id
    assert found.remote_id not in {o.remote_id for o in others}


async def test_reconcile_returns_none_when_it_cannot_tell(ark, fake):
    assert await ark.reconcile(SD2, req(take_id="never-sent")) is None
    await ark.submit(SD2, req(take_id="seeded", seed=42))
    assert await ark.reconcile(SD2, req(take_id="seeded", seed=42)) is None   # user seeds can repeat
    await ark.submit(SD2, req(take_id="twice"))
    await ark.submit(SD2, req(take_id="twice"))
    assert await ark.reconcile(SD2, req(take_id="twice")) is None             # ambiguous


# -- the official SDK against the fake ------------------------------------------------------------
async def test_official_ark_sdk_drives_the_fake(fake):
    from volcenginesdkarkruntime import AsyncArk

    url, state = fake
    client = AsyncArk(base_url=url, api_key="test-ark-key", max_retries=0)
    created = await client.content_generation.tasks.create(
        model="dreamina-seedance-2-0-260128", content=[{"type": "text", "text": "a lighthouse at dusk"}],
        resolution="720p", ratio="16:9", duration=5, seed=7, generate_audio=False, execution_expires_after=3600)
    assert created.id in state.tasks
    task = None
    for _ in range(5):
        task = await client.content_generation.tasks.get(task_id=created.id)
        if task.status == "succeeded":
            break
    assert task.status == "succeeded" and task.content.video_url.endswith(".mp4?X-Tos-Expires=86400&X-Tos-Signature=fake")
    assert (task.seed, task.duration, task.ratio, task.resolution) == (7, 5, "16:9", "720p")
    listing = await client.content_generation.tasks.list(page_num=1, page_size=10, model="dreamina-seedance-2-0-260128",
                                                         status="succeeded", task_ids=[created.id])
    assert listing.total == 1 and listing.items[0].id == created.id
    await client.content_generation.tasks.delete(created.id)
    assert created.id not in state.tasks
    await client.close()


# -- Seedance 2.5 first-frame ratio (issue 13) ----------------------------------------------------
SD25 = CATALOG.get("ark/seedance-2.5")


async def test_seedance_25_first_frame_requests_send_an_adaptive_ratio(ark, fake, tmp_path):
    _, state = fake
    img = tmp_path / "first.png"
    Image.new("RGB", (640, 480), (20, 90, 200)).save(img)
    await ark.submit(SD25, req(image=img, image_mime="image/png", aspect_ratio="16:9"))
    await ark.submit(SD25, req(aspect_ratio="9:16"))                      # text-to-video: the ratio asked
    await ark.submit(SD2, req(image=img, image_mime="image/png", aspect_ratio="16:9"))  # 2.0: as before
    assert [c["ratio"] for c in state.creates] == ["adaptive", "9:16", "16:9"]
    # a crashed first-frame submit is still found: the task lists the ratio that was sent
    found = await ark.reconcile(SD25, req(image=img, image_mime="image/png", aspect_ratio="16:9"))
    assert found is not None and found.meta["model"] == SD25.endpoint


async def test_official_ark_sdk_sends_an_adaptive_ratio_the_fake_accepts(fake):
    from volcenginesdkarkruntime import AsyncArk

    url, state = fake
    client = AsyncArk(base_url=url, api_key="test-ark-key", max_retries=0)
    created = await client.content_generation.tasks.create(
        model=SD25.endpoint, content=[{"type": "text", "text": "a lighthouse"},
                                      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"},
                                       "role": "first_frame"}],
        resolution="720p", ratio="adaptive", duration=5, seed=7, execution_expires_after=3600)
    task = await client.content_generation.tasks.get(task_id=created.id)
    assert task.ratio == "adaptive" and state.creates[-1]["ratio"] == "adaptive"
    await client.close()


def test_unverified_ids_are_marked_as_such():
    mini = CATALOG.get("ark/seedance-2.0-mini")
    assert mini.unverified and SD25.unverified and not SD2.unverified
    assert "dreamina-seedance-2-0-mini with no date suffix" in mini.description
    assert "adaptive" in SD25.description


# -- catalog --------------------------------------------------------------------------------------
def test_catalog_entries_and_statuses():
    assert SD2.endpoint == "dreamina-seedance-2-0-260128" and SD2.status == "live"
    assert FAST.resolutions == ("480p", "720p")
    assert CATALOG.get("ark/seedance-2.0-mini").status == "unverified"
    assert CATALOG.get("ark/seedance-2.5").status == "unverified"
    assert CATALOG.get("ark/seedance-2.5").duration_range == (4, 30)
    assert PRO15.price_for(10, audio=True) == pytest.approx(0.518)


def test_check_request_names_what_the_model_accepts():
    text = " | ".join(check_request(FAST, duration_s=3, aspect_ratio="2:1", resolution="1080p", has_image=False,
                                    negative_prompt="blurry"))
    assert "accepts 4–15 s" in text and "accepts 480p, 720p" in text
    assert "accepts 16:9, 9:16, 1:1, 4:3, 3:4, 21:9" in text and "negative prompt" in text
    assert check_request(SD2, duration_s=15, aspect_ratio="21:9", resolution="1080p", has_image=True, audio=True) == []


def test_available_needs_the_key():
    assert not ArkProvider(Settings(_env_file=None, ark_api_key=None)).available()
    assert ArkProvider(Settings(_env_file=None, ark_api_key=None)).missing_keys() == ["ARK_API_KEY"]
    assert ArkProvider(Settings(_env_file=None, ark_api_key="k")).available()
