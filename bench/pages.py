"""Pages and the read API under 50 connections (issue 16), on SQLite and PostgreSQL, against a
bare FastAPI + uvicorn app serving the same response bytes from memory in the same run.

    .venv/bin/python bench/pages.py                                    # 10 s per cell, 3 runs, both databases
    .venv/bin/python bench/pages.py --duration 2 --runs 1 --db sqlite  # smoke run

Needs wrk (`apt-get install wrk`) and, for the PostgreSQL half, PostgreSQL.

Data, per database (a fresh SQLite file, or takes_bench_pages on BENCH_POSTGRES_URL's server,
dropped afterwards): a blind board "pages" of 200 comparisons × 4 ready takes and 2,000 pair
votes by 2,000 pre-made voters, inserted through the app's models. Open mode (no account).

Pages: `/` (new-comparison form + recent comparisons), `/c/{id}` (4 ready takes),
`/b/pages` (200 comparisons), `/b/pages/leaderboard`, `GET /api/comparisons/{id}`,
`GET /api/models`. Each is fetched once from `takes serve`; its bytes and content type go to
the anchor, `python bench/_load.py bare` (FastAPI + uvicorn run as `takes serve` runs it, one
catch-all route answering those bytes). Then per run and page: wrk (cookie-less GETs,
--conns connections, --duration seconds) against `takes serve`, then against the bare app
(order swapped every other run).

Printed: req/s, p50, p99 (of the requests answered within the cell: marked * where fewer
than 2 × --conns were, since most connections then waited longer than the cell lasted) and server CPU per request (/proc/<pid>/stat) of both, the ratio
Takes / bare app per run and its median, errors (non-2xx answers, socket errors); wrk's
ceiling against a trivial server first. The last line is JSON. Exit status 0 when no request
failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load  # noqa: E402

DB = "takes_bench_pages"
COMPARISONS, VOTES = 200, 2_000


def pages(board: _load.Board) -> dict[str, str]:
    c = board.comparisons[0]
    return {"home": "/", "comparison": f"/c/{c}", "board": f"/b/{board.slug}",
            "leaderboard": f"/b/{board.slug}/leaderboard", "api comparison": f"/api/comparisons/{c}",
            "api models": "/api/models"}


def snapshot(base: str, paths: dict[str, str], out: Path) -> dict[str, int]:
    """Each page once from the real server, saved for the bare app; their sizes."""
    import httpx

    index, sizes = {}, {}
    for i, (name, path) in enumerate(paths.items()):
        r = httpx.get(base + path, timeout=60)
        if r.status_code != 200:
            raise SystemExit(f"{path} answered {r.status_code}: {r.text[:300]}")
        (out / f"{i}.body").write_bytes(r.content)
        index[path] = [f"{i}.body", r.headers["content-type"]]
        sizes[name] = len(r.content)
    (out / "index.json").write_text(json.dumps(index))
    return sizes


def measure(kind: str, args, tmp: Path) -> list[dict]:
    url = _load.fresh_database(kind, DB, tmp)
    voters = [f"pv{i}" for i in range(VOTES)]
    board = _load.seed(url, "pages", COMPARISONS, voters=voters, votes=VOTES)
    paths = pages(board)
    if args.page:
        paths = {k: v for k, v in paths.items() if k in args.page}
    server, base = _load.takes_serve(url, tmp, workers=args.workers)
    bare = None
    rows = []
    try:
        snap = tmp / f"pages-{kind}"
        snap.mkdir()
        sizes = snapshot(base, paths, snap)
        bare, bare_base = _load.helper_server("bare", "--dir", str(snap))
        for name, path in paths.items():
            _load.wrk(base + path, conns=args.conns, seconds=1, threads=args.wrk_threads)   # warm-up, not counted
            cell = lambda root, proc: (lambda: _load.wrk(root + path, conns=args.conns, seconds=args.duration,  # noqa: E731
                                                         threads=args.wrk_threads, server=proc))
            t, a = _load.interleave(args.runs, cell(base, server), cell(bare_base, bare))
            ratio, ratios = _load.median_ratio([c.rate for c in t], [c.rate for c in a])
            row = {"db": kind, "page": name, "path": path, "bytes": sizes[name], "takes": t, "bare": a,
                   "ratio": ratio, "ratios": ratios}
            rows.append(row)
            print(f"{kind} {name} ({sizes[name]:,} B): Takes {_load.each(t, 'rate')} req/s, bare "
                  f"{_load.each(a, 'rate')} req/s, ratio {ratio:.3f}, errors {sum(c.errors for c in t + a)}",
                  flush=True)
    finally:
        if bare:
            bare.stop()
        server.stop()
        if not args.keep:
            _load.drop_database(kind, DB)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10, help="seconds per cell (default 10)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--db", action="append", choices=["sqlite", "postgresql"],
                    help="database(s) to measure (default both)")
    ap.add_argument("--page", action="append", help="only these pages (home, comparison, board, leaderboard, "
                                                    "'api comparison', 'api models')")
    ap.add_argument("--workers", type=int, default=1,
                    help="passed to `takes serve --workers`")
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL database afterwards")
    args = ap.parse_args()

    if args.workers != 1 and not _load.serve_supports_workers():
        print("`takes serve` has no --workers option yet (app/cli.py); only --workers 1 can run", file=sys.stderr)
        return 2
    print(f"loadavg before: {_load.loadavg()}", flush=True)
    ceiling = _load.client_ceilings(args.conns, wrk_threads=args.wrk_threads)["wrk_req_s"]
    print(f"client ceiling: wrk -t{args.wrk_threads} -c{args.conns} against a trivial server: {ceiling:,.0f} req/s",
          flush=True)
    t0 = time.monotonic()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        for kind in args.db or ["sqlite", "postgresql"]:
            rows += measure(kind, args, Path(tmp))
    print()
    print(f"{args.conns} connections, {args.duration:g} s per cell, {args.runs} runs (median; per run), "
          f"{time.monotonic() - t0:.0f} s in all")
    text = _load.table(
        ["page, database", "Takes req/s", "p50 ms", "p99 ms", "CPU ms/req", "bare req/s", "bare p99 ms",
         "bare CPU ms/req", "Takes / bare", "errors"],
        [[f"{r['page']}, {r['db']} ({r['bytes']:,} B)",
          f"{_load.fmt(_load.med(r['takes'], 'rate'))} ({_load.each(r['takes'], 'rate')})",
          _load.latency(r["takes"], "p50_ms", args.conns), _load.latency(r["takes"], "p99_ms", args.conns),
          _load.fmt(_load.med(r["takes"], "cpu_ms_per_request"), 2),
          f"{_load.fmt(_load.med(r['bare'], 'rate'), 0)} ({_load.each(r['bare'], 'rate')})",
          _load.latency(r["bare"], "p99_ms", args.conns), _load.fmt(_load.med(r["bare"], "cpu_ms_per_request"), 3),
          f"{r['ratio']:.3f} ({' / '.join(f'{x:.3f}' for x in r['ratios'])})",
          sum(c.errors for c in r["takes"] + r["bare"])] for r in rows])
    print(text)
    if "*" in text:
        print(_load.LATENCY_NOTE)
    print(f"loadavg after: {_load.loadavg()}")
    ok = all(c.errors == 0 for r in rows for c in r["takes"] + r["bare"])
    print(json.dumps({"bench": "pages", "conns": args.conns, "duration_s": args.duration, "runs": args.runs,
                      "client_ceiling_req_s": round(ceiling), "ok": ok, "pages": [
                          {"db": r["db"], "page": r["page"], "path": r["path"], "bytes": r["bytes"],
                           "ratio": round(r["ratio"], 4), "ratios": [round(x, 4) for x in r["ratios"]],
                           "takes": [c.json() for c in r["takes"]], "bare": [c.json() for c in r["bare"]]}
                          for r in rows]}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
