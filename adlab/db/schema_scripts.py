"""Where adlab's Alembic scripts live, and a cheap text read of their head for the open-time check.

The repository keeps them in the top-level ``migrations/`` folder; the build ships that folder
inside the package as ``adlab._migrations`` (setup.py), so editable and wheel installs find it
the same way, by importing the package. Alembic's ScriptDirectory is the authority on the head
(:func:`adlab.db.migrate.head_revision`); importing Alembic costs every command about 0.1 s, so
opening a database first asks :func:`scanned_head`, which answers only when the scripts are
plain (one ``revision = '...'`` and one ``down_revision = '...' | None`` each, one head) and
otherwise returns None so that the caller asks Alembic.
"""
from __future__ import annotations

import functools
import importlib.resources
import re
from pathlib import Path

from adlab.errors import AdlabError

MIGRATIONS_PACKAGE = "adlab._migrations"
_REVISION = re.compile(r"^revision\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.M)
_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.M)
_QUOTED = re.compile(r"""(['"])([^'"]+)\1""")


def migrations_dir() -> Path:
    """The folder holding ``env.py`` and ``versions/`` (``migrations/`` in a checkout)."""
    try:
        root = Path(str(importlib.resources.files(MIGRATIONS_PACKAGE)))
    except ModuleNotFoundError:
        root = None
    if root is None or not (root / "versions").is_dir():
        raise AdlabError(
            f"adlab's schema migrations ({MIGRATIONS_PACKAGE}) are missing from this install; "
            "reinstall adlab (pip install --force-reinstall adlab, or make setup in a checkout)"
        )
    return root


def _single(pattern: re.Pattern[str], text: str) -> str | None:
    found = pattern.findall(text)
    return found[0] if len(found) == 1 else None


@functools.lru_cache(maxsize=1)
def scanned_head() -> str | None:
    """The head of adlab's own scripts by :func:`head_of` (read once per process)."""
    return head_of(migrations_dir() / "versions")


def head_of(versions: Path) -> str | None:
    """The one revision that no script in ``versions`` names as its ``down_revision``;
    None when unsure (a merge, a branch, a script not written the plain way)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in sorted(versions.glob("*.py")):
        if script.name.startswith("_"):
            continue
        text = script.read_text(encoding="utf-8")
        rev, down = _single(_REVISION, text), _single(_DOWN_REVISION, text)
        rev_match = _QUOTED.fullmatch(rev or "")
        if rev_match is None or down is None:
            return None
        if down != "None":
            down_match = _QUOTED.fullmatch(down)
            if down_match is None:  # a merge (tuple) or a computed value: Alembic decides
                return None
            revised.add(down_match.group(2))
        revisions.add(rev_match.group(2))
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None
