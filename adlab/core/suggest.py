"""Listing the names a user could have meant, the closest to what they typed first.

A refusal of an unknown name (a metric, a group key) lists the known ones; with dozens of them
the likely fix must come first, so every such list is built here the same way.
"""
from __future__ import annotations

import difflib
from typing import Iterable


def closest_first(word: str, known: Iterable[str], *, limit: int = 20) -> str:
    """``": a, b"`` or ``" (closest first): c, a, b and 3 more"``: ``known`` with up to five
    close matches of ``word`` (difflib) moved to the front, at most ``limit`` shown."""
    names = list(dict.fromkeys(known))
    close = difflib.get_close_matches(word, names, n=5, cutoff=0.5)
    rest = [k for k in names if k not in close]
    shown = close + rest[:max(0, limit - len(close))]
    more = len(names) - len(shown)
    return (f"{' (closest first)' if close else ''}: {', '.join(shown) or '(none)'}"
            f"{f' and {more} more' if more else ''}")
