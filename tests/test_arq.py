"""The production shape: PostgreSQL + Redis, the web app enqueueing through arq and
`takes worker` processes doing the work, including a worker killed mid-generation."""

import contextlib
import signal
import time

import httpx
import pytest

from app.providers.demo import submission_counts
from tests.support.clients import wait_for_takes_over_http
from tests.support.live import Proc
from tests.support.live import wait_http as _wait_http
from tests.support.settings import make_settings, settings_env

DEMOS = ["demo/aurora", "demo/ember", "demo/blocks"]
SHORTEST = {"demo/aurora": 1, "demo/ember": 2, "demo/blocks": 3}   # each model's shortest clip


@pytest.fixture
def pg_settings(pg_database, fresh_redis, tmp_path):
    from tests.support.db import pg_empty

    pg_empty(pg_database)
    return make_settings(pg_database, tmp_path, redis_url=fresh_redis, lease_s=2.0, sweep_interval_s=0.5)


def _serve(settings, tmp_path, port):
    return Proc(["serve", "--port", str(port)], settings_env(settings), tmp_path / "serve.log").start()


def test_web_enqueues_and_a_worker_process_generates(pg_settings, tmp_path):
    from tests.fakes import free_port

    port = free_port()
    web = _serve(pg_settings, tmp_path, port)
    worker = Proc(["worker"], settings_env(pg_settings), tmp_path / "worker.log").start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, web)
        r = httpx.post(url + "/api/comparisons", json={"prompt": "lanterns over a lake", "models": DEMOS,
                                                        "duration_s": 4, "resolution": "360p"})
        assert r.status_code == 202
        done = wait_for_takes_over_http(url, r.json()["id"])
        assert [t["status"] for t in done["takes"]] == ["ready"] * 3, worker.output()
        clip = httpx.get(url + done["takes"][0]["video_url"], headers={"Range": "bytes=0-99"})
        assert clip.status_code == 206 and len(clip.content) == 100
        assert "generate_take_job" in worker.output()
        assert "takes polled in a batch" in worker.output()   # waiting takes went to the worker's poller
        a, b = done["takes"][0]["id"], done["takes"][1]["id"]
        vote = httpx.post(f"{url}/api/comparisons/{done['id']}/votes", json={"take_a": a, "take_b": b, "outcome": "b"})
        assert vote.status_code == 201
        lines = httpx.get(url + "/api/boards/default/votes.csv").text.lstrip("\ufeff").splitlines()
        assert len(lines) == 2 and "lanterns over a lake" in lines[1] and ",model_b," in lines[1]
    finally:
        worker.kill()
        web.kill()


def test_worker_killed_mid_generation_resumes_without_submitting_twice(pg_settings, tmp_path):
    from tests.fakes import free_port

    pg_settings.demo_latency_s = 4.0
    pg_settings.provider_concurrency = 10   # all six takes in flight when the worker dies
    port = free_port()
    web = _serve(pg_settings, tmp_path, port)
    env = settings_env(pg_settings)
    worker = Proc(["worker"], env, tmp_path / "worker1.log").start()
    url = f"http://127.0.0.1:{port}"
    worker2 = None
    try:
        _wait_http(url, web)
        ids = []
        for prompt in ("storm over the sea", "a dancer in a red coat"):
            r = httpx.post(url + "/api/comparisons", json={"prompt": prompt, "models": DEMOS, "duration_s": 4,
                                                            "resolution": "360p"})
            ids.append(r.json()["id"])
        # Wait until every take was submitted (remote id stored) and is being polled, then kill -9.
        end = time.monotonic() + 30
        while True:
            takes = [t for cid in ids for t in httpx.get(f"{url}/api/comparisons/{cid}").json()["takes"]]
            if all(t["status"] in ("submitted", "running") for t in takes):
                break
            assert time.monotonic() < end, takes
            time.sleep(0.1)
        worker.kill(signal.SIGKILL)
        assert worker.p.returncode == -signal.SIGKILL
        time.sleep(0.5)
        worker2 = Proc(["worker"], env, tmp_path / "worker2.log").start()
        results = [wait_for_takes_over_http(url, cid) for cid in ids]
        takes = [t for body in results for t in body["takes"]]
        assert [t["status"] for t in takes] == ["ready"] * 6, worker2.output()
        counts = submission_counts(pg_settings)
        assert {t["id"]: counts[t["id"]] for t in takes} == {t["id"]: 1 for t in takes}
        assert "submitting" not in worker2.output()
    finally:
        for p in (worker, worker2, web):
            if p:
                p.kill()


async def _takes(settings, n_comparisons: int = 2) -> list[str]:
    from app.boards import default_board
    from app.db import Database
    from app.models import Comparison, Take

    db = Database(settings)
    ids = []
    async with db.session() as s:
        board = await default_board(s)
        for i in range(n_comparisons):
            c = Comparison(board_id=board.id, prompt=f"p{i}",
                           params={"duration_s": 1, "durations": SHORTEST, "resolution": "360p"})
            s.add(c)
            await s.flush()
            for m in DEMOS:
                t = Take(comparison_id=c.id, model_id=m, provider="demo")
                s.add(t)
                await s.flush()
                ids.append(t.id)
        await s.commit()
    await db.dispose()
    return ids


@contextlib.asynccontextmanager
async def _queue_and_redis(settings):
    """A started ArqQueue, an arq pool and a raw Redis client on `settings`, closed after."""
    import redis.asyncio as aioredis
    from arq import create_pool
    from arq.connections import RedisSettings

    from app.jobs.context import JobContext
    from app.jobs.runner import ArqQueue

    ctx = JobContext.create(settings)
    queue = ArqQueue(ctx, settings.redis_url)
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url))
    r = aioredis.from_url(settings.redis_url)
    try:
        await queue.start()
        yield ctx, queue, pool, r
    finally:
        await queue.stop()
        await pool.aclose()
        await r.aclose()
        await ctx.aclose()
        await ctx.db.dispose()


async def test_enqueueing_twice_and_sweeping_keep_one_job_per_take(pg_settings):
    """F2's queue growth: the web's enqueue and the sweeper may both send a take; the queue
    still holds one job per take, and a dead worker's step is replaced, not added to."""
    from sqlalchemy import update

    from app.jobs.worker import sweep
    from app.models import Take, utcnow

    ids = await _takes(pg_settings)
    async with _queue_and_redis(pg_settings) as (ctx, queue, pool, r):
        await queue.enqueue(ids)
        await queue.enqueue(ids)
        assert await sweep(ctx, pool) == 0
        assert await r.zcard("arq:queue") == len(ids)
        # The queued jobs wait past LEASE_S (a busy queue): sent again under the same ids, a no-op.
        async with ctx.db.session() as s:
            await s.execute(update(Take).values(lease_expires_at=utcnow()))
            await s.commit()
        assert await sweep(ctx, pool) == len(ids)
        assert await r.zcard("arq:queue") == len(ids)
        # A worker took the first one's job and died holding it: a new step replaces the old job.
        first = f"take:{ids[0]}:1"
        await r.set("arq:in-progress:" + first, b"1")
        async with ctx.db.session() as s:
            await s.execute(update(Take).where(Take.id == ids[0])
                            .values(lease_owner="w-dead.token", lease_expires_at=utcnow()))
            await s.commit()
        assert await sweep(ctx, pool) == 1
        jobs = {j.decode() for j in await r.zrange("arq:queue", 0, -1)}
        assert len(jobs) == len(ids) and first not in jobs and f"take:{ids[0]}:2" in jobs


async def test_sweep_drops_jobs_a_killed_worker_left_after_their_step(pg_settings):
    """The storm's queue overshoot: a worker killed after a step handed its take on (or ended
    it) but before arq finished the job leaves that job "in progress" in arq's queue until the
    marker expires. The sweep drops such superseded jobs and keeps every live one."""
    from sqlalchemy import update

    from app.jobs.worker import sweep
    from app.models import Take

    ids = await _takes(pg_settings)
    async with _queue_and_redis(pg_settings) as (ctx, queue, pool, r):
        await queue.enqueue(ids)                        # step 1 of every take
        moved_on, ended = ids[0], ids[1]
        # A dead worker ran step 1 of `moved_on` (its take now waits for step 2, queued) and the
        # last step of `ended`; arq never finished either job, so both stay "in progress".
        for tid in (moved_on, ended):
            await r.set(f"arq:in-progress:take:{tid}:1", b"1")
        async with ctx.db.session() as s:
            await s.execute(update(Take).where(Take.id == moved_on).values(step_seq=2))
            await s.execute(update(Take).where(Take.id == ended)
                            .values(status="ready", lease_owner=None, lease_expires_at=None))
            await s.commit()
        await pool.enqueue_job("generate_take_job", moved_on, 2, _job_id=f"take:{moved_on}:2", _defer_by=30)
        assert await r.zcard("arq:queue") == len(ids) + 1
        assert await sweep(ctx, pool) == 0
        jobs = {j.decode() for j in await r.zrange("arq:queue", 0, -1)}
        assert jobs == {f"take:{t}:1" for t in ids[2:]} | {f"take:{moved_on}:2"}
        for tid in (moved_on, ended):
            assert not await r.exists(f"arq:in-progress:take:{tid}:1", f"arq:job:take:{tid}:1")


def test_the_web_answers_202_while_redis_is_down_and_a_worker_delivers_later(pg_settings, tmp_path):
    """F4: no 500 after a write. The comparison is committed, its takes wait unheld in the
    database (the outbox), and the first sweep of a worker generates them; a retry with the
    same Idempotency-Key gets the same comparison."""
    from tests.fakes import free_port

    port, dead_redis = free_port(), f"redis://127.0.0.1:{free_port()}/0"
    web_settings = pg_settings.model_copy(update={"redis_url": dead_redis})
    web = _serve(web_settings, tmp_path, port)
    url = f"http://127.0.0.1:{port}"
    worker = None
    try:
        _wait_http(url, web)
        body = {"prompt": "a lighthouse in fog", "models": DEMOS, "durations": SHORTEST, "resolution": "360p"}
        r = httpx.post(url + "/api/comparisons", json=body, headers={"Idempotency-Key": "retry-me"}, timeout=30)
        assert r.status_code == 202, r.text
        again = httpx.post(url + "/api/comparisons", json=body, headers={"Idempotency-Key": "retry-me"}, timeout=30)
        assert again.status_code == 202 and again.json()["id"] == r.json()["id"]
        worker = Proc(["worker"], settings_env(pg_settings), tmp_path / "worker.log").start()
        done = wait_for_takes_over_http(url, r.json()["id"])
        assert [t["status"] for t in done["takes"]] == ["ready"] * 3, worker.output()
        assert set(submission_counts(pg_settings).values()) == {1}
    finally:
        for p in (worker, web):
            if p:
                p.kill()
