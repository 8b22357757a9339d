"""Where a run's files go: ``<artifacts root>/runs/<id>_<name>/``."""
from __future__ import annotations

import re
from pathlib import Path

from adlab.settings import artifacts_root


def run_output_dir(run_id: int, name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:80] or "run"
    return artifacts_root() / "runs" / f"{run_id:06d}_{safe}"
