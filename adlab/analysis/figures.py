"""Report figures as PNG, byte-for-byte reproducible: Agg backend, fixed size/DPI/fonts, no
``Software``/creation-time metadata. matplotlib is imported only when a figure is drawn.

Curves "where stored": a run artifact of kind ``curves`` (or ``roc_curve`` / ``pr_curve``) is a
JSON file ``{"roc": {"fpr": [...], "tpr": [...]}, "pr": {"recall": [...], "precision": [...]}}``
(a ``roc_curve`` file holds only the ``roc`` part, a ``pr_curve`` only the ``pr`` part), path
relative to the artifacts root like every artifact.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

CURVE_KINDS = ("curves", "roc_curve", "pr_curve")
_RC = {"font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10, "figure.dpi": 100,
       "savefig.dpi": 100, "path.simplify": False, "svg.hashsalt": "adlab"}


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})
    _pyplot().close(fig)
    return path


def bar_chart(path: Path, *, labels: Sequence[str], values: Sequence[float | None],
              errors: Sequence[float | None] | None = None, title: str, ylabel: str,
              highlight: int | None = None, baseline: float = 0.0, digits: int = 4) -> Path:
    """One bar per run (or variant), best highlighted; missing values are left out. Bars rise
    from ``baseline`` (0, or a chance level the caller names), never from a cut-off axis that
    makes small gaps look large, and each bar carries its value."""
    import matplotlib as mpl

    with mpl.rc_context(_RC):
        fig = bar_figure(labels=labels, values=values, errors=errors, title=title, ylabel=ylabel,
                         highlight=highlight, baseline=baseline, digits=digits)
        return _save(fig, path)


def bar_figure(*, labels: Sequence[str], values: Sequence[float | None],
               errors: Sequence[float | None] | None = None, title: str, ylabel: str,
               highlight: int | None = None, baseline: float = 0.0, digits: int = 4) -> Any:
    """The figure :func:`bar_chart` saves (call inside the report's rc settings)."""
    plt = _pyplot()
    keep = [i for i, v in enumerate(values) if v is not None]
    width = max(4.0, min(14.0, 0.45 * len(keep) + 2.0))
    fig, ax = plt.subplots(figsize=(width, 3.6))
    xs = list(range(len(keep)))
    vals = [float(values[i]) for i in keep]
    errs = [float(errors[i]) if errors and errors[i] is not None else 0.0 for i in keep]
    colors = ["#d62728" if i == highlight else "#1f77b4" for i in keep]
    bars = ax.bar(xs, [v - baseline for v in vals], bottom=baseline,
                  yerr=errs if any(errs) else None, color=colors, capsize=2)
    ax.bar_label(bars, labels=[f"{v:.{digits}f}" for v in vals], fontsize=6, padding=2,
                 rotation=90 if len(vals) > 8 else 0)
    ax.set_xticks(xs)
    ax.set_xticklabels([labels[i] for i in keep], rotation=60, ha="right", fontsize=7)
    if vals:
        lo = min([baseline] + [v - e for v, e in zip(vals, errs)])
        hi = max([baseline] + [v + e for v, e in zip(vals, errs)])
        pad = (hi - lo) * 0.18 or abs(hi) * 0.05 or 0.05
        ax.set_ylim(lo - (pad if lo < baseline else 0.0), hi + pad)
    ax.axhline(baseline, color="black", linewidth=0.8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def curve_chart(path: Path, *, curves: Sequence[tuple[str, Sequence[float], Sequence[float]]],
                kind: str, title: str) -> Path:
    """ROC (fpr -> tpr, with the chance diagonal) or PR (recall -> precision) curves."""
    plt = _pyplot()
    import matplotlib as mpl

    with mpl.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(4.5, 4.0))
        for label, xs, ys in curves:
            ax.plot(list(xs), list(ys), label=label, linewidth=1.2)
        if kind == "roc":
            ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
            ax.set_xlabel("false positive rate")
            ax.set_ylabel("true positive rate")
        else:
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(title)
        ax.legend(fontsize=7, loc="lower right" if kind == "roc" else "lower left")
        fig.tight_layout()
        return _save(fig, path)


def read_curves(path: Path, kind: str) -> dict[str, tuple[list[float], list[float]]]:
    """The ROC/PR curves in a stored curves artifact (see module doc); {} when unreadable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if kind == "roc_curve":
        doc = {"roc": doc}
    elif kind == "pr_curve":
        doc = {"pr": doc}
    out: dict[str, tuple[list[float], list[float]]] = {}
    for name, (xk, yk) in (("roc", ("fpr", "tpr")), ("pr", ("recall", "precision"))):
        part = doc.get(name) if isinstance(doc, dict) else None
        if isinstance(part, dict) and isinstance(part.get(xk), list) and isinstance(part.get(yk), list):
            out[name] = ([float(v) for v in part[xk]], [float(v) for v in part[yk]])
    return out
