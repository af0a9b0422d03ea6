"""vote counts: active ballots per board, criterion, blindness and ballot pattern

`vote_counts` is kept by every vote's transaction (app/votes.py write_votes) so the
leaderboard of a big board reads a few hundred rows; this migration fills it from the votes
already stored (app/vote_counts.py rebuild_sync).

Revision ID: 0010_vote_counts
Revises: 0005
Create Date: 2026-12-01 16:20:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0010_vote_counts'
down_revision: Union[str, None] = '0011_hooks_storage'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('vote_counts',
    sa.Column('board_id', sa.String(length=24), nullable=False),
    sa.Column('criterion', sa.String(length=40), nullable=False),
    sa.Column('blind', sa.Boolean(), nullable=False),
    sa.Column('pattern', sa.Text(), nullable=False),
    sa.Column('ballots', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['board_id'], ['boards.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('board_id', 'criterion', 'blind', 'pattern')
    )
    from app.vote_counts import rebuild_sync

    rebuild_sync(op.get_bind())


def downgrade() -> None:
    op.drop_table('vote_counts')
