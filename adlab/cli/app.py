"""The ``adlab`` root command. Each command group lives in its own module with ``register(app)``."""
from __future__ import annotations

import importlib
import sys
from typing import Optional

import typer

from adlab.cli._common import database_failure, err_console, set_db_option
from adlab.errors import AdlabError
from adlab.settings import debug

# One module per command group; each exposes ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "adlab.cli.queue_cmd",
    "adlab.cli.worker_cmd",
    "adlab.cli.db_cmd",
    "adlab.cli.pipelines_cmd",
    "adlab.cli.data_cmd",
    "adlab.cli.metrics_cmd",
    "adlab.cli.mmad_cmd",
    "adlab.cli.models_cmd",
    "adlab.cli.import_model_cmd",
    "adlab.cli.demo_cmd",
    "adlab.cli.compare_cmd",
    "adlab.cli.report_cmd",
    "adlab.cli.io_cmd",
    "adlab.cli.submit_cmd",
    "adlab.cli.tui_cmd",
)

app = typer.Typer(
    name="adlab",
    help="adlab: queue, run, monitor and compare anomaly-detection experiments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    db: Optional[str] = typer.Option(
        None, "--db", help="Database path or URL (default: $ADLAB_DB, else ./lab.db).",
        envvar=None,
    ),
) -> None:
    set_db_option(db)


def _register_all() -> None:
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # command group not built yet
                continue
            raise
        module.register(app)


_register_all()


def hoist_db_option(argv: list[str]) -> list[str]:
    """Accept ``--db X`` anywhere (``adlab runs --db x.db``), not only before the command."""
    args, hoisted, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            args.extend(argv[i:])
            break
        if a == "--db" and i + 1 < len(argv):
            hoisted += [a, argv[i + 1]]
            i += 2
            continue
        if a.startswith("--db="):
            hoisted.append(a)
        else:
            args.append(a)
        i += 1
    return hoisted + args


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: user errors become one line on stderr and exit code 1."""
    try:
        app(args=hoist_db_option(sys.argv[1:] if argv is None else list(argv)), prog_name="adlab")
    except AdlabError as exc:
        err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last resort: one line unless debugging
        if debug():
            raise
        known = database_failure(exc)
        if known is not None:
            err_console.print(f"error: {known}", markup=False, soft_wrap=True)
            sys.exit(1)
        err_console.print(
            f"error: unexpected {type(exc).__name__}: {exc} (set ADLAB_DEBUG=1 for the traceback)",
            markup=False, soft_wrap=True,
        )
        sys.exit(1)
