"""takes_claim_slot: a provider slot claimed in one statement on PostgreSQL

The claim of a provider slot (app/jobs/generate.py `_claim_slot`) took the provider's
advisory lock and then ran its conditional UPDATE in one transaction: four round trips, the
lock held across two of them and across the event loop's wait to resume the claimer between
them. Fifty steps of one process queued on that lock, and submits ran at about 125 a second
(docs/benchmarks.md, fan-out). In a function the lock and the UPDATE are one call in
autocommit: the lock is held for the UPDATE's own time. The function is VOLATILE, so its UPDATE
takes its snapshot after the lock is granted and counts every claim committed before it, as
the transaction did. SQLite keeps its single writer (no function).

Revision ID: 0018_claim_slot
Revises: 0017_votes15
Create Date: 2026-12-04 20:40:00
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0018_claim_slot'
down_revision: Union[str, None] = '0017_votes15'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FUNCTION = """
CREATE OR REPLACE FUNCTION takes_claim_slot(p_take text, p_lease text, p_provider text, p_limit integer,
                                            p_now timestamptz, p_key bigint, p_in_flight text[])
RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n integer;
BEGIN
  PERFORM pg_advisory_xact_lock(p_key);
  UPDATE takes SET status = 'submitting', submit_token = p_lease, progress = NULL, updated_at = p_now
   WHERE id = p_take AND status = 'queued' AND lease_owner = p_lease
     AND (SELECT count(*) FROM takes AS other
           WHERE other.provider = p_provider AND other.status = ANY (p_in_flight) AND other.id <> p_take
             AND (other.lease_expires_at IS NULL OR other.lease_expires_at >= p_now)) < p_limit;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS takes_claim_slot(text, text, text, integer, timestamptz, bigint, text[])")
