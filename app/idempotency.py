"""`Idempotency-Key` rows (POST /api/comparisons, POST /api/suites): a client that retries a
create with the same key within the window gets the first answer again instead of a second
comparison or suite (and a second bill)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import utcnow

IDEMPOTENCY_WINDOW = timedelta(hours=24)


async def fresh_row(s: AsyncSession, model: type, scope: str, key: str):
    """The row an earlier request of `scope` with `key` left, if still within the window; an
    expired one is deleted (so the key can make something new) and None returned."""
    row = await s.get(model, (scope, key))
    if row is None:
        return None
    if row.created_at < utcnow() - IDEMPOTENCY_WINDOW:
        await s.delete(row)
        await s.flush()
        return None
    return row


def remember_with(s: AsyncSession, made_type: type, key_row) -> None:
    """Store a key row with the `made_type` object (a Comparison, a Suite) the next flush
    inserts, in the same transaction: what a key made is never without it, and a twin request
    fails at commit. `key_row(made)` builds the row."""
    done = []

    def attach(session, _context, _instances):
        made = next((o for o in session.new if isinstance(o, made_type)), None)
        if made is not None and not done:
            session.add(key_row(made))
            done.append(made)

    event.listen(s.sync_session, "before_flush", attach)
