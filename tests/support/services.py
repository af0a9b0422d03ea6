"""Finding the external services the suite needs (PostgreSQL, Redis, Chromium).

Outside CI a missing service skips its tests with a message naming what to install; with
CI=true nothing may be skipped, so a missing service fails the test instead.
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("TAKES_CHROMIUM", "/usr/bin/chromium")
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://takes:takes@127.0.0.1:5432/takes_test")


def worker_redis_url(url: str, worker: str | None) -> str:
    """One Redis database per pytest-xdist worker (gw0 keeps the given one, gw1 the one below,
    and so on), so `fresh_redis`'s FLUSHDB and the arq queues of two workers never meet."""
    if not worker or not worker.startswith("gw"):
        return url
    base, _, db = url.rpartition("/")
    return f"{base}/{(int(db or 0) - int(worker[2:])) % 16}"


REDIS_URL = worker_redis_url(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
                             os.environ.get("PYTEST_XDIST_WORKER"))


def missing(what: str, hint: str) -> None:
    message = f"{what} is not available: {hint}"
    if IN_CI:
        pytest.fail(message + " (CI=true: nothing may be skipped)", pytrace=False)
    pytest.skip(message)


def chromium_path() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        missing("Chromium", "apt-get install chromium (tests use /usr/bin/chromium, or set TAKES_CHROMIUM)")
    return CHROMIUM


CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
