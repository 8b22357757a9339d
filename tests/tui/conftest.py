"""Fixtures for the monitor tests (helpers live in tui_lab.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from tui_lab import build_lab, fixed_clock


@pytest.fixture
def lab(engine, isolated_lab: Path) -> dict[str, int]:
    return build_lab(engine, isolated_lab)


@pytest.fixture
def make_app(engine) -> Callable[..., Any]:
    """A LabApp on the test database with the fixed clock and a fast refresh."""
    from adlab.tui.app import LabApp

    def make(**kwargs: Any) -> LabApp:
        kwargs.setdefault("refresh_s", 0.2)
        kwargs.setdefault("clock", fixed_clock)
        kwargs.setdefault("lease_s", 60.0)
        kwargs.setdefault("db_label", "lab.db")
        return LabApp(engine=engine, **kwargs)

    return make


