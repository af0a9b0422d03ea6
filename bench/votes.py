"""Votes over HTTP on PostgreSQL (issue 15): how fast `takes serve` records pair votes, against
how fast the same database takes the same rows.

    .venv/bin/python bench/votes.py                          # 20,000 votes × 3 runs, 64 connections
    .venv/bin/python bench/votes.py --votes 500 --runs 1     # smoke run
    .venv/bin/python bench/votes.py --workers 2              # two web processes

Needs the `bench` extra (`pip install -e '.[bench]'`: aiohttp) and PostgreSQL; with wrk
installed, its ceiling is printed too.

Data: a blind board of --comparisons (2,000) comparisons × 4 ready takes and 2 × runs × votes
pre-made voters, inserted through the app's models into a fresh database (takes_bench_votes on
BENCH_POSTGRES_URL's server, dropped afterwards).

Target: a `takes serve` subprocess (open mode, VOTES_PER_MINUTE=10^9 so no vote is refused by the
limiter), 64 aiohttp connections each with one `POST /api/comparisons/{id}/votes`
(`{"kind": "pair", "take_a", "take_b", "outcome"}`) in flight. Vote i comes from its own pre-made
voter (signed voter cookie + CSRF cookie and X-CSRF-Token header, as a browser sends them) on
comparison i mod N, a random pair of its takes, a random outcome.

Before the first run 128 votes (own voters, not counted) warm the server up.

Anchor, in the same run, right before: 64 asyncpg connections each doing one INSERT (autocommit:
INSERT + COMMIT) of the same vote rows (own voters, so the unique index takes them all).

Printed per run and as medians: votes/s, p50, p99, server CPU per vote (utime + stime of the
server and its children from /proc/<pid>/stat), client CPU per vote, the ratio app / anchor
(per run, then the median), and the lost-vote check: every vote id of a 201 answer must be in
the votes table. Before the runs the clients' ceilings against a trivial server are printed, so a
figure near them reads as the client's limit, not the app's. The last line is JSON.
Exit status 0 when no acknowledged vote was lost and every request was answered 201.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load  # noqa: E402

DB = "takes_bench_votes"
OUTCOMES = ("a", "b", "tie", "bothbad")
WINNER = {"a": "model_a", "b": "model_b", "tie": "tie", "bothbad": "tie (bothbad)"}


def plan(board: _load.Board, voters: list[str], seed: int) -> list[tuple[str, str, str, str, str]]:
    """(voter, comparison, take_a, take_b, outcome) of each vote: the same shape for app and anchor."""
    rng = random.Random(seed)
    out = []
    for i, voter in enumerate(voters):
        cid = board.comparisons[i % len(board.comparisons)]
        a, b = rng.sample(board.takes[cid], 2)
        out.append((voter, cid, a, b, rng.choice(OUTCOMES)))
    return out


INSERT = ("INSERT INTO votes (id, ballot_id, board_id, comparison_id, voter_id, criterion, kind, take_a_id, take_b_id, "
          "model_a, model_b, winner, pair_key, position_a, position_b, blind, created_at) "
          "VALUES ($1, $2, $3, $4, $5, 'overall', 'pair', $6, $7, $8, $9, $10, $11, 0, 1, true, now())")


async def anchor(dsn: str, board: _load.Board, votes: list, conns: int) -> _load.Cell:
    """64 connections, each INSERT + COMMIT of one vote row at a time, like the app's rows."""
    import asyncpg

    from app.ids import new_id

    model = {t: _load.MODELS[k] for ts in board.takes.values() for k, t in enumerate(ts)}
    pool = await asyncpg.create_pool(dsn, min_size=conns, max_size=conns)
    latencies: list[float] = []
    todo = iter(votes)

    async def worker():
        async with pool.acquire() as conn:
            for voter, cid, a, b, outcome in todo:
                vid = new_id()
                t0 = time.perf_counter()
                await conn.execute(INSERT, vid, vid, board.id, cid, voter, a, b, model[a], model[b], WINNER[outcome],
                                   "|".join(sorted((a, b))))
                latencies.append(time.perf_counter() - t0)

    try:
        t_cpu, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conns)))
        seconds = time.perf_counter() - t0
    finally:
        await pool.close()
    return _load.Cell(requests=len(latencies), seconds=seconds, p50_ms=1000 * _load.percentile(latencies, 50),
                      p99_ms=1000 * _load.percentile(latencies, 99), client_cpu_s=time.process_time() - t_cpu)


def over_http(base: str, server: _load.Proc, votes: list, conns: int, max_seconds: float) -> tuple[_load.Cell, list[str]]:
    acked: list[str] = []
    prepared = [(f"{base}/api/comparisons/{cid}/votes", _load.voter_headers(voter),
                 json.dumps({"kind": "pair", "take_a": a, "take_b": b, "outcome": o}).encode())
                for voter, cid, a, b, o in votes]

    def request(i):
        url, headers, body = prepared[i]
        return "POST", url, headers, body

    def on_response(i, status, body):
        if status == 201:
            acked.extend(p["vote_id"] for p in json.loads(body)["pairs"])

    server.settle()
    cpu0 = server.cpu()
    cell = asyncio.run(_load.closed_loop(request, conns, len(votes), max_seconds, on_response))
    cell.server_cpu_s = server.cpu() - cpu0
    return cell, acked


async def stored_ids(dsn: str, ids: list[str]) -> set[str]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return {r["id"] for r in await conn.fetch("SELECT id FROM votes WHERE id = ANY($1::text[])", ids)}
    finally:
        await conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--votes", type=int, default=20_000, help="votes per run and side (default 20,000)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--comparisons", type=int, default=2_000)
    ap.add_argument("--workers", type=int, default=1,
                    help="passed to `takes serve --workers`")
    ap.add_argument("--max-seconds", type=float, default=600, help="bound on each HTTP cell (no new votes after it)")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args()
    if args.workers != 1 and not _load.serve_supports_workers():
        print("`takes serve` has no --workers option yet (app/cli.py); only --workers 1 can run", file=sys.stderr)
        return 2

    print(f"loadavg before: {_load.loadavg()}", flush=True)
    ceilings = _load.client_ceilings(args.conns, python=True)
    print(f"client ceiling against a trivial server, {args.conns} connections: aiohttp "
          f"{ceilings['aiohttp_req_s']:,.0f} req/s ({ceilings['aiohttp_client_cpu_ms_per_request']:.3f} ms client "
          f"CPU per request)" + (f", wrk {ceilings['wrk_req_s']:,.0f} req/s" if "wrk_req_s" in ceilings else ""),
          flush=True)

    voters = [f"{side}{r}x{i}" for r in range(args.runs) for side in ("h", "q") for i in range(args.votes)]
    warm = [f"w{i}" for i in range(2 * args.conns)]
    with tempfile.TemporaryDirectory(prefix="bench-votes-") as tmp:
        url = _load.fresh_database("postgresql", DB, Path(tmp))
        dsn = _load.pg_dsn(DB)
        t = time.perf_counter()
        board = _load.seed(url, "votes", args.comparisons, voters=voters + warm)
        print(f"seeded {args.comparisons:,} comparisons × 4 ready takes, {len(voters):,} voters in "
              f"{time.perf_counter() - t:.1f} s", flush=True)
        server, base = _load.takes_serve(url, Path(tmp), workers=args.workers,
                                         extra_env={"VOTES_PER_MINUTE": str(10 ** 9)})
        runs = []
        try:
            over_http(base, server, plan(board, warm, seed=-1), args.conns, 60)   # warm-up, not counted
            for r in range(args.runs):
                app_voters = voters[(2 * r) * args.votes:(2 * r + 1) * args.votes]
                anchor_voters = voters[(2 * r + 1) * args.votes:(2 * r + 2) * args.votes]
                a = asyncio.run(anchor(dsn, board, plan(board, anchor_voters, seed=r), args.conns))
                h, acked = over_http(base, server, plan(board, app_voters, seed=r), args.conns, args.max_seconds)
                found = asyncio.run(stored_ids(dsn, acked))
                lost = _load.lost_votes(acked, found)
                runs.append({"anchor": a, "app": h, "acked": len(acked), "lost": len(lost)})
                print(f"run {r + 1}: anchor {a.rate:,.0f} rows/s p99 {a.p99_ms:.1f} ms · app {h.rate:,.1f} votes/s "
                      f"p50 {h.p50_ms:.0f} ms p99 {h.p99_ms:.0f} ms, {h.cpu_ms_per_request:.2f} ms server CPU/vote, "
                      f"{h.errors} errors {h.statuses}, {len(lost)} of {len(acked)} acknowledged votes lost", flush=True)
        finally:
            server.stop()
            if not args.keep:
                _load.drop_database("postgresql", DB)

    ratio, ratios = _load.median_ratio([x["app"].rate for x in runs], [x["anchor"].rate for x in runs])
    med = lambda f: statistics.median(f(x) for x in runs)  # noqa: E731
    print()
    print(f"{args.votes:,} votes per run and side, {args.conns} connections, {args.runs} runs (median; per run)")
    rows = []
    for side, unit in (("anchor", "rows/s"), ("app", "votes/s")):
        rows.append([
            "asyncpg INSERT + COMMIT" if side == "anchor" else f"takes serve --workers {args.workers}",
            f"{_load.fmt(med(lambda x: x[side].rate))} {unit} ({' / '.join(_load.fmt(x[side].rate, 0) for x in runs)})",
            _load.fmt(med(lambda x: x[side].p50_ms)), _load.fmt(med(lambda x: x[side].p99_ms)),
            "–" if side == "anchor" else _load.fmt(med(lambda x: x[side].cpu_ms_per_request), 2),
            _load.fmt(med(lambda x: 1000 * x[side].client_cpu_s / max(1, x[side].requests)), 3),
            "–" if side == "anchor" else f"{sum(x['lost'] for x in runs)} of {sum(x['acked'] for x in runs)}",
            "–" if side == "anchor" else sum(x[side].errors for x in runs)])
    rows.append(["ratio app / anchor", f"{ratio:.3f} ({' / '.join(f'{x:.3f}' for x in ratios)})", "", "", "", "", "", ""])
    print(_load.table(["", "rate", "p50 ms", "p99 ms", "server CPU ms/vote", "client CPU ms/req", "lost", "errors"],
                      rows))
    print(f"loadavg after: {_load.loadavg()}")
    ok = all(x["lost"] == 0 and x["app"].errors == 0 and x["acked"] == args.votes for x in runs)
    print(json.dumps({"bench": "votes", "votes": args.votes, "conns": args.conns, "runs": args.runs,
                      "workers": args.workers, "ratio": round(ratio, 4), "ratios": [round(x, 4) for x in ratios],
                      "client_ceiling": {k: round(v, 3) for k, v in ceilings.items()},
                      "per_run": [{"anchor": x["anchor"].json(), "app": x["app"].json(), "acked": x["acked"],
                                   "lost": x["lost"]} for x in runs], "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
