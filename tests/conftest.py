"""Shared fixtures; what they are made of lives in tests/support/.

`db_url` runs a test on SQLite and on PostgreSQL (migrated once per session, emptied per
test). `settings` builds test settings (fast demo latency and polling) around it. `client`
is the app in-process (httpx over ASGI, lifespan running, in-process job runner);
`live_app` runs `python -m app serve` as a real subprocess for browsers and workers.
"""

from __future__ import annotations

import shutil

import pytest

from tests.support import db
from tests.support.clients import browser_like, in_process_client
from tests.support.live import live_server
from tests.support.services import REDIS_URL, missing
from tests.support.settings import RENDER_CACHE, make_settings

pytest_plugins = ["tests.support.ci", "tests.support.schedule"]


@pytest.fixture(scope="session", autouse=True)
def demo_render_cache():
    """The process's demo render cache (tests/support/settings.py), removed at the end."""
    yield RENDER_CACHE
    shutil.rmtree(RENDER_CACHE, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing():
    """Argon2id with argon2-cffi's CHEAPEST profile (its parameters for tests) in this process
    and, through settings.argon2_profile, in every app and server the tests start, as Django's
    test settings swap in a fast hasher: the default costs ~0.2 s of CPU a hash or check, and
    the suite (the fuzz gate above all) makes and checks thousands. Hashes stay real Argon2id,
    verified for real; test_teams checks the default a real deployment gets."""
    from app import accounts

    accounts.use_profile("CHEAPEST")
    yield


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    return db.sqlite_template(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def pg_database() -> str:
    """A fresh, migrated PostgreSQL database for this test session."""
    url = db.create_pg_database()
    yield url
    db.drop_pg_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path, sqlite_template) -> str:
    if request.param == "sqlite":
        return db.sqlite_copy(sqlite_template, tmp_path)
    url = request.getfixturevalue("pg_database")
    db.pg_empty(url)
    return url


@pytest.fixture
def settings(db_url, tmp_path):
    return make_settings(db_url, tmp_path)


@pytest.fixture
async def app(settings):
    from app.main import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def no_generation(app) -> list[str]:
    """The app queues no generation: comparisons made in the test keep their takes queued.
    For tests about making one (who may, which defaults apply), not about its takes, which
    would otherwise render in the background; yields the take ids that were sent to the queue."""
    queued: list[str] = []

    async def enqueue(take_ids):
        queued.extend(take_ids)

    app.state.queue.enqueue = enqueue
    return queued


@pytest.fixture
async def client(app):
    async with in_process_client(app) as c:
        yield browser_like(c)


@pytest.fixture
def live_app(settings, tmp_path):
    """`python -m app serve` on a free port; yields its base URL."""
    with live_server(settings, tmp_path) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright, one per test module.

    Not session-scoped: Playwright's sync API keeps an event loop marked as running on the main
    thread while it is open, and every later asyncio test would then fail to start its own."""
    from tests.support.browser import chromium

    with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        missing("Redis", f"could not reach {REDIS_URL} ({exc}); apt-get install redis-server and start it, "
                "or set TEST_REDIS_URL")
    return REDIS_URL


@pytest.fixture
def fresh_redis(redis_url) -> str:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    return redis_url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3 server (a real S3-protocol server) as a subprocess; yields its endpoint URL."""
    from tests.support.s3 import start_server

    proc, url = start_server(tmp_path_factory.mktemp("moto") / "moto.log")
    yield url
    proc.terminate()
    proc.wait(10)
