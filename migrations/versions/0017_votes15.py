"""board caches: a leaderboard's fit and take columns kept between processes

A fresh web process answers a big board's first leaderboard from these rows instead of
refitting the ranking (the fit is exact: it is keyed by the digest of the counts) and
rescanning every take (app/board_cache.py).

Revision ID: 0017_votes15
Revises: 0010_vote_counts
Create Date: 2026-12-01 18:45:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import app.models


revision: str = '0017_votes15'
down_revision: Union[str, None] = '0010_vote_counts'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('board_caches',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('made_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('board_caches')
