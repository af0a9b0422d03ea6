"""Test databases: a migrated SQLite file copied per test, and one PostgreSQL database per
session, migrated once and emptied before each test."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from tests.support.services import PG_URL, missing



def tables() -> list[str]:
    """Every table of the app's models, children first (so DELETE never trips a foreign key)."""
    from app.models import Base

    return [t.name for t in reversed(Base.metadata.sorted_tables)]


def migrate(url: str) -> None:
    from app.migrate import upgrade

    upgrade(url)


def sqlite_template(directory: Path) -> Path:
    """A migrated SQLite file: each test copies it instead of running the migrations again."""
    path = directory / "template.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    path = directory / "takes.db"
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


def pg_admin_url() -> str:
    from app.settings import Settings

    return Settings(database_url=PG_URL, _env_file=None).database_url


async def pg_exec(url: str, *statements: str) -> None:
    async def each(conn) -> None:
        for st in statements:
            await conn.execute(st)

    await _pg(url, each)


async def _pg(url: str, work):
    """`work(connection)` on one asyncpg connection to `url` (an app URL or a plain one)."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        return await work(conn)
    finally:
        await conn.close()


def pg_empty(url: str, lock_wait_s: float = 20) -> None:
    """Empty every table in one transaction. DELETE, not TRUNCATE: on tables this small a
    DELETE takes ~2 ms where TRUNCATE, which makes every table a new file, takes ~30 ms
    each (~0.3 s a test, before each of some 400 tests).

    A connection an earlier test left open in a transaction (a server it did not stop) holds
    row locks this DELETE would wait on for ever: the whole run then stalls with no word on
    why. So the wait is capped, and past the cap this test fails naming what held the lock,
    and those sessions are ended, so the tests after it start clean."""
    from asyncpg.exceptions import LockNotAvailableError

    deletes = [f"DELETE FROM {name}" for name in tables()]
    try:
        asyncio.run(pg_exec(url, f"SET lock_timeout = '{int(lock_wait_s * 1000)}ms'", "BEGIN", *deletes, "COMMIT"))
    except LockNotAvailableError as exc:
        held = asyncio.run(_pg(url, _end_other_sessions))
        raise RuntimeError(f"emptying the test database waited {lock_wait_s} s on a lock; sessions ended: {held}") from exc


async def _end_other_sessions(conn) -> list[dict]:
    """Every other session on the connection's database (what it ran, its state), each ended."""
    rows = await conn.fetch("SELECT pid, application_name, state, left(query, 200) AS query, "
                            "pg_terminate_backend(pid) AS ended FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    return [dict(r) for r in rows]


def pg_database_name() -> str:
    """Unique per process, so parallel sessions (and xdist workers) never share a database."""
    return f"takes_t{os.getpid()}"


def create_pg_database() -> str:
    """Create and migrate this session's PostgreSQL database; returns its URL (or skips/fails
    through `missing` when PostgreSQL is not reachable)."""
    admin = pg_admin_url()
    try:
        asyncio.run(pg_exec(admin, "SELECT 1"))
    except Exception as exc:
        missing("PostgreSQL", f"could not connect to {PG_URL} ({exc}); apt-get install postgresql, start it and "
                "create the role/database, or set TEST_POSTGRES_URL")
    name = pg_database_name()
    asyncio.run(pg_exec(admin, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"))
    url = admin.rsplit("/", 1)[0] + "/" + name
    migrate(url)
    return url


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(pg_exec(pg_admin_url(), f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
