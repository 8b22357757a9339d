"""``adlab queue``, ``runs``, ``show``, ``cancel``, ``retry``, ``delete``, ``logs``."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, List, Optional

import typer

from adlab.cli._common import JsonOption, db_url, emit_json, info, out_console


def _engine():  # noqa: ANN202
    from adlab.db.engine import get_engine

    return get_engine(db_url())


def queue_command(
    args: Optional[List[str]] = typer.Argument(
        None, metavar="CONFIG",
        help="Study YAML (or JSON) file, then any pipeline shortcut flags."),
    config_opt: Optional[Path] = typer.Option(None, "--config", help="Same as the argument."),
    set_: List[str] = typer.Option([], "--set", help="Override a field: --set train.max_epochs=3"),
    pipeline: Optional[str] = typer.Option(None, "--pipeline", help="Override `pipeline:`."),
    group: Optional[str] = typer.Option(None, "--group-keys", help="Comma-separated group keys."),
    repeat: bool = typer.Option(False, "--repeat", help="Queue even if an identical config already succeeded."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the runs without queueing them."),
    no_data_check: bool = typer.Option(
        False, "--no-data-check",
        help="Do not check the runs' datasets here (layout, categories, mask sizes) before queueing."),
    max_runs: Optional[int] = typer.Option(
        None, "--max-runs", min=1,
        help="Refuse a study of more runs than this (default: $ADLAB_MAX_RUNS, else 10000)."),
    as_json: bool = JsonOption,
) -> None:
    """Expand a study file (conditions x grid) into runs and queue them.

    Pipelines declare shortcut flags for their common fields (e.g. `--few-shot 2`, a switch
    `--batch-mode/--no-batch-mode`); `adlab pipelines` lists them per pipeline.
    """
    from adlab.cli.shortcuts import declared_shortcuts, split_shortcut_args
    from adlab.config.loader import load_run_specs
    from adlab.config.overrides import parse_set_option
    from adlab.errors import ConfigError
    from adlab.queue import enqueue

    tokens = list(args or [])
    positionals, shortcuts = split_shortcut_args(
        tokens, declared_shortcuts() if any(t.startswith("--") for t in tokens) else [])
    if len(positionals) > 1:
        raise ConfigError(f"adlab queue takes one config file, got {len(positionals)} "
                          f"({', '.join(positionals)}); queue several files one after another")
    path = Path(positionals[0]) if positionals else config_opt
    if path is None:
        raise ConfigError("no config file given; usage: adlab queue CONFIG.yaml [--set key=value]")
    specs = load_run_specs(
        path, sets=[parse_set_option(s) for s in set_], shortcut_values=shortcuts,
        pipeline_override=pipeline,
        group_keys_override=[k.strip() for k in group.split(",") if k.strip()] if group else None,
        max_runs=max_runs,
    )
    for s in specs:  # how fields in another spelling (seed 002's JSON) were read
        for note in s.info.get("config_notes", []):
            info(f"{s.name}: {note}")
    data_warnings: list[str] = []
    if not no_data_check:
        from adlab.config.data_check import check_run_data

        data_warnings = check_run_data(specs, source=str(path))
        for warning in data_warnings:
            info(f"warning: {warning}")
    result = enqueue(_engine(), specs, repeat=repeat, dry_run=dry_run)
    skipped_names = {s["name"] for s in result.skipped}
    planned = [s for s in specs if s.name not in skipped_names]
    if as_json:
        emit_json({
            "created": result.created,
            "skipped": result.skipped,
            "dry_run": dry_run,
            "data_warnings": data_warnings,
            "runs": [{"name": s.name, "pipeline": s.pipeline, "config_hash": s.config_hash,
                      "group_hash": s.group_hash, "params": s.flat,
                      "notes": s.info.get("config_notes", [])} for s in planned],
        })
        return
    for s in result.skipped:
        info(f"skipped {s['name']}: identical config already {s['status']} as run {s['existing_run']} "
             "(use --repeat to queue it again)")
    if dry_run:
        for s in planned:
            out_console.print(f"would queue {s.name} ({s.pipeline})")
        return
    for run_id in result.created:
        out_console.print(f"{run_id}\t{result.names[run_id]}")
    info(f"queued {len(result.created)} run(s); start a worker with `adlab worker`")


def runs_command(
    status: Optional[str] = typer.Option(None, "--status", help="queued, running, succeeded, failed, cancelled (comma-separated)."),
    pipeline: Optional[str] = typer.Option(None, "--pipeline"),
    study: Optional[str] = typer.Option(None, "--study"),
    limit: Optional[int] = typer.Option(None, "--limit"),
    where: Optional[List[str]] = typer.Option(None, "--where", help="Parameter filter by meaning, e.g. --where data.dataset=visa (repeatable), as in compare."),
    as_json: bool = JsonOption,
) -> None:
    """List runs."""
    from rich.table import Table

    from adlab.cli.compare_cmd import build_filter
    from adlab.db.queries import list_runs

    statuses = [s.strip() for s in status.split(",") if s.strip()] if status else None
    filters = build_filter(study=study, pipeline=pipeline, status=statuses, name=None, where=where,
                           default_status=())
    runs = list_runs(_engine(), filters=filters, limit=limit)
    if as_json:
        emit_json([r.__dict__ for r in runs])
        return
    table = Table("id", "name", "pipeline", "status", "progress", "metric", "worker", "error")
    colors = {"succeeded": "green", "failed": "red", "running": "yellow", "cancelled": "magenta"}
    for r in runs:
        prog = f"{r.progress_done}/{r.progress_total}" if r.progress_total else ""
        metric = f"{r.headline_metric}={r.headline_value:.4f}" if r.headline_value is not None else ""
        table.add_row(str(r.id), r.name, r.pipeline, f"[{colors.get(r.status, 'white')}]{r.status}[/]",
                      prog, metric, r.worker or "", (r.error or "")[:60])
    out_console.print(table)


def show_command(run_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Everything about one run: config, params, provenance, metrics, artifacts."""
    from adlab.db.queries import run_detail

    detail = run_detail(_engine(), run_id=run_id)
    if as_json:
        emit_json(detail)
        return
    for key in ("id", "name", "pipeline", "status", "attempt", "worker", "device", "created_at",
                "started_at", "finished_at", "git_commit", "git_dirty", "seed", "output_dir", "error"):
        out_console.print(f"{key:12} {detail.get(key)}", markup=False)
    out_console.print("params:")
    for k, v in detail["params"].items():
        out_console.print(f"  {k} = {v}", markup=False)
    if detail["metrics"]:
        out_console.print("metrics:")
        for m in detail["metrics"]:
            scope = f"[{m['scope']}]" if m["scope"] else ""
            out_console.print(f"  {m['key']}{scope} = {m['value']}", markup=False)
    if detail["artifacts"]:
        out_console.print("artifacts:")
        for a in detail["artifacts"]:
            out_console.print(f"  {a['kind']}: {a['path']} ({a['bytes']} bytes)", markup=False)


def _each_id(run_ids: List[int], action: Callable[[int], str], *, as_json: bool) -> None:
    """Apply ``action`` to every id and report each one: what was done (stdout), or why not
    (one ``error:`` line per id on stderr); exit 1 if any id was refused. A missing id in the
    middle must not hide what was done to the others."""
    from adlab.errors import AdlabError

    done: dict[int, str] = {}
    refused: dict[int, str] = {}
    for rid in dict.fromkeys(run_ids):
        try:
            done[rid] = action(rid)
        except AdlabError as exc:
            refused[rid] = str(exc)
    if as_json:
        emit_json({**done, **{rid: {"error": why} for rid, why in refused.items()}})
    else:
        for rid, what in done.items():
            out_console.print(f"run {rid}: {what}", markup=False)
    for why in refused.values():
        info(f"error: {why}")
    if refused:
        raise typer.Exit(1)


def cancel_command(run_ids: List[int] = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Cancel queued runs now; ask running runs' workers to stop them; cancel at once a run
    whose worker is dead. Each id is reported (done, or why not); exit 1 if any was refused."""
    from adlab.queue import cancel

    engine = _engine()
    _each_id(run_ids, lambda rid: cancel(engine, rid), as_json=as_json)


def retry_command(run_ids: List[int] = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Re-queue failed or cancelled runs. Each id is reported; exit 1 if any was refused."""
    from adlab.queue import retry

    engine = _engine()
    _each_id(run_ids, lambda rid: retry(engine, rid), as_json=as_json)


def delete_command(run_ids: List[int] = typer.Argument(...),
                   yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
                   as_json: bool = JsonOption) -> None:
    """Delete runs and everything recorded for them. Each id is reported; exit 1 if any was
    refused (missing, or running)."""
    from adlab.queue import delete_run

    if not yes:
        typer.confirm(f"delete run(s) {', '.join(map(str, run_ids))} and their records?", abort=True)
    engine = _engine()

    def delete(rid: int) -> str:
        delete_run(engine, rid)
        return "deleted"

    _each_id(run_ids, delete, as_json=as_json)


def logs_command(
    run_id: int = typer.Argument(...),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the run ends."),
    as_json: bool = JsonOption,
) -> None:
    """Print a run's log (pipeline messages and lab events)."""
    from adlab.db.models import FINISHED_STATUSES
    from adlab.db.queries import get_run, run_events

    engine = _engine()
    get_run(engine, run_id=run_id)
    events = run_events(engine, run_id=run_id)
    if as_json:
        emit_json(events)
        return
    last = 0
    while True:
        for e in events:
            out_console.print(f"{e['ts']:%H:%M:%S} {e['level']:7} {e['source']:>10}  {e['message']}",
                              markup=False, highlight=False)
            last = e["id"]
        if not follow or get_run(engine, run_id=run_id).status in FINISHED_STATUSES:
            if follow:  # print whatever arrived with the final status
                for e in run_events(engine, run_id=run_id, after_id=last):
                    out_console.print(f"{e['ts']:%H:%M:%S} {e['level']:7} {e['source']:>10}  {e['message']}",
                                      markup=False, highlight=False)
            return
        time.sleep(0.5)
        events = run_events(engine, run_id=run_id, after_id=last)


def register(app: typer.Typer) -> None:
    # Unknown options reach ``args``: the pipelines' shortcut flags (adlab.cli.shortcuts).
    app.command("queue", context_settings={"ignore_unknown_options": True})(queue_command)
    app.command("runs")(runs_command)
    app.command("show")(show_command)
    app.command("cancel")(cancel_command)
    app.command("retry")(retry_command)
    app.command("delete")(delete_command)
    app.command("logs")(logs_command)
