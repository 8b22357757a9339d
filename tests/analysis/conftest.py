"""Fixtures for the analysis tests (run sets: analysis_runsets.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from analysis_runsets import RUNS, write_mlflow_csv


@pytest.fixture
def moleflow_csv(tmp_path: Path) -> Path:
    return write_mlflow_csv(tmp_path / "mlflow_runs.csv")


@pytest.fixture
def moleflow_lab(engine, moleflow_csv):
    from adlab.interchange.importers import import_file

    result = import_file(engine, moleflow_csv)
    assert len(result.created) == len(RUNS)
    return engine


