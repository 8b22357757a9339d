"""``adlab db upgrade|current|check``: schema management (normally automatic on open)."""
from __future__ import annotations

import typer

from adlab.cli._common import JsonOption, db_url, emit_json, out_console

db_app = typer.Typer(help="Database schema: upgrade, current revision, drift check.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_command(as_json: bool = JsonOption) -> None:
    """Create or upgrade the database to the newest schema (safe from several hosts at once)."""
    from adlab.db.engine import get_engine
    from adlab.db.migrate import upgrade

    engine = get_engine(db_url(), migrate=False)
    rev = upgrade(engine)
    if as_json:
        emit_json({"database": db_url(), "revision": rev})
    else:
        out_console.print(f"{db_url()} at revision {rev}")


@db_app.command("current")
def current_command(as_json: bool = JsonOption) -> None:
    """Print the database's schema revision and the newest one adlab knows."""
    from adlab.db.engine import get_engine
    from adlab.db.migrate import current_revision, head_revision

    engine = get_engine(db_url(), migrate=False)
    with engine.connect() as conn:
        cur = current_revision(conn)
    data = {"database": db_url(), "revision": cur, "head": head_revision()}
    if as_json:
        emit_json(data)
    else:
        out_console.print(f"revision {cur} (head {data['head']})")


@db_app.command("copy")
def copy_command(
    to: str = typer.Option(..., "--to", help="Target database URL or path (must be empty)."),
    as_json: bool = JsonOption,
) -> None:
    """Copy this lab (--db) into another database, keeping run ids (SQLite -> PostgreSQL)."""
    from adlab.db.copy import copy_lab
    from adlab.db.engine import get_engine
    from adlab.settings import database_url

    result = copy_lab(get_engine(db_url()), get_engine(database_url(to)))
    if as_json:
        emit_json({"from": db_url(), "to": database_url(to), "rows": result.rows})
    else:
        for table, n in result.rows.items():
            out_console.print(f"{table:10} {n} rows")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
