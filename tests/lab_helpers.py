"""Helpers for tests that drive real `adlab worker` processes."""
from __future__ import annotations

import os
import subprocess
import sys
import time


def start_worker(*extra: str, env: dict | None = None) -> subprocess.Popen:
    """A real `python -m adlab worker` process polling every 0.2 s (stdout/stderr captured)."""
    return subprocess.Popen([sys.executable, "-m", "adlab", "worker", "--poll", "0.2", *extra],
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until(pred, timeout: float = 60.0, every: float = 0.05):  # noqa: ANN001, ANN201
    """Poll ``pred`` until it returns something truthy (returned), or fail after ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not reached in time")
