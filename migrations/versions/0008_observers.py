"""observers: an owner or editor may watch a board as an observer

`memberships.observer` marks a member who sees names, results and comments at once on a blind
board; their votes are stored with `blind` false (app/blind.py, docs/voting.md §Observers).

Revision ID: 0008_observers
Revises: 0005
Create Date: 2026-12-01 16:05:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0008_observers'
down_revision: Union[str, None] = '0007_reviews'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.add_column(sa.Column('observer', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_column('observer')
