"""indexes for ranking by the headline metric without a join

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_runs_status_headline', 'runs', ['status', 'headline_metric'], unique=False)
    op.create_index('ix_runs_headline_group', 'runs',
                    ['headline_metric', 'group_hash', 'headline_value', 'status', 'pipeline',
                     'study'], unique=False)
    op.create_index('ix_runs_headline_partition', 'runs',
                    ['headline_metric', 'partition_hash', 'headline_value', 'status', 'pipeline',
                     'study'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_runs_headline_partition', table_name='runs')
    op.drop_index('ix_runs_headline_group', table_name='runs')
    op.drop_index('ix_runs_status_headline', table_name='runs')
