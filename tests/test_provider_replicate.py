"""Replicate adapter against the local fake of Replicate's predictions API (tests/fakes/replicate.py)."""

from __future__ import annotations

from pathlib import Path

import av
import httpx
import pytest

from app.catalog import check_request, load_catalog
from app.providers import provider_class
from app.providers.base import GenerationRequest, ProviderError
from app.providers.replicate import ReplicateProvider, failure, first_url
from app.settings import Settings
from tests.fakes import serve
from tests.fakes.replicate import NSFW_ERROR, ReplicateState, create_app

CATALOG = load_catalog()
TOKEN = ReplicateState().token


@pytest.fixture(scope="module")
def fake():
    state = ReplicateState()
    with serve(create_app(state)) as url:
        yield url, state


@pytest.fixture
def state(fake):
    _, st = fake
    st.__dict__.update(ReplicateState().__dict__)
    return st


@pytest.fixture
async def provider(fake, state):
    url, _ = fake
    settings = Settings(_env_file=None, replicate_api_token=TOKEN, replicate_base_url=url, take_timeout_s=1800)
    p = ReplicateProvider(settings, http=httpx.AsyncClient(timeout=httpx.Timeout(10.0)))
    yield p
    await p.aclose()


@pytest.fixture
def png(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "first.jpg"
    Image.new("RGB", (64, 36), (10, 120, 200)).save(path)
    return path


def model(model_id: str):
    spec = CATALOG.get(model_id)
    assert spec is not None, model_id
    return spec


def request(**kw) -> GenerationRequest:
    base = dict(take_id="take-1", prompt="a paper boat in a gutter stream", duration_s=5, aspect_ratio="16:9",
                resolution="1080p", width=1920, height=1080)
    base.update(kw)
    return GenerationRequest(**base)


async def run_to_end(p, spec, sub, limit=10):
    for _ in range(limit):
        st = await p.poll(spec, sub.remote_id, sub.meta)
        if st.state in ("succeeded", "failed", "cancelled"):
            return st
    raise AssertionError("the fake never finished")


# ---------------------------------------------------------------------- lifecycle
async def test_lifecycle_submit_poll_download_playable(provider, state, tmp_path):
    spec = model("replicate/kling-v2.1-master")
    sub = await provider.submit(spec, request())
    assert sub.meta["get"].endswith(f"/v1/predictions/{sub.remote_id}")

    seen = []
    for _ in range(5):
        st = await provider.poll(spec, sub.remote_id, sub.meta)
        seen.append((st.state, st.progress))
        if st.state == "succeeded":
            break
    assert seen[0] == ("queued", None)
    assert ("running", 0.45) in seen  # the last tqdm line of the logs
    assert seen[-1][0] == "succeeded"

    dest = tmp_path / "clip.mp4"
    await provider.download(spec, st, dest, max_bytes=5_000_000)
    with av.open(str(dest)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 12
    assert len(state.creates) == 1


async def test_create_headers_path_and_deadline(provider, state):
    await provider.submit(model("replicate/kling-v2.1-master"), request())
    c = state.creates[0]
    assert c["path"] == "/v1/models/kwaivgi/kling-v2.1-master/predictions"
    assert c["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert c["headers"]["cancel-after"] == "30m"  # TAKE_TIMEOUT_S=1800 in whole minutes
    assert set(c["body"]) == {"input"}


async def test_versioned_endpoint_posts_to_predictions(provider, state):
    from dataclasses import replace

    spec = replace(model("replicate/kling-v2.1-master"), endpoint="kwaivgi/kling-v2.1-master:abc123")
    await provider.submit(spec, request())
    assert state.creates[0]["path"] == "/v1/predictions" and state.creates[0]["body"]["version"] == "abc123"


# ---------------------------------------------------------------------- request mapping
async def test_mapping_kling_start_image(provider, state, png):
    await provider.submit(model("replicate/kling-v2.1-master"),
                          request(duration_s=10, aspect_ratio="1:1", negative_prompt="blurry", image=png))
    inp = state.creates[0]["body"]["input"]
    assert inp["duration"] == 10 and inp["aspect_ratio"] == "1:1" and inp["negative_prompt"] == "blurry"
    assert inp["start_image"].startswith("data:image/jpeg;base64,/9j/")
    assert "resolution" not in inp and "seed" not in inp


async def test_mapping_kling_v3_sends_the_priced_mode(provider, state):
    """The catalog prices Kling 3 at its pro rate, so the request must ask for pro, not rely
    on the model's default."""
    spec = model("replicate/kling-v3")
    await provider.submit(spec, request(duration_s=7, audio=True))
    inp = state.creates[0]["body"]["input"]
    assert inp["mode"] == "pro" and inp["duration"] == 7 and inp["generate_audio"] is True
    assert spec.price_for(7, True) == pytest.approx(7 * 0.336)


async def test_mapping_veo(provider, state):
    await provider.submit(model("replicate/veo-3.1"), request(duration_s=8, aspect_ratio="9:16", resolution="720p",
                                                              audio=True, seed=5, negative_prompt="rain"))
    assert state.creates[0]["body"]["input"] == {
        "prompt": "a paper boat in a gutter stream", "duration": 8, "aspect_ratio": "9:16", "resolution": "720p",
        "generate_audio": True, "negative_prompt": "rain", "seed": 5}


async def test_mapping_hailuo_first_frame_no_aspect(provider, state, png):
    await provider.submit(model("replicate/hailuo-02"), request(duration_s=6, resolution="768p", image=png))
    inp = state.creates[0]["body"]["input"]
    assert set(inp) == {"prompt", "duration", "resolution", "first_frame_image", "prompt_optimizer"}
    assert inp["resolution"] == "768p" and inp["prompt_optimizer"] is False


async def test_duration_refused_at_this_resolution_before_any_call(provider, state):
    with pytest.raises(ProviderError) as err:
        await provider.submit(model("replicate/hailuo-02"), request(duration_s=10, resolution="1080p"))
    assert err.value.code == "invalid_request"
    assert err.value.message == "Hailuo 02 (Replicate) renders 1080p only at 6 s (not 10 s); at 10 s it accepts 768p"
    assert state.creates == []


# ---------------------------------------------------------------------- submit faults
@pytest.mark.parametrize("status,code,retryable,words", [
    (401, "auth", False, "valid authentication token"),
    (402, "quota", False, "insufficient credit"),
    (404, "invalid_request", False, "could not be found"),
    (422, "invalid_request", False, "duration must be one of the following: 5, 10"),
    (429, "rate_limit", True, "throttled"),
    (503, "provider_error", True, "temporarily unavailable"),
    (500, "outcome_unknown", False, "Something went wrong"),
])
async def test_submit_faults(provider, state, status, code, retryable, words):
    state.fail_next_create = status
    with pytest.raises(ProviderError) as err:
        await provider.submit(model("replicate/kling-v2.1-master"), request())
    assert (err.value.code, err.value.retryable) == (code, retryable)
    assert words in err.value.message
    assert len(state.creates) == 1
    if status in (429, 503):
        assert err.value.retry_after == 9


async def test_submit_timeout_after_send_is_outcome_unknown(provider, state):
    state.fail_next_create, state.hang_s = "hang", 0.6
    await provider.http.aclose()
    provider._http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=0.2))  # the answer comes after our read timeout
    with pytest.raises(ProviderError) as err:
        await provider.submit(model("replicate/kling-v2.1-master"), request())
    assert err.value.code == "outcome_unknown" and len(state.creates) == 1 and len(state.predictions) == 1


# ---------------------------------------------------------------------- poll outcomes and faults
@pytest.mark.parametrize("status,code", [(429, "rate_limit"), (502, "provider_error"), (500, "provider_error")])
async def test_poll_transient_errors_retryable(provider, state, status, code):
    spec = model("replicate/veo-3.1")
    sub = await provider.submit(spec, request(duration_s=8, resolution="720p"))
    state.fail_next_get = status
    with pytest.raises(ProviderError) as err:
        await provider.poll(spec, sub.remote_id, sub.meta)
    assert err.value.retryable and err.value.code == code
    if status == 429:
        assert err.value.retry_after == 9


async def test_poll_auth_failure_is_terminal(provider, state):
    spec = model("replicate/veo-3.1")
    sub = await provider.submit(spec, request(duration_s=8, resolution="720p"))
    state.fail_next_get = 401
    with pytest.raises(ProviderError) as err:
        await provider.poll(spec, sub.remote_id, sub.meta)
    assert err.value.code == "auth" and not err.value.retryable


async def test_moderation_failure_is_terminal_with_replicate_text(provider, state):
    spec = model("replicate/kling-v2.1-master")
    state.next_outcome = "moderation"
    sub = await provider.submit(spec, request())
    st = await run_to_end(provider, spec, sub)
    assert st.state == "failed" and st.error.code == "moderation" and not st.error.retryable
    assert st.error.message == NSFW_ERROR


async def test_other_failure_is_provider_error_with_text(provider, state):
    spec = model("replicate/kling-v2.1-master")
    state.next_outcome = "error"
    sub = await provider.submit(spec, request())
    st = await run_to_end(provider, spec, sub)
    assert st.state == "failed" and st.error.code == "provider_error"
    assert st.error.message == "CUDA out of memory while sampling"


async def test_aborted_by_deadline_is_timeout(provider, state):
    spec = model("replicate/kling-v2.1-master")
    state.next_outcome = "aborted"
    sub = await provider.submit(spec, request())
    st = await run_to_end(provider, spec, sub)
    assert st.state == "failed" and st.error.code == "timeout" and "not charged" in st.error.message


async def test_list_output_picks_the_video(provider, state):
    spec = model("replicate/kling-v2.1-master")
    state.next_outcome = "list_output"
    sub = await provider.submit(spec, request())
    st = await run_to_end(provider, spec, sub)
    assert st.state == "succeeded" and st.result_url.endswith("/output.mp4")


async def test_expired_output_is_download_error(provider, state, tmp_path):
    spec = model("replicate/kling-v2.1-master")
    sub = await provider.submit(spec, request())
    st = await run_to_end(provider, spec, sub)
    state.expire_results = True
    with pytest.raises(ProviderError) as err:
        await provider.download(spec, st, tmp_path / "x.mp4", 5_000_000)
    assert err.value.code == "download"


def test_moderation_heuristic_words():
    assert failure("NSFW content detected in output").code == "moderation"
    assert failure("Your prompt violates our content policy").code == "moderation"
    assert failure("Prediction timed out").code == "timeout"
    assert failure("something broke").code == "provider_error"
    assert first_url(["https://x/a.png", "https://x/b.mp4?sig=1"]) == "https://x/b.mp4?sig=1"
    assert first_url({"video": "https://x/v.mp4"}) == "https://x/v.mp4"


# ---------------------------------------------------------------------- cancel
async def test_cancel_posts_cancel_url(provider, state):
    spec = model("replicate/kling-v2.1-master")
    sub = await provider.submit(spec, request())
    await provider.cancel(spec, sub.remote_id, sub.meta)
    assert state.cancels == [sub.remote_id]
    st = await provider.poll(spec, sub.remote_id, sub.meta)
    assert st.state == "cancelled"


# ---------------------------------------------------------------------- official SDK drives the fake
async def test_replicate_sdk_against_fake(fake, state):
    import replicate

    url, _ = fake
    client = replicate.Client(api_token=TOKEN, base_url=url)
    pred = await client.predictions.async_create(model="kwaivgi/kling-v2.1-master",
                                                 input={"prompt": "boat", "duration": 5})
    assert pred.status == "starting" and state.creates[0]["body"] == {"input": {"prompt": "boat", "duration": 5}}
    pred = await client.predictions.async_get(pred.id)
    pred = await client.predictions.async_get(pred.id)
    assert pred.status == "processing" and pred.progress.percentage == 0.45
    pred = await client.predictions.async_get(pred.id)
    assert pred.status == "succeeded" and pred.output.endswith("/output.mp4")

    other = client.predictions.create(model="kwaivgi/kling-v2.1-master", input={"prompt": "x"})
    canceled = client.predictions.cancel(other.id)
    assert canceled.status == "canceled" and state.cancels == [other.id]

    state.fail_next_create = 422
    with pytest.raises(replicate.exceptions.ReplicateError) as err:
        client.predictions.create(model="kwaivgi/kling-v2.1-master", input={"prompt": "x", "duration": 7})
    assert err.value.status == 422 and "duration must be one of" in err.value.detail


# ---------------------------------------------------------------------- catalog and availability
def test_catalog_refuses_unsupported_combinations():
    veo = model("replicate/veo-3.1")
    errs = check_request(veo, duration_s=5, aspect_ratio="1:1", resolution="4k", has_image=False)
    assert errs == ["Veo 3.1 (Replicate) does not support 5 s; it accepts 4, 6, 8 s",
                    "Veo 3.1 (Replicate) does not support aspect ratio 1:1; it accepts 16:9, 9:16",
                    "Veo 3.1 (Replicate) does not support 4k; it accepts 720p, 1080p"]
    wan = model("replicate/wan-2.5-t2v")
    assert "text-to-video only" in check_request(wan, duration_s=5, aspect_ratio="16:9", resolution="720p",
                                                 has_image=True)[0]


def test_sora_entries_are_retired():
    for mid in ("replicate/sora-2", "replicate/sora-2-pro"):
        spec = model(mid)
        assert spec.status == "retired" and not spec.selectable and spec.retired_on == "2026-09-24"
        errs = check_request(spec, duration_s=4, aspect_ratio="16:9", resolution="720p", has_image=False)
        assert errs and "retired on 2026-09-24" in errs[0]


def test_every_replicate_entry_names_owner_and_model():
    entries = [m for m in CATALOG if m.provider == "replicate"]
    assert provider_class("replicate") is ReplicateProvider
    families = {m.endpoint.split("/")[0] for m in entries}
    assert {"kwaivgi", "bytedance", "minimax", "wan-video", "lightricks", "luma", "google", "openai"} <= families


def test_available_only_with_token():
    assert not ReplicateProvider(Settings(_env_file=None)).available()
    assert ReplicateProvider(Settings(_env_file=None)).missing_keys() == ["REPLICATE_API_TOKEN"]
    assert ReplicateProvider(Settings(_env_file=None, replicate_api_token="r8_x")).available()


def test_kling_v3_price_is_marked_unverified_with_both_quotes():
    """Two public sources give half the quoted pro rate; Replicate's page could not be read, so
    the quote stays (an upper bound for budgets) and is marked unverified until a price is read."""
    spec = model("replicate/kling-v3")
    assert spec.price_unverified
    assert "$0.112/s and $0.168/s with audio" in spec.price_source and spec.price_source.startswith("unverified")
    assert not model("replicate/veo-3.1").price_unverified


def test_a_price_read_from_the_page_clears_the_unverified_mark(tmp_path):
    (tmp_path / "replicate-prices.toml").write_text(
        '[[price]]\nid = "replicate/kling-v3"\nprice_per_second = 0.112\nprice_per_second_audio = 0.168\n'
        'price_source = "https://replicate.com/kwaivgi/kling-v3-video"\nprice_date = "2026-12-01"\n')
    spec = load_catalog(tmp_path).get("replicate/kling-v3")
    assert not spec.price_unverified and spec.price_for(5, True) == pytest.approx(0.84)
