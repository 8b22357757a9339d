"""metrics: one row per (run_id, key, scope, step), enforced by a unique index

Why: a run holds one value per (key, scope, step); recording one again replaces it. Until now
only the writer kept that rule (delete, then insert), so a lab could hold duplicates: labs
written before the writer replaced values (a database write retried after a lost commit reply
stored a second row), and on PostgreSQL two writers racing on one point each deleted nothing
and both inserted. Readers then picked one of the rows by their own order. With the index the
database refuses a second row, and the writer (adlab.db.metric_rows) upserts against it.

Deduplication first, keeping the latest row of each point. "Latest" is the highest ``id``:
ids grow with every insert on both databases (an SQLite rowid is max + 1, a PostgreSQL
sequence never goes back), and each re-recording was a new insert, so the highest id is the
value written last. ``created_at`` cannot decide: it comes from the writing host's clock
(several hosts share a PostgreSQL lab) and imported runs give all their metrics one time.
The run's ``headline_value`` was copied from the value written last, so it stays consistent.

NULL steps: a unique index treats NULLs as distinct on SQLite (and on PostgreSQL without 15's
NULLS NOT DISTINCT, which SQLite lacks), so the run-level value (step NULL) could still be
doubled. The index is on ``COALESCE(step, -1)``, an expression index both databases build and
use as an ``ON CONFLICT`` target; steps count from 0 and the writer refuses negative ones.
Keeping ``step`` nullable (rather than NOT NULL with a -1 default) leaves every reader's
``step IS NULL`` as it is.

Downgrade drops the index (the removed duplicates are not restored).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

INDEX = 'uq_metrics_point'


def upgrade() -> None:
    # Correlated on (key, scope, run_id), the columns of ix_metrics_key_scope: an index probe
    # per row on both databases (NOT IN over a GROUP BY would not use it on PostgreSQL).
    op.execute(sa.text(
        "DELETE FROM metrics WHERE EXISTS (SELECT 1 FROM metrics AS newer "
        "WHERE newer.key = metrics.key AND newer.scope = metrics.scope "
        "AND newer.run_id = metrics.run_id "
        "AND COALESCE(newer.step, -1) = COALESCE(metrics.step, -1) "
        "AND newer.id > metrics.id)"))
    op.create_index(INDEX, 'metrics',
                    ['run_id', 'key', 'scope', sa.text('COALESCE(step, -1)')], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name='metrics')
