"""``adlab metrics``: evaluate any method's anomaly maps with the official metric definitions.

    adlab metrics FILE.npz [--fpr-limit L] [--json]
    adlab metrics --maps-dir DIR --dataset-root ROOT [--category C ...] [--json]
    adlab metrics --loco --maps-dir DIR --dataset-root ROOT [--category C ...]
                  [--spro-limit L ...] [--json]

The .npz holds ``anomaly_maps`` (N,H,W), ``masks`` (N,H,W, 0/1), optionally ``scores`` (N,)
(default: each map's maximum), ``labels`` (N,) (default: the mask has a defect pixel) and
``categories`` (N,) strings, which switch to per-category results plus their mean. With
``--maps-dir`` the maps are TIFFs in the official MVTec AD evaluation layout
(``<category>/test/<defect>/<name>.tiff``) beside an MVTec-layout dataset, evaluated per
category plus the mean. Maps of another size than their mask are resized bilinearly to it.

``--loco`` evaluates the same map layout beside an MVTec LOCO AD dataset as the official LOCO
script does (:mod:`adlab.cli.metrics_loco`, :mod:`adlab.metrics.loco_eval`): AU-sPRO at each ``--spro-limit`` (default 0.01,
0.05, 0.1, 0.3, 1.0) for logical and for structural anomalies (each with the good images) and
their mean (``spro@<limit>``, ``spro_logical@<limit>``, ``spro_structural@<limit>``), and image
AUROC (map maximum) of logical, structural and all anomalies against the good images plus the
logical/structural mean (``auroc_logical``, ``auroc_structural``, ``auroc_all``,
``auroc_mean``). Saturation areas come from each category's ``defects_config.json``.

With ``--json`` the metric keys (the seven, or the LOCO keys above) are at top level (the
category mean when there are categories), null when undefined, with the reasons under
``undefined``; per-category reports sit under ``per_category``. NumPy/SciPy are imported only
when the command runs; torch only when a GPU is used.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import typer

from adlab.cli._common import JsonOption, emit_json, info, out_console


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def _print_single(report: Any) -> None:
    for key, value in report.values.items():
        label = f"{key} (FPR <= {report.fpr_limit:g})" if key == "aupro" else key
        out_console.print(f"{label:<24}{_fmt(value)}", markup=False)
    out_console.print(f"{report.n_images} images ({report.n_anomalous} anomalous), "
                      f"{report.n_pixels:,} pixels", markup=False)
    for key, reason in report.undefined.items():
        out_console.print(f"{key}: {reason}", markup=False)


def _print_table(reports: dict[str, Any]) -> None:
    from rich.table import Table

    keys = list(next(iter(reports.values())).values)
    table = Table(show_edge=False)
    table.add_column("category")
    for key in keys:
        table.add_column(key, justify="right")
    for name, report in reports.items():
        table.add_row(name, *(_fmt(report.values[k]) for k in keys))
    out_console.print(table)
    for name, report in reports.items():
        for key, reason in {**report.undefined, **report.notes}.items():
            out_console.print(f"{name} {key}: {reason}", markup=False)


def _print_loco_table(reports: dict[str, Any]) -> None:
    """One row per metric and one column per category: the LOCO keys are many."""
    from rich.table import Table

    table = Table(show_edge=False)
    table.add_column("metric")
    for name in reports:
        table.add_column(name, justify="right")
    for key in reports["mean"].values:
        table.add_row(key, *(_fmt(r.values[key]) for r in reports.values()))
    out_console.print(table)
    for name, report in reports.items():
        for key, reason in {**report.undefined, **report.notes}.items():
            out_console.print(f"{name} {key}: {reason}", markup=False)


def _check_folders(maps_dir: Optional[Path], dataset_root: Optional[Path]) -> None:
    """Both folders exist, before anything is read or announced."""
    from adlab.errors import AdlabError

    for option, folder, holds in (
            ("--maps-dir", maps_dir, "the anomaly maps as <category>/test/<defect>/<name>.tiff"),
            ("--dataset-root", dataset_root, "the dataset's <category>/ folders")):
        if folder is not None and not folder.is_dir():
            state = "is not a folder" if folder.exists() else "does not exist"
            raise AdlabError(f"{option} {folder} {state}; give the folder holding {holds}")


def _check_loco_options(loco: bool, maps_dir: Optional[Path], spro_limit: Optional[list[float]],
                        fpr_limit: float) -> None:
    if loco and maps_dir is None:
        raise typer.BadParameter(
            "--loco needs --maps-dir DIR --dataset-root ROOT (an MVTec LOCO AD dataset).")
    if loco and fpr_limit != 0.3:
        raise typer.BadParameter("--fpr-limit is for AU-PRO; with --loco use --spro-limit.")
    if spro_limit and not loco:
        raise typer.BadParameter("--spro-limit applies to --loco only (AU-PRO uses --fpr-limit).")
    for limit in spro_limit or ():
        if not 0.0 < limit <= 1.0:
            raise typer.BadParameter(f"--spro-limit must lie in (0, 1], got {limit:g}.")


def _per_category_json(reports: dict[str, Any]) -> dict[str, Any]:
    mean = reports["mean"]
    out = mean.to_dict()
    out["per_category"] = {n: r.to_dict() for n, r in reports.items() if n != "mean"}
    return out


def _split_categories(npz: Any) -> dict[str, tuple]:
    import numpy as np

    names = np.asarray(npz.categories).astype(str)
    groups: dict[str, tuple] = {}
    for name in dict.fromkeys(names.tolist()):
        idx = np.flatnonzero(names == name)
        groups[name] = (npz.anomaly_maps[idx], npz.masks[idx],
                        None if npz.scores is None else npz.scores[idx],
                        None if npz.labels is None else npz.labels[idx])
    return groups


def metrics_command(
    file: Optional[Path] = typer.Argument(
        None, help="An .npz with anomaly_maps (N,H,W), masks (N,H,W) and optional scores, "
                   "labels, categories."),
    fpr_limit: float = typer.Option(0.3, "--fpr-limit", help="FPR limit of AU-PRO, in (0, 1]."),
    maps_dir: Optional[Path] = typer.Option(
        None, "--maps-dir", help="Anomaly maps as <category>/test/<defect>/<name>.tiff."),
    dataset_root: Optional[Path] = typer.Option(
        None, "--dataset-root",
        help="MVTec-layout (or MVTec LOCO AD) dataset root (test images, ground_truth)."),
    category: Optional[list[str]] = typer.Option(
        None, "--category", metavar="NAME",
        help="Evaluate only this category (repeatable; with --maps-dir)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    loco: bool = typer.Option(
        False, "--loco", help="MVTec LOCO AD: AU-sPRO and per-type image AUROC (with --maps-dir)."),
    spro_limit: Optional[list[float]] = typer.Option(
        None, "--spro-limit", metavar="L",
        help="FPR limit of AU-sPRO (repeatable; default 0.01 0.05 0.1 0.3 1.0; with --loco)."),
    as_json: bool = JsonOption,
) -> None:
    """Image/pixel AUROC, AU-PRO, F1-max and AP (or, with --loco, AU-sPRO and per-type AUROC),
    exactly as the official evaluations define them."""
    if (file is None) == (maps_dir is None):
        raise typer.BadParameter("give either FILE.npz or --maps-dir DIR --dataset-root ROOT.")
    if maps_dir is not None and dataset_root is None:
        raise typer.BadParameter("--maps-dir needs --dataset-root (the MVTec-layout dataset).")
    if category and maps_dir is None:
        raise typer.BadParameter("--category applies to --maps-dir only.")
    _check_loco_options(loco, maps_dir, spro_limit, fpr_limit)
    _check_folders(maps_dir, dataset_root)

    if loco:
        from adlab.cli.metrics_loco import evaluate_loco
        from adlab.metrics.loco_eval import OFFICIAL_SPRO_LIMITS

        info(f"reading anomaly maps from {maps_dir} (MVTec LOCO AD) ...")
        loco_reports = evaluate_loco(maps_dir, dataset_root, category or None,
                                     spro_limit or OFFICIAL_SPRO_LIMITS)
        if as_json:
            emit_json(_per_category_json(loco_reports))
        else:
            _print_loco_table(loco_reports)
        return

    from adlab.metrics import evaluate, evaluate_per_category

    if file is not None:
        from adlab.metrics.files import load_npz

        data = load_npz(file)
        if data.categories is not None:
            reports = evaluate_per_category(_split_categories(data), fpr_limit=fpr_limit,
                                            device=device)
        else:
            report = evaluate(data.anomaly_maps, data.masks, data.scores, data.labels,
                              fpr_limit=fpr_limit, device=device)
            if as_json:
                emit_json(report.to_dict())
            else:
                _print_single(report)
            return
    else:
        from adlab.metrics.files import load_official_layout

        info(f"reading anomaly maps from {maps_dir} ...")
        per_category = load_official_layout(maps_dir, dataset_root, category or None)
        reports = evaluate_per_category(per_category, fpr_limit=fpr_limit, device=device)
    if as_json:
        emit_json(_per_category_json(reports))
    else:
        _print_table(reports)


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics_command)
