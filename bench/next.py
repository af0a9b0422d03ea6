"""`next` with active sampling on a big board (issue 11): a board of 10,000 comparisons × 4
ready takes and 100,000 votes in PostgreSQL. Goal: ≤ 50 ms per call.

    .venv/bin/python bench/next.py                     # makes the data (≈ 1–2 min), 3 runs
    .venv/bin/python bench/next.py --runs 1 --calls 20

Timed per run, one call after another (a reviewer asks for one comparison at a time):
- in-process: `app.active.next_pick` on a warm cache (the fit is cached per board version),
  against the anchor `app.votes.next_comparison` (the oldest unvoted comparison, what `next`
  did before) on the same session;
- over HTTP: `GET /api/boards/{slug}/next` of a real `takes serve`, against the anchor
  `GET /api/boards/{slug}` (the board's JSON: access check and one row) on the same server;
- once per run: a cold call (candidates read and the fit made: what the first call after a
  burst of votes costs) and a refit alone.
Needs PostgreSQL at BENCH_POSTGRES_URL (default the test server); makes and drops its own
database. Exit status 0 when the warm median is ≤ 50 ms in-process and over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _load  # noqa: E402

DB = "takes_bench_next"
GOAL_MS = 50.0


def _ms(samples: list[float]) -> dict:
    return {"median": round(1000 * statistics.median(samples), 2),
            "p95": round(1000 * _load.percentile(samples, 95), 2)}


async def in_process(url: str, board_id: str, voter: str, calls: int) -> dict:
    from sqlalchemy import select

    from app import active
    from app.db import Database
    from app.models import Board
    from app.settings import Settings
    from app.votes import next_comparison

    db = Database(Settings(database_url=url, secret_key=_load.SECRET))
    try:
        async with db.session() as s:
            board = (await s.execute(select(Board).where(Board.id == board_id))).scalar_one()
            active.forget()
            t0 = time.perf_counter()
            await active.next_pick(s, board, voter)
            cold = time.perf_counter() - t0
            e = active._cache[board.id]
            t0 = time.perf_counter()
            await active._fits(s, board.id, e.cands)
            refit = time.perf_counter() - t0
            warm, anchor = [], []
            for _ in range(calls):
                t0 = time.perf_counter()
                await active.next_pick(s, board, voter)
                warm.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                await next_comparison(s, board, voter)
                anchor.append(time.perf_counter() - t0)
    finally:
        await db.dispose()
    return {"cold_ms": round(1000 * cold, 1), "refit_ms": round(1000 * refit, 1), "next": _ms(warm),
            "anchor_oldest_unvoted": _ms(anchor),
            "ratio": round(statistics.median(warm) / statistics.median(anchor), 2)}


def over_http(base: str, slug: str, voter: str, calls: int) -> dict:
    headers = _load.voter_headers(voter)
    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        t0 = time.perf_counter()
        first = c.get(f"/api/boards/{slug}/next")
        cold = time.perf_counter() - t0
        assert first.status_code == 200 and first.json()["pick"], first.text
        warm, anchor, kinds = [], [], []
        for _ in range(calls):
            t0 = time.perf_counter()
            r = c.get(f"/api/boards/{slug}/next")
            warm.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
            kinds.append(r.json()["sampled_by"])
            t0 = time.perf_counter()
            assert c.get(f"/api/boards/{slug}").status_code == 200
            anchor.append(time.perf_counter() - t0)
    return {"cold_ms": round(1000 * cold, 1), "next": _ms(warm), "anchor_board_json": _ms(anchor),
            "ratio": round(statistics.median(warm) / statistics.median(anchor), 2),
            "active_share": round(kinds.count("active") / len(kinds), 2)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--comparisons", type=int, default=10_000)
    ap.add_argument("--votes", type=int, default=100_000)
    args = ap.parse_args()
    print("loadavg before:", _load.loadavg(), flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-next-"))
    url = _load.fresh_database("postgresql", DB, work)
    t0 = time.perf_counter()
    voters = [f"v{i}" for i in range(args.votes + 1)]
    board = _load.seed(url, "next", args.comparisons, voters=voters, votes=args.votes, blind=True)
    print(f"seeded {args.comparisons} comparisons, {args.votes} votes in {time.perf_counter() - t0:.0f} s", flush=True)
    reviewer = voters[-1]           # has not voted yet: every comparison is a candidate
    proc, base = _load.takes_serve(url, work / "media")
    results = []
    try:
        for run in range(args.runs):
            got = {"run": run + 1, "in_process": asyncio.run(in_process(url, board.id, reviewer, args.calls)),
                   "http": over_http(base, board.slug, reviewer, args.calls), "loadavg": _load.loadavg()}
            results.append(got)
            print(json.dumps(got), flush=True)
    finally:
        proc.stop()
        _load.drop_database("postgresql", DB)
    ok = all(r["in_process"]["next"]["median"] <= GOAL_MS and r["http"]["next"]["median"] <= GOAL_MS for r in results)
    print("goal (median ≤ 50 ms in-process and over HTTP):", "met" if ok else "NOT met")
    print("loadavg after:", _load.loadavg())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
