"""Pause, resume, cancel and retry of a suite through the job layer: on the in-process runner
(SQLite and PostgreSQL) and on arq with a real Redis and a `takes worker` process
(PostgreSQL). The demo provider renders real clips; demo/ember is made to fail, so there are
failed takes to retry; one take in flight at a time, so most of a suite is still queued
when it is paused."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from sqlalchemy import select

from app.models import Comparison, Take
from app.providers.demo import submission_counts
from app.suite_runs import drain
from tests.support.clients import browser_like, in_process_client
from tests.support.settings import make_settings

SUITE = {"name": "walks", "models": ["demo/aurora", "demo/ember"], "duration_s": 2, "resolution": "360p",
         "prompts": [{"prompt": f"a dancer crosses the stage, take {n}", "tags": ["character walk"]}
                     for n in range(4)]}


async def wait_settled(client, suite_id: str, timeout: float = 90) -> dict:
    """Poll the suite until no take is queued or running (paused ones count as queued)."""
    end = time.monotonic() + timeout
    while True:
        body = (await client.get(f"/api/suites/{suite_id}")).json()
        if body["takes"]["queued"] + body["takes"]["running"] == 0:
            return body
        if time.monotonic() > end:
            raise AssertionError(f"suite still busy: {body['takes']}")
        await asyncio.sleep(0.2)


async def suite_takes(app, suite_id: str) -> list[Take]:
    async with app.state.db.session() as s:
        return list((await s.execute(select(Take).join(Comparison, Comparison.id == Take.comparison_id)
                                     .where(Comparison.suite_id == suite_id))).scalars())


async def pause_resume_retry(client, app, settings) -> None:
    made = (await client.post("/api/suites", json=SUITE)).json()
    paused = (await client.post(f"/api/suites/{made['id']}/pause")).json()
    assert paused["status"] == "paused" and paused["takes"]["paused"] >= 4, paused["takes"]
    held = {t.id for t in await suite_takes(app, made["id"]) if t.lease_owner == "paused"}
    await asyncio.sleep(2.0)                          # several demo generations' worth
    takes = {t.id: t for t in await suite_takes(app, made["id"])}
    assert all(takes[i].status == "queued" and takes[i].lease_owner == "paused" for i in held)
    assert not held & set(submission_counts(settings)), "a paused take was submitted"
    assert (await client.get(f"/api/suites/{made['id']}")).json()["status"] == "paused"
    resumed = (await client.post(f"/api/suites/{made['id']}/resume")).json()
    assert resumed["status"] == "running" and resumed["takes"]["paused"] == 0
    done = await wait_settled(client, made["id"])
    assert done["status"] == "done" and done["takes"]["ready"] == 4 and done["takes"]["failed"] == 4, done
    assert all(submission_counts(settings)[i] == 1 for i in held)     # each submitted once, after resume
    retried = (await client.post(f"/api/suites/{made['id']}/retry")).json()
    assert retried["status"] == "running" and retried["takes"]["total"] == 12
    again = await wait_settled(client, made["id"])
    takes = await suite_takes(app, made["id"])
    assert sorted((t.model_id, t.attempt, t.status) for t in takes) == sorted(
        [("demo/aurora", 1, "ready")] * 4 + [("demo/ember", 1, "failed")] * 4 + [("demo/ember", 2, "failed")] * 4)
    assert again["status"] == "done"


async def cancel_midway(client, app, settings) -> None:
    made = (await client.post("/api/suites", json=SUITE)).json()
    end = time.monotonic() + 30
    while not any(t.remote_id for t in await suite_takes(app, made["id"])):   # one reached the provider
        assert time.monotonic() < end, "no take was submitted"
        await asyncio.sleep(0.05)
    body = (await client.post(f"/api/suites/{made['id']}/cancel")).json()
    assert body["status"] == "cancelled" and body["takes"]["queued"] + body["takes"]["running"] == 0
    takes = await suite_takes(app, made["id"])
    cancelled = [t for t in takes if t.status == "cancelled"]
    assert cancelled and all(t.error_message == "cancelled with its suite" for t in cancelled)
    at_provider = [t for t in cancelled if t.remote_id]
    assert at_provider, "the take in flight was not among the cancelled"
    for t in at_provider:   # the take-cancel path told the (demo) provider
        assert json.loads((settings.demo_dir / "jobs" / f"{t.remote_id}.json").read_text())["cancelled"] is True
    await asyncio.sleep(1.0)
    after = {t.id: t.status for t in await suite_takes(app, made["id"])}
    assert all(after[t.id] == "cancelled" for t in cancelled)
    r = await client.post(f"/api/suites/{made['id']}/resume")
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]


async def _app(settings):
    from app.main import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application, settings
        await drain()


@pytest.fixture
async def busy_app(db_url, tmp_path):
    async for pair in _app(make_settings(db_url, tmp_path, provider_concurrency=1, demo_fail_models=["demo/ember"])):
        yield pair


@pytest.fixture
async def slow_app(db_url, tmp_path):
    """Takes that stay at the provider for seconds, so one is in flight when the suite is cancelled."""
    async for pair in _app(make_settings(db_url, tmp_path, provider_concurrency=1, demo_latency_s=4.0)):
        yield pair


async def test_pause_resume_retry_on_the_in_process_runner(busy_app):
    app, settings = busy_app
    async with in_process_client(app) as c:
        await pause_resume_retry(browser_like(c), app, settings)


async def test_cancel_on_the_in_process_runner(slow_app):
    app, settings = slow_app
    async with in_process_client(app) as c:
        await cancel_midway(browser_like(c), app, settings)


# ---- arq: the web app enqueues, a `takes worker` process generates ------------------------------

@pytest.fixture
def arq_settings(pg_database, fresh_redis, tmp_path):
    from tests.support.db import pg_empty

    pg_empty(pg_database)
    return make_settings(pg_database, tmp_path, redis_url=fresh_redis, lease_s=2.0, sweep_interval_s=0.5,
                         provider_concurrency=1, demo_fail_models=["demo/ember"])


async def _with_worker(settings, tmp_path, scenario):
    from tests.support.live import Proc
    from tests.support.settings import settings_env

    worker = Proc(["worker"], settings_env(settings), tmp_path / "worker.log").start()
    try:
        async for app, _ in _app(settings):
            assert type(app.state.queue).__name__ == "ArqQueue"
            async with in_process_client(app) as c:
                await scenario(browser_like(c), app, settings)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- worker ---\n{worker.output()[-3000:]}") from None
    finally:
        worker.kill()


async def test_pause_resume_retry_on_arq(arq_settings, tmp_path):
    await _with_worker(arq_settings, tmp_path, pause_resume_retry)


async def test_cancel_on_arq(arq_settings, tmp_path):
    arq_settings.demo_latency_s = 4.0
    arq_settings.demo_fail_models = []
    await _with_worker(arq_settings, tmp_path, cancel_midway)
