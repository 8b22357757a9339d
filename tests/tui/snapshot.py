"""Screen snapshots stored under tests/tui/snapshots/: the screen as text (readable diffs) and
as text with ANSI styles (so a colour change fails too). Regenerate deliberately with
``ADLAB_UPDATE_SNAPSHOTS=1 pytest tests/tui``."""
from __future__ import annotations

import difflib
import os
from pathlib import Path

from adlab.tui.capture import screen_styled, screen_text

SNAPSHOT_DIR = Path(__file__).parent / "snapshots"


def assert_snapshot(app, name: str) -> None:
    got = {".txt": screen_text(app), ".ansi": screen_styled(app)}
    update = os.environ.get("ADLAB_UPDATE_SNAPSHOTS") == "1"
    for suffix, text in got.items():
        path = SNAPSHOT_DIR / f"{name}{suffix}"
        if update or not path.exists():
            if not update:
                raise AssertionError(f"no snapshot {path}; run with ADLAB_UPDATE_SNAPSHOTS=1 "
                                     "to create it, then review it")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            continue
        want = path.read_text(encoding="utf-8")
        if text != want:
            diff = "\n".join(difflib.unified_diff(want.splitlines(), text.splitlines(),
                                                  f"{path.name} (stored)", f"{path.name} (now)",
                                                  lineterm="", n=1))
            raise AssertionError(f"screen {name!r} changed ({suffix}); if intended, regenerate "
                                 f"with ADLAB_UPDATE_SNAPSHOTS=1:\n{diff[:4000]}")
