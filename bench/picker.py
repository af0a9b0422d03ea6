"""The new-comparison page's picker data: built once per catalog, or per request.

    .venv/bin/python bench/picker.py [--requests 200] [--runs 3]

In-process (httpx over ASGI, no network, one SQLite file in a temporary directory, open mode):
GET / `--requests` times with the picker cached as the app does (`app.catalog.picker.picker_for`,
keyed by the catalog and provider objects), and the same number with the cache emptied before
every request, so each one rebuilds the rows and the rules JSON for every catalog model (what
a per-request build would cost). The anchor is the same page in the same run; the two orders
alternate between runs. Printed: ms per request of each and the ratio cached / rebuilt per run
and its median; the last line is JSON.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from app.catalog import picker as picker_module  # noqa: E402
from app.main import create_app  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.settings import Settings  # noqa: E402


async def _time(client: httpx.AsyncClient, n: int, rebuild: bool) -> float:
    start = time.perf_counter()
    for _ in range(n):
        if rebuild:
            picker_module._CACHE.clear()
        r = await client.get("/")
        assert r.status_code == 200 and "picker-catalog" in r.text
    return (time.perf_counter() - start) * 1000 / n


async def main(requests: int, runs: int, tmp: str) -> dict:
    url = f"sqlite:///{tmp}/bench.db"
    settings = Settings(_env_file=None, database_url=url, media_dir=Path(tmp) / "media", secret_key="bench",
                        catalog_dir=Path(tmp) / "catalog.d")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as c:
            await _time(c, 5, False)                      # warm templates and the cache
            rows = []
            for i in range(runs):
                order = (False, True) if i % 2 == 0 else (True, False)
                got = {rebuild: await _time(c, requests, rebuild) for rebuild in order}
                rows.append({"cached_ms": round(got[False], 2), "rebuilt_ms": round(got[True], 2),
                             "ratio": round(got[False] / got[True], 3)})
                print(f"run {i + 1}: cached {got[False]:.2f} ms/request, rebuilt {got[True]:.2f} ms/request, "
                      f"ratio {got[False] / got[True]:.3f}")
    models = len(app.state.catalog.models)
    out = {"models": models, "requests": requests, "runs": rows,
           "median_ratio": statistics.median(r["ratio"] for r in rows)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        upgrade(f"sqlite:///{folder}/bench.db")        # alembic runs its own event loop: before ours
        asyncio.run(main(a.requests, a.runs, folder))
