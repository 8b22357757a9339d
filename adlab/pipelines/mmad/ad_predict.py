"""The ``mmad_ad`` runner: AD predictions (the seed's predictions JSON) for exactly the images an
MMAD evaluation samples, written as the run's ``predictions`` artifact.

Per ``<Dataset>/<category>`` of the sampled images the model comes from, in order:
1. an exported anomalib bundle in ``checkpoints`` (``<dir>/<Dataset>/<category>/[bundle/]bundle.json``,
   or an anomalib run's output folder, whose bundles name their dataset and category), or the
   prerequisite anomalib run (``checkpoint_run``);
2. else a few-shot model fitted here on that category's normal templates listed in mmad.json
   (the union of ``similar_templates`` and ``random_templates``), through the anomalib
   pipeline's ``fit_normals`` service (its model factory and Engine fit) and the shared ONNX
   export. Its image threshold is ``fit.threshold_margin`` x the highest score of ``fit.holdout`` held-out normal templates
   (no anomalous labels are available to tune it), its pixel threshold the same over their maps.
Scoring always goes through onnxruntime (``components.predict.predict_images``), and a
``thresholds`` YAML, when given, overrides the bundles' thresholds. Finished categories are kept
in the partial-result store, so a re-claimed run resumes with the next category.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from adlab.core.vocabulary import ArtifactKind
from adlab.errors import NotFoundError, PipelineError
from adlab.pipelines.base import RunContext
from adlab.pipelines.mmad.ad_params import MmadAdParams
from adlab.pipelines.mmad.data import data_paths, folder_of, is_normal, load_mmad, select_images

STATE_PREFIX = "category:"


def find_bundles(folders: list[Path]) -> dict[str, Path]:
    """``"<Dataset>/<category>" -> bundle folder`` from checkpoint folders of either layout."""
    from adlab.pipelines.components.infer import read_bundle_meta

    found: dict[str, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            raise NotFoundError(f"ad checkpoints folder {folder} does not exist; give folders of "
                                f"exported models per <Dataset>/<category>/")
        for meta_file in sorted(folder.glob("**/bundle.json")):
            bundle = meta_file.parent
            rel = bundle.relative_to(folder).parts
            rel = rel[:-1] if rel and rel[-1] == "bundle" else rel
            if len(rel) >= 2:
                key = f"{rel[-2]}/{rel[-1]}"
            else:  # an anomalib run folder: <category>/bundle -> dataset from the bundle
                meta = read_bundle_meta(bundle)
                key = f"{meta.get('dataset_label') or meta.get('dataset')}/{meta.get('category')}"
            found.setdefault(key, bundle)
    return found


def category_templates(data: dict[str, Any], key: str) -> list[str]:
    """Every normal template path listed for the images of one ``<Dataset>/<category>``."""
    out: set[str] = set()
    for image, record in data.items():
        if "/".join(folder_of(image)[:2]) == key:
            out.update(record.get("similar_templates") or [])
            out.update(record.get("random_templates") or [])
    return sorted(out)


def _evenly(items: list[str], n: int) -> list[str]:
    if len(items) <= n:
        return list(items)
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


def fit_category(ctx: RunContext, p: MmadAdParams, data: dict[str, Any], root: Path, key: str) -> Path:
    """Fit ``p.ad_model`` on the category's normal templates, export it, set its thresholds."""
    from adlab.pipelines import get_pipeline
    from adlab.pipelines.components.export import export_bundle, update_bundle_meta
    from adlab.pipelines.components.infer import load_scorer, score_paths

    fit = p.fit
    dataset, category = key.split("/", 1)
    templates = _evenly(category_templates(data, key), fit.max_templates + fit.holdout)
    if len(templates) < fit.holdout + 1:
        raise PipelineError(f"{key}: mmad.json lists {len(templates)} normal template(s) for this "
                            f"category; fitting needs at least {fit.holdout + 1} (lower fit.holdout or "
                            f"give ad.checkpoints)")
    held = templates[len(templates) - fit.holdout:]
    train_paths = [root / t for t in templates[: len(templates) - fit.holdout]]
    missing = [str(t) for t in train_paths + [root / h for h in held] if not t.is_file()]
    if missing:
        raise NotFoundError(f"{key}: template image {missing[0]} does not exist; check data_root")
    workdir = ctx.output_dir / "models" / dataset / category
    fit_normals = get_pipeline("anomalib").service("fit_normals")
    fitted = fit_normals(ctx, train_paths, model=p.ad_model, model_params=fit.model_params,
                         weights=fit.weights, image_size=fit.image_size, batch_size=p.batch_size,
                         category=category, workdir=workdir, label=key)
    ctx.set_info("weights", fitted.weights)
    exported = export_bundle(fitted.module, workdir / "bundle", size_hw=fitted.size_hw,
                             batch_size=p.batch_size, memory_bank="in_graph",
                             model_type=fitted.model_type,
                             extra_meta={"dataset": dataset, "dataset_label": dataset,
                                         "category": category, "weights": fitted.weights,
                                         "fitted_on": [str(t) for t in templates[:-fit.holdout]]})
    scorer = load_scorer(exported.bundle_dir, device=ctx.device)
    scored = score_paths(scorer, [root / h for h in held])
    image_t = fit.threshold_margin * float(scored.scores.max())
    pixel_t = fit.threshold_margin * float(scored.maps.max())
    update_bundle_meta(exported.bundle_dir, image_threshold=image_t, pixel_threshold=pixel_t,
                       threshold_rule=f"{fit.threshold_margin:g} x max over {len(held)} held-out "
                                      f"normal template(s)")
    ctx.artifact(exported.files["bundle"], ArtifactKind.BUNDLE)
    ctx.log(f"{key}: fitted {fitted.model_type} on {len(train_paths)} normal template(s); threshold "
            f"{image_t:.4g} from {len(held)} held-out one(s)")
    return exported.bundle_dir


def _record_metrics(ctx: RunContext, records: list[dict[str, Any]]) -> None:
    from adlab.metrics import image_auroc

    groups: dict[str, list[dict[str, Any]]] = {"": records}
    for r in records:
        groups.setdefault(folder_of(r["image_path"])[0], []).append(r)
    for scope, recs in groups.items():
        labels = np.array([0 if is_normal(r["image_path"]) else 1 for r in recs])
        scores = np.array([float(r["anomaly_score"]) for r in recs])
        verdicts = np.array([1 if r["is_anomaly"] else 0 for r in recs])
        ctx.metric("verdict_accuracy", float((labels == verdicts).mean()), scope=scope)
        if labels.min() != labels.max():
            ctx.metric("image_auroc", float(image_auroc(scores, labels)), scope=scope)
    ctx.metric("images", float(len(records)))


def run(ctx: RunContext) -> None:
    from adlab.pipelines.components.predict import predict_images
    from adlab.pipelines.components.predictions import Thresholds, write_predictions

    p = ctx.params
    assert isinstance(p, MmadAdParams)
    root, json_path = data_paths(p.data_root, p.mmad_json)
    data = load_mmad(json_path)
    subset = select_images(data, per_folder=p.sample_per_folder, seed=p.sample_seed,
                           max_images=p.max_images)
    for line in subset.summary_lines():
        ctx.log(line)
    ctx.set_info("subset", {"sha256": subset.sha256, "images": len(subset.images),
                            "normal": subset.normal, "anomaly": subset.anomaly})
    folders = [Path(f).expanduser() for f in p.checkpoint_dirs()]
    folders += [i.output_dir for i in ctx.inputs if i.output_dir is not None]
    bundles = find_bundles(folders) if folders else {}
    thresholds = Thresholds.from_yaml(Path(p.thresholds).expanduser()) if p.thresholds else None
    groups: dict[str, list[str]] = {}
    for image in subset.images:
        groups.setdefault("/".join(folder_of(image)[:2]), []).append(image)
    records_by_image: dict[str, dict[str, Any]] = {}
    for n, (key, images) in enumerate(sorted(groups.items())):
        ctx.check_cancelled()
        saved = ctx.state.get(STATE_PREFIX + key)
        if saved is not None:
            records_by_image.update({r["image_path"]: r for r in saved})
            continue
        bundle = bundles.get(key)
        source = "checkpoint" if bundle is not None else "few-shot fit"
        if bundle is None:
            bundle = fit_category(ctx, p, data, root, key)
        dataset, category = key.split("/", 1)
        recs = predict_images(bundle, [root / i for i in images], relative_to=root,
                              thresholds=thresholds, dataset=dataset, category=category,
                              device=ctx.device)
        for image, rec in zip(images, recs):
            rec["image_path"] = image  # exactly the MMAD key, whatever the folder resolution
            rec.setdefault("metadata", {})["model_type"] = p.ad_model
        ctx.state.put(STATE_PREFIX + key, recs)
        records_by_image.update({r["image_path"]: r for r in recs})
        ctx.log(f"{key}: scored {len(images)} image(s) ({source})")
        ctx.progress(n + 1, len(groups))
    records = [records_by_image[i] for i in subset.images]
    ctx.artifact(write_predictions(records, ctx.output_dir / "predictions.json"),
                 ArtifactKind.PREDICTIONS)
    (ctx.output_dir / "sampled_mmad.json").write_text(json.dumps(subset.images, indent=1))
    _record_metrics(ctx, records)
