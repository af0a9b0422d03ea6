"""job tokens: per-attempt leases, step tickets, idempotency keys

`takes.step_seq` numbers a take's queued steps (a job for an older step is a no-op),
`takes.submit_token` names the attempt that moved the take queued → submitting,
`takes.job_state` keeps the job layer's counters between steps, and `idempotency_keys`
maps a client's `Idempotency-Key` to the comparison its first request made.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 13:40:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import app.models


revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('takes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('step_seq', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('submit_token', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('job_state', sa.JSON(), server_default='{}', nullable=False))
    op.create_table('idempotency_keys',
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('comparison_id', sa.String(length=24), nullable=False),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['comparison_id'], ['comparisons.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('actor', 'key')
    )


def downgrade() -> None:
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('takes', schema=None) as batch_op:
        batch_op.drop_column('job_state')
        batch_op.drop_column('submit_token')
        batch_op.drop_column('step_seq')
