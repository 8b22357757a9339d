"""The study's figures as PNG, reproducible byte for byte (Agg, fixed size/DPI/font, no
timestamp metadata): ROC and PR curves, per-category bars, the backbone comparison, fusion
dimension vs AUROC, and the cross-domain AUROC matrix."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

# The curves live in components (every AD pipeline stores them); the study's callers and
# tests keep reaching them here.
from adlab.pipelines.components.curves import pr_curve, roc_curve, write_curves_json  # noqa: F401

_RC = {"font.family": "DejaVu Sans", "font.size": 8, "axes.titlesize": 9, "figure.dpi": 100,
       "savefig.dpi": 100, "path.simplify": False}


def _figure(width: float, height: float) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.subplots()


def _save(fig: Any, path: Path) -> Path:
    import matplotlib as mpl

    path.parent.mkdir(parents=True, exist_ok=True)
    with mpl.rc_context(_RC):
        fig.tight_layout()
        fig.savefig(path, format="png", metadata={"Software": None})
    return path


def curve_plot(path: Path, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, kind: str,
               title: str) -> Path:
    """``curves``: label -> (scores, labels); kind ``roc`` or ``pr``; area in the legend."""
    import matplotlib as mpl

    from adlab.metrics import image_ap, image_auroc

    with mpl.rc_context(_RC):
        fig, ax = _figure(4.6, 4.0)
        for label, (scores, labels) in curves.items():
            if kind == "roc":
                x, y = roc_curve(scores, labels)
                area = image_auroc(scores, labels) if 0 < labels.sum() < len(labels) else float("nan")
                ax.plot(x, y, lw=1.2, label=f"{label} (AUROC {area:.3f})")
            else:
                x, y = pr_curve(scores, labels)
                area = image_ap(scores, labels) if labels.sum() > 0 else float("nan")
                ax.step(x, y, where="post", lw=1.2, label=f"{label} (AP {area:.3f})")
        if kind == "roc":
            ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=0.8)
        ax.set_xlabel("false positive rate" if kind == "roc" else "recall")
        ax.set_ylabel("true positive rate" if kind == "roc" else "precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(title)
        ax.legend(fontsize=6, loc="lower right" if kind == "roc" else "lower left")
        return _save(fig, path)


def grouped_bars(path: Path, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
                 title: str, ylabel: str) -> Path:
    """Bars per label, one colour per series (e.g. image vs pixel AUROC); NaN/None left out."""
    import matplotlib as mpl

    with mpl.rc_context(_RC):
        fig, ax = _figure(max(4.0, 0.7 * len(labels) * max(len(series), 1) + 1.5), 3.6)
        width = 0.8 / max(len(series), 1)
        xs = np.arange(len(labels))
        for j, (name, values) in enumerate(series.items()):
            vals = np.asarray([np.nan if v is None else float(v) for v in values])
            ax.bar(xs + (j - (len(series) - 1) / 2) * width, np.nan_to_num(vals), width,
                   label=name)
            for x, v in zip(xs, vals):
                if np.isfinite(v):
                    ax.text(x + (j - (len(series) - 1) / 2) * width, v, f"{v:.3f}", ha="center",
                            va="bottom", fontsize=6)
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=30, ha="right")
        ax.set_ylim(0, 1.08)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
        return _save(fig, path)


def dimension_plot(path: Path, points: Sequence[tuple[str, float, float]], *, title: str,
                   ylabel: str = "image AUROC") -> Path:
    """Feature dimension (log x) vs a metric; ``points`` = (label, dim, value)."""
    import matplotlib as mpl

    with mpl.rc_context(_RC):
        fig, ax = _figure(4.8, 3.6)
        for label, dim, value in points:
            ax.scatter([dim], [value], s=28)
            ax.annotate(label, (dim, value), textcoords="offset points", xytext=(4, 4), fontsize=6)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("feature dimension")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        return _save(fig, path)


def matrix_plot(path: Path, trains: Sequence[str], tests: Sequence[str], values: np.ndarray, *,
                title: str) -> Path:
    """Cross-domain matrix: rows = train domain, columns = test domain, value in each cell."""
    import matplotlib as mpl

    with mpl.rc_context(_RC):
        fig, ax = _figure(max(3.6, 0.8 * len(tests) + 2.2), max(3.0, 0.6 * len(trains) + 1.8))
        shown = ax.imshow(np.nan_to_num(values, nan=0.0), cmap="viridis", vmin=0.0, vmax=1.0)
        for i in range(len(trains)):
            for j in range(len(tests)):
                v = values[i, j]
                ax.text(j, i, "n/a" if not np.isfinite(v) else f"{v:.3f}", ha="center",
                        va="center", fontsize=7, color="white" if np.isfinite(v) and v < 0.6 else "black")
        ax.set_xticks(range(len(tests)))
        ax.set_xticklabels(tests, rotation=30, ha="right")
        ax.set_yticks(range(len(trains)))
        ax.set_yticklabels(trains)
        ax.set_xlabel("test domain")
        ax.set_ylabel("train domain")
        ax.set_title(title)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        return _save(fig, path)
