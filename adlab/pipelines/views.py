"""Pipeline-specific views as plain data: what a spec's view hooks take and return.

A pipeline that needs its own table in ``adlab compare --flat``, its own report section or its
own tab in the TUI run detail names a hook on its :class:`~adlab.pipelines.base.PipelineSpec`
(``"module:function"``, imported only when the view is shown). Generic commands fetch plain
inputs (:class:`RunRecord`, partial-result items), call the hook, and render what it returns
(:class:`TableView`, :class:`SectionView`, :class:`FlatTableView`, :class:`TabView`). Hooks
never see the database, so pipelines stay below it; a second benchmark touches no generic
module. No torch, no pydantic: this module is imported to render reports.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence


@dataclass(frozen=True)
class RunRecord:
    """One stored run as a view hook sees it."""

    id: int
    name: str
    pipeline: str
    params: Mapping[str, Any] = field(default_factory=dict)  # flattened, canonical values
    metrics: Mapping[str, float | None] = field(default_factory=dict)  # run-level (scope "")
    scoped: Mapping[tuple[str, str], float | None] = field(default_factory=dict)  # (key, scope)
    info: Mapping[str, Any] = field(default_factory=dict)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


@dataclass(frozen=True)
class Cell:
    """A table cell: text as given, a number written by the renderer (``None`` -> "-")."""

    value: str | float | None
    bold: bool = False


@dataclass(frozen=True)
class TableView:
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str = ""
    align: tuple[Literal["l", "c", "r"], ...] = ()
    fraction: bool = False  # numbers are fractions (4 decimals) rather than percents/raw (2)
    bold_best: tuple[int, ...] = ()  # columns whose highest number (all ties) is bold
    footer_rows: int = 0  # trailing summary rows (e.g. "Average"), emphasised
    note: str = ""


@dataclass(frozen=True)
class SectionView:
    """A heading and the tables under it (``level`` 1 is a top-level report section)."""

    title: str
    tables: tuple[TableView, ...] = ()
    level: int = 1


@dataclass(frozen=True)
class FlatTableView:
    """``adlab compare --flat``: ``data`` for ``--json``, ``lines`` printed as they are."""

    data: Any
    lines: tuple[str, ...]


@dataclass(frozen=True)
class TabView:
    """A detail tab's content: ``data`` (plain, JSON-able) and its table, or an error."""

    data: Mapping[str, Any]
    table: TableView | None = None
    error: str | None = None


@dataclass(frozen=True)
class DetailTab:
    """A pipeline-specific tab of the TUI run detail, fed by the run's partial-result items.

    ``view`` is ``"module:function"``: ``(items: Mapping[str, Any]) -> TabView`` over the items
    whose key starts with ``item_prefix`` (what the run stored in ``ctx.state``); the tab is
    refreshed when one of them changes.
    """

    id: str
    title: str
    item_prefix: str
    view: str


@dataclass(frozen=True)
class CliShortcut:
    """A flag of ``adlab queue`` that sets one param (the seed runner's ``--few-shot 2``).

    ``name`` is the flag without dashes, ``_`` for ``-`` (``few_shot`` -> ``--few-shot``);
    a ``bool`` shortcut is a switch (``--batch-mode`` / ``--no-batch-mode``).
    """

    name: str
    path: str
    type: type[str] | type[int] | type[bool] = str
    help: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def shortcut_table(shortcuts: Sequence[CliShortcut]) -> dict[str, CliShortcut]:
    """Flag spelling (``--few-shot``, and ``--no-batch-mode`` for switches) -> shortcut."""
    out: dict[str, CliShortcut] = {}
    for s in shortcuts:
        out[s.flag] = s
        if s.type is bool:
            out["--no-" + s.name.replace("_", "-")] = s
    return out
