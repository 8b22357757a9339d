"""Phase labels: what a running run is doing now (train / export / score, and for which of its
categories), carried at the start of its progress message. Pipelines write them with
:func:`phase_message`; the monitor reads them back with :func:`split_phase`. One format, both
sides, so a label written by a pipeline is always one the monitor can show.

A message is written to the database on every ``progress()`` call that carries one, so
pipelines pass the label when a phase starts, not with every batch."""
from __future__ import annotations

from enum import Enum


class Phase(str, Enum):
    TRAIN = "train"
    EXPORT = "export"
    SCORE = "score"
    EVALUATE = "evaluate"


def phase_label(phase: Phase | str, category: str | None = None, index: int | None = None,
                count: int | None = None) -> str:
    """``score 2/3 cable``: the phase, where the category is among the run's categories (the
    run's overall position, when each phase counts from 0 again), then the category: in that
    order, what a narrow column cuts last is the most telling."""
    parts = [Phase(phase).value]
    if index is not None and count is not None and count > 1:
        parts.append(f"{index + 1}/{count}")
    if category:
        parts.append(category)
    return " ".join(parts)


def phase_message(phase: Phase | str, category: str | None = None, index: int | None = None,
                  count: int | None = None, detail: str | None = None) -> str:
    """A progress message that starts with the phase label in brackets, then ``detail``:
    ``[score 2/3 cable] 000.png``."""
    label = f"[{phase_label(phase, category, index, count)}]"
    return f"{label} {detail}" if detail else label


def split_phase(message: str | None) -> tuple[str | None, str | None]:
    """(phase label, the rest of the message) of a progress message; the label is None when
    the message does not start with one (free text from a pipeline that reports no phase)."""
    if not message or not message.startswith("["):
        return None, message or None
    end = message.find("]")
    label = message[1:end] if end > 0 else ""
    if not label or label.split(" ", 1)[0] not in _PHASES:
        return None, message
    rest = message[end + 1:].strip()
    return label, rest or None


_PHASES = frozenset(p.value for p in Phase)
