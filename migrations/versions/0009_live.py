"""comparison links: a read-only link to a single comparison

`comparisons.link_token` is the secret part of /v/<token>: whoever opens it may view that
comparison (and only it) as a viewer, until an editor revokes or replaces it (app/links.py).

Revision ID: 0009_live
Revises: 0005
Create Date: 2026-12-01 16:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0009_live'
down_revision: Union[str, None] = '0006_suites'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('comparisons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_token', sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f('ix_comparisons_link_token'), ['link_token'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('comparisons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_comparisons_link_token'))
        batch_op.drop_column('link_token')
