"""``adlab pipelines``: what can run, with each pipeline's parameters."""
from __future__ import annotations

import typer

from adlab.cli._common import JsonOption, emit_json, out_console


def pipelines_command(
    pattern: str = typer.Argument("*", help="Shell-style wildcard on the name."),
    as_json: bool = JsonOption,
) -> None:
    """List registered pipelines (built-in and plugins)."""
    from adlab.cli.shortcuts import shortcuts_help
    from adlab.pipelines import list_pipelines

    specs = list_pipelines(pattern)
    if as_json:
        emit_json([{"name": s.name, "description": s.description,
                    "partition_keys": list(s.partition_keys),
                    "headline_metric": s.headline_metric,
                    "shortcuts": {sc.flag: sc.path for sc in s.cli_shortcuts},
                    "params_schema": s.params_model.model_json_schema()} for s in specs])
        return
    for s in specs:
        out_console.print(f"[bold]{s.name}[/]  {s.description}")
        fields = ", ".join(s.params_model.model_fields)
        out_console.print(f"    params: {fields}", markup=False)
        for line in shortcuts_help(s.cli_shortcuts):
            out_console.print(f"    {line}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("pipelines")(pipelines_command)
