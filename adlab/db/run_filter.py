"""Which runs take part: the one run-filter model of ``runs``, ``compare``, ``report``,
``export`` and the TUI, and how it (and the comparison queries) read parameter values in SQL.

A stored parameter is ``value_num`` (numbers) plus ``value_text``
(:func:`adlab.core.values.value_text`: strings as written unless they would read as JSON,
then quoted). So in SQL a value's canonical form is its number, or else its text, with JSON
``null`` meaning no value: the same equality as :func:`adlab.core.values.canonical`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, exists, or_
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement

from adlab.core.values import canonical, canonical_number, value_text
from adlab.db.models import Param, Run


@dataclass(frozen=True)
class RunFilter:
    """Which runs take part. ``where`` pairs compare parameter values by meaning (typed values,
    as ``--where`` reads them: YAML scalars)."""

    study: str | None = None
    pipeline: str | None = None
    statuses: tuple[str, ...] = ("succeeded",)
    name_like: str | None = None
    run_ids: tuple[int, ...] | None = None
    where: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> dict[str, Any]:
        """The filter as shown in reports and JSON (only what was set)."""
        out: dict[str, Any] = {}
        for key in ("study", "pipeline", "name_like"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        out["statuses"] = list(self.statuses)
        if self.run_ids:
            out["run_ids"] = list(self.run_ids)
        if self.where:
            out["where"] = {k: v for k, v in self.where}
        return out


def canonical_text(num: ColumnElement, text: ColumnElement) -> ColumnElement:
    """SQL for the non-numeric part of a canonical value (NULL for numbers and nulls)."""
    return case((num.is_not(None), None), (text == "null", None), else_=text)


def value_from_sql(num: float | None, text: str | None) -> Any:
    """The canonical Python value for a (value_num, canonical_text) pair read back from SQL."""
    if num is not None:
        return canonical_number(num)
    if text is None:
        return None
    try:
        return canonical(json.loads(text))
    except ValueError:
        return text


def param_equals(key: str, value: Any) -> ColumnElement:
    """Runs whose parameter ``key`` has ``value`` by meaning (None: missing or null)."""
    p = aliased(Param)
    c = canonical(value)
    base = and_(p.run_id == Run.id, p.key == key)
    if c is None:
        return ~exists().where(base, or_(p.value_num.is_not(None),
                                         canonical_text(p.value_num, p.value_text).is_not(None)))
    if isinstance(c, (int, float)) and not isinstance(c, bool):
        return exists().where(base, p.value_num == float(c))
    return exists().where(base, p.value_num.is_(None),
                          canonical_text(p.value_num, p.value_text) == value_text(c))


def filter_clauses(filters: RunFilter | None) -> list[ColumnElement]:
    """SQL WHERE clauses over ``runs`` for ``filters`` (None: every succeeded run)."""
    f = filters or RunFilter()
    clauses: list[ColumnElement] = []
    if f.statuses:
        clauses.append(Run.status.in_(list(f.statuses)))
    if f.study:
        clauses.append(Run.study == f.study)
    if f.pipeline:
        clauses.append(Run.pipeline == f.pipeline)
    if f.name_like:
        clauses.append(Run.name.contains(f.name_like, autoescape=True))
    if f.run_ids:
        clauses.append(Run.id.in_(list(f.run_ids)))
    for key, value in f.where:
        clauses.append(param_equals(key, value))
    return clauses
