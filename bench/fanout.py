"""Fan-out (issue 14): many takes of a provider whose every job is done a fixed time after its
create call, on the in-process runner and on one arq worker.

    .venv/bin/python bench/fanout.py finish --runner both --takes 1000 --runs 3
    .venv/bin/python bench/fanout.py inflight --runner arq --takes 10000

`finish`: --takes takes (10 per comparison) are enqueued at once; the fake provider
(bench/_fanout_provider.py) says "done" --complete-after seconds (20) after each create call;
polls come every --poll seconds (5: POLL_INTERVAL_S = POLL_MAX_INTERVAL_S, so "one poll
interval" is one number). Each take is then downloaded (a 64×36 one-second clip copied into
MEDIA_DIR), probed and given a poster, as a real take is. Measured: from the enqueue to the last
take ready; goal ≤ 1.3 × (complete-after + poll). Also printed: when the last take was submitted.

`inflight`: --takes takes whose jobs finish only after an hour, polled every 60 s; measured: the
peak RSS of the process that runs the steps (this one for the in-process runner, the worker's
for arq) until every take is in flight (submitted, its first poll done), sampled every 0.5 s
from /proc; goal ≤ 300 MB. The takes are cancelled afterwards.

Database: --database-url (default: a PostgreSQL database of BENCH_POSTGRES_URL, else
TEST_POSTGRES_URL), migrated and emptied before each run; Redis: --redis-url (default
TEST_REDIS_URL), flushed before each arq run. PROVIDER_CONCURRENCY is raised above --takes so
the provider limit is not what is measured. The load average is printed before and after; the
last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import _fanout_provider as fake  # noqa: E402


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0:3].__str__()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def make_settings(args, work: Path, complete_after: float, poll: float):
    from app.settings import Settings

    return Settings(_env_file=None, database_url=args.database_url, redis_url=args.redis_url, media_dir=work / "media",
                    catalog_dir=work / "catalog.d", secret_key="bench", poll_interval_s=poll, poll_max_interval_s=poll,
                    provider_concurrency=args.takes + 10, take_timeout_s=max(1800.0, complete_after * 3),
                    sweep_interval_s=5.0, lease_s=30.0)


def worker_env(settings, complete_after: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "POLL_"))}
    env.update({"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url or "",
                "MEDIA_DIR": str(settings.media_dir), "CATALOG_DIR": str(settings.catalog_dir), "SECRET_KEY": "bench",
                "POLL_INTERVAL_S": str(settings.poll_interval_s), "POLL_MAX_INTERVAL_S": str(settings.poll_max_interval_s),
                "PROVIDER_CONCURRENCY": str(settings.provider_concurrency), "TAKE_TIMEOUT_S": str(settings.take_timeout_s),
                "FANOUT_COMPLETE_AFTER_S": str(complete_after), "PYTHONPATH": str(ROOT)})
    return env


async def reset_db(settings) -> None:
    from sqlalchemy import text

    from app.db import Database
    from app.migrate import upgrade

    await asyncio.to_thread(upgrade, settings.database_url)
    db = Database(settings)
    async with db.session() as s:
        if settings.is_sqlite:
            for table in ("webhook_deliveries", "provider_hooks", "takes", "comparisons"):
                await s.execute(text(f"DELETE FROM {table}"))
        else:
            await s.execute(text("TRUNCATE takes, comparisons CASCADE"))
        await s.commit()
    await db.dispose()


async def seed(db, n: int) -> list[str]:
    """n queued takes of the fake model, 10 per comparison, on the default board."""
    from app.boards import default_board
    from app.models import Comparison, Take

    ids = []
    async with db.session() as s:
        board = await default_board(s)
        for start in range(0, n, 10):
            c = Comparison(board_id=board.id, prompt=f"fan-out {start}", params={"duration_s": 1, "aspect_ratio": "16:9",
                                                                                  "resolution": "360p"})
            s.add(c)
            await s.flush()
            takes = [Take(comparison_id=c.id, model_id="bench/fake-20s", provider="bench", attempt=k + 1)
                     for k in range(min(10, n - start))]   # one model, takes 1–10 (as re-rolls are)
            s.add_all(takes)
            await s.flush()
            ids += [t.id for t in takes]
        await s.commit()
    return ids


async def counts(db) -> dict[str, int]:
    from sqlalchemy import func, select

    from app.models import Take

    async with db.session() as s:
        return dict((await s.execute(select(Take.status, func.count()).group_by(Take.status))).all())


class Stepper:
    """Runs the steps: an InProcessRunner here, or one `takes worker` process (arq)."""

    def __init__(self, kind: str, settings, complete_after: float, work: Path):
        self.kind, self.settings, self.complete_after, self.work = kind, settings, complete_after, work
        self.proc = None

    async def __aenter__(self):
        from app.db import Database
        from app.jobs.context import JobContext
        from app.jobs.runner import ArqQueue, InProcessRunner

        self.ctx = JobContext.create(self.settings, Database(self.settings, pre_ping=False))   # as app.main
        if self.kind == "inprocess":
            self.queue = InProcessRunner(self.ctx)
            self.pid = os.getpid()
        else:
            import redis

            redis.Redis.from_url(self.settings.redis_url).flushdb()
            log = (self.work / "worker.log").open("w")
            self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_fanout_provider.py")],
                                         env=worker_env(self.settings, self.complete_after), stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.work)
            self.pid = self.proc.pid
            self.queue = ArqQueue(self.ctx, self.settings.redis_url)
            await self._worker_ready()
        await self.queue.start()
        return self

    async def _worker_ready(self) -> None:
        end = time.monotonic() + 60
        while "started" not in (self.work / "worker.log").read_text():
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError("worker did not start:\n" + (self.work / "worker.log").read_text())
            await asyncio.sleep(0.2)

    async def __aexit__(self, *exc):
        await self.queue.stop()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        await self.ctx.aclose()
        await self.ctx.db.dispose()


async def finish_run(args, kind: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"fanout-{kind}-"))
    settings = make_settings(args, work, args.complete_after, args.poll)
    fake.write_catalog(settings.catalog_dir)
    os.environ["FANOUT_COMPLETE_AFTER_S"] = str(args.complete_after)
    await reset_db(settings)
    async with Stepper(kind, settings, args.complete_after, work) as st:
        ids = await seed(st.ctx.db, args.takes)
        load_before = loadavg()
        t0 = time.monotonic()
        await st.queue.enqueue(ids)
        last_submit, peak = None, 0.0
        while True:
            c = await counts(st.ctx.db)
            peak = max(peak, rss_mb(st.pid))
            if last_submit is None and c.get("queued", 0) == 0 and c.get("submitting", 0) == 0:
                last_submit = time.monotonic() - t0
            if sum(c.get(s, 0) for s in ("ready", "failed", "cancelled")) >= len(ids) or time.monotonic() - t0 > 600:
                break
            await asyncio.sleep(0.25)
        wall = time.monotonic() - t0
    goal = 1.3 * (args.complete_after + args.poll)
    return {"runner": kind, "takes": len(ids), "wall_s": round(wall, 2), "goal_s": round(goal, 2),
            "last_submitted_s": round(last_submit or wall, 2), "ready": c.get("ready", 0), "failed": c.get("failed", 0),
            "peak_rss_mb": round(peak, 1), "met": wall <= goal and c.get("ready", 0) == len(ids),
            "load_before": load_before, "load_after": loadavg()}


async def inflight_run(args, kind: str) -> dict:
    from sqlalchemy import update

    from app.models import TERMINAL_STATES, Take

    work = Path(tempfile.mkdtemp(prefix=f"fanout-inflight-{kind}-"))
    settings = make_settings(args, work, 3600.0, 60.0)
    fake.write_catalog(settings.catalog_dir)
    os.environ["FANOUT_COMPLETE_AFTER_S"] = "3600"
    await reset_db(settings)
    async with Stepper(kind, settings, 3600.0, work) as st:
        ids = await seed(st.ctx.db, args.takes)
        load_before = loadavg()
        t0 = time.monotonic()
        await st.queue.enqueue(ids)
        peak, inflight = 0.0, 0
        while time.monotonic() - t0 < args.timeout:
            peak = max(peak, rss_mb(st.pid))
            c = await counts(st.ctx.db)
            inflight = c.get("submitted", 0) + c.get("running", 0)
            if c.get("running", 0) >= len(ids):   # running = its first poll is done
                break
            await asyncio.sleep(0.5)
        all_in = time.monotonic() - t0
        for _ in range(6):   # and a while longer, as polls keep coming
            peak = max(peak, rss_mb(st.pid))
            await asyncio.sleep(0.5)
        async with st.ctx.db.session() as s:
            await s.execute(update(Take).where(Take.status.not_in(TERMINAL_STATES)).values(status="cancelled"))
            await s.commit()
    return {"runner": kind, "takes": len(ids), "in_flight": inflight, "all_in_flight_s": round(all_in, 1),
            "peak_rss_mb": round(peak, 1), "met": inflight >= len(ids) and peak <= 300,
            "load_before": load_before, "load_after": loadavg()}


def default_pg() -> str | None:
    return os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["finish", "inflight"])
    ap.add_argument("--runner", choices=["inprocess", "arq", "both"], default="both")
    ap.add_argument("--takes", type=int, default=None)
    ap.add_argument("--complete-after", type=float, default=20.0)
    ap.add_argument("--poll", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--database-url", default=default_pg())
    ap.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    args = ap.parse_args()
    args.takes = args.takes or (1000 if args.mode == "finish" else 10000)
    if not args.database_url:
        ap.error("give --database-url (or set BENCH_POSTGRES_URL / TEST_POSTGRES_URL)")
    from app.settings import Settings

    args.database_url = Settings(_env_file=None, database_url=args.database_url).database_url
    fake.install()
    kinds = ["inprocess", "arq"] if args.runner == "both" else [args.runner]
    results = []
    for run in range(args.runs):
        for kind in kinds:
            res = asyncio.run((finish_run if args.mode == "finish" else inflight_run)(args, kind))
            res["run"] = run + 1
            print(json.dumps(res), flush=True)
            results.append(res)
    print(json.dumps({"mode": args.mode, "results": results}))
    return 0 if all(r["met"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
