"""``adlab import FILE`` and ``adlab export --format csv|json``: results in and out of the lab.

Import reads the MLflow runs export CSV, adlab's JSON export and the seed runner's
``answers_*.meta.json`` files (formats and grouping: :mod:`adlab.interchange.importers`).
Export writes the same CSV and JSON layouts, so ``export`` then ``import`` round-trips: by
default it writes only finished runs (the ones import takes) and says how many it left out.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from adlab.cli._common import JsonOption, db_url, emit_json, info, out_console
from adlab.cli.compare_cmd import (NameOption, PipelineOption, StudyOption, WhereOption,
                                   build_filter, split_keys)


def _engine():  # noqa: ANN202
    from adlab.db.engine import get_engine

    return get_engine(db_url())


def import_command(
    files: List[Path] = typer.Argument(..., help="MLflow runs CSV, adlab JSON, answers_*.meta.json, or a folder of meta files."),
    fmt: Optional[str] = typer.Option(None, "--format", help="mlflow_csv, adlab_json or meta (default: from the file name)."),
    partition_keys: Optional[List[str]] = typer.Option(None, "--partition-keys", help="Parameters forming the evaluation partition (comma-separated; default: dataset/category/protocol-like keys)."),
    group_keys: Optional[List[str]] = typer.Option(None, "--group-keys", help="Declared group keys (comma-separated; default: every parameter except seed and name)."),
    study: Optional[str] = typer.Option(None, "--study", help="Put the imported runs in this study."),
    pipeline: Optional[str] = typer.Option(None, "--pipeline", help="Pipeline name for the imported runs (default: a pipeline tag/param, else `imported`)."),
    as_json: bool = JsonOption,
) -> None:
    """Import results made elsewhere as runs of this lab."""
    from adlab.interchange.importers import import_files

    results = import_files(_engine(), files, fmt=fmt,
                           partition_keys=split_keys(partition_keys) if partition_keys else None,
                           group_keys=split_keys(group_keys) or None, study=study,
                           pipeline=pipeline)  # every file checked before the first is written
    for result in results:
        info(f"{result.source}: imported {len(result.created)} run(s) ({result.format})"
             + (f", skipped {len(result.skipped)} already imported" if result.skipped else ""))
    if as_json:
        emit_json({"imports": [{"file": r.source, "format": r.format, "created": r.created,
                                "skipped": r.skipped} for r in results]})
        return
    for r in results:
        for run_id in r.created:
            out_console.print(str(run_id), markup=False)


def export_command(
    fmt: str = typer.Option("csv", "--format", help="csv (MLflow runs layout) or json (adlab)."),
    out: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write (default: stdout)."),
    study: Optional[str] = StudyOption,
    pipeline: Optional[str] = PipelineOption,
    status: Optional[List[str]] = typer.Option(
        None, "--status", help="Run status to include (repeatable; default: the finished ones, "
        "succeeded, failed and cancelled, which `adlab import` reads back; `all`)."),
    name: Optional[str] = NameOption,
    where: Optional[List[str]] = WhereOption,
    as_json: bool = JsonOption,
) -> None:
    """Write runs (params and run-level metrics) as MLflow-style CSV or adlab JSON."""
    import sys

    from adlab.interchange.exporters import export_runs, select_for_export

    engine = _engine()
    filters = build_filter(study=study, pipeline=pipeline, status=status, name=name, where=where,
                           default_status=())
    chosen = select_for_export(engine, filters, statuses_given=bool(status))
    text, n = export_runs(engine, out=out, fmt=fmt, filters=chosen.filters)
    if chosen.left_out:
        info(f"left out {chosen.left_out} unfinished (queued or running) run(s), which `adlab "
             "import` refuses; add --status all to export them too")
    if chosen.unfinished:
        info(f"warning: {chosen.unfinished} of the exported runs have not finished (queued or "
             "running); `adlab import` refuses a file holding them, so export without --status "
             "(finished runs only) for a file to import")
    if out is None:
        if as_json:
            info("--json with no --output: the export itself is printed")
        sys.stdout.write(text)
        return
    if as_json:
        emit_json({"file": str(out), "format": fmt, "runs": n,
                   "unfinished_left_out": chosen.left_out, "unfinished_written": chosen.unfinished})
    else:
        info(f"wrote {n} run(s) to {out}")


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
    app.command("export")(export_command)
