"""The fault storm: two `takes worker` processes, 60 demo takes, SIGKILLs of workers at random
moments (fixed seed) including inside `submitting`, a Redis restart and a PostgreSQL restart.

It runs its own redis-server and its own throwaway PostgreSQL cluster (initdb / pg_ctl on a
free port under tmp), so it can kill and restart them without touching the machine's
services. With CI=true a missing binary fails the test instead of skipping it.

What must hold (README, "A take is never submitted twice"):
- every take ends ready, failed with the provider's reason, or "outcome unknown" only where a
  kill fell inside its create call;
- the demo provider counted at most one submission per take;
- the arq queue never holds more jobs than unfinished takes plus a small constant;
- a take held by a killed worker is picked up again within LEASE_S + SWEEP_INTERVAL_S + one
  step.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from app.providers.demo import FAILURES, interrupted_creates, submission_counts
from tests.fakes import free_port
from tests.support.live import Proc
from tests.support.services import missing
from tests.support.settings import make_settings, settings_env

LEASE_S, SWEEP_S = 2.0, 0.5
ONE_STEP_S = 3.0          # a step (a poll; the last one renders the clip) plus arq's poll delay, on a busy machine
MODELS = ["demo/aurora", "demo/ember", "demo/blocks"]   # blocks always fails: the provider's reason
# A job leaves arq's queue when arq finishes it, just after its step enqueued the next one or
# ended the take: for that moment a take has two entries, or an ended take one. A worker
# killed in that moment would leave its jobs "in progress" until their markers expire
# (STEP_TIMEOUT_S + 10 s); the sweeper drops such superseded jobs at its next pass instead.
QUEUE_SLACK = 12          # steps finishing right now, and superseded jobs younger than a sweep


class RedisServer:
    def __init__(self, directory: Path):
        self.port, self.dir, self.p = free_port(), directory, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        exe = shutil.which("redis-server")
        if not exe:
            missing("redis-server", "apt-get install redis-server")
        self.p = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", str(self.dir)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: _redis_ping(self.url), 10, "redis-server did not start")
        return self

    def kill(self) -> None:
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def _redis_ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


class PgCluster:
    """A throwaway cluster: initdb into a temporary directory, pg_ctl on a free port. As root
    the binaries run as the `postgres` user (initdb refuses root)."""

    def __init__(self):
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        self.bin = bins[-1].parent if bins else (Path(shutil.which("pg_ctl")).parent if shutil.which("pg_ctl") else None)
        if self.bin is None:
            missing("PostgreSQL server binaries", "apt-get install postgresql (initdb, pg_ctl)")
        self.root = Path(tempfile.mkdtemp(prefix="takes-storm-pg-"))
        self.data, self.port = self.root / "data", free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/storm"

    def init(self) -> PgCluster:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        from tests.support.db import pg_exec

        asyncio.run(pg_exec(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", "CREATE DATABASE storm"))
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-l", str(self.root / "pg.log"), "start",
                  "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
                        "-c max_connections=200")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except Exception:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def one_step_s(log: str) -> float:
    """"One step" of the bounds as this run's workers took it: ONE_STEP_S, or more where the
    machine is loaded (2 cores shared by other suites made a fixed 3 s flaky): the 95th
    percentile of the steps arq logged ("  1.23s ← take:…") plus that of its pick-up delays
    ("delayed=0.40s"). Measured on the same run, so a slow step stretches the bound and a
    take left waiting (the fault the bound is for) does not: waiting is not a step."""
    def p95(values: list[float]) -> float:
        return sorted(values)[int(0.95 * (len(values) - 1))] if values else 0.0

    steps = [float(m) for m in re.findall(r"([\d.]+)s ← take:", log)]
    delays = [float(m) for m in re.findall(r"delayed=([\d.]+)s", log)]
    return max(ONE_STEP_S, p95(steps) + p95(delays))


def _wait(ok, timeout: float, message: str) -> None:
    end = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > end:
            raise RuntimeError(message)
        time.sleep(0.05)


@pytest.fixture
def storm(tmp_path):
    pg = PgCluster()
    redis_server = RedisServer(tmp_path)
    try:
        pg.init()
        redis_server.start()
        yield pg, redis_server
    finally:
        redis_server.kill()
        pg.destroy()


class Workers:
    """Two `takes worker` processes; a killed one is started again (a new log, new worker ids)."""

    def __init__(self, env: dict, log_dir: Path):
        self.env, self.log_dir, self.n = env, log_dir, 0
        self.procs: list[Proc] = [self._start(), self._start()]
        self.dead_ids: set[str] = set()

    def _start(self) -> Proc:
        self.n += 1
        return Proc(["worker"], self.env, self.log_dir / f"worker-{self.n}.log").start()

    @staticmethod
    def ids(proc: Proc) -> set[str]:
        return set(re.findall(r"takes worker (w-[0-9a-f]+) started", proc.output()))

    def kill(self, i: int) -> set[str]:
        proc = self.procs[i]
        killed = self.ids(proc)
        proc.kill(signal.SIGKILL)
        self.dead_ids |= killed
        return killed

    def restart(self, i: int) -> None:
        self.procs[i] = self._start()

    def stop(self) -> None:
        for p in self.procs:
            p.kill()

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("worker-*.log")))


async def _rows(db) -> dict[str, tuple]:
    from sqlalchemy import select

    from app.models import Take

    async with db.session() as s:
        rows = await s.execute(select(Take.id, Take.status, Take.lease_owner, Take.step_seq, Take.error_code,
                                      Take.error_message))
        return {r[0]: tuple(r[1:]) for r in rows}


async def _make_takes(db, n_comparisons: int) -> list[str]:
    from app.boards import default_board
    from app.models import Comparison, Take

    ids = []
    async with db.session() as s:
        board = await default_board(s)
        for i in range(n_comparisons):
            c = Comparison(board_id=board.id, prompt=f"storm {i}",
                           params={"duration_s": 1, "durations": {"demo/ember": 2, "demo/blocks": 3},
                                   "aspect_ratio": "16:9", "resolution": "360p"})   # each model's shortest
            s.add(c)
            await s.flush()
            for m in MODELS:
                t = Take(comparison_id=c.id, model_id=m, provider="demo")
                s.add(t)
                await s.flush()
                ids.append(t.id)
        await s.commit()
    return ids


def held_by(owner: str | None, worker_ids: set[str]) -> bool:
    return bool(owner) and owner.split(".")[0] in worker_ids


async def _storm(settings, pg: PgCluster, rds: RedisServer, log_dir: Path) -> dict:
    import redis.asyncio as aioredis

    from app.db import Database
    from app.jobs.context import JobContext
    from app.jobs.runner import ArqQueue

    rng = random.Random(1414)
    env = settings_env(settings)
    env.update({"STEP_TIMEOUT_S": "15", "DEMO_SUBMIT_LATENCY_S": "0.25", "TAKE_TIMEOUT_S": "150"})
    db = Database(settings)
    ctx = JobContext.create(settings, db)
    take_ids = await _make_takes(db, 20)
    workers = Workers(env, log_dir)
    queue = ArqQueue(ctx, rds.url)
    await queue.start()
    await queue.enqueue(take_ids[:30])          # the rest: committed, never enqueued (the outbox path)
    r = aioredis.from_url(rds.url, socket_connect_timeout=0.5, socket_timeout=1)
    state = {"rows": {}, "queue_over": [], "outages": [], "kills": [], "superseded": {}}
    t0 = time.monotonic()

    async def sample() -> None:
        # The takes are read before the queue: a take only moves forward (its step number grows,
        # it ends), so a count of unfinished takes read first is never too small, and a job the
        # earlier rows already show superseded is superseded for sure, never a step that was
        # enqueued between the two reads.
        try:
            state["rows"] = await _rows(db)
        except Exception:
            return
        try:
            entries = [j.decode() for j in await r.zrange("arq:queue", 0, -1)]
        except Exception:
            return
        now = time.monotonic()
        unfinished = sum(1 for v in state["rows"].values() if v[0] not in ("ready", "failed", "cancelled"))
        state["queue_over"].append(len(entries) - unfinished)
        stale = set()
        for jid in entries:
            _, tid, seq = jid.split(":")
            row = state["rows"].get(tid)
            if row and (row[0] in ("ready", "failed", "cancelled") or int(seq) < row[2]):
                stale.add(jid)
                state["superseded"].setdefault(jid, [now, now])[1] = now
        if len(entries) - unfinished > state.get("worst", (-999,))[0]:
            state["worst"] = (len(entries) - unfinished, f"at {now - t0:.1f}s", f"{unfinished} unfinished",
                              f"{len(stale)} superseded jobs", f"kills at {[round(k['at'] - t0, 1) for k in state['kills']]}")
        for k in state["kills"]:                          # when each orphan was picked up again
            for tid, seq in k["orphans"].items():
                row = state["rows"].get(tid)
                picked_up = row and (row[0] in ("ready", "failed", "cancelled") or row[2] >= seq + 2 or (
                    row[1] not in (None, "queue") and not held_by(row[1], workers.dead_ids)))
                if tid not in k["resumed"] and picked_up:
                    k["resumed"][tid] = time.monotonic() - k["at"]

    async def watch(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await sample()
            await asyncio.sleep(0.1)

    async def kill(i: int, in_submit: bool) -> None:
        if in_submit:      # wait (a while) for this worker to be inside a create call
            end = time.monotonic() + 6
            while time.monotonic() < end:
                await sample()
                mine = workers.ids(workers.procs[i])
                if any(v[0] == "submitting" and held_by(v[1], mine) for v in state["rows"].values()):
                    break
                await asyncio.sleep(0.02)
        killed = workers.kill(i)
        at = time.monotonic()
        rows = await _rows(db)      # after the kill: what the dead worker held, as it left it
        orphans = {tid: v[2] for tid, v in rows.items() if held_by(v[1], killed)}
        state["kills"].append({"at": at, "orphans": orphans, "resumed": {},
                               "submitting": {t for t in orphans if rows[t][0] == "submitting"}})
        await watch(0.5)
        workers.restart(i)

    try:
        await watch(2.0)
        for n in range(10):
            await kill(rng.randrange(2), in_submit=n % 2 == 0)
            await watch(rng.uniform(0.5, 2.5))
            if n == 3:                       # Redis restart: every queued job is lost with it
                rds.kill()
                down = time.monotonic()
                await watch(3.0)
                rds.start()
                state["outages"].append((down, time.monotonic()))
            if n == 6:                       # PostgreSQL restart
                down = time.monotonic()
                pg.stop("immediate")
                await asyncio.sleep(2.0)
                pg.start()
                state["outages"].append((down, time.monotonic()))
        end = t0 + 160
        while time.monotonic() < end:
            await watch(0.5)
            if all(v[0] in ("ready", "failed", "cancelled") for v in state["rows"].values()) and \
                    len(state["rows"]) == len(take_ids):
                break
        await sample()
        state["elapsed"] = time.monotonic() - t0
        state["dead_ids"] = workers.dead_ids
        state["log"] = workers.output()
        return state
    finally:
        workers.stop()
        await queue.stop()
        await r.aclose()
        await ctx.aclose()
        await db.dispose()


@pytest.mark.solo
def test_fault_storm(storm, tmp_path):
    from app.migrate import upgrade

    pg, rds = storm
    settings = make_settings(pg.url, tmp_path, redis_url=rds.url, lease_s=LEASE_S, sweep_interval_s=SWEEP_S,
                             demo_latency_s=2.0, poll_interval_s=0.3, poll_max_interval_s=1.0,
                             provider_concurrency=10, demo_fail_models=["demo/blocks"])
    upgrade(settings.database_url)
    state = asyncio.run(_storm(settings, pg, rds, tmp_path))
    rows, log = state["rows"], state["log"]

    # 1. every take ended: ready; failed with the provider's own reason; or outcome unknown
    #    only where its create call was interrupted by a kill of the worker inside it.
    killed_in_submit = set().union(*(k["submitting"] for k in state["kills"]))
    unknown = {tid for tid, v in rows.items() if v[3] == "outcome_unknown"}
    assert len(rows) == 60, log
    for tid, (status, _, _, code, message) in rows.items():
        assert status in ("ready", "failed"), (tid, status, log)
        if status == "failed" and code != "outcome_unknown":
            assert (code, message) in FAILURES, (tid, code, message)   # the provider's reason, as it gave it
    # Unknown only for a take whose submit a fault cut: its killed worker held it in
    # `submitting` (between winning the right to submit and recording the remote job), or its
    # create call started and never made the job (the demo service's attempts log says so; a
    # Redis or PostgreSQL outage that ends a step inside the call does this too, and the kill
    # sample can miss a take that entered `submitting` just after it). Either way the demo
    # service, asked by our client key, had no job for it: the next assertion holds that.
    cut = interrupted_creates(settings)
    assert unknown <= killed_in_submit | cut, (unknown - killed_in_submit - cut, killed_in_submit, cut)
    assert not unknown & set(submission_counts(settings)), "a job was made but the take was not resumed"
    assert sum(1 for v in rows.values() if v[0] == "ready") >= 30
    # 2. at most one submission per take, always
    counts = submission_counts(settings)
    assert max(counts.values()) == 1 and set(counts) <= set(rows)
    # 3. the queue never grew past the unfinished takes plus a small constant
    assert max(state["queue_over"]) <= QUEUE_SLACK, state.get("worst")
    #    and a superseded job (its take ended, or moved on to a later step) did not linger in it:
    #    gone within a sweep pass, or that long after the end of an outage that came in between
    step = one_step_s(log)
    superseded_s = SWEEP_S + step
    for jid, (first, last) in state["superseded"].items():
        allowed = superseded_s
        for a, b in state["outages"]:
            if a <= last and b >= first - 1:
                allowed = max(allowed, b + superseded_s - first)
        assert last - first <= allowed, (jid, f"seen for {last - first:.1f}s", allowed)
    # 4. a killed worker's takes were picked up within LEASE_S + SWEEP_INTERVAL_S + one step
    #    of its death, or of the end of a Redis or PostgreSQL outage that came in between
    bound = LEASE_S + SWEEP_S + step
    measured = 0
    for k in state["kills"]:
        allowed = bound
        for a, b in state["outages"]:
            if a <= k["at"] + bound and b >= k["at"] - 1:
                allowed = max(allowed, b + bound - k["at"])
        for tid in k["orphans"]:
            assert tid in k["resumed"] and k["resumed"][tid] <= allowed, (tid, allowed, k, log)
            measured += 1
    assert measured >= 5, state["kills"]
    assert state["elapsed"] < 170
    print(f"storm: {state['elapsed']:.0f}s, one step {step:.1f}s, kills {len(state['kills'])}, takes killed in submitting "
          f"{len(killed_in_submit)} (create call cut: {len(interrupted_creates(settings) & unknown)}), "
          f"outcome unknown {len(unknown)}, orphans measured {measured}, queue over {max(state['queue_over'])}, "
          f"superseded jobs seen {len(state['superseded'])}, longest "
          f"{max((b - a for a, b in state['superseded'].values()), default=0):.1f}s")
