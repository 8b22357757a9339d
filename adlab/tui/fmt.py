"""Pure text formatting for the monitor: durations, ETAs, progress bars, status colours, ages."""
from __future__ import annotations

import datetime as dt

from rich.text import Text

STATUS_STYLES = {
    "queued": "bold #8aa4c8",
    "running": "bold #e5c07b",
    "succeeded": "bold #98c379",
    "failed": "bold #e06c75",
    "cancelled": "bold #c678dd",
    "cancelling": "bold #c678dd",
}
STATUS_ICONS = {"queued": "○", "running": "▶", "succeeded": "✔", "failed": "✘",
                "cancelled": "■", "cancelling": "□"}
BAR_DONE, BAR_TODO = "█", "░"


def duration(seconds: float | None) -> str:
    """Compact human duration: ``42s``, ``3m05s``, ``2h07m``, ``3d04h``; empty when unknown."""
    if seconds is None or seconds < 0:
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def seconds_between(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def elapsed_seconds(status: str, started: dt.datetime | None, finished: dt.datetime | None,
                    now: dt.datetime) -> float | None:
    """Running: since start; finished: start to finish; queued: unknown."""
    if started is None:
        return None
    return seconds_between(started, finished if finished is not None and status != "running"
                           else now)


def eta_seconds(status: str, elapsed: float | None, done: int, total: int | None) -> float | None:
    """Linear extrapolation from the work done so far; only for running runs."""
    if status != "running" or elapsed is None or not total or done <= 0:
        return None
    return max(0.0, elapsed / done * (total - done))


def middle_truncate(text: str, width: int) -> str:
    """``patchcore_wr…lr1e-3``: names of one sweep share their start and differ at the end,
    so cutting the middle keeps what tells them apart."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width == 1:
        return "…"
    head = (width - 1) // 2
    tail = width - 1 - head
    return text[:head] + "…" + text[len(text) - tail:]


def progress_bar(done: int, total: int | None, width: int) -> Text:
    """``███░░░ 12/40`` in ``width`` cells; the count alone when the total is unknown."""
    if not total:
        return Text(str(done) if done else "", style="dim")
    label = f" {done}/{total}"
    bar_w = max(0, width - len(label))
    frac = min(1.0, max(0.0, done / total))
    filled = int(frac * bar_w)  # floor: the bar is full only when the run is done
    text = Text()
    text.append(BAR_DONE * filled, style="#61afef")
    text.append(BAR_TODO * (bar_w - filled), style="#3b4252")
    text.append(label)
    return text


def status_text(status: str, *, cancelling: bool = False) -> Text:
    shown = "cancelling" if cancelling and status == "running" else status
    return Text(f"{STATUS_ICONS.get(shown, '?')} {shown}", style=STATUS_STYLES.get(shown, ""))


def stale_text() -> Text:
    """A running run whose worker stopped sending heartbeats: not progressing, not "running"."""
    return Text("⚠ stale", style="bold reverse #e06c75")


def metric_value(value: float | None) -> str:
    if value is None:
        return ""
    if value != value:
        return "nan"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.4g}"


def headline(metric: str | None, value: float | None) -> str:
    if value is None:
        return ""
    return f"{metric}={metric_value(value)}" if metric else metric_value(value)


def age(then: dt.datetime | None, now: dt.datetime) -> str:
    """How long ago, e.g. ``4s ago``; ``never`` when unknown."""
    if then is None:
        return "never"
    return f"{duration(max(0.0, (now - then).total_seconds()))} ago"


def timestamp(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def human_bytes(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
