"""Run an exported model over any list of images and write the seed's AD predictions JSON.

This is how the MMAD pipeline gets ``ad_info`` for the images it asks the LLM about: point
:func:`predict_images` at one bundle, or :func:`predict_with_run` at a finished run's output
folder, which routes each image to the bundle of its ``<Dataset>/<category>``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from adlab.errors import NotFoundError, PipelineError
from adlab.pipelines.components.infer import load_scorer, read_bundle_meta, score_paths
from adlab.pipelines.components.predictions import (UNSPECIFIED, Thresholds, prediction_record,
                                                    write_predictions)


def display_path(path: Path, relative_to: Path | None) -> str:
    """``<Dataset>/<category>/test/...`` when the image lies under ``relative_to``, else as given."""
    if relative_to is not None:
        try:
            return Path(path).resolve().relative_to(Path(relative_to).resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def predict_images(bundle_dir: Path, image_paths: Sequence[Path], *, out_path: Path | None = None,
                   thresholds: Thresholds | Path | None = None, relative_to: Path | None = None,
                   dataset: str | None = None, category: str | None = None, device: str = "cpu",
                   provider: str = "auto", decode_threads: int = 2) -> list[dict[str, Any]]:
    """Score ``image_paths`` with one exported bundle; returns (and optionally writes) records.

    Thresholds: the given thresholds file/object (its ``<Dataset>/<category>`` entry, else its
    global value), else the ones the training run stored in the bundle.
    """
    from adlab.data.imageio import image_size

    meta = read_bundle_meta(bundle_dir)
    dataset = dataset or meta.get("dataset_label") or meta.get("dataset") or "unknown"
    category = category or meta.get("category") or "unknown"
    key = f"{dataset}/{category}"
    if isinstance(thresholds, (str, Path)):
        thresholds = Thresholds.from_yaml(Path(thresholds))
    if thresholds is not None:
        image_t, pixel_t = thresholds.image(key), thresholds.pixel(key)
        source = thresholds.source
    elif "image_threshold" in meta:
        image_t = float(meta["image_threshold"])
        pixel_t = float(meta.get("pixel_threshold", image_t))
        source = str(meta.get("threshold_source", UNSPECIFIED))
    else:
        raise PipelineError(f"bundle {bundle_dir} has no stored thresholds; pass a thresholds "
                            f"YAML (the run's thresholds.yaml)")
    paths = [Path(p) for p in image_paths]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise NotFoundError(f"{len(missing)} image(s) do not exist, e.g. {missing[0]}")
    scorer = load_scorer(bundle_dir, device=device, provider=provider)
    scored = score_paths(scorer, paths, threads=decode_threads)
    records = [
        prediction_record(image_path=display_path(p, relative_to), score=float(scored.scores[i]),
                          threshold=image_t, pixel_threshold=pixel_t, anomaly_map=scored.maps[i],
                          original_hw=image_size(p), dataset=dataset, category=category,
                          model_type=str(meta.get("model_type", "unknown")),
                          threshold_source=source)
        for i, p in enumerate(paths)
    ]
    if out_path is not None:
        write_predictions(records, Path(out_path))
    return records


def run_bundles(run_dir: Path) -> dict[str, Path]:
    """``"<Dataset>/<category>" -> bundle folder`` for every category a run exported."""
    found: dict[str, Path] = {}
    for meta_file in sorted(Path(run_dir).glob("*/bundle/bundle.json")):
        meta = read_bundle_meta(meta_file.parent)
        found[f"{meta.get('dataset_label')}/{meta.get('category')}"] = meta_file.parent
    if not found:
        raise NotFoundError(f"{run_dir} holds no exported models (*/bundle/bundle.json); give the "
                            f"output folder of a finished anomalib run")
    return found


def predict_with_run(run_dir: Path, image_paths: Sequence[Path], *, data_root: Path,
                     out_path: Path | None = None, thresholds: Path | None = None,
                     device: str = "cpu", provider: str = "auto") -> list[dict[str, Any]]:
    """Images laid out as ``<data_root>/<Dataset>/<category>/...`` (MMAD) scored by the run's
    bundle for their category; records keep the input order."""
    bundles = run_bundles(run_dir)
    thresholds = thresholds or (Path(run_dir) / "thresholds.yaml")
    groups: dict[str, list[int]] = {}
    paths = [Path(p) for p in image_paths]
    for i, path in enumerate(paths):
        rel = Path(display_path(path, data_root))
        key = "/".join(rel.parts[:2])
        if key not in bundles:
            raise NotFoundError(f"no model for {key!r} (image {path}); the run has: "
                                f"{', '.join(sorted(bundles))}")
        groups.setdefault(key, []).append(i)
    records: list[dict[str, Any] | None] = [None] * len(paths)
    for key, indices in groups.items():
        dataset, category = key.split("/", 1)
        out = predict_images(bundles[key], [paths[i] for i in indices], relative_to=data_root,
                             thresholds=Path(thresholds) if Path(thresholds).is_file() else None,
                             dataset=dataset, category=category, device=device, provider=provider)
        for i, record in zip(indices, out):
            records[i] = record
    final = [r for r in records if r is not None]
    if out_path is not None:
        write_predictions(final, Path(out_path))
    return final


def index_by_image(records: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """``image_path -> record``, the seed's ``load_ad_predictions`` shape."""
    return {str(r["image_path"]): r for r in records}
