"""The test database's own upkeep (tests/support/db.py): what happens when an earlier test left
a session holding locks on it."""

import asyncio

import asyncpg
import pytest

from tests.support import db

pytestmark = pytest.mark.postgres


def test_emptying_fails_naming_a_lock_holder_and_ends_it(pg_database):
    """An open transaction holding a table lock (what a server a failed test never stopped
    leaves): pg_empty gives up after its wait with the holder's query in the message, and
    ends that session, so the next emptying goes through."""
    dsn = pg_database.replace("postgresql+asyncpg://", "postgresql://")

    async def alive(pid: int) -> bool:
        conn = await asyncpg.connect(dsn)
        try:
            return bool(await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid))
        finally:
            await conn.close()

    async def scenario():
        holder = await asyncpg.connect(dsn)
        pid = holder.get_server_pid()
        await holder.execute("BEGIN")
        await holder.execute(f"LOCK TABLE {db.tables()[0]} IN ACCESS EXCLUSIVE MODE")
        try:
            with pytest.raises(RuntimeError) as caught:
                await asyncio.to_thread(db.pg_empty, pg_database, 0.5)
            assert "waited 0.5 s on a lock" in str(caught.value)
            assert "LOCK TABLE" in str(caught.value) and "idle in transaction" in str(caught.value)
            for _ in range(50):   # its session was ended (pg_terminate_backend only signals it)
                if not await alive(pid):
                    break
                await asyncio.sleep(0.1)
            assert not await alive(pid)
        finally:
            holder.terminate()
        await asyncio.to_thread(db.pg_empty, pg_database, 0.5)   # and the next emptying goes through

    asyncio.run(scenario())
