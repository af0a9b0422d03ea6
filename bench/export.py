"""Vote export benchmark (issue 5): one million vote rows in PostgreSQL, exported over HTTP by a
real `python -m app serve`, against `COPY (…) TO STDOUT WITH CSV` of the same rows.

Targets: the HTTP export takes at most 2× the COPY time, and the server's RSS stays under
150 MB throughout (VmRSS sampled every 10 ms from /proc/<pid>/status, plus VmHWM at the end).
The HTTP body is also checked to be the COPY output byte for byte (after the BOM + header line).

    /work/main/.venv/bin/python bench/export.py                 # 1,000,000 rows, 3 runs each
    /work/main/.venv/bin/python bench/export.py --rows 100000 --runs 1
    /work/main/.venv/bin/python bench/export.py --repo /tmp/old # serve another checkout (before/after)

Needs PostgreSQL at BENCH_POSTGRES_URL (default: the test server,
postgresql://takes:takes@127.0.0.1:5432/takes_test); creates and drops its own database.
Exit status 0 only when both targets are met.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.exports import _PG_VOTES, VOTE_COLUMNS, header  # noqa: E402

ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://takes:takes@127.0.0.1:5432/takes_test")
DB = "takes_bench_export"
COMPARISONS_PER_MILLION = 50_000
VOTERS = 2_000
MODELS = ["'demo/aurora'", "'demo/ember'", "'demo/blocks'", "'fal/kling-v2.1-master'"]


def _dsn(url: str, db: str | None = None) -> str:
    url = url.replace("postgresql+asyncpg://", "postgresql://")
    return url.rsplit("/", 1)[0] + "/" + db if db else url


async def _exec(dsn: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        for st in statements:
            await conn.execute(st)
    finally:
        await conn.close()


def make_database(rows: int) -> tuple[str, float]:
    """A migrated database holding `rows` active votes on one board (plus superseded ones that
    the export must skip). Returns its DSN and the seconds the INSERTs took."""
    asyncio.run(_exec(_dsn(ADMIN), f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", f"CREATE DATABASE {DB}"))
    dsn = _dsn(ADMIN, DB)
    from app.migrate import upgrade

    upgrade(dsn)
    n_comp = max(10, rows * COMPARISONS_PER_MILLION // 1_000_000)
    models = f"ARRAY[{', '.join(MODELS)}]"
    t0 = time.perf_counter()
    asyncio.run(_exec(
        dsn,
        "SET synchronous_commit = off",
        "INSERT INTO boards (id, slug, name, description, visibility, blind, criteria, created_at) VALUES "
        "('bboard', 'bench', 'Bench', '', 'private', true, '[\"overall\", \"motion\"]', now()), "
        "('bother', 'other', 'Other', '', 'private', true, '[\"overall\"]', now())",
        f"INSERT INTO voters (id, display_name, created_at) SELECT 'voter' || g, "
        f"CASE WHEN g % 3 = 0 THEN 'Reviewer ' || g ELSE NULL END, now() FROM generate_series(1, {VOTERS}) g",
        f"INSERT INTO comparisons (id, board_id, prompt, params, created_at) SELECT 'c' || g, "
        f"CASE WHEN g % 50 = 0 THEN 'bother' ELSE 'bboard' END, "
        f"'Shot ' || g || ': a paper boat drifts down a rain-soaked street at dusk, neon reflections', "
        f"'{{}}', timestamptz '2026-01-01' + g * interval '1 second' FROM generate_series(1, {n_comp}) g",
        f"INSERT INTO takes (id, comparison_id, model_id, provider, attempt, status, remote_meta, media_info, "
        f"accepted, created_at, updated_at) SELECT 'c' || g || 't' || k, 'c' || g, ({models})[k], 'demo', 1, "
        f"'ready', '{{}}', '{{}}', false, now(), now() FROM generate_series(1, {n_comp}) g, generate_series(1, 4) k",
        # Votes on the bench board only (comparison ids that are not multiples of 50), one per
        # generate_series value; pairs (k, k+1 mod 4); a few position-less and ranking rows.
        f"""INSERT INTO votes (id, ballot_id, board_id, comparison_id, voter_id, criterion, kind, take_a_id,
               take_b_id, model_a, model_b, winner, pair_key, position_a, position_b, blind, created_at,
               superseded_at)
            SELECT 'v' || g, 'ballot' || (g / 3), 'bboard', 'c' || cc, 'voter' || (1 + g % {VOTERS}),
                   CASE WHEN g % 5 = 0 THEN 'motion' ELSE 'overall' END,
                   (ARRAY['pair', 'best', 'ranking'])[1 + g % 3],
                   'c' || cc || 't' || (1 + g % 4), 'c' || cc || 't' || (1 + (g + 1) % 4),
                   ({models})[1 + g % 4], ({models})[1 + (g + 1) % 4],
                   (ARRAY['model_a', 'model_b', 'tie', 'tie (bothbad)'])[1 + (g / 7) % 4],
                   'p' || g, CASE WHEN g % 11 = 0 THEN NULL ELSE g % 4 END,
                   CASE WHEN g % 11 = 0 THEN NULL ELSE (g + 1) % 4 END, g % 13 <> 0,
                   timestamptz '2026-02-01' + g * interval '1 millisecond' + (g % 1000) * interval '1 microsecond',
                   NULL
            FROM (SELECT g, 1 + (g % {n_comp}) AS c0 FROM generate_series(1, {rows}) g) s,
                 LATERAL (SELECT CASE WHEN c0 % 50 = 0 THEN c0 - 1 ELSE c0 END AS cc) x""",
        # 2 % extra superseded rows: in the table, not in the export
        f"""INSERT INTO votes (id, ballot_id, board_id, comparison_id, voter_id, criterion, kind, take_a_id,
               take_b_id, model_a, model_b, winner, pair_key, blind, created_at, superseded_at)
            SELECT 'old' || g, 'old', 'bboard', 'c1', 'voter1', 'overall', 'pair', 'c1t1', 'c1t2', 'demo/aurora',
                   'demo/ember', 'model_a', 'o' || g, true, timestamptz '2026-02-01', timestamptz '2026-02-02'
            FROM generate_series(1, {rows // 50}) g""",
        "ANALYZE",
    ))
    return dsn, time.perf_counter() - t0


async def copy_once(dsn: str, digest: bool = False) -> tuple[float, int, str | None]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    h = hashlib.sha256() if digest else None
    size = 0

    async def sink(data):
        nonlocal size
        size += len(data)
        if h:
            h.update(data)

    try:
        t0 = time.perf_counter()
        await conn.copy_from_query(_PG_VOTES, ["bboard"], output=sink, format="csv")
        return time.perf_counter() - t0, size, h.hexdigest() if h else None
    finally:
        await conn.close()


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.01):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak, self.stop_flag = pid, every, 0, threading.Event()

    def read(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        return 0

    def run(self):
        while not self.stop_flag.is_set():
            try:
                self.peak = max(self.peak, self.read("VmRSS"))
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(self.every)


def http_once(base: str, digest: bool = False) -> tuple[float, int, str | None, bytes]:
    h = hashlib.sha256() if digest else None
    size, head = 0, b""
    with httpx.Client(timeout=600) as client:
        t0 = time.perf_counter()
        with client.stream("GET", base + "/api/boards/bench/votes.csv") as r:
            r.raise_for_status()
            for chunk in r.iter_raw(1 << 16):
                if len(head) < 4096:
                    head += chunk[:4096]
                size += len(chunk)
                if h:
                    h.update(chunk)
        return time.perf_counter() - t0, size, h.hexdigest() if h else None, head


def serve(repo: Path, dsn: str, port: int, media: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update({"DATABASE_URL": dsn, "MEDIA_DIR": media, "SECRET_KEY": "bench", "PYTHONPATH": str(repo),
                "CATALOG_DIR": media + "/catalog.d"})
    proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)], cwd=repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/models", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--repo", type=Path, default=ROOT, help="the checkout to serve (default: this one)")
    ap.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = ap.parse_args()

    from tests.fakes import free_port

    print(f"generating {args.rows:,} vote rows …", flush=True)
    dsn, gen_s = make_database(args.rows)
    print(f"  done in {gen_s:.1f} s", flush=True)
    port = free_port()
    with tempfile.TemporaryDirectory() as media:
        proc = serve(args.repo, dsn, port, media)
        base = f"http://127.0.0.1:{port}"
        sampler = RssSampler(proc.pid)
        try:
            idle_rss, idle_hwm = sampler.read("VmRSS"), sampler.read("VmHWM")   # HWM: start-up's own peak
            # correctness first: same bytes
            _, copy_size, copy_hash = asyncio.run(copy_once(dsn, digest=True))
            sampler.start()
            _, http_size, _, head = http_once(base)
            prefix = header(VOTE_COLUMNS)
            same_head = head.startswith(prefix)
            body_hash = hashlib.sha256()
            with httpx.Client(timeout=600) as client, client.stream("GET", base + "/api/boards/bench/votes.csv") as r:
                skip = len(prefix)
                for chunk in r.iter_raw(1 << 16):
                    if skip:
                        cut = min(skip, len(chunk))
                        chunk, skip = chunk[cut:], skip - cut
                    body_hash.update(chunk)
            same = same_head and body_hash.hexdigest() == copy_hash and http_size == copy_size + len(prefix)
            copy_times, http_times = [], []
            for _ in range(args.runs):
                copy_times.append(asyncio.run(copy_once(dsn))[0])
                http_times.append(http_once(base)[0])
            sampler.stop_flag.set()
            sampler.join()
            hwm = sampler.read("VmHWM")
        finally:
            proc.terminate()
            proc.wait(10)
    if not args.keep:
        asyncio.run(_exec(_dsn(ADMIN), f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))

    copy_med, http_med = statistics.median(copy_times), statistics.median(http_times)
    ratio = http_med / copy_med
    peak = max(sampler.peak, hwm)
    ok_time, ok_mem = ratio <= 2.0, peak < 150 * 2**20
    mb = 2**20
    print(f"rows exported        {args.rows:,} ({copy_size / mb:.1f} MB of CSV)")
    print(f"COPY TO STDOUT       median {copy_med:.2f} s  runs {', '.join(f'{t:.2f}' for t in copy_times)}")
    print(f"HTTP export          median {http_med:.2f} s  runs {', '.join(f'{t:.2f}' for t in http_times)}")
    print(f"ratio                {ratio:.2f}× (target ≤ 2×) {'OK' if ok_time else 'MISSED'}")
    print(f"server RSS           idle {idle_rss / mb:.0f} MB (VmHWM after start-up {idle_hwm / mb:.0f} MB), "
          f"peak sampled {sampler.peak / mb:.0f} MB, VmHWM {hwm / mb:.0f} MB (target < 150 MB) "
          f"{'OK' if ok_mem else 'MISSED'}")
    print(f"identical bytes      {'yes' if same else 'NO'}")
    return 0 if ok_time and ok_mem and same else 1


if __name__ == "__main__":
    sys.exit(main())
