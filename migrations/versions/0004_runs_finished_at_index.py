"""index on runs.finished_at: the monitor's incremental read of recent finishes without a scan

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_runs_finished_at', 'runs', ['finished_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_runs_finished_at', table_name='runs')
