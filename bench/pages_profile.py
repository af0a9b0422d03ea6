"""Where a page's time goes inside the server (issue 16): `takes serve` run under cProfile,
one page loaded by wrk (cookie-less GETs, as bench/pages.py sends), then the profile's top
functions by own time and by cumulative time, per request.

    .venv/bin/python bench/pages_profile.py --page comparison            # PostgreSQL, 5 s of load
    .venv/bin/python bench/pages_profile.py --page home --db sqlite --top 40

Same data as bench/pages.py (a blind board of 200 comparisons × 4 ready takes, 2,000 votes).
cProfile slows the server several-fold, evenly enough to rank the costs, not to time them:
the speed figures come from bench/pages.py only.
"""

from __future__ import annotations

import argparse
import os
import pstats
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load  # noqa: E402
import pages  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--page", default="comparison", help="home, comparison, board, leaderboard, 'api comparison', "
                                                         "'api models'")
    ap.add_argument("--db", default="postgresql", choices=["sqlite", "postgresql"])
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--conns", type=int, default=10)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--out", default=None, help="keep the .prof file here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pprof-") as tmp:
        tmp = Path(tmp)
        url = _load.fresh_database(args.db, pages.DB, tmp)
        board = _load.seed(url, "pages", pages.COMPARISONS, voters=[f"pv{i}" for i in range(pages.VOTES)],
                           votes=pages.VOTES)
        path = pages.pages(board)[args.page]
        prof = Path(args.out or tmp / "server.prof")
        port = _load.free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "TEST_"))}
        env.update({"DATABASE_URL": url, "MEDIA_DIR": str(tmp), "SECRET_KEY": _load.SECRET,
                    "CATALOG_DIR": str(tmp / "catalog.d"), "PYTHONPATH": str(_load.ROOT)})
        proc = _load.Proc([sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "app", "serve",
                           "--host", "127.0.0.1", "--port", str(port)], env=env, name="pprof")
        base = f"http://127.0.0.1:{port}"
        try:
            _load.wait_http(base + "/api/models", proc.proc)
            _load.wrk(base + path, conns=args.conns, seconds=1)           # warm-up
            cell = _load.wrk(base + path, conns=args.conns, seconds=args.duration)
            os.killpg(proc.pid, signal.SIGINT)                              # cProfile writes on a clean exit
            proc.proc.wait(60)
        finally:
            proc.stop()
            _load.drop_database(args.db, pages.DB)
        n = cell.requests
        print(f"{path} on {args.db}: {n} answers in {cell.seconds:.1f} s under cProfile, errors {cell.errors}")
        st = pstats.Stats(str(prof))
        for key in ("tottime", "cumulative"):
            print(f"\n--- by {key} ---")
            st.sort_stats(key).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
