"""Time as the database sees it, so leases work across hosts with skewed clocks."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import Session


def db_now(conn: Connection | Session) -> dt.datetime:
    """Aware UTC 'now': PostgreSQL's server clock; SQLite shares the host's clock."""
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    if bind.dialect.name == "sqlite":
        return dt.datetime.now(dt.timezone.utc)
    value = conn.execute(text("SELECT now()")).scalar_one()
    return value.astimezone(dt.timezone.utc)
