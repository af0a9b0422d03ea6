"""Leaderboard from the database at scale: what a leaderboard page costs on a board with a
million votes in PostgreSQL.

    /work/main/.venv/bin/python bench/leaderboard.py              # makes the data (≈ 2 min), 3 runs
    /work/main/.venv/bin/python bench/leaderboard.py --keep       # keep the database for re-runs
    /work/main/.venv/bin/python bench/leaderboard.py --reuse      # re-use a kept database

Data: bench/export.py's generator (1,000,000 vote rows on one board, four models, every
ballot three pairs — the best-of-N / ranking shape that cannot be counted row by row — 80 %
overall and 20 % motion, 50,000 comparisons × 4 takes), in its own database. The generator
inserts vote rows directly, past the counts every vote keeps (app/vote_counts.py), so they are
recounted once (`vote_counts.rebuild`, timed: what migration 0010 does on an existing database).

Timed per run, in-process: `load_outcomes` (the kept ballot counts), `rank` (the first run
fits, later runs find the fit of the same counts cached), `comparison_table`, and
`criteria_with_votes` — everything the page computes.

Then over HTTP, as a user sees it: `takes serve` started on the database (open mode), and
`GET /b/bench/leaderboard` and `GET /api/boards/bench/leaderboard` — cold (the first request
of a fresh server process: nothing cached) and warm (the median and max of the next 10).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import export as gen  # noqa: E402  (bench/export.py: the data generator)

from app import leaderboard as lb  # noqa: E402
from app.ranking import rank  # noqa: E402

gen.DB = "takes_bench_leaderboard"


async def recount(dsn: str) -> float:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from app import vote_counts

    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with async_sessionmaker(engine)() as s:
            t = time.perf_counter()
            await vote_counts.rebuild(s)
            await s.commit()
            return time.perf_counter() - t
    finally:
        await engine.dispose()


async def run(dsn: str, runs: int) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://"))
    maker = async_sessionmaker(engine)
    try:
        for i in range(runs):
            async with maker() as s:
                t0 = time.perf_counter()
                out = await lb.load_outcomes(s, ["bboard"], "overall")
                t1 = time.perf_counter()
                r = lb._fit(out, 1000, lb.MIN_VOTES)
                t2 = time.perf_counter()
                table = await lb.comparison_table(s, ["bboard"])
                t3 = time.perf_counter()
                criteria = await lb.criteria_with_votes(s, ["bboard"])
                t4 = time.perf_counter()
            print(f"run {i + 1}: load_outcomes {t1 - t0:.3f} s ({out.n_votes:,} votes, {out.n_ballots:,} ballots, "
                  f"{len(out.pattern_count)} patterns) · rank {t2 - t1:.3f} s · comparison_table {t3 - t2:.3f} s "
                  f"({len(table)} models) · criteria {t4 - t3:.3f} s ({', '.join(criteria)}) · total {t4 - t0:.3f} s")
        print(f"top: {r.models[0].model} {r.models[0].rating:.1f} [{r.models[0].ci_low:.1f}, {r.models[0].ci_high:.1f}]")
    finally:
        await engine.dispose()


def over_http(dsn: str, warm: int = 10) -> None:
    """Cold and warm answers of the page and the API from fresh `takes serve` processes: the
    first with nothing kept anywhere (board_caches emptied: the first page ever), warm the next
    `warm` requests of that process, then a second fresh process, which finds the fit and
    the take columns the first one kept (app/board_cache.py): a restart or another worker."""
    import statistics
    import tempfile

    import httpx

    import _load

    for path in ("/b/bench/leaderboard", "/api/boards/bench/leaderboard"):
        asyncio.run(gen._exec(dsn, "DELETE FROM board_caches"))
        times, kept = [], None
        for process in ("first", "second"):
            with tempfile.TemporaryDirectory(prefix="bench-lb-") as tmp:
                server, base = _load.takes_serve(dsn.replace("postgresql://", "postgresql+asyncpg://"), Path(tmp))
                try:
                    with httpx.Client(base_url=base, timeout=120) as c:
                        for _ in range(1 + warm if process == "first" else 1):
                            t = time.perf_counter()
                            r = c.get(path)
                            took = time.perf_counter() - t
                            if process == "first":
                                times.append(took)
                            else:
                                kept = took
                            assert r.status_code == 200, (path, r.status_code, r.text[:300])
                finally:
                    server.stop()
        print(f"HTTP {path}: cold, nothing kept {1000 * times[0]:.0f} ms · warm median "
              f"{1000 * statistics.median(times[1:]):.0f} ms, max {1000 * max(times[1:]):.0f} ms ({warm} requests, "
              f"{len(r.content):,} bytes) · cold, a fresh process with the kept fit and take columns "
              f"{1000 * kept:.0f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--keep", action="store_true", help="leave the database for --reuse")
    p.add_argument("--reuse", action="store_true", help="use the database a --keep run left")
    p.add_argument("--no-http", action="store_true", help="only the in-process timings")
    p.add_argument("--only-http", action="store_true", help="only the HTTP timings (with --reuse)")
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    if args.reuse:
        from app.migrate import upgrade

        dsn = gen._dsn(gen.ADMIN, gen.DB)
        upgrade(dsn)   # a database kept by an older checkout
    else:
        t = time.perf_counter()
        dsn, _ = gen.make_database(args.rows)
        print(f"made {args.rows:,} vote rows in {time.perf_counter() - t:.0f} s")
    try:
        if not args.only_http:
            print(f"recounted the ballot counts from the votes in {asyncio.run(recount(dsn)):.2f} s")
            asyncio.run(run(dsn, args.runs))
        if not args.no_http:
            over_http(dsn)
    finally:
        if not args.keep:
            asyncio.run(gen._exec(gen._dsn(gen.ADMIN), f"DROP DATABASE IF EXISTS {gen.DB} WITH (FORCE)"))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
