"""Suite creation (issue 11): `POST /api/suites` with 1,000 prompts × 4 models answers in under
2 s, against the same rows written by raw executemany INSERTs in the same run.

    .venv/bin/python bench/suites.py                              # PostgreSQL and SQLite, 3 runs each
    .venv/bin/python bench/suites.py --db postgresql --runs 1 --prompts 100     # smoke run

Needs PostgreSQL at BENCH_POSTGRES_URL (its server is used to create and drop the database
takes_bench_suites); SQLite is a file in a temporary directory.

What is timed (wall clock, per run):
- app: one `POST /api/suites` through the app in this process (httpx over ASGI: request
  parsing, validation of every prompt against the catalog and adapters, the budget check, the
  one-transaction write of 1 suite + 1,000 comparisons + 4,000 takes + 2,000 tags, the answer's
  JSON). The takes go to the queue after the answer (`enqueue_later`): the queue here records
  them instead of generating, so no demo clip is rendered during the runs;
- enqueue (informational, not in the target): the job layer's `mark_queued` for all 4,000
  takes, in the suite's batches of 200 — what the in-process runner or arq do before sending;
- anchor: the same number of comparison, take and tag rows by executemany INSERT in one
  transaction on a fresh connection (asyncpg for PostgreSQL, sqlite3 for SQLite), the least a
  database can do for these rows.
App and anchor alternate which goes first from run to run; the rows are deleted between runs.
Printed: per run and medians, the ratio app / anchor (median of per-run ratios), the load
average before and after; the last line is JSON. Exit status 0 when every database's median
app time is under 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load  # noqa: E402

DB = "takes_bench_suites"
MODELS = ["demo/aurora", "demo/ember", "demo/blocks", "demo/tape"]
TAGS = ["character walk", "crowd", "product close-up", "physics", "night", "water"]
TARGET_S = 2.0


def body(prompts: int) -> dict:
    return {"name": "bench", "models": MODELS, "duration_s": 5, "resolution": "360p",
            "prompts": [{"prompt": f"shot {i}: a figure crosses a rain-soaked street at dusk, neon reflections",
                         "tags": [TAGS[i % len(TAGS)], TAGS[(i + 1) % len(TAGS)]]} for i in range(prompts)]}


def _rows(prompts: int, board_id: str):
    from app.ids import new_id

    now = datetime.now(timezone.utc)
    comparisons, takes, tags = [], [], []
    for i in range(prompts):
        cid = new_id()
        comparisons.append((cid, board_id, f"shot {i}: a figure crosses a street", '{"duration_s": 4}', now, 1))
        takes += [(new_id(), cid, m, "demo", 1, "queued", 0.0, now, now) for m in MODELS]
        tags += [(cid, TAGS[i % len(TAGS)]), (cid, TAGS[(i + 1) % len(TAGS)])]
    return comparisons, takes, tags


C_SQL = "INSERT INTO comparisons (id, board_id, prompt, params, created_at, seed) VALUES ({})"
T_SQL = ("INSERT INTO takes (id, comparison_id, model_id, provider, attempt, status, cost_estimate_usd, created_at, "
         "updated_at, remote_meta, media_info, accepted, delivery_notes, step_seq, job_state) VALUES ({}, '{{}}', "
         "'{{}}', false, '[]', 0, '{{}}')")
G_SQL = "INSERT INTO comparison_tags (comparison_id, tag) VALUES ({})"


async def anchor_pg(dsn: str, prompts: int, board_id: str) -> float:
    import asyncpg

    comparisons, takes, tags = _rows(prompts, board_id)
    conn = await asyncpg.connect(dsn)
    try:
        t0 = time.perf_counter()
        async with conn.transaction():
            await conn.executemany(C_SQL.format("$1, $2, $3, $4::json, $5, $6"), comparisons)
            await conn.executemany(T_SQL.format("$1, $2, $3, $4, $5, $6, $7, $8, $9"), takes)
            await conn.executemany(G_SQL.format("$1, $2"), tags)
        return time.perf_counter() - t0
    finally:
        await conn.close()


def anchor_sqlite(path: str, prompts: int, board_id: str) -> float:
    comparisons, takes, tags = _rows(prompts, board_id)
    conn = sqlite3.connect(path)
    try:
        t0 = time.perf_counter()
        with conn:
            conn.executemany(C_SQL.format("?, ?, ?, ?, ?, ?"), [(*r[:4], r[4].isoformat(), r[5]) for r in comparisons])
            conn.executemany(T_SQL.replace("false", "0").format("?, ?, ?, ?, ?, ?, ?, ?, ?"),
                             [(*r[:7], r[7].isoformat(), r[8].isoformat()) for r in takes])
            conn.executemany(G_SQL.format("?, ?"), tags)
        return time.perf_counter() - t0
    finally:
        conn.close()


async def _clear(app) -> None:
    from sqlalchemy import text

    async with app.state.db.session() as s:
        for table in ("suite_idempotency_keys", "comparison_tags", "takes", "comparisons", "suites"):
            await s.execute(text(f"DELETE FROM {table}"))
        await s.commit()


async def one_kind(kind: str, url: str, prompts: int, runs: int, workdir: Path) -> dict:
    """Every run of one database: app, enqueue and anchor seconds."""
    import httpx

    from app.jobs.leases import mark_queued
    from app.main import create_app
    from app.settings import Settings
    from app.suite_runs import drain, enqueue_in_batches

    settings = Settings(_env_file=None, database_url=url, media_dir=workdir / f"media-{kind}", redis_url=None,
                        secret_key="bench", catalog_dir=workdir / "catalog.d")
    app = create_app(settings)
    out = {"app_s": [], "enqueue_s": [], "anchor_s": [], "ratio": []}
    async with app.router.lifespan_context(app):
        queued: list[str] = []

        async def record(ids):
            queued.extend(ids)

        app.state.queue.enqueue = record
        ctx = app.state.queue.ctx
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            warm = await client.post("/api/suites", json=body(20))     # warm-up, not counted
            assert warm.status_code == 202, warm.text[:500]
            await drain()
            board_id = await _board_id(app)
            for run in range(runs):
                await _clear(app)
                queued.clear()
                first_anchor = run % 2 == 1
                if first_anchor:
                    out["anchor_s"].append(await _anchor(kind, url, prompts, board_id))
                    await _clear(app)
                client.cookies.clear()        # a script: no cookies, so no CSRF token is asked for
                payload = body(prompts)
                t0 = time.perf_counter()
                r = await client.post("/api/suites", json=payload)
                out["app_s"].append(time.perf_counter() - t0)
                assert r.status_code == 202 and len(r.json()["comparisons"]) == prompts, r.text[:500]
                await drain()
                assert len(queued) == prompts * len(MODELS)

                class MarkOnly:
                    async def enqueue(self, ids):
                        await mark_queued(ctx, ids)

                t0 = time.perf_counter()
                await enqueue_in_batches(MarkOnly(), list(queued))
                out["enqueue_s"].append(time.perf_counter() - t0)
                if not first_anchor:
                    await _clear(app)
                    out["anchor_s"].append(await _anchor(kind, url, prompts, board_id))
                out["ratio"].append(out["app_s"][-1] / out["anchor_s"][-1])
                print(f"{kind:10} run {run + 1}: app {out['app_s'][-1]:.3f} s · enqueue {out['enqueue_s'][-1]:.3f} s"
                      f" · anchor {out['anchor_s'][-1]:.3f} s · ratio {out['ratio'][-1]:.1f}", flush=True)
            await _clear(app)
    return out


async def _board_id(app) -> str:
    from sqlalchemy import select

    from app.models import Board

    async with app.state.db.session() as s:
        return (await s.execute(select(Board.id).where(Board.slug == "default"))).scalar_one()


async def _anchor(kind: str, url: str, prompts: int, board_id: str) -> float:
    if kind == "postgresql":
        return await anchor_pg(_load.pg_dsn(DB), prompts, board_id)
    return await asyncio.to_thread(anchor_sqlite, url.split("///", 1)[1], prompts, board_id)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db", choices=("postgresql", "sqlite", "both"), default="both")
    args = ap.parse_args()
    kinds = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            url = _load.fresh_database(kind, DB, Path(tmp))
            try:
                results[kind] = asyncio.run(one_kind(kind, url, args.prompts, args.runs, Path(tmp)))
            finally:
                _load.drop_database(kind, DB)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    summary = {"prompts": args.prompts, "models": len(MODELS), "takes": args.prompts * len(MODELS),
               "load_before": load_before, "load_after": load_after, "target_s": TARGET_S}
    ok = True
    for kind, r in results.items():
        med = {k: statistics.median(v) for k, v in r.items()}
        ok = ok and med["app_s"] < TARGET_S
        print(f"{kind:10} median: app {med['app_s']:.3f} s (target < {TARGET_S} s) · enqueue {med['enqueue_s']:.3f} s"
              f" · anchor {med['anchor_s']:.3f} s · app/anchor {med['ratio']:.1f}×")
        summary[kind] = {"runs": {k: [round(x, 4) for x in v] for k, v in r.items()},
                         "median": {k: round(v, 4) for k, v in med.items()}}
    print(f"load average before {' '.join(load_before)}, after {' '.join(load_after)}")
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
