"""The ``anomalib_import`` runner: seed 000's per-category checkpoints -> ONNX bundles, once.

Per ``<Dataset>/<category>/model.pt`` (or ``.ckpt``) under ``checkpoints``:
1. load the model as it was saved: a Lightning checkpoint (anomalib's Engine /
   ``ModelCheckpoint``, a dict with ``state_dict`` and ``hyper_parameters``) through the model
   class's ``load_from_checkpoint``, a whole module saved with ``torch.save(model)``, or the
   seed's own ``patchcore_training`` dict (memory bank + backbone name; the backbone's weights
   from ``weights``, see :mod:`adlab.pipelines.anomalib.standalone_patchcore`);
2. export it with the shared ONNX export (:mod:`adlab.pipelines.components.export`) to
   ``<output>/<Dataset>/<category>/bundle`` and check parity with the torch model;
3. put the category's threshold from the seed's ``thresholds.yaml`` (else its ``global``) into
   the bundle, so ``mmad_ad`` (``ad.checkpoint_run: <this run>``) reads verdicts in the seed's
   units.
Metrics are scoped ``<Dataset>/<category>``: ``image_threshold``, ``export_s``, the parity.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from adlab.core.vocabulary import ArtifactKind
from adlab.core.yaml_safety import read_yaml_file
from adlab.errors import ConfigError, NotFoundError, PipelineError
from adlab.pipelines.anomalib.checkpoint_params import AnomalibImportParams
from adlab.pipelines.base import RunContext

CHECKPOINT_NAMES = ("model.pt", "model.ckpt")
THRESHOLD_SOURCE = "imported thresholds.yaml"


def wanted_categories(config: Path | None) -> set[str] | None:
    """``{"<Dataset>/<category>"}`` from the seed's config.yaml ``data.datasets``; None: all."""
    if config is None:
        return None
    if not config.is_file():
        raise NotFoundError(f"config {config} does not exist; give the seed's config.yaml or omit it")
    doc = read_yaml_file(config, "config", ConfigError) or {}
    datasets = (doc.get("data") or {}).get("datasets") if isinstance(doc, dict) else None
    if datasets is None:
        return None
    if not isinstance(datasets, dict):
        raise ConfigError(f"{config}: data.datasets must map <Dataset> to a list of categories")
    return {f"{d}/{c}" for d, cats in datasets.items() for c in (cats or [])}


def find_checkpoints(root: Path, wanted: set[str] | None) -> list[tuple[str, str, Path]]:
    """``(dataset, category, file)`` for each ``<Dataset>/<category>/model.pt|ckpt``."""
    if not root.is_dir():
        raise NotFoundError(f"checkpoints folder {root} does not exist; give the folder holding "
                            f"<Dataset>/<category>/model.pt")
    found = []
    for dataset_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for category_dir in sorted(p for p in dataset_dir.iterdir() if p.is_dir()):
            file = next((category_dir / n for n in CHECKPOINT_NAMES if (category_dir / n).is_file()), None)
            key = f"{dataset_dir.name}/{category_dir.name}"
            if file is not None and (wanted is None or key in wanted):
                found.append((dataset_dir.name, category_dir.name, file))
    if not found:
        raise NotFoundError(f"no <Dataset>/<category>/model.pt under {root}"
                            + (f" for the categories of config.yaml ({', '.join(sorted(wanted))})"
                               if wanted else ""))
    if wanted:
        missing = sorted(wanted - {f"{d}/{c}" for d, c, _ in found})
        if missing:
            raise NotFoundError(f"config.yaml lists {missing[0]} but {root}/{missing[0]}/model.pt "
                                f"does not exist")
    return found


def load_model(path: Path, model: str, weights: Path | None = None) -> Any:
    """The module in ``path`` (eval mode, CPU): an anomalib model, or the seed's standalone
    PatchCore dict (its backbone from ``weights``); anything else is one sentence."""
    import anomalib.models as models
    import torch

    from adlab.pipelines.anomalib.model_params import resolve_model
    from adlab.pipelines.anomalib.standalone_patchcore import build_seed_patchcore, is_seed_checkpoint

    cls = getattr(models, resolve_model(model).class_name)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise PipelineError(f"{path} is not a torch file ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, cls):
        module = obj
    elif isinstance(obj, dict) and "state_dict" in obj and "hyper_parameters" in obj:
        module = cls.load_from_checkpoint(str(path), map_location="cpu")
    elif is_seed_checkpoint(obj):
        return build_seed_patchcore(obj, path, weights)
    else:
        kind = type(obj).__name__ + (f" with keys {', '.join(sorted(map(str, obj))[:6])}"
                                     if isinstance(obj, dict) else "")
        raise PipelineError(f"{path} holds a {kind}, not an anomalib {cls.__name__} (a Lightning "
                            f"checkpoint or a module saved with torch.save); check model:")
    return module.eval().cpu()


def parity_images(p: AnomalibImportParams, dataset: str, category: str) -> np.ndarray:
    """Test images of the category when ``data_root`` has them, else seeded uniform noise."""
    from adlab.data.types import list_images
    from adlab.pipelines.components.infer import decode

    h, w = p.size_hw
    if p.data_root:
        base = Path(p.data_root).expanduser() / dataset / category / "test"
        paths = sorted(x for d in ([base] + sorted(base.glob("*"))) for x in list_images(d))
        if paths:
            idx = np.linspace(0, len(paths) - 1, min(p.parity_samples, len(paths))).round().astype(int)
            return decode([paths[i] for i in sorted(set(idx.tolist()))], (h, w))
    rng = np.random.default_rng(0)
    return rng.random((p.parity_samples, 3, h, w), dtype=np.float32)


def run(ctx: RunContext) -> None:
    from adlab.pipelines.components.export import (export_bundle, parity_errors,
                                                  update_bundle_meta)
    from adlab.pipelines.components.infer import load_scorer
    from adlab.pipelines.components.predictions import Thresholds

    p = ctx.params
    assert isinstance(p, AnomalibImportParams)
    root = Path(p.checkpoints).expanduser()
    found = find_checkpoints(root, wanted_categories(Path(p.config).expanduser() if p.config else None))
    seed_t = Thresholds.from_yaml(Path(p.thresholds).expanduser()) if p.thresholds else None
    ctx.set_info("imported_from", str(root))
    ctx.set_info("categories", [f"{d}/{c}" for d, c, _ in found])
    chosen: dict[str, float] = {}
    for n, (dataset, category, file) in enumerate(found):
        ctx.check_cancelled()
        key = f"{dataset}/{category}"
        module = load_model(file, p.model, Path(p.weights).expanduser() if p.weights else None)
        start = time.perf_counter()
        exported = export_bundle(module, ctx.output_dir / dataset / category / "bundle",
                                 size_hw=p.size_hw, batch_size=p.batch_size, memory_bank="in_graph",
                                 model_type=p.model,
                                 extra_meta={"dataset": dataset, "dataset_label": dataset,
                                             "category": category, "imported_from": str(file),
                                             "weights": p.weights})
        ctx.metric("export_s", time.perf_counter() - start, scope=key)
        scorer = load_scorer(exported.bundle_dir, device=ctx.device)
        score_diff, map_diff = parity_errors(module, scorer, parity_images(p, dataset, category))
        ctx.metric("parity_score_max_abs", score_diff, scope=key)
        ctx.metric("parity_map_max_abs", map_diff, scope=key)
        if max(score_diff, map_diff) > p.parity_tolerance:
            raise PipelineError(f"{key}: ONNX/torch parity {max(score_diff, map_diff):.3g} exceeds "
                                f"parity_tolerance {p.parity_tolerance:g}; the export does not "
                                f"reproduce {file}")
        if seed_t is not None:
            chosen[key] = seed_t.image(key)
            update_bundle_meta(exported.bundle_dir, image_threshold=chosen[key],
                               pixel_threshold=seed_t.pixel(key), threshold_source=THRESHOLD_SOURCE)
            ctx.metric("image_threshold", chosen[key], scope=key)
        for role, path in exported.files.items():
            kind = ArtifactKind.BUNDLE if role == "bundle" else (
                ArtifactKind.ONNX_DATA if role.endswith("_data") else ArtifactKind.ONNX)
            ctx.artifact(path, kind)
        ctx.log(f"{key}: imported {file.name}, exported to ONNX (parity {max(score_diff, map_diff):.2g})")
        ctx.progress(n + 1, len(found))
        del module, scorer
    if seed_t is not None:
        kept = Thresholds(global_=seed_t.global_, categories=chosen, source=THRESHOLD_SOURCE)
        ctx.artifact(kept.to_yaml(ctx.output_dir / "thresholds.yaml"), ArtifactKind.THRESHOLDS)
        ctx.metric("global_threshold", seed_t.global_)
    ctx.metric("categories", float(len(found)))
