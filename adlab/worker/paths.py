"""Where a run's files go (``<artifacts root>/runs/<id>_<name>/``) and a warm worker's log."""
from __future__ import annotations

import re
from pathlib import Path

from adlab.settings import artifacts_root


def _safe(name: str, default: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:80] or default


def run_output_dir(run_id: int, name: str) -> Path:
    return artifacts_root() / "runs" / f"{run_id:06d}_{_safe(name, 'run')}"


def worker_log_path(worker: str) -> Path:
    """The log of a warm worker's zygote: ``<artifacts root>/workers/<worker>.log``."""
    return artifacts_root() / "workers" / f"{_safe(worker, 'worker')}.log"
