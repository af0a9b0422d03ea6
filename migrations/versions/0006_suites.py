"""suites and tags: a named run of many prompts × models (× seeds), tags on comparisons

`suites` holds one run (board, name, status running/paused/cancelled/done, seeds, models,
params); `comparisons.suite_id` and `comparisons.seed` tie a comparison to its suite and
seed; `comparison_tags` carries tags (from a suite, or set by editors) for per-tag
leaderboards; `suite_idempotency_keys` maps a client's `Idempotency-Key` to the suite its
first request made.

Revision ID: 0006_suites
Revises: 0005
Create Date: 2026-12-01 15:45:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import app.models


revision: str = '0006_suites'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('suites',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('board_id', sa.String(length=24), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=24), nullable=True),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('seeds', sa.Integer(), nullable=False),
    sa.Column('models', sa.JSON(), nullable=False),
    sa.Column('prompts', sa.Integer(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('updated_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['board_id'], ['boards.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['voters.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_suites_board_id', 'suites', ['board_id'], unique=False)
    op.create_table('comparison_tags',
    sa.Column('comparison_id', sa.String(length=24), nullable=False),
    sa.Column('tag', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['comparison_id'], ['comparisons.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('comparison_id', 'tag')
    )
    op.create_index('ix_comparison_tags_tag', 'comparison_tags', ['tag'], unique=False)
    op.create_table('suite_idempotency_keys',
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('suite_id', sa.String(length=24), nullable=False),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['suite_id'], ['suites.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('actor', 'key')
    )
    with op.batch_alter_table('comparisons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suite_id', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('seed', sa.Integer(), nullable=True))
        batch_op.create_index('ix_comparisons_suite_id', ['suite_id'], unique=False)
        batch_op.create_foreign_key('fk_comparisons_suite_id', 'suites', ['suite_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('comparisons', schema=None) as batch_op:
        batch_op.drop_constraint('fk_comparisons_suite_id', type_='foreignkey')
        batch_op.drop_index('ix_comparisons_suite_id')
        batch_op.drop_column('seed')
        batch_op.drop_column('suite_id')
    op.drop_table('suite_idempotency_keys')
    op.drop_index('ix_comparison_tags_tag', table_name='comparison_tags')
    op.drop_table('comparison_tags')
    op.drop_index('ix_suites_board_id', table_name='suites')
    op.drop_table('suites')
