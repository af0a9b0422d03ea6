"""Engine and sessions. One code path for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.settings import Settings


def make_engine(settings: Settings, *, pre_ping: bool = True) -> AsyncEngine:
    """pre_ping: test each pooled PostgreSQL connection before handing it out (asyncpg's ping
    is BEGIN, an empty query and ROLLBACK: three round trips). `takes worker` keeps it, so a
    database restart costs a job step nothing (the fault storm, tests/test_fault_storm.py,
    restarts PostgreSQL under two workers; turning it off there is not yet shown to be safe);
    a step now opens fewer sessions instead (issue 14). The web process (app.main) turns it
    off, since it would triple the round trips of a vote, and relies on SQLAlchemy dropping
    the whole pool at the first disconnect error instead: after a restart, the requests in
    flight at that moment fail once (500) and the next ones get new connections."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            # WAL lets the in-process job runner write while pages read; the busy timeout
            # turns writer contention into a short wait instead of "database is locked".
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_async_engine(url, pool_pre_ping=pre_ping, pool_size=10, max_overflow=10)


class Database:
    """Holds the engine and hands out sessions; one per process."""

    def __init__(self, settings: Settings, *, pre_ping: bool = True):
        self.settings = settings
        self.engine = make_engine(settings, pre_ping=pre_ping)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # PostgreSQL: the same pool without BEGIN and COMMIT (SQLite keeps its transactions)
        self._single = self.sessionmaker if settings.is_sqlite else async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as s:
            yield s

    @asynccontextmanager
    async def single(self) -> AsyncIterator[AsyncSession]:
        """A session for ONE statement that is a whole transaction by itself (a conditional
        UPDATE … RETURNING of a step: renew, hand back, a state write). On PostgreSQL it runs
        in autocommit, so the statement costs one round trip instead of three (BEGIN, it,
        COMMIT; issue 14: a take's steps made eleven transactions of mostly one statement).
        A statement is atomic by itself, so nothing changes for what it reads and writes;
        `commit()` is a no-op. Never use it for two statements that must hold together."""
        async with self._single() as s:
            yield s

    async def dispose(self) -> None:
        await self.engine.dispose()


def dialect_insert(dialect: str):
    """The `insert()` with ON CONFLICT of this dialect, PostgreSQL's or SQLite's: the two share
    that API, so upserts are written once for both databases."""
    return pg_insert if dialect == "postgresql" else sqlite_insert
