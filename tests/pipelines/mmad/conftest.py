"""Fixtures for the mmad pipeline tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from mmad_builders import make_mmad
from mmad_loopback import LoopbackServer, Script


@pytest.fixture
def mmad_tree(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "MMAD"
    _, truth = make_mmad(root)
    return root, truth


@pytest.fixture
def loopback(mmad_tree):
    _, truth = mmad_tree
    server = LoopbackServer(Script(answers=dict(truth))).start()
    yield server
    server.stop()
