"""SIGKILL/SIGTERM battery on SQLite (the PostgreSQL run is in tests/foundation/test_postgres.py)."""
from __future__ import annotations

import pytest

from lifecycle.chaos import check_figures, run_chaos


@pytest.mark.slow
def test_four_workers_sigkill_and_sigterm_mixed_lose_and_double_nothing_on_sqlite(engine):
    from adlab.settings import database_url

    check_figures(run_chaos(database_url(), workers=4, runs=40, kills=12, lease_s=2.0))
