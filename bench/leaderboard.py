"""Leaderboard from the database at scale: what a leaderboard page costs on a board with a
million votes in PostgreSQL.

    /work/main/.venv/bin/python bench/leaderboard.py              # makes the data (≈ 2 min), 3 runs
    /work/main/.venv/bin/python bench/leaderboard.py --keep       # keep the database for re-runs
    /work/main/.venv/bin/python bench/leaderboard.py --reuse      # re-use a kept database

Data: bench/export.py's generator (1,000,000 vote rows on one board, four models, every
ballot three pairs — the best-of-N / ranking shape that cannot be counted row by row — 80 %
overall and 20 % motion, 50,000 comparisons × 4 takes), in its own database. Timed per run:
`load_outcomes` (ballots folded and counted by the database), `rank` (fit + 1,000 bootstrap
rounds), `comparison_table`, and `criteria_with_votes` — everything the page computes.
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
                r = rank(out, rounds=1000, seed=0)
                t2 = time.perf_counter()
                table = await lb.comparison_table(s, ["bboard"])
                t3 = time.perf_counter()
                criteria = await lb.criteria_with_votes(s, ["bboard"])
                t4 = time.perf_counter()
            print(f"run {i + 1}: load_outcomes {t1 - t0:.2f} s ({out.n_votes:,} votes, {out.n_ballots:,} ballots, "
                  f"{len(out.pattern_count)} patterns) · rank {t2 - t1:.2f} s · comparison_table {t3 - t2:.2f} s "
                  f"({len(table)} models) · criteria {t4 - t3:.2f} s ({', '.join(criteria)}) · total {t4 - t0:.2f} s")
        print(f"top: {r.models[0].model} {r.models[0].rating:.1f} [{r.models[0].ci_low:.1f}, {r.models[0].ci_high:.1f}]")
    finally:
        await engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--keep", action="store_true", help="leave the database for --reuse")
    p.add_argument("--reuse", action="store_true", help="use the database a --keep run left")
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    if args.reuse:
        dsn = gen._dsn(gen.ADMIN, gen.DB)
    else:
        t = time.perf_counter()
        dsn, _ = gen.make_database(args.rows)
        print(f"made {args.rows:,} vote rows in {time.perf_counter() - t:.0f} s")
    try:
        asyncio.run(run(dsn, args.runs))
    finally:
        if not args.keep:
            asyncio.run(gen._exec(gen._dsn(gen.ADMIN), f"DROP DATABASE IF EXISTS {gen.DB} WITH (FORCE)"))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
