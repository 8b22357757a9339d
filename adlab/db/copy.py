"""Copy a whole lab between databases (e.g. a laptop's lab.db into the shared PostgreSQL).

Rows keep their ids, so run ids quoted in notes and reports stay valid; PostgreSQL sequences are
moved past the copied ids afterwards. The target must be empty: merging two labs would renumber
runs, which this tool refuses to do silently.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from adlab.db import models  # noqa: F401  (tables on the metadata)
from adlab.db.engine import reader
from adlab.db.metric_rows import record_metrics
from adlab.errors import AdlabError

# Parents before children (runs.depends_on points at lower ids, inserted earlier in id order).
TABLE_ORDER = ("runs", "params", "metrics", "artifacts", "run_items", "events", "workers")
CHUNK = 5000


@dataclass
class CopyResult:
    rows: dict[str, int]


def copy_lab(source: Engine, target: Engine) -> CopyResult:
    tables = SQLModel.metadata.tables
    with target.connect() as conn:
        existing = conn.execute(select(func.count()).select_from(tables["runs"])).scalar()
    if existing:
        raise AdlabError(
            f"target database already has {existing} run(s); copy into an empty database "
            "(create a new one, then `adlab --db TARGET db upgrade`)"
        )
    counts: dict[str, int] = {}
    with reader(source).connect() as src, target.begin() as dst:
        for name in TABLE_ORDER:
            table = tables[name]
            order = table.primary_key.columns.values()[0]
            result = src.execution_options(yield_per=CHUNK).execute(select(table).order_by(order))
            n = 0
            for chunk in result.mappings().partitions(CHUNK):
                rows = [dict(row) for row in chunk]
                if name == "metrics":  # the one metric writer (a point held twice: the last)
                    record_metrics(dst, rows)
                else:
                    dst.execute(table.insert(), rows)
                n += len(chunk)
            counts[name] = n
        if dst.dialect.name == "postgresql":
            for name in TABLE_ORDER:
                if "id" in tables[name].columns:
                    dst.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"))
    return CopyResult(rows=counts)
