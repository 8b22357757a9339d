"""Test isolation: every test gets its own lab (database, artifacts, working dir) via env vars,
like simonw/llm isolates its user dir. ``import adlab`` first pins glibc's mmap threshold."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import adlab  # noqa: F401  (mmap threshold before torch)
import pytest


@pytest.fixture(autouse=True)
def isolated_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADLAB_DB", str(tmp_path / "lab.db"))
    monkeypatch.setenv("ADLAB_ARTIFACTS", str(tmp_path / "exports"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv("ADLAB_DEBUG", raising=False)
    from adlab.db.engine import dispose_all

    dispose_all()
    yield tmp_path
    dispose_all()


@pytest.fixture
def engine(isolated_lab: Path):
    from adlab.db.engine import get_engine
    from adlab.settings import database_url

    return get_engine(database_url())


def run_cli(*args: str, env: dict | None = None, timeout: float = 120,
            check: bool = False) -> subprocess.CompletedProcess:
    """Run ``python -m adlab ARGS`` in a real process (exit codes, stdout/stderr split)."""
    proc = subprocess.run([sys.executable, "-m", "adlab", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"adlab {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the session (skipped, with the reason, if none can start)."""
    from testservers.postgres import PostgresUnavailable, start_temp_postgres

    try:
        server = start_temp_postgres()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL tests need a server: {exc}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server, request) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    import re

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50]
    return pg_server.create_database(name)
