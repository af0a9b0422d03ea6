"""saved selections: a signed-in user's named sets of models for the new-comparison form

Revision ID: 0013_picker
Revises: 0005
Create Date: 2026-12-01 16:10:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import app.models


revision: str = '0013_picker'
down_revision: Union[str, None] = '0008_observers'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('saved_selections',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('user_id', sa.String(length=24), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('models', sa.JSON(), nullable=False),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'name')
    )
    with op.batch_alter_table('saved_selections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_selections_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('saved_selections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_selections_user_id'))
    op.drop_table('saved_selections')
