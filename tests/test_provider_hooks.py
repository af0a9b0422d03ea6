"""Provider webhooks (app/hooks.py) against the fakes of fal, Replicate, Luma, Kling, MiniMax
and Ark: the create call carries the webhook URL as each provider documents; polling drops to a
slow reconcile (HOOK_RECONCILE_S = 300 s here, far longer than any test waits); a genuine
delivery makes the take finish at once, through a poll of the provider; forged, replayed, late
and premature deliveries move nothing. In-process runner on SQLite and PostgreSQL, and `takes
serve` + `takes worker` on PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import ExitStack

import httpx
import pytest
from sqlalchemy import select

from app.hooks import hook_token
from app.models import ProviderHook, Take
from tests.fakes import ark, fal, kling, luma, minimax, replicate, serve
from tests.support.clients import in_process_client, wait_for_takes_over_http
from tests.support.live import Proc
from tests.support.live import wait_http as _wait_http
from tests.support.settings import make_settings, settings_env

PUBLIC = "http://testserver"
MODELS = {   # one model per provider, with a request it accepts
    "fal": ("fal/seedance-2.0", {"duration_s": 5, "resolution": "720p"}),
    "replicate": ("replicate/seedance-2.0", {"duration_s": 5, "resolution": "720p"}),
    "kling": ("kling/kling-v3-std", {"duration_s": 5, "resolution": "720p"}),
    "luma": ("luma/ray-2", {"duration_s": 5, "resolution": "720p"}),
    "minimax": ("minimax/hailuo-02", {"duration_s": 6, "resolution": "1080p"}),
    "ark": ("ark/seedance-2.0", {"duration_s": 5, "resolution": "720p"}),
}


class Fakes:
    """The six fakes, each set to finish a job on its second status call: the first poll
    (right after submit) finds it running, and only a webhook brings the second one soon."""

    def __init__(self, stack: ExitStack):
        self.fal, self.rep = fal.FalState(), replicate.ReplicateState()
        kling_app, luma_app = kling.create_app(), luma.create_app()
        mm_app, self.mm = minimax.create_app()
        ark_app, self.ark = ark.create_app()
        self.kling, self.luma = kling_app.state.fake, luma_app.state.fake
        up = lambda app: stack.enter_context(serve(app))   # noqa: E731
        self.fal_url = up(fal.create_app(self.fal))
        self.env = {
            "fal_key": self.fal.key, "fal_queue_url": self.fal_url, "fal_jwks_url": self.fal_url + "/.well-known/jwks.json",
            "replicate_api_token": self.rep.token, "replicate_base_url": up(replicate.create_app(self.rep)),
            "kling_access_key": kling.ACCESS_KEY, "kling_secret_key": kling.SECRET_KEY, "kling_base_url": up(kling_app),
            "lumaai_api_key": luma.API_KEY, "luma_base_url": up(luma_app) + luma.PREFIX,
            "minimax_api_key": self.mm.api_key, "minimax_base_url": up(mm_app),
            "ark_api_key": self.ark.api_key, "ark_base_url": up(ark_app) + "/api/v3",
        }

    def reset(self, polls_to_finish: int = 2) -> None:
        self.fal.queued_polls, self.fal.running_polls = 1, polls_to_finish - 2
        self.rep.starting_polls, self.rep.processing_polls = 1, polls_to_finish - 2
        self.kling.reset()
        self.luma.reset()
        for listing in (self.fal.creates, self.fal.jobs, self.rep.creates, self.rep.predictions, self.mm.creates,
                        self.mm.tasks, self.ark.creates, self.ark.tasks):
            listing.clear()
        self.kling.script.polls_to_finish = self.luma.script.polls_to_finish = polls_to_finish
        self.mm.polls_to_finish = self.ark.polls_to_finish = polls_to_finish

    def sent_url(self, provider: str) -> str:
        """The webhook URL the last create call carried, where each provider takes it."""
        if provider == "fal":
            return self.fal.creates[-1]["query"]["fal_webhook"]
        if provider == "replicate":
            body = self.rep.creates[-1]["body"]
            assert body["webhook_events_filter"] == ["completed"]
            return body["webhook"]
        last = {"kling": lambda: self.kling.creates[-1]["body"], "luma": lambda: self.luma.creates[-1]["body"],
                "minimax": lambda: self.mm.creates[-1], "ark": lambda: self.ark.creates[-1]}[provider]()
        return last["callback_url"]

    def delivery(self, provider: str, remote_id: str, **kw) -> tuple[dict[str, str], bytes]:
        """A delivery as the provider sends it (signed where it signs) about job `remote_id`."""
        if provider == "fal":
            return fal.webhook_delivery({"request_id": remote_id, "gateway_request_id": remote_id, "status": "OK",
                                         "payload": {"video": {"url": "x"}}, "error": None, **kw.pop("extra", {})}, **kw)
        if provider == "replicate":
            return replicate.webhook_delivery(self.rep.webhook_secret, {"id": remote_id, "status": "succeeded",
                                                                        **kw.pop("extra", {})}, **kw)
        body = {"kling": {"task_id": remote_id, "task_status": "succeed"}, "luma": {"id": remote_id, "state": "completed"},
                "minimax": {"task_id": remote_id, "status": "Success"}, "ark": {"id": remote_id, "status": "succeeded"}}
        return {"content-type": "application/json"}, json.dumps({**body[provider], **kw.get("extra", {})}).encode()


@pytest.fixture(scope="module")
def fakes():
    with ExitStack() as stack:
        yield Fakes(stack)


@pytest.fixture
async def hook_app(db_url, tmp_path, fakes):
    from app.main import create_app

    fakes.reset()
    settings = make_settings(db_url, tmp_path, public_url=PUBLIC, hook_reconcile_s=300.0, **fakes.env)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def _start(client, provider: str) -> dict:
    model, params = MODELS[provider]
    r = await client.post("/api/comparisons", json={"prompt": "a paper boat in the rain", "models": [model],
                                                    "aspect_ratio": "16:9", **params})
    assert r.status_code == 202, r.text
    return r.json()["takes"][0]


async def _take(app, take_id: str) -> Take:
    async with app.state.db.session() as s:
        return await s.get(Take, take_id)


async def _until(app, take_id: str, check, timeout: float = 20.0) -> Take:
    end = time.monotonic() + timeout
    while True:
        take = await _take(app, take_id)
        if check(take):
            return take
        if time.monotonic() > end:
            raise TimeoutError(f"take {take_id}: {take.status} {take.job_state} {take.error_message}")
        await asyncio.sleep(0.05)


def _polled_once(take: Take) -> bool:
    return take.status in ("submitted", "running") and (take.job_state or {}).get("polls", 0) >= 1


async def _post(client, provider, take_id, headers, body, token=None):
    """As a provider posts: no cookies, no CSRF token (the client's own cookies are dropped)."""
    client.cookies.clear()
    return await client.post(f"/hooks/{provider}/{take_id}", params={"token": token}, headers=headers, content=body)


@pytest.mark.parametrize("provider", list(MODELS))
async def test_a_webhook_finishes_the_take_now_and_forgeries_replays_and_late_ones_move_nothing(
        hook_app, fakes, provider):
    settings = hook_app.state.settings
    async with in_process_client(hook_app) as client:
        tid = (await _start(client, provider))["id"]
        take = await _until(hook_app, tid, _polled_once)
        token = hook_token(settings, tid)
        assert fakes.sent_url(provider) == f"{PUBLIC}/hooks/{provider}/{tid}?token={token}"
        headers, body = fakes.delivery(provider, take.remote_id)

        forged = await _post(client, provider, tid, headers, body, token="0" * 32)
        assert forged.status_code == 401 and "token" in forged.json()["detail"]
        assert (await _post(client, provider, tid, headers, body)).status_code == 401   # no token at all
        if provider in ("fal", "replicate"):   # the right URL, but a body the provider never signed
            tampered = body + b" "
            r = await _post(client, provider, tid, headers, tampered, token=token)
            assert r.status_code == 401 and "signature" in r.json()["detail"]
            stale = fakes.delivery(provider, take.remote_id, timestamp=int(time.time()) - 3600)
            assert (await _post(client, provider, tid, *stale, token=token)).status_code == 401
        other = await _post(client, provider, tid, *fakes.delivery(provider, "some-other-job"), token=token)
        assert other.json()["status"] == "ignored"
        await asyncio.sleep(0.3)
        assert (await _take(hook_app, tid)).status in ("submitted", "running")   # nothing above moved it

        started = time.monotonic()
        r = await _post(client, provider, tid, headers, body, token=token)
        assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
        done = await _until(hook_app, tid, lambda t: t.status in ("ready", "failed"))
        assert done.status == "ready", done.error_message
        assert time.monotonic() - started < 15   # not the 300 s reconcile

        replay = await _post(client, provider, tid, headers, body, token=token)
        assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
        late = await _post(client, provider, tid, *fakes.delivery(provider, take.remote_id, extra={"n": 2}),
                           token=token)
        assert late.json()["status"] == "ignored" and "ready" in late.json()["detail"]
        assert (await _take(hook_app, tid)).status == "ready"
    async with hook_app.state.db.session() as s:
        kept = (await s.execute(select(ProviderHook).where(ProviderHook.take_id == tid))).scalars().all()
    assert len(kept) == 2   # the genuine delivery and the late one; the replay was refused as a duplicate


async def test_a_callback_is_only_a_nudge_the_provider_decides(hook_app, fakes):
    """Kling signs nothing: a callback with the right URL that says "succeed" while Kling's own
    task still runs moves nothing; the take ends when a poll of Kling says so."""
    fakes.kling.script.polls_to_finish = 3
    async with in_process_client(hook_app) as client:
        tid = (await _start(client, "kling"))["id"]
        take = await _until(hook_app, tid, _polled_once)
        token = hook_token(hook_app.state.settings, tid)
        r = await _post(client, "kling", tid, *fakes.delivery("kling", take.remote_id), token=token)
        assert r.json()["status"] == "accepted"
        polled = await _until(hook_app, tid, lambda t: (t.job_state or {}).get("polls", 0) >= 2)
        assert polled.status == "running"          # Kling said "processing": not ready on a callback's word
        task = fakes.kling.tasks[take.remote_id]
        assert task["polls"] == 2
        r = await _post(client, "kling", tid, *fakes.delivery("kling", take.remote_id, extra={"updated_at": 2}),
                        token=token)
        assert r.json()["status"] == "accepted"
        assert (await _until(hook_app, tid, lambda t: t.status == "ready")).status == "ready"


async def test_minimax_challenge_and_refusals(hook_app):
    async with in_process_client(hook_app) as client:
        tid = (await _start(client, "minimax"))["id"]
        token = hook_token(hook_app.state.settings, tid)
        body = json.dumps({"challenge": "c-123"}).encode()
        r = await _post(client, "minimax", tid, {"content-type": "application/json"}, body, token=token)
        assert r.status_code == 200 and r.json()["challenge"] == "c-123"
        assert (await _post(client, "minimax", tid, {}, body, token="bad")).status_code == 401
        assert (await _post(client, "minimax", tid, {}, b"not json", token=token)).status_code == 422
        assert (await _post(client, "runway", tid, {}, body, token=token)).status_code == 404
        assert (await _post(client, "kling", tid, {}, body, token=token)).status_code == 404   # not a Kling take
        assert (await _post(client, "minimax", "nope", {}, body, token=hook_token(hook_app.state.settings, "nope"))
                ).status_code == 404


async def test_without_public_url_no_webhook_is_sent_or_taken(db_url, tmp_path, fakes):
    from app.main import create_app

    fakes.reset(polls_to_finish=2)
    settings = make_settings(db_url, tmp_path, **fakes.env)
    application = create_app(settings)
    async with application.router.lifespan_context(application), in_process_client(application) as client:
        tid = (await _start(client, "kling"))["id"]
        assert (await _until(application, tid, lambda t: t.status == "ready")).status == "ready"   # polled to the end
        assert "callback_url" not in fakes.kling.creates[-1]["body"]
        r = await _post(client, "kling", tid, {}, b"{}", token=hook_token(settings, tid))
        assert r.status_code == 404 and "PUBLIC_URL" in r.json()["detail"]


@pytest.mark.postgres
@pytest.mark.redis
def test_arq_worker_finishes_a_take_on_its_webhook(pg_database, fresh_redis, tmp_path, fakes):
    """`takes serve` wakes the take's deferred arq job (Redis) when Replicate's signed webhook
    comes; `takes worker` runs it at once instead of at the 300 s reconcile."""
    from tests.fakes import free_port
    from tests.support.db import pg_empty

    pg_empty(pg_database)
    fakes.reset()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(pg_database, tmp_path, redis_url=fresh_redis, lease_s=2.0, sweep_interval_s=0.5)
    env = {**settings_env(settings), "PUBLIC_URL": url, "HOOK_RECONCILE_S": "300",
           **{k.upper(): v for k, v in fakes.env.items()}}
    web = Proc(["serve", "--port", str(port)], env, tmp_path / "serve.log").start()
    worker = Proc(["worker"], env, tmp_path / "worker.log").start()
    try:
        _wait_http(url, web)
        model, params = MODELS["replicate"]
        r = httpx.post(url + "/api/comparisons", json={"prompt": "a paper boat", "models": [model],
                                                       "aspect_ratio": "16:9", **params})
        assert r.status_code == 202, r.text
        cid, tid = r.json()["id"], r.json()["takes"][0]["id"]
        end = time.monotonic() + 30
        while not fakes.rep.predictions or next(iter(fakes.rep.predictions.values())).polls < 1:
            assert time.monotonic() < end, worker.output()
            time.sleep(0.1)
        pid = next(iter(fakes.rep.predictions))
        time.sleep(0.5)   # the worker has handed the take back with its 300 s delay
        headers, body = fakes.delivery("replicate", pid)
        hook = httpx.post(f"{url}/hooks/replicate/{tid}", params={"token": _token(env, tid)}, headers=headers,
                          content=body)
        assert hook.json()["status"] == "accepted", hook.text
        done = wait_for_takes_over_http(url, cid, timeout=20)
        assert done["takes"][0]["status"] == "ready", worker.output()
    finally:
        worker.kill()
        web.kill()


def _token(env: dict, take_id: str) -> str:
    from app.settings import Settings

    return hook_token(Settings(_env_file=None, secret_key=env["SECRET_KEY"]), take_id)


