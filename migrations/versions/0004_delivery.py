"""delivered as asked: each take's check against its request, and the rewritten prompt

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 13:40:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('takes') as batch:
        batch.add_column(sa.Column('as_asked', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('delivery_notes', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('rewritten_prompt', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('takes') as batch:
        batch.drop_column('rewritten_prompt')
        batch.drop_column('delivery_notes')
        batch.drop_column('as_asked')
