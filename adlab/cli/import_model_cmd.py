"""``adlab import-model DIR``: trained anomalib checkpoints (seed 000's
``checkpoints/patchcore_224/<Dataset>/<category>/model.pt`` with its ``config.yaml`` and
``thresholds.yaml``) become one queued ``anomalib_import`` run; a worker exports each to ONNX
once, and MMAD runs take it as their AD model with ``ad.checkpoint_run: <id>``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from adlab.cli._common import JsonOption, db_url, emit_json, info, out_console


def import_model_command(
    checkpoints: Path = typer.Argument(..., help="Folder holding <Dataset>/<category>/model.pt."),
    config: Optional[Path] = typer.Option(None, "--config", help="The seed's config.yaml (which categories)."),
    thresholds: Optional[Path] = typer.Option(None, "--thresholds", help="The seed's thresholds.yaml."),
    model: str = typer.Option("patchcore", "--model", help="anomalib model the checkpoints hold."),
    image_size: int = typer.Option(224, "--image-size", help="Exported input size (square)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Images for the parity check."),
    weights: Optional[Path] = typer.Option(
        None, "--weights", help="Backbone state dict for the seed's standalone PatchCore model.pt."),
    as_json: bool = JsonOption,
) -> None:
    """Queue the import of trained checkpoints as one AD run (exported to ONNX by a worker)."""
    from adlab.config.loader import build_run_specs
    from adlab.db.engine import get_engine
    from adlab.queue import enqueue

    raw = {"pipeline": "anomalib_import", "checkpoints": str(checkpoints.resolve()),
           "model": model, "image_size": image_size}
    for key, value in (("config", config), ("thresholds", thresholds), ("data_root", data_root),
                       ("weights", weights)):
        if value is not None:
            raw[key] = str(value.resolve())
    specs = build_run_specs(raw, source=f"import-model {checkpoints}")
    # validate the tree now, so a wrong folder fails here and not in the worker
    from adlab.pipelines.anomalib.checkpoint_import import find_checkpoints, wanted_categories

    found = find_checkpoints(checkpoints, wanted_categories(config))
    result = enqueue(get_engine(db_url()), specs)
    if as_json:
        emit_json({"created": result.created, "skipped": result.skipped,
                   "categories": [f"{d}/{c}" for d, c, _ in found]})
        return
    for s in result.skipped:
        info(f"skipped: identical import already {s['status']} as run {s['existing_run']}")
    for run_id in result.created:
        out_console.print(f"{run_id}\t{result.names[run_id]}")
    info(f"{len(found)} checkpoint(s); start a worker with `adlab worker`, then use the run "
         "in MMAD with ad.checkpoint_run: <id>")


def register(app: typer.Typer) -> None:
    app.command("import-model")(import_model_command)
