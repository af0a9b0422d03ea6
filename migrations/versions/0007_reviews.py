"""reviews: how each vote was chosen, the picks `next` hands out, check items

`votes.sampled_by` ('active' | 'uniform' | 'manual' | 'same_ballot') and
`votes.sample_probability` record how the pair a vote is about came to be shown
(app/picks.py), and `ix_votes_board_created` finds a board's latest vote at once (app/active.py);
`picks` holds each pick `next` made, server-side, so a client cannot claim
a probability; `check_items` are comparisons an editor marked with an expected answer
(app/reviewers.py).

Revision ID: 0007_reviews
Revises: 0005
Create Date: 2026-12-01 15:50:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import app.models


revision: str = '0007_reviews'
down_revision: Union[str, None] = '0012_reference_cost'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sampled_by', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('sample_probability', sa.Float(), nullable=True))
        batch_op.create_index('ix_votes_board_created', ['board_id', 'created_at'], unique=False)
    op.create_table('picks',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('board_id', sa.String(length=24), nullable=False),
    sa.Column('voter_id', sa.String(length=24), nullable=False),
    sa.Column('comparison_id', sa.String(length=24), nullable=False),
    sa.Column('take_a_id', sa.String(length=24), nullable=False),
    sa.Column('take_b_id', sa.String(length=24), nullable=False),
    sa.Column('sampled_by', sa.String(length=16), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', app.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['board_id'], ['boards.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['comparison_id'], ['comparisons.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_picks_voter_comparison', 'picks', ['voter_id', 'comparison_id'], unique=False)
    op.create_table('check_items',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('board_id', sa.String(length=24), nullable=False),
    sa.Column('comparison_id', sa.String(length=24), nullable=False),
    sa.Column('criterion', sa.String(length=40), nullable=False),
    sa.Column('expected_take_id', sa.String(length=24), nullable=False),
    sa.Column('created_by', sa.String(length=24), nullable=True),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['board_id'], ['boards.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['comparison_id'], ['comparisons.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['expected_take_id'], ['takes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('comparison_id', 'criterion', name='uq_check_items_comparison_criterion')
    )
    op.create_index('ix_check_items_board_id', 'check_items', ['board_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_check_items_board_id', table_name='check_items')
    op.drop_table('check_items')
    op.drop_index('ix_picks_voter_comparison', table_name='picks')
    op.drop_table('picks')
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.drop_index('ix_votes_board_created')
        batch_op.drop_column('sample_probability')
        batch_op.drop_column('sampled_by')
