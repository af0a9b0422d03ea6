"""provider webhooks and outgoing board webhooks

`takes.hook_seen_at` records when a provider's webhook last spoke of a take (its next poll is
pulled forward); `provider_hooks` keeps accepted deliveries so a replay is a no-op;
`board_webhooks` are a board's outgoing endpoints and `webhook_deliveries` their outbox and
delivery log (app/hooks.py, app/webhooks.py).

Revision ID: 0011_hooks_storage
Revises: 0005
Create Date: 2026-12-01 15:50:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import app.models


revision: str = '0011_hooks_storage'
down_revision: Union[str, None] = '0013_picker'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('takes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hook_seen_at', app.models.UTCDateTime(timezone=True), nullable=True))
    op.create_table('provider_hooks',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('delivery_id', sa.String(length=200), nullable=False),
    sa.Column('take_id', sa.String(length=24), nullable=False),
    sa.Column('received_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['take_id'], ['takes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('provider', 'delivery_id')
    )
    op.create_index('ix_provider_hooks_take_id', 'provider_hooks', ['take_id'])
    op.create_table('board_webhooks',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('board_id', sa.String(length=24), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['board_id'], ['boards.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_board_webhooks_board_id', 'board_webhooks', ['board_id'])
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('endpoint_id', sa.String(length=24), nullable=False),
    sa.Column('event', sa.String(length=60), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', app.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['endpoint_id'], ['board_webhooks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_webhook_deliveries_endpoint_id', 'webhook_deliveries', ['endpoint_id'])
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['status', 'next_attempt_at'])


def downgrade() -> None:
    op.drop_table('webhook_deliveries')
    op.drop_table('board_webhooks')
    op.drop_table('provider_hooks')
    with op.batch_alter_table('takes', schema=None) as batch_op:
        batch_op.drop_column('hook_seen_at')
