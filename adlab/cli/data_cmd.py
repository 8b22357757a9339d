"""``adlab data synth|list|datasets``: generate synthetic data and check a data root."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from adlab.cli._common import JsonOption, emit_json, info, out_console

data_app = typer.Typer(help="Datasets: generate synthetic data, list what a data root holds.",
                       no_args_is_help=True)


@data_app.command("synth")
def synth_command(
    out: Path = typer.Argument(..., help="Output folder (MVTec AD layout is written inside)."),
    n_categories: Optional[int] = typer.Option(None, "--categories", help="Number of categories (first N). Default 2."),
    category: Optional[list[str]] = typer.Option(None, "--category", help="Category by name (repeatable)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives byte-identical files."),
    image_size: int = typer.Option(128, "--image-size", help="Image side in pixels."),
    n_train: int = typer.Option(20, "--train", help="Normal training images per category."),
    n_test_good: int = typer.Option(8, "--test-good", help="Normal test images per category."),
    n_test_defect: int = typer.Option(12, "--test-defect", help="Defective test images per category."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace these categories in a non-empty folder."),
    as_json: bool = JsonOption,
) -> None:
    """Write a synthetic anomaly-detection dataset (textures and an object with small defects)."""
    from adlab.data.synth import SYNTH_CATEGORIES, generate_synthetic

    if n_categories is not None and category:
        raise typer.BadParameter("give either --categories N or --category NAME, not both", param_hint="--category")
    categories = list(category) if category else (n_categories if n_categories is not None else 2)
    summary = generate_synthetic(out, categories=categories, seed=seed, image_size=image_size, n_train=n_train,
                                 n_test_good=n_test_good, n_test_defect=n_test_defect, overwrite=overwrite)
    if as_json:
        emit_json({**summary.__dict__, "root": str(summary.root.resolve()), "image_size": image_size, "seed": seed,
                   "available_categories": list(SYNTH_CATEGORIES)})
        return
    for name in summary.categories:
        out_console.print(f"{name}: {summary.n_train} train, {summary.n_test_good} good test, "
                          f"{summary.n_test_defect} defective test ({', '.join(summary.defect_types[name])})",
                          markup=False)
    info(f"wrote {summary.root} (read it with --dataset synthetic)")


@data_app.command("list")
def list_command(
    root: Path = typer.Argument(..., help="Dataset root folder."),
    dataset: str = typer.Option("mvtec_ad", "--dataset", help="Layout name (see `adlab data datasets`)."),
    category: Optional[list[str]] = typer.Option(None, "--category", help="Only these categories (repeatable)."),
    normal_dir: Optional[str] = typer.Option(None, "--normal-dir", help="folder layout: normal images folder."),
    abnormal_dir: Optional[str] = typer.Option(None, "--abnormal-dir", help="folder layout: anomalous images."),
    mask_dir: Optional[str] = typer.Option(None, "--mask-dir", help="folder layout: masks folder."),
    normal_test_dir: Optional[str] = typer.Option(None, "--normal-test-dir", help="folder layout: normal test images."),
    as_json: bool = JsonOption,
) -> None:
    """Categories under ROOT with train/val/test counts; categories that fail to read are listed
    with the reason and make the command exit 1."""
    from adlab.data import load_category, resolve_categories
    from adlab.errors import AdlabError

    options = {"normal_dir": normal_dir, "abnormal_dir": abnormal_dir, "mask_dir": mask_dir,
               "normal_test_dir": normal_test_dir}
    names = resolve_categories(dataset, root, category or None, **options)
    rows: list[dict] = []
    for name in names:
        try:
            rows.append({"category": name, **load_category(dataset, root, name, **options).counts(), "error": None})
        except AdlabError as exc:
            rows.append({"category": name, "error": str(exc)})
    failed = [r for r in rows if r["error"]]
    if as_json:
        emit_json({"dataset": dataset, "root": str(root), "categories": rows, "ok": not failed})
    else:
        for r in rows:
            if r["error"]:
                out_console.print(f"{r['category']:24} ERROR {r['error']}", markup=False)
                continue
            defects = ", ".join(f"{k} {v}" for k, v in r["defect_types"].items()) or "-"
            val = f" val {r['val']:4}" if r["val"] else ""
            out_console.print(f"{r['category']:24} train {r['train']:5}{val}  test good {r['test_good']:4}  "
                              f"anomalous {r['test_anomalous']:4}  ({defects})", markup=False)
    if failed:
        info(f"{len(failed)} of {len(rows)} categories could not be read")
        raise typer.Exit(1)


@data_app.command("datasets")
def datasets_command(as_json: bool = JsonOption) -> None:
    """Dataset layouts adlab reads, with the folder names looked for under ADLAB_DATA_ROOT."""
    from adlab.data import LAYOUTS

    if as_json:
        emit_json([{"name": lay.name, "description": lay.description,
                    "folder_names": list(lay.folder_names), "options": list(lay.options)}
                   for lay in LAYOUTS.values()])
        return
    for layout in LAYOUTS.values():
        out_console.print(f"{layout.name:12} {layout.description}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
