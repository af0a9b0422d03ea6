"""The take state machine with a scripted provider: crash resumption, reconcile, retries,
leases, per-provider concurrency, cancel and timeouts. Runs on SQLite and PostgreSQL."""

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from app.boards import default_board
from app.catalog import ModelSpec
from app.jobs.context import JobContext
from app.jobs.generate import LeaseLost, Step, generate_take
from app.models import Comparison, Take, utcnow
from app.providers.base import JobStatus, Provider, ProviderError, Submission
from app.providers.demo_render import render_clip

SPEC = ModelSpec(id="scripted/m", provider="scripted", name="Scripted", durations=(2,), resolutions=("360p",),
                 price_per_second=0.5)


class Scripted(Provider):
    name = "scripted"

    def __init__(self, settings, clip: Path):
        super().__init__(settings)
        self.clip = clip
        self.submits: list[str] = []
        self.submit_times: list[float] = []
        self.submit_errors: list[Exception] = []
        self.during_submit = None       # async hook run while the create call is "in flight"
        self.reconcile_errors: list[Exception] = []
        self.poll_script: list = []     # JobStatus or ProviderError, consumed in order; then succeeded
        self.reconciled: Submission | None = None
        self.cancelled: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.polls = 0

    async def submit(self, model, req):
        self.submits.append(req.take_id)
        self.submit_times.append(time.monotonic())
        if self.during_submit:
            await self.during_submit(req.take_id)
        if self.submit_errors:
            raise self.submit_errors.pop(0)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return Submission(f"r-{req.take_id}-{len(self.submits)}", {"k": "v"})

    async def poll(self, model, remote_id, meta):
        assert meta == {"k": "v"}
        self.polls += 1
        if self.poll_script:
            item = self.poll_script.pop(0)
            if isinstance(item, Exception):
                raise item
            return item
        self.in_flight -= 1
        return JobStatus("succeeded", result_url="mem://clip")

    async def download(self, model, status, dest, max_bytes):
        if status.result_url == "mem://expired":
            raise ProviderError("download", "result URL no longer available (HTTP 404): it may have expired")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(self.clip.read_bytes())

    async def reconcile(self, model, req):
        if self.reconcile_errors:
            raise self.reconcile_errors.pop(0)
        return self.reconciled

    async def cancel(self, model, remote_id, meta):
        self.cancelled.append(remote_id)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return render_clip(tmp_path_factory.mktemp("clip") / "c.mp4", look="blocks", width=320, height=180, fps=16,
                       duration_s=2, prompt="x")


@pytest.fixture
async def ctx(settings, clip):
    c = JobContext.create(settings)
    c.catalog.models[SPEC.id] = SPEC
    c.providers._instances["scripted"] = Scripted(settings, clip)
    yield c
    await c.db.dispose()


@pytest.fixture
def provider(ctx) -> Scripted:
    return ctx.providers._instances["scripted"]


async def make_take(ctx, model_id: str = SPEC.id, params: dict | None = None, **fields) -> str:
    """One comparison with one take of `model_id` (the scripted model unless told), straight in the DB."""
    params = params or {"duration_s": 2, "aspect_ratio": "16:9", "resolution": "360p"}
    async with ctx.db.session() as s:
        board = await default_board(s)
        c = Comparison(board_id=board.id, prompt="a glass whale over a city", params=params)
        s.add(c)
        await s.flush()
        t = Take(comparison_id=c.id, model_id=model_id, provider=ctx.catalog.get(model_id).provider, **fields)
        s.add(t)
        await s.commit()
        return t.id


async def get(ctx, take_id) -> Take:
    async with ctx.db.session() as s:
        return await s.get(Take, take_id)


async def test_happy_path_records_everything(ctx, provider):
    tid = await make_take(ctx)
    assert await generate_take(ctx, tid) == "ready"
    t = await get(ctx, tid)
    assert t.status == "ready" and t.remote_id == f"r-{tid}-1" and t.remote_meta == {"k": "v"}
    assert t.fps == 16 and t.width == 320 and abs(t.duration_s - 2) < 0.1 and t.poster_key and t.clip_key
    assert t.cost_usd == pytest.approx(1.0) and t.lease_owner is None and t.finished_at >= t.submitted_at
    assert provider.submits == [tid]


async def test_resumes_a_submitted_take_by_polling_never_submitting(ctx, provider):
    tid = await make_take(ctx, status="running", remote_id="r-x-1", remote_meta={"k": "v"}, submitted_at=utcnow(),
                          lease_owner="dead-worker", lease_expires_at=utcnow() - timedelta(seconds=1))
    assert await generate_take(ctx, tid) == "ready"
    assert provider.submits == [] and provider.polls == 1


async def test_live_lease_keeps_other_workers_out(ctx, provider):
    tid = await make_take(ctx, status="running", remote_id="r-x-1", remote_meta={"k": "v"},
                          lease_owner="other", lease_expires_at=utcnow() + timedelta(seconds=60))
    assert await generate_take(ctx, tid) is None
    assert provider.polls == 0


async def test_two_workers_racing_submit_once(ctx, provider, settings):
    tid = await make_take(ctx)
    other = JobContext.create(settings)
    other.catalog.models[SPEC.id] = SPEC
    other.providers._instances["scripted"] = provider
    results = await asyncio.gather(generate_take(ctx, tid), generate_take(other, tid))
    await other.db.dispose()
    assert sorted(results, key=str) == [None, "ready"]
    assert provider.submits == [tid]


async def test_crash_during_submit_without_reconcile_fails_as_outcome_unknown(ctx, provider):
    tid = await make_take(ctx, status="submitting")
    assert await generate_take(ctx, tid) == "failed"
    t = await get(ctx, tid)
    assert t.error_code == "outcome_unknown" and "may have been billed" in t.error_message
    assert provider.submits == []


async def test_crash_during_submit_reconciled_by_client_key(ctx, provider):
    provider.reconciled = Submission("found-remote", {"k": "v"})
    tid = await make_take(ctx, status="submitting")
    assert await generate_take(ctx, tid) == "ready"
    assert (await get(ctx, tid)).remote_id == "found-remote" and provider.submits == []


async def test_submit_refused_with_429_is_retried_after_retry_after(ctx, provider, settings):
    """The second create waits the provider's Retry-After (1 s), not our own backoff, which with
    these settings is ~0.1 s: ignoring Retry-After fails the gap assertion."""
    from app.jobs.generate import _backoff

    assert _backoff(1, settings.poll_interval_s, settings.poll_max_interval_s) < 0.3
    provider.submit_errors = [ProviderError("rate_limit", "slow down", retryable=True, retry_after=1.0)]
    tid = await make_take(ctx)
    assert await generate_take(ctx, tid) == "ready"
    assert provider.submits == [tid, tid]
    assert provider.submit_times[1] - provider.submit_times[0] >= 0.9


async def test_submit_that_may_have_reached_the_provider_is_not_retried(ctx, provider):
    provider.submit_errors = [TimeoutError("read timed out")]
    tid = await make_take(ctx)
    assert await generate_take(ctx, tid) == "failed"
    t = await get(ctx, tid)
    assert t.error_code == "outcome_unknown" and provider.submits == [tid]


async def test_poll_errors_retry_then_succeed(ctx, provider):
    provider.poll_script = [
        ProviderError("rate_limit", "429", retryable=True, retry_after=0.01),
        ProviderError("provider_error", "502", retryable=True, retry_after=0.01),
        JobStatus("running", progress=0.5, poll_after=0.01),
    ]
    tid = await make_take(ctx)
    assert await generate_take(ctx, tid) == "ready"
    assert provider.polls == 4


@pytest.mark.parametrize("error", [
    JobStatus("failed", error=ProviderError("moderation", "Your prompt was flagged: violence")),
    ProviderError("auth", "Invalid API key"),
])
async def test_terminal_provider_failures_keep_the_providers_words(ctx, provider, error):
    provider.poll_script = [error]
    tid = await make_take(ctx)
    assert await generate_take(ctx, tid) == "failed"
    t = await get(ctx, tid)
    expected = error.error if isinstance(error, JobStatus) else error
    assert (t.error_code, t.error_message) == (expected.code, expected.message)


async def test_expired_result_url_fails_with_download_code(ctx, provider):
    provider.poll_script = [JobStatus("succeeded", result_url="mem://expired")]
    tid = await make_take(ctx)
    assert await generate_take(ctx, tid) == "failed"
    t = await get(ctx, tid)
    assert t.error_code == "download" and "expired" in t.error_message


async def test_timeout_cancels_at_the_provider(ctx, provider, settings):
    settings.take_timeout_s = 0.2
    provider.poll_script = [JobStatus("running", progress=0.1, poll_after=0.1) for _ in range(50)]
    tid = await make_take(ctx)
    assert await generate_take(ctx, tid) == "failed"
    t = await get(ctx, tid)
    assert t.error_code == "timeout" and provider.cancelled == [t.remote_id]


async def test_cancel_by_a_reviewer_stops_the_worker(ctx, provider):
    provider.poll_script = [JobStatus("running", progress=0.1, poll_after=0.05) for _ in range(100)]
    tid = await make_take(ctx)
    task = asyncio.create_task(generate_take(ctx, tid))
    await asyncio.sleep(0.3)
    async with ctx.db.session() as s:
        t = await s.get(Take, tid)
        t.status = "cancelled"
        await s.commit()
    assert await asyncio.wait_for(task, 5) in (None, "cancelled")
    assert (await get(ctx, tid)).status == "cancelled"


async def test_per_provider_concurrency_limit(ctx, provider, settings):
    settings.provider_concurrency_overrides = {"scripted": 1}
    provider.poll_script = [JobStatus("running", poll_after=0.05) for _ in range(4)]
    ids = [await make_take(ctx) for _ in range(3)]
    assert await asyncio.gather(*(generate_take(ctx, t) for t in ids)) == ["ready"] * 3
    assert provider.max_in_flight == 1 and len(provider.submits) == 3


async def test_missing_key_fails_with_a_clear_message(ctx, provider):
    provider.available = lambda: False
    provider.missing_keys = lambda: ["SCRIPTED_KEY"]
    tid = await make_take(ctx)
    assert await generate_take(ctx, tid) == "failed"
    t = await get(ctx, tid)
    assert t.error_code == "auth" and "SCRIPTED_KEY" in t.error_message and provider.submits == []


async def test_lease_is_held_through_slow_downloads(ctx, provider, settings):
    """Regression: a download or media step longer than the lease must not let a second
    worker take the take over (it did, and both wrote the same files)."""
    settings.lease_s = 0.3
    original = provider.download

    async def slow_download(*args):
        await asyncio.sleep(1.0)
        await original(*args)

    provider.download = slow_download
    tid = await make_take(ctx)
    first = asyncio.create_task(generate_take(ctx, tid))
    await asyncio.sleep(0.6)
    other = JobContext.create(settings)
    other.catalog.models[SPEC.id] = SPEC
    other.providers._instances["scripted"] = provider
    assert await generate_take(other, tid) is None
    await other.db.dispose()
    assert await first == "ready"
    assert provider.submits == [tid]


@pytest.mark.parametrize("limit", [None, 1])
async def test_crash_during_submit_resubmits_where_the_provider_proves_it_never_saw_it(ctx, provider, settings, limit):
    provider.resubmit_safe_when_not_found = True   # as ComfyUI: client-chosen ids, reconcile found nothing
    if limit:   # one slot (a single-GPU ComfyUI): the take sent again must not count itself as the rival
        settings.provider_concurrency_overrides = {"scripted": limit}
        settings.take_timeout_s = 5
    tid = await make_take(ctx, status="submitting")
    assert await generate_take(ctx, tid) == "ready", (await get(ctx, tid)).error_message
    assert provider.submits == [tid]


async def test_a_take_cancelled_while_it_waits_for_a_slot_frees_its_worker(ctx, provider, settings):
    settings.provider_concurrency_overrides = {"scripted": 1}
    settings.take_timeout_s = 60
    blocker = await make_take(ctx, status="running")     # holds the only slot
    await _set_take(ctx, blocker, remote_id="r-blocker")
    tid = await make_take(ctx)
    task = asyncio.create_task(generate_take(ctx, tid))
    await asyncio.sleep(0.3)
    await _set_take(ctx, tid, status="cancelled")
    assert await asyncio.wait_for(task, 5) is None       # not the 60 s take timeout
    assert (await get(ctx, tid)).status == "cancelled" and provider.submits == []


async def _set_take(ctx, take_id, **values) -> None:
    async with ctx.db.session() as s:
        t = await s.get(Take, take_id)
        for k, v in values.items():
            setattr(t, k, v)
        await s.commit()


@pytest.mark.parametrize("meanwhile", [
    {"status": "cancelled"},                                                         # a reviewer cancelled it
    {"lease_owner": "other", "lease_expires_at": utcnow() + timedelta(seconds=60)},  # the lease moved on
])
async def test_submit_that_lands_after_the_take_stopped_being_ours_is_cancelled_and_recorded(ctx, provider, meanwhile):
    """The create call succeeds while the take was cancelled (or taken over): nobody will poll
    that remote job, so it is cancelled at the provider, and its id is still on the row."""
    tid = await make_take(ctx)

    async def change_the_take(take_id):
        await _set_take(ctx, take_id, **meanwhile)

    provider.during_submit = change_the_take
    assert await generate_take(ctx, tid) is None
    remote = f"r-{tid}-1"
    assert provider.submits == [tid] and provider.cancelled == [remote] and provider.polls == 0
    t = await get(ctx, tid)
    assert t.remote_id == remote and t.remote_meta == {"k": "v"}
    if "status" in meanwhile:
        assert t.status == "cancelled"


async def test_orphaned_submission_keeps_a_remote_id_the_row_already_has(ctx, provider):
    tid = await make_take(ctx)

    async def taken_over(take_id):  # the new owner already recorded its own remote id
        await _set_take(ctx, take_id, status="cancelled", remote_id="theirs")

    provider.during_submit = taken_over
    assert await generate_take(ctx, tid) is None
    assert provider.cancelled == [f"r-{tid}-1"] and (await get(ctx, tid)).remote_id == "theirs"


async def test_reconcile_retries_rate_limits_and_server_errors(ctx, provider):
    """A 429 or 5xx while looking for an interrupted submit says nothing about the job: retry,
    then resume the job that was found, never a terminal "internal error" nor a new submit."""
    provider.reconcile_errors = [
        ProviderError("rate_limit", "429 slow down", retryable=True, retry_after=0.01),
        ProviderError("provider_error", "502 bad gateway", retryable=True),
    ]
    provider.reconciled = Submission("found-remote", {"k": "v"})
    tid = await make_take(ctx, status="submitting")
    assert await generate_take(ctx, tid) == "ready"
    t = await get(ctx, tid)
    assert t.remote_id == "found-remote" and provider.submits == [] and provider.reconcile_errors == []


async def test_reconcile_retries_give_up_at_the_take_timeout(ctx, provider, settings):
    settings.take_timeout_s = 0.3
    provider.reconcile_errors = [ProviderError("provider_error", "503 unavailable", retryable=True, retry_after=0.1)
                                 for _ in range(100)]
    tid = await make_take(ctx, status="submitting")
    assert await asyncio.wait_for(generate_take(ctx, tid), 5) == "failed"
    t = await get(ctx, tid)
    assert t.error_code == "timeout" and "503 unavailable" in t.error_message and "billed" in t.error_message
    assert provider.submits == []


async def test_reconcile_refusal_fails_with_the_providers_code(ctx, provider):
    provider.reconcile_errors = [ProviderError("auth", "Invalid API key")]
    tid = await make_take(ctx, status="submitting")
    assert await generate_take(ctx, tid) == "failed"
    t = await get(ctx, tid)
    assert t.error_code == "auth" and "Invalid API key" in t.error_message and provider.submits == []


async def test_waiting_for_a_provider_slot_ends_at_the_take_timeout(ctx, provider, settings):
    """The provider's only slot is held by a take that never finishes: the queued take fails as
    a timeout instead of waiting forever, and is never submitted."""
    settings.provider_concurrency_overrides = {"scripted": 1}
    settings.take_timeout_s = 0.3
    await make_take(ctx, status="running", remote_id="stuck", remote_meta={"k": "v"}, submitted_at=utcnow(),
                    lease_owner="other", lease_expires_at=utcnow() + timedelta(seconds=60))
    tid = await make_take(ctx)
    started = time.monotonic()
    assert await asyncio.wait_for(generate_take(ctx, tid), 5) == "failed"
    assert time.monotonic() - started < 3
    t = await get(ctx, tid)
    assert t.status == "failed" and t.error_code == "timeout" and "no free slot" in t.error_message
    assert provider.submits == []


async def test_uncertain_submit_is_looked_up_by_client_key_and_resumed(ctx, provider):
    """An "outcome unknown" create is the crash-in-submitting case live: reconcile finds the job,
    the take polls it, and the create is never sent again."""
    provider.submit_errors = [ProviderError("outcome_unknown", "HTTP 500 to the create call")]
    provider.reconciled = Submission("found-remote", {"k": "v"})
    tid = await make_take(ctx)
    assert await generate_take(ctx, tid) == "ready"
    assert provider.submits == [tid] and (await get(ctx, tid)).remote_id == "found-remote"


async def test_uncertain_submit_not_found_is_resent_only_where_that_is_safe(ctx, provider):
    provider.submit_errors = [ProviderError("outcome_unknown", "HTTP 500 to the create call")]
    provider.resubmit_safe_when_not_found = True
    tid = await make_take(ctx)
    assert await generate_take(ctx, tid) == "ready"
    assert provider.submits == [tid, tid]


async def test_uncertain_submit_not_found_fails_saying_it_may_have_been_billed(ctx, provider):
    provider.submit_errors = [ProviderError("outcome_unknown", "HTTP 500 to the create call")]
    tid = await make_take(ctx)
    assert await generate_take(ctx, tid) == "failed"
    t = await get(ctx, tid)
    assert t.error_code == "outcome_unknown" and "HTTP 500 to the create call" in t.error_message
    assert "may have been billed" in t.error_message and provider.submits == [tid]


@pytest.fixture(scope="module")
def unsafe_clips(tmp_path_factory) -> dict[str, Path]:
    """Clips a browser cannot play as they come: HEVC with a 4 s GOP and the index at the end (in
    MP4), and a browser-safe H.264 stream in a Matroska container."""
    from tests.test_media import _encode

    d = tmp_path_factory.mktemp("unsafe")
    return {
        "hevc": render_clip(d / "hevc.mp4", look="tape", width=320, height=180, fps=24, duration_s=2, prompt="x",
                            codec="hevc", gop_s=4),
        "mkv": _encode(d / "h264.mkv", "libx264", fps=24, n=48, gop=12),
    }


@pytest.mark.parametrize("kind, reason, ext, mime", [
    ("hevc", "codec hevc is not browser-safe", "mp4", "video/mp4"),
    ("mkv", "container is Matroska, not MP4/WebM", "mkv", "video/x-matroska"),
])
async def test_a_clip_browsers_cannot_play_is_served_as_a_proxy_and_downloaded_as_it_came(
        ctx, provider, settings, unsafe_clips, kind, reason, ext, mime):
    """End to end through the job and the media routes: the player gets an H.264 faststart MP4
    proxy with short GOPs, the download is the provider's bytes under their own extension and
    MIME type, and the poster exists."""
    import io

    import av
    import httpx

    from app.main import create_app
    from app.media import probe
    from app.models import Board

    provider.clip = unsafe_clips[kind]
    returned = provider.clip.read_bytes()
    tid = await make_take(ctx)
    assert await generate_take(ctx, tid) == "ready"
    t = await get(ctx, tid)
    assert t.proxy_key and reason in t.media_info["proxy_reasons"]
    assert t.clip_key == f"takes/{tid}/original.{ext}" and ctx.storage.path(t.clip_key).read_bytes() == returned

    application = create_app(settings)       # after the job: its own runner must not see a queued take
    async with application.router.lifespan_context(application), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://testserver") as client:
        comparison = (await client.get(f"/api/comparisons/{t.comparison_id}")).json()
        assert comparison["takes"][0]["original_url"] == f"/media/takes/{tid}/original.{ext}"

        video = await client.get(f"/media/takes/{tid}/video.mp4")
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        assert video.content != returned and video.content[4:8] == b"ftyp"
        proxy_file = ctx.storage.path(t.clip_key).with_name("served-proxy.mp4")
        proxy_file.write_bytes(video.content)
        info = probe(proxy_file)
        assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["faststart"] is True
        assert info["file_type"] == "mp4" and info["gop_max_s"] <= 0.5 + 1e-6 and info["frames"] == 48
        with av.open(io.BytesIO(video.content)) as c:   # decodes from the served bytes themselves
            assert sum(1 for _ in c.decode(video=0)) == 48

        original = await client.get(comparison["takes"][0]["original_url"])
        assert original.status_code == 200 and original.content == returned
        assert original.headers["content-type"] == mime
        disposition = original.headers["content-disposition"]
        assert disposition.startswith("attachment") and f'.{ext}"' in disposition and "scripted_m" in disposition
        if ext != "mp4":
            # a link from before originals kept their extension still leads to the file; a wrong one does not
            old = await client.get(f"/media/takes/{tid}/original.mp4")
            assert old.status_code == 307 and old.headers["location"] == f"/media/takes/{tid}/original.{ext}"
        assert (await client.get(f"/media/takes/{tid}/original.avi")).status_code == 404

        poster = await client.get(f"/media/takes/{tid}/poster.jpg")
        assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
        assert poster.content[:3] == b"\xff\xd8\xff"

        async with ctx.db.session() as s:         # on a blind board the file name does not name the model
            board = await s.get(Board, (await s.get(Comparison, t.comparison_id)).board_id)
            board.blind = True
            await s.commit()
        blind = await client.get(f"/media/takes/{tid}/original.{ext}")
        assert blind.status_code == 200 and blind.content == returned
        assert f'filename="take-{tid}.{ext}"' in blind.headers["content-disposition"]


# ---- at most one submission, by construction ----------------------------------------------

async def test_two_copies_of_a_job_in_one_process_submit_once(ctx, provider):
    """The failure of F3: duplicate jobs for one take in the same worker process (same worker
    id) both drove it. Leases are per attempt now, so one copy finds the take held."""
    tid = await make_take(ctx)

    async def slow(take_id):
        await asyncio.sleep(0.3)      # a real create call takes ~1 s: the window the copies raced in

    provider.during_submit = slow
    results = await asyncio.gather(*(generate_take(ctx, tid) for _ in range(5)))
    assert sorted(results, key=str) == [None] * 4 + ["ready"]
    assert provider.submits == [tid]


async def test_the_right_to_submit_is_won_once_and_only_with_the_current_lease(ctx, provider, settings):
    from app.jobs import generate
    from app.jobs.leases import claim

    tid = await make_take(ctx)
    take = await get(ctx, tid)
    first = await claim(ctx, tid)
    await _set_take(ctx, tid, lease_expires_at=utcnow() - timedelta(seconds=1))   # its worker "died"
    second = await claim(ctx, tid)
    assert first and second and first.token != second.token
    generate._lease.set(first)
    assert await generate._claim_slot(ctx, take) is False        # an expired holder cannot submit
    generate._lease.set(second)
    assert await generate._claim_slot(ctx, take) is True
    assert await generate._claim_slot(ctx, take) is False        # not twice: the take is no longer queued
    t = await get(ctx, tid)
    assert t.status == "submitting" and t.submit_token == second.token


async def test_a_lease_is_released_only_by_its_holder(ctx, provider):
    from app.jobs.leases import Lease, claim, hand_back, release, renew

    tid = await make_take(ctx)
    mine = await claim(ctx, tid)
    stranger = Lease(tid, ctx.worker_id + ".someone-else")        # same worker, another attempt
    await release(ctx, stranger)
    with pytest.raises(LeaseLost):
        await renew(ctx, stranger)
    with pytest.raises(LeaseLost):
        await hand_back(ctx, stranger, 1.0)
    assert (await get(ctx, tid)).lease_owner == mine.token
    await release(ctx, mine)
    assert (await get(ctx, tid)).lease_owner is None


async def test_a_stale_copy_of_a_step_is_a_no_op(ctx, provider):
    from app.jobs.generate import step_take

    provider.poll_script = [JobStatus("running", progress=0.5, poll_after=5)]
    tid = await make_take(ctx)
    first = await step_take(ctx, tid, None)                      # submits; next step is due at once
    assert first.status == "submitted" and first.seq == 1
    assert await step_take(ctx, tid, 0) == Step(None)            # an old job, retried by arq later
    second = await step_take(ctx, tid, first.seq)                # polls once: running, next in 5 s
    assert (second.status, second.delay, second.seq) == ("running", 5, 2)
    assert await step_take(ctx, tid, first.seq) == Step(None)   # the same job again
    assert provider.submits == [tid] and provider.polls == 1


# ---- waiting holds nothing ---------------------------------------------------------------

async def test_a_take_waiting_for_a_slot_returns_at_once_holding_nothing(ctx, provider, settings):
    from app.jobs.generate import step_take

    settings.provider_concurrency_overrides = {"scripted": 1}
    await make_take(ctx, status="running", remote_id="busy", remote_meta={"k": "v"}, submitted_at=utcnow(),
                    lease_owner="other", lease_expires_at=utcnow() + timedelta(seconds=60))
    tid = await make_take(ctx)
    step = await asyncio.wait_for(step_take(ctx, tid), 2)
    assert step.status == "queued" and 0 < step.delay <= 1 and provider.submits == []
    t = await get(ctx, tid)
    assert t.lease_owner == "queue" and t.step_seq == step.seq    # the queue holds it, no worker


async def test_a_dead_workers_take_frees_its_provider_slot(ctx, provider, settings):
    """F2: orphaned takes held every slot while the takes that could resume them waited."""
    settings.provider_concurrency_overrides = {"scripted": 1}
    await make_take(ctx, status="running", remote_id="orphan", remote_meta={"k": "v"}, submitted_at=utcnow(),
                    lease_owner="dead.worker", lease_expires_at=utcnow() - timedelta(seconds=1))
    tid = await make_take(ctx)
    assert await asyncio.wait_for(generate_take(ctx, tid), 5) == "ready"
    assert provider.submits == [tid]


def _record_poll_holders(ctx, provider) -> list[str]:
    """Who held the take (its lease owner) at each status call: a poller pass's token has
    ".p" after the worker id, a step's token does not."""
    from sqlalchemy import select

    owners, poll = [], provider.poll

    async def recording(model, remote_id, meta):
        async with ctx.db.session() as s:
            owners.append((await s.execute(select(Take.lease_owner).where(Take.remote_id == remote_id))).scalar_one())
        return await poll(model, remote_id, meta)

    provider.poll = recording
    return owners


async def test_in_process_runner_polls_waiting_takes_in_batches_and_enqueues_once(ctx, provider, settings):
    from app.jobs.runner import InProcessRunner

    provider.poll_script = [JobStatus("running", poll_after=0.1) for _ in range(3)]
    owners = _record_poll_holders(ctx, provider)
    runner = InProcessRunner(ctx)
    await runner.start()
    try:
        tid = await make_take(ctx)
        await runner.enqueue([tid])
        await runner.enqueue([tid])                        # a second enqueue of a held take: nothing
        assert len(runner._tasks) + len(runner._timers) == 1
        await runner.wait_idle(10)
    finally:
        await runner.stop()
    assert (await get(ctx, tid)).status == "ready" and provider.submits == [tid]
    # the three "running" answers came to poller passes; "done" was seen by a pass, then by
    # the take's own step, which finished it
    passes = f"{ctx.worker_id}.p"
    assert [o.startswith(passes) for o in owners] == [True, True, True, True, False], owners


async def _waiting(ctx, status="running", due_in: float = -0.1, **fields) -> str:
    """A take waiting at the provider, held by the poller, its next poll due in `due_in` s."""
    from app.jobs.leases import POLL_OWNER

    until = utcnow() + timedelta(seconds=due_in + ctx.settings.lease_s)
    values = dict(status=status, remote_id=f"r-{time.monotonic_ns()}", remote_meta={"k": "v"}, submitted_at=utcnow(),
                  lease_owner=POLL_OWNER, lease_expires_at=until, step_seq=4)
    return await make_take(ctx, **{**values, **fields})


async def test_a_poller_pass_claims_only_due_waiting_takes_and_two_passes_never_share_one(ctx, provider):
    from app.jobs.polls import claim_due

    due = [await _waiting(ctx) for _ in range(4)] + [await _waiting(ctx, status="submitted")]
    later = await _waiting(ctx, due_in=30)
    held = await _waiting(ctx, lease_owner="w-live.abc", lease_expires_at=utcnow() + timedelta(seconds=30))
    queued = await _waiting(ctx, status="queued", remote_id=None)
    (t1, a), (t2, b) = await asyncio.gather(claim_due(ctx, 3), claim_due(ctx, 3))
    got_a, got_b = {r.id for r in a}, {r.id for r in b}
    assert not got_a & got_b and got_a | got_b == set(due), (got_a, got_b)
    assert t1 != t2 and t1.startswith(ctx.worker_id + ".p")
    for tid in due:
        t = await get(ctx, tid)
        assert t.lease_owner in (t1, t2) and t.step_seq == 5      # a stale job of step 4 is a no-op now
    for tid in (later, held, queued):
        assert (await get(ctx, tid)).step_seq == 4
    assert (await claim_due(ctx))[1] == []


async def test_a_poller_pass_writes_waiting_takes_in_one_go_and_hands_the_rest_to_their_step(ctx, provider):
    from app.jobs.leases import POLL_OWNER, QUEUE_OWNER
    from app.jobs.polls import claim_due, poll_due

    tids = [await _waiting(ctx) for _ in range(3)]
    provider.poll_script = [JobStatus("running", progress=0.5, poll_after=7.0),
                            ProviderError("rate_limit", "slow down", retryable=True, retry_after=9.0)]
    handed = []

    async def handoff(steps):
        handed.extend(steps)

    assert await poll_due(ctx, handoff) == 3
    rows = {tid: await get(ctx, tid) for tid in tids}
    assert all(t.status == "running" for t in rows.values())
    # the one whose poll said done: held by the queue for its own step, due now, with the
    # step number of the job to run; no pass claims it (that would supersede the step)
    [(done, seq)] = handed
    assert rows[done].lease_owner == QUEUE_OWNER and (await claim_due(ctx))[1] == []
    assert all(t.lease_owner == POLL_OWNER for tid, t in rows.items() if tid != done)
    assert seq == rows[done].step_seq == 6 and rows[done].lease_expires_at <= utcnow() + timedelta(
        seconds=ctx.settings.lease_s)
    waits = sorted((t.lease_expires_at - utcnow()).total_seconds() - ctx.settings.lease_s
                   for tid, t in rows.items() if tid != done)
    assert 6 < waits[0] <= 7 and 8 < waits[1] <= 9, waits       # poll_after; the provider's Retry-After
    states = sorted(str(t.job_state) for tid, t in rows.items() if tid != done)
    assert states == ["{'poll_errors': 1}", "{'polls': 1, 'poll_errors': 0}"]
    assert {t.progress for tid, t in rows.items() if tid != done} == {0.5, None}
    assert provider.submits == []


async def test_a_poller_pass_leaves_alone_a_take_cancelled_or_taken_over_meanwhile(ctx, provider):
    from app.jobs.polls import claim_due, poll_one, write_back

    cancelled, taken, fine = [await _waiting(ctx) for _ in range(3)]
    token, rows = await claim_due(ctx)
    results = [await poll_one(ctx, r) for r in rows]
    await _set_take(ctx, cancelled, status="cancelled")
    await _set_take(ctx, taken, lease_owner="w-other.123")
    provider.poll_script = []
    assert await write_back(ctx, token, results) == [(r.take_id, 6) for r in results if r.values is None
                                                     and r.take_id == fine]
    assert (await get(ctx, cancelled)).status == "cancelled"
    assert (await get(ctx, taken)).lease_owner == "w-other.123" and (await get(ctx, taken)).step_seq == 5


async def test_a_webhook_makes_a_waiting_takes_poll_due_now(ctx, provider):
    from app.jobs.polls import claim_due, make_due

    tid = await _waiting(ctx, due_in=300)
    assert (await claim_due(ctx))[1] == []
    await make_due(ctx, tid)
    assert [r.id for r in (await claim_due(ctx))[1]] == [tid]


async def test_a_database_outage_in_a_step_does_not_fail_the_take(ctx, provider):
    """The step stops and the take is left to its lease (the sweeper resumes it)."""
    from sqlalchemy.exc import OperationalError

    from app.jobs.generate import step_take

    tid = await make_take(ctx, status="running", remote_id="r-1", remote_meta={"k": "v"}, submitted_at=utcnow())
    provider.poll_script = [OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))]
    assert await step_take(ctx, tid) == Step(None)
    t = await get(ctx, tid)
    assert t.status == "running" and t.error_code is None and t.lease_expires_at is not None
    await _set_take(ctx, tid, lease_expires_at=utcnow() - timedelta(seconds=1))
    assert await generate_take(ctx, tid) == "ready" and provider.submits == []


# ---- Idempotency-Key ---------------------------------------------------------------------

async def test_idempotency_key_returns_the_first_answer_and_writes_nothing_new(client, app, no_generation):
    from sqlalchemy import func, select

    async def counts():
        async with app.state.db.session() as s:
            return [(await s.execute(select(func.count()).select_from(m))).scalar() for m in (Comparison, Take)]

    body = {"prompt": "a kite over dunes", "models": ["demo/aurora", "demo/ember"], "duration_s": 4}
    first = await client.post("/api/comparisons", json=body, headers={"Idempotency-Key": "k-123"})
    assert first.status_code == 202
    before = await counts()
    again = await client.post("/api/comparisons", json=body, headers={"Idempotency-Key": "k-123"})
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert [t["id"] for t in again.json()["takes"]] == [t["id"] for t in first.json()["takes"]]
    assert await counts() == before == [1, 2]
    other = await client.post("/api/comparisons", json=body, headers={"Idempotency-Key": "k-456"})
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    assert await counts() == [2, 4]
    bad = await client.post("/api/comparisons", json=body, headers={"Idempotency-Key": "x" * 201})
    assert bad.status_code == 422 and await counts() == [2, 4]


async def test_idempotency_key_expires_after_24_hours(client, app, no_generation):
    from sqlalchemy import update

    from app.models import IdempotencyKey

    body = {"prompt": "a kite over dunes", "models": ["demo/aurora"], "duration_s": 4}
    first = await client.post("/api/comparisons", json=body, headers={"Idempotency-Key": "old"})
    async with app.state.db.session() as s:
        await s.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
        await s.commit()
    later = await client.post("/api/comparisons", json=body, headers={"Idempotency-Key": "old"})
    assert later.status_code == 202 and later.json()["id"] != first.json()["id"]


async def test_a_single_statement_session_commits_by_itself_on_postgres_and_leaves_the_pool_transactional(ctx):
    """Database.single() (the steps' one-statement writes): on PostgreSQL the statement runs in
    autocommit, so it holds without a commit; the connection then goes back to the pool in
    ordinary transactional mode, so a later session that does not commit still writes nothing.
    On SQLite single() is an ordinary session: without a commit nothing is written."""
    from sqlalchemy import update

    t = Take.__table__
    tid = await make_take(ctx)
    async with ctx.db.single() as s:
        await s.execute(update(t).where(t.c.id == tid).values(error_message="by itself"))
    postgres = not ctx.settings.is_sqlite
    assert (await get(ctx, tid)).error_message == ("by itself" if postgres else None)
    for _ in range(ctx.db.engine.pool.size() + 2 if postgres else 1):   # every pooled connection
        async with ctx.db.session() as s:
            await s.execute(update(t).where(t.c.id == tid).values(error_message="rolled back"))
    assert (await get(ctx, tid)).error_message == ("by itself" if postgres else None)
    async with ctx.db.single() as s:                                   # with a commit: on both
        await s.execute(update(t).where(t.c.id == tid).values(error_message="committed"))
        await s.commit()
    assert (await get(ctx, tid)).error_message == "committed"


@pytest.mark.postgres
async def test_racing_slot_claims_on_postgres_never_exceed_the_limit(pg_database, tmp_path, clip):
    """The one-call slot claim (takes_claim_slot, migration 0018_claim_slot): sixteen claimers
    on sixteen connections at once, a limit of five. Exactly five win, each its own take with
    its own lease as the submit token; a second round, with those five in flight, wins none."""
    from sqlalchemy import select, update

    from app.jobs.generate import _CLAIM_SLOT, IN_FLIGHT, _lock_key
    from app.jobs.leases import TAKES
    from tests.support.db import pg_empty
    from tests.support.settings import make_settings

    await asyncio.to_thread(pg_empty, pg_database)
    c = JobContext.create(make_settings(pg_database, tmp_path))
    c.catalog.models[SPEC.id] = SPEC
    try:
        ids = [await make_take(c) for _ in range(16)]
        async with c.db.session() as s:
            for i, tid in enumerate(ids):
                await s.execute(update(TAKES).where(TAKES.c.id == tid).values(lease_owner=f"lease-{i}"))
            await s.commit()
        start = asyncio.Event()

        async def claim(i: int, tid: str) -> int:
            async with c.db.single() as s:
                await s.connection()   # every claimer holds its connection before any claims
                await start.wait()
                return (await s.execute(_CLAIM_SLOT, {
                    "take": tid, "lease": f"lease-{i}", "provider": "scripted", "limit": 5, "now": utcnow(),
                    "key": _lock_key("scripted"), "in_flight": list(IN_FLIGHT)})).scalar_one()

        async def race() -> list[int]:
            start.clear()
            tasks = [asyncio.create_task(claim(i, t)) for i, t in enumerate(ids)]
            await asyncio.sleep(0.3)
            start.set()
            return await asyncio.gather(*tasks)

        assert sum(await race()) == 5
        async with c.db.session() as s:
            rows = (await s.execute(select(TAKES.c.id, TAKES.c.status, TAKES.c.submit_token, TAKES.c.lease_owner)
                                    .where(TAKES.c.id.in_(ids)))).all()
        won = [r for r in rows if r.status == "submitting"]
        assert len(won) == 5 and all(r.submit_token == r.lease_owner for r in won)
        assert {r.status for r in rows} == {"submitting", "queued"}
        assert sum(await race()) == 0   # five in flight: no slot left
    finally:
        await c.db.dispose()
