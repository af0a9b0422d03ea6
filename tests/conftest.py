"""Shared fixtures.

`db_url` runs a test on SQLite and on PostgreSQL (migrated once per session, emptied per
test). `settings` builds test settings (fast demo latency and polling) around it. `client`
is the app in-process (httpx over ASGI, lifespan running, in-process job runner);
`live_app` runs `python -m app serve` as a real subprocess for browsers and workers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes import free_port
from tests.services import PG_URL, REDIS_URL, missing

ROOT = Path(__file__).resolve().parent.parent
TABLES = ["comments", "invites", "memberships", "api_tokens", "sessions", "votes", "takes", "comparisons", "boards",
          "users", "voters"]


def _migrate(url: str) -> None:
    from app.migrate import upgrade

    upgrade(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    _migrate(f"sqlite+aiosqlite:///{path}")
    return path


def _pg_admin_url() -> str:
    from app.settings import Settings

    return Settings(database_url=PG_URL, _env_file=None).database_url


async def _pg_exec(url: str, *statements: str) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        for st in statements:
            await conn.execute(st)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> str:
    """A fresh, migrated PostgreSQL database for this test session."""
    admin = _pg_admin_url()
    try:
        asyncio.run(_pg_exec(admin, "SELECT 1"))
    except Exception as exc:
        missing("PostgreSQL", f"could not connect to {PG_URL} ({exc}); apt-get install postgresql, start it and "
                "create the role/database, or set TEST_POSTGRES_URL")
    name = f"takes_t{os.getpid()}"
    asyncio.run(_pg_exec(admin, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"))
    url = admin.rsplit("/", 1)[0] + "/" + name
    _migrate(url)
    yield url
    asyncio.run(_pg_exec(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path, sqlite_template) -> str:
    if request.param == "sqlite":
        path = tmp_path / "takes.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    asyncio.run(_pg_exec(url, f"TRUNCATE {', '.join(TABLES)} CASCADE"))
    return url


def make_settings(db_url: str, tmp_path: Path, **overrides):
    from app.settings import Settings

    values = dict(
        database_url=db_url, media_dir=tmp_path / "media", redis_url=None, secret_key="test-secret",
        demo_latency_s=0.3, poll_interval_s=0.05, poll_max_interval_s=0.2, sweep_interval_s=0.3, lease_s=3.0,
        catalog_dir=tmp_path / "catalog.d",
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(db_url, tmp_path):
    return make_settings(db_url, tmp_path)


@pytest.fixture
async def app(settings):
    from app.main import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def browser_like(c: httpx.AsyncClient | httpx.Client):
    """Make a cookie-keeping client (async or sync) send the CSRF token on state-changing
    requests, as a page does (htmx's hx-headers, the forms' hidden field): it remembers the
    X-CSRF-Token each response carries. CSRF itself is tested with clients that do not do this."""
    def remember(response: httpx.Response) -> None:
        if response.headers.get("x-csrf-token"):
            c.csrf_token = response.headers["x-csrf-token"]

    def send(request: httpx.Request) -> None:
        token = getattr(c, "csrf_token", None)
        if token and request.method in ("POST", "PUT", "PATCH", "DELETE") and "x-csrf-token" not in request.headers:
            request.headers["x-csrf-token"] = token

    if isinstance(c, httpx.AsyncClient):
        async def remember_async(response: httpx.Response) -> None:
            remember(response)

        async def send_async(request: httpx.Request) -> None:
            send(request)

        c.event_hooks["response"].append(remember_async)
        c.event_hooks["request"].append(send_async)
    else:
        c.event_hooks["response"].append(remember)
        c.event_hooks["request"].append(send)
    return c


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                                 timeout=30) as c:
        yield browser_like(c)


def wait_for_takes_over_http(url: str, comparison_id: str, timeout: float = 90) -> dict:
    """Poll a live server (a subprocess) until every take is ready, failed or cancelled."""
    end = time.monotonic() + timeout
    while True:
        body = httpx.get(f"{url}/api/comparisons/{comparison_id}", timeout=10).json()
        if all(t["status"] in ("ready", "failed", "cancelled") for t in body["takes"]):
            return body
        if time.monotonic() > end:
            raise TimeoutError(body)
        time.sleep(0.2)


async def wait_for_takes(client: httpx.AsyncClient, comparison_id: str, timeout: float = 60) -> dict:
    """Poll the API until every take is ready, failed or cancelled."""
    end = time.monotonic() + timeout
    while True:
        r = await client.get(f"/api/comparisons/{comparison_id}")
        r.raise_for_status()
        body = r.json()
        if all(t["status"] in ("ready", "failed", "cancelled") for t in body["takes"]):
            return body
        if time.monotonic() > end:
            raise TimeoutError(f"takes not done: {[(t['model'], t['status']) for t in body['takes']]}")
        await asyncio.sleep(0.1)


def settings_env(s) -> dict[str, str]:
    """The environment that makes a subprocess (`python -m app …`) use these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "DEMO_"))}
    env.update({
        "DATABASE_URL": s.database_url, "MEDIA_DIR": str(s.media_dir), "SECRET_KEY": s.secret_key,
        "DEMO_LATENCY_S": str(s.demo_latency_s), "POLL_INTERVAL_S": str(s.poll_interval_s),
        "POLL_MAX_INTERVAL_S": str(s.poll_max_interval_s), "SWEEP_INTERVAL_S": str(s.sweep_interval_s),
        "LEASE_S": str(s.lease_s), "PROVIDER_CONCURRENCY": str(s.provider_concurrency), "CATALOG_DIR": str(s.catalog_dir), "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    })
    if s.redis_url:
        env["REDIS_URL"] = s.redis_url
    if s.demo_fail_models:
        env["DEMO_FAIL_MODELS"] = __import__("json").dumps(s.demo_fail_models)
    return env


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.args, self.env, self.log = args, env, log
        self.p: subprocess.Popen | None = None

    def start(self) -> Proc:
        fh = self.log.open("ab")
        self.p = subprocess.Popen([sys.executable, "-m", "app", *self.args], cwd=ROOT, env=self.env,
                                  stdout=fh, stderr=subprocess.STDOUT)
        return self

    def kill(self, sig=None) -> None:
        import signal

        if self.p and self.p.poll() is None:
            self.p.send_signal(sig or signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def live_app(settings, tmp_path):
    """`python -m app serve` on a free port; yields its base URL."""
    port = free_port()
    proc = Proc(["serve", "--port", str(port)], settings_env(settings), tmp_path / "serve.log").start()
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/api/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.p.poll() is not None or time.monotonic() > end:
            raise RuntimeError("server did not start:\n" + proc.output())
        time.sleep(0.1)
    yield url
    proc.kill()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright, one per test module.

    Not session-scoped: Playwright's sync API keeps an event loop marked as running on the main
    thread while it is open, and every later asyncio test would then fail to start its own."""
    from tests.browser import chromium

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



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With CI=true nothing may be skipped: a skip anywhere (a marker, importorskip, a missing
    service) is reported as a failure."""
    from tests.services import IN_CI

    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may be skipped: {report.longrepr}"
