"""take checks, actual cost and the reference video

`takes.checks` holds the take checks' figures (app/take_checks.py: black and frozen stretches,
cuts, motion, flicker, sharpness, loudness, silence) and `checks_flagged` marks a take that is
mostly black or frozen; `motion`, `sharpness` and `hard_cuts` repeat three figures as columns
so the comparison table averages them in SQL. `actual_cost_usd` is what the provider reported
the take cost (Runway credits, Ark tokens, Replicate predict time), beside the estimate, with
the usage it was computed from in `cost_usage`. `comparisons.reference_video` is the storage
key of a comparison's reference video (Kling v3 Motion Control).

Revision ID: 0012_reference_cost
Revises: 0005
Create Date: 2026-12-01 15:50:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0012_reference_cost'
down_revision: Union[str, None] = '0009_live'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('takes') as batch:
        batch.add_column(sa.Column('checks', sa.JSON(), nullable=False, server_default='{}'))
        batch.add_column(sa.Column('checks_flagged', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('motion', sa.Float(), nullable=True))
        batch.add_column(sa.Column('sharpness', sa.Float(), nullable=True))
        batch.add_column(sa.Column('hard_cuts', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('actual_cost_usd', sa.Float(), nullable=True))
        batch.add_column(sa.Column('cost_usage', sa.JSON(), nullable=True))
    with op.batch_alter_table('comparisons') as batch:
        batch.add_column(sa.Column('reference_video', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('comparisons') as batch:
        batch.drop_column('reference_video')
    with op.batch_alter_table('takes') as batch:
        for name in ('cost_usage', 'actual_cost_usd', 'hard_cuts', 'sharpness', 'motion', 'checks_flagged', 'checks'):
            batch.drop_column(name)
