"""The MiniMax adapter against a local fake of MiniMax's v1 API (tests/fakes/minimax.py)."""

from __future__ import annotations

import base64

import av
import httpx
import pytest
from PIL import Image

from app.catalog import check_request, load_catalog
from app.providers.base import GenerationRequest, JobStatus, ProviderError
from app.providers.minimax import MiniMaxProvider
from app.settings import Settings
from tests.fakes import free_port, serve
from tests.fakes.minimax import create_app

CATALOG = load_catalog()
HAILUO_23 = CATALOG.get("minimax/hailuo-2.3")
HAILUO_02 = CATALOG.get("minimax/hailuo-02")
FAST = CATALOG.get("minimax/hailuo-2.3-fast")


@pytest.fixture
def fake():
    app, state = create_app()
    with serve(app) as url:
        yield url, state


def make(url: str, key: str | None = "test-minimax-key", timeout: float | httpx.Timeout = 10.0) -> MiniMaxProvider:
    settings = Settings(_env_file=None, minimax_api_key=key, minimax_base_url=url)
    return MiniMaxProvider(settings, http=httpx.AsyncClient(timeout=timeout))


@pytest.fixture
async def mm(fake):
    p = make(fake[0])
    yield p
    await p.aclose()


def req(**kw) -> GenerationRequest:
    base = dict(take_id="take-mm-1", prompt="a red fox trotting through snow", duration_s=6, aspect_ratio="16:9",
                resolution="768p", width=1366, height=768)
    base.update(kw)
    return GenerationRequest(**base)


async def run_to_end(p: MiniMaxProvider, model, remote_id: str, meta: dict, limit: int = 20) -> JobStatus:
    for _ in range(limit):
        st = await p.poll(model, remote_id, meta)
        if st.state in ("succeeded", "failed", "cancelled"):
            return st
    raise AssertionError("task never finished")


# -- lifecycle ------------------------------------------------------------------------------------
async def test_submit_poll_download_gives_a_playable_video(mm, fake, tmp_path):
    _, state = fake
    sub = await mm.submit(HAILUO_23, req())
    assert sub.remote_id in state.tasks
    seen = []
    for _ in range(10):
        st = await mm.poll(HAILUO_23, sub.remote_id, sub.meta)
        seen.append(st.state)
        if st.state == "succeeded":
            break
    assert seen == ["queued", "running", "succeeded"]
    assert st.result_url and "/signed/" in st.result_url
    dest = tmp_path / "clip.mp4"
    await mm.download(HAILUO_23, st, dest, max_bytes=10_000_000)
    with av.open(str(dest)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (160, 90)
        assert sum(1 for _ in container.decode(stream)) == 12
    assert st.meta["width"] == 1366


# -- request mapping ------------------------------------------------------------------------------
async def test_text_to_video_body_uses_minimax_field_names(mm, fake):
    _, state = fake
    await mm.submit(HAILUO_02, req(duration_s=10, resolution="768p"))
    body = state.creates[-1]
    assert body == {"model": "MiniMax-Hailuo-02", "prompt": "a red fox trotting through snow",
                    "duration": 10, "resolution": "768P", "prompt_optimizer": False}


async def test_image_to_video_sends_the_image_as_a_data_url(mm, fake, tmp_path):
    _, state = fake
    img = tmp_path / "first.png"
    Image.new("RGB", (400, 300), (200, 40, 40)).save(img)
    await mm.submit(FAST, req(resolution="1080p", image=img, image_mime="image/png"))
    body = state.creates[-1]
    assert body["model"] == "MiniMax-Hailuo-2.3-Fast"
    assert body["resolution"] == "1080P" and body["duration"] == 6
    prefix = "data:image/png;base64,"
    assert body["first_frame_image"].startswith(prefix)
    assert base64.b64decode(body["first_frame_image"][len(prefix):]) == img.read_bytes()


async def test_1080p_at_10s_is_refused_before_anything_is_sent(mm, fake):
    _, state = fake
    problems = mm.validate(HAILUO_23, req(duration_s=10, resolution="1080p"))
    assert len(problems) == 1 and "1080p only at 6 s" in problems[0] and "it accepts 768p" in problems[0]
    assert mm.validate(HAILUO_23, req(duration_s=6, resolution="1080p")) == []
    assert mm.validate(HAILUO_23, req(duration_s=10, resolution="768p")) == []
    with pytest.raises(ProviderError) as exc:
        await mm.submit(HAILUO_23, req(duration_s=10, resolution="1080p"))
    assert exc.value.code == "invalid_request" and "768p" in exc.value.message
    assert state.creates == []


# -- faults on create -----------------------------------------------------------------------------
@pytest.mark.parametrize("base_code, our_code, retryable, text", [
    (1002, "rate_limit", True, "rate limit"),
    (1008, "quota", False, "insufficient balance"),
    (1026, "moderation", False, "sensitive content"),
    (2013, "invalid_request", False, "invalid params"),
])
async def test_http_200_refusals_map_from_base_resp(mm, fake, base_code, our_code, retryable, text):
    _, state = fake
    state.base_error_next_create = base_code
    with pytest.raises(ProviderError) as exc:
        await mm.submit(HAILUO_23, req())
    assert (exc.value.code, exc.value.retryable) == (our_code, retryable)
    assert text in exc.value.message and f"({base_code})" in exc.value.message
    assert len(state.creates) == 1


async def test_wrong_key_is_an_auth_error_with_minimax_text(fake):
    url, state = fake
    p = make(url, key="wrong")
    with pytest.raises(ProviderError) as exc:
        await p.submit(HAILUO_23, req())
    await p.aclose()
    assert exc.value.code == "auth" and not exc.value.retryable
    assert "login fail" in exc.value.message


async def test_wrong_key_refused_with_http_401_is_an_auth_error_too(fake):
    url, state = fake
    state.auth_as_http_401 = True
    p = make(url, key="wrong")
    with pytest.raises(ProviderError) as exc:
        await p.submit(HAILUO_23, req())
    await p.aclose()
    assert exc.value.code == "auth" and exc.value.status == 401 and "login fail" in exc.value.message


async def test_429_on_create_is_retryable_with_retry_after(mm, fake):
    _, state = fake
    state.fail_next_create = 429
    with pytest.raises(ProviderError) as exc:
        await mm.submit(HAILUO_23, req())
    assert exc.value.code == "rate_limit" and exc.value.retryable and exc.value.retry_after == 7


async def test_5xx_on_create_is_outcome_unknown_and_not_retried(mm, fake):
    _, state = fake
    state.fail_next_create = 502
    with pytest.raises(ProviderError) as exc:
        await mm.submit(HAILUO_23, req())
    assert exc.value.code == "outcome_unknown" and not exc.value.retryable
    assert len(state.creates) == 1


async def test_timeout_after_sending_is_outcome_unknown_and_not_retried(fake):
    url, state = fake
    state.hang_next_create = 1.0
    p = make(url, timeout=httpx.Timeout(10.0, read=0.2))
    with pytest.raises(ProviderError) as exc:
        await p.submit(HAILUO_23, req())
    await p.aclose()
    assert exc.value.code == "outcome_unknown" and not exc.value.retryable
    assert len(state.creates) == 1


async def test_connect_error_before_sending_is_retryable():
    p = make(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ProviderError) as exc:
        await p.submit(HAILUO_23, req())
    await p.aclose()
    assert exc.value.code == "provider_error" and exc.value.retryable


# -- faults on poll -------------------------------------------------------------------------------
async def test_poll_429_and_5xx_are_retryable(mm, fake):
    _, state = fake
    sub = await mm.submit(HAILUO_23, req())
    state.fail_next_query = 429
    with pytest.raises(ProviderError) as exc:
        await mm.poll(HAILUO_23, sub.remote_id, sub.meta)
    assert exc.value.code == "rate_limit" and exc.value.retryable and exc.value.retry_after == 7
    state.fail_next_query = 503
    with pytest.raises(ProviderError) as exc:
        await mm.poll(HAILUO_23, sub.remote_id, sub.meta)
    assert exc.value.retryable
    st = await run_to_end(mm, HAILUO_23, sub.remote_id, sub.meta)
    assert st.state == "succeeded"


async def test_poll_base_resp_refusal_is_mapped(mm, fake):
    _, state = fake
    sub = await mm.submit(HAILUO_23, req())
    state.base_error_next_query = 1004
    with pytest.raises(ProviderError) as exc:
        await mm.poll(HAILUO_23, sub.remote_id, sub.meta)
    assert exc.value.code == "auth" and not exc.value.retryable
    state.base_error_next_query = 1002
    with pytest.raises(ProviderError) as exc:
        await mm.poll(HAILUO_23, sub.remote_id, sub.meta)
    assert exc.value.code == "rate_limit" and exc.value.retryable


async def test_output_moderation_is_terminal_with_minimax_text(mm, fake):
    _, state = fake
    state.fail_task_with = 1027
    sub = await mm.submit(HAILUO_23, req())
    st = await run_to_end(mm, HAILUO_23, sub.remote_id, sub.meta)
    assert st.state == "failed"
    assert st.error.code == "moderation" and not st.error.retryable
    assert "output video contains sensitive content" in st.error.message


async def test_transient_task_failure_code_is_not_retryable_once_the_task_failed(mm, fake):
    _, state = fake
    state.fail_task_with = 1000
    sub = await mm.submit(HAILUO_23, req())
    st = await run_to_end(mm, HAILUO_23, sub.remote_id, sub.meta)
    assert st.state == "failed" and st.error.code == "provider_error" and not st.error.retryable


async def test_expired_download_url_is_a_download_error(mm, fake, tmp_path):
    _, state = fake
    sub = await mm.submit(HAILUO_23, req())
    st = await run_to_end(mm, HAILUO_23, sub.remote_id, sub.meta)
    state.expire_downloads = True
    with pytest.raises(ProviderError) as exc:
        await mm.download(HAILUO_23, st, tmp_path / "x.mp4", max_bytes=10_000_000)
    assert exc.value.code == "download" and "expired" in exc.value.message
    assert not (tmp_path / "x.mp4").exists()


# -- cancel / reconcile ---------------------------------------------------------------------------
async def test_cancel_sends_nothing_because_minimax_has_no_cancel_call(mm, fake):
    _, state = fake
    sub = await mm.submit(HAILUO_23, req())
    before = list(state.requests)
    await mm.cancel(HAILUO_23, sub.remote_id, sub.meta)
    assert state.requests == before


async def test_reconcile_cannot_tell_without_a_client_key(mm, fake):
    assert await mm.reconcile(HAILUO_23, req()) is None


# -- catalog --------------------------------------------------------------------------------------
def test_catalog_entries_load_with_their_endpoints():
    assert HAILUO_02.endpoint == "MiniMax-Hailuo-02"
    assert HAILUO_23.endpoint == "MiniMax-Hailuo-2.3"
    assert FAST.modes == ("i2v",)
    for m in (HAILUO_02, HAILUO_23, FAST):
        assert m.provider == "minimax" and m.durations == (6, 10) and m.max_prompt_chars == 2000
        assert m.durations_by_resolution == {"1080p": (6,)}


def test_check_request_names_what_the_model_accepts():
    errs = check_request(HAILUO_23, duration_s=5, aspect_ratio="9:16", resolution="720p", has_image=False,
                         audio=True, negative_prompt="blur")
    text = " | ".join(errs)
    assert "accepts 6, 10 s" in text
    assert "accepts 16:9" in text
    assert "accepts 768p, 1080p" in text
    assert "does not generate audio" in text
    assert "negative prompt" in text
    assert check_request(FAST, duration_s=6, aspect_ratio="16:9", resolution="768p", has_image=False) == [
        "Hailuo 2.3 Fast (MiniMax) is image-to-video only: add a source image"]
    assert check_request(HAILUO_23, duration_s=6, aspect_ratio="16:9", resolution="1080p", has_image=True) == []


def test_available_needs_the_key():
    assert not MiniMaxProvider(Settings(_env_file=None, minimax_api_key=None)).available()
    assert MiniMaxProvider(Settings(_env_file=None, minimax_api_key=None)).missing_keys() == ["MINIMAX_API_KEY"]
    assert MiniMaxProvider(Settings(_env_file=None, minimax_api_key="k")).available()


def test_registry_discovers_the_adapter():
    from app.providers import provider_class

    assert provider_class("minimax") is MiniMaxProvider


async def test_prompt_optimizer_is_off_unless_the_comparison_allows_rewriting(mm, fake):
    """MiniMax rewrites prompts unless told not to; a comparison sends every model the same words."""
    _, state = fake
    await mm.submit(HAILUO_02, req(duration_s=6, resolution="768p"))
    await mm.submit(HAILUO_02, req(duration_s=6, resolution="768p", rewrite_prompt=True))
    assert [c["prompt_optimizer"] for c in state.creates[-2:]] == [False, True]
