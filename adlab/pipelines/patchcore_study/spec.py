"""Registration of the ``patchcore_study`` pipeline (import-light: pydantic and adlab.data only).

Expansion: ``sweep`` values and, in cross-domain mode, the train domains become chained child
runs (see sweep.py). Cross-domain rows are one run per train domain, each scoring every test
domain against its own bank: the bank, the expensive part, is built once per row instead of
once per (train, test) pair, and the row's in- vs cross-domain gap is a property of one run.
"""
from __future__ import annotations

from typing import Any, Mapping

from adlab.core.vocabulary import AD_METRICS, cost, cross_domain_metrics, fact
from adlab.errors import AdlabError
from adlab.pipelines.base import Dependency, PipelineParams, PipelineSpec
from adlab.pipelines.components.loco_spro import LOCO_SPRO_METRICS
from adlab.pipelines.patchcore_study import sweep
from adlab.pipelines.patchcore_study.params import PatchCoreStudyParams
from adlab.pipelines.views import CliShortcut

PIPELINE = "patchcore_study"


def expand(params: PipelineParams) -> list[PipelineParams]:
    assert isinstance(params, PatchCoreStudyParams)
    return list(sweep.expand(params))


def dependencies(params: PipelineParams) -> list[Dependency]:
    """A sweep child waits for the child before it (whose study rows it extends)."""
    assert isinstance(params, PatchCoreStudyParams)
    before = sweep.predecessor(params)
    if before is None:
        return []
    return [Dependency(pipeline=PIPELINE, params=before.model_dump(mode="json"))]


def derived(params: PipelineParams) -> Mapping[str, Any]:
    """The resolved category and test-domain sets join the evaluation partition."""
    assert isinstance(params, PatchCoreStudyParams)
    if params.mode == "cross_domain":
        return {"data.category_set": sorted(params.train_domains()),
                "cross_domain.test_set": params.test_domains()}
    named = params.data.category_list()
    if named is not None:
        return {"data.category_set": sorted(named)}
    try:
        from adlab.pipelines.patchcore_study.domains import run_categories

        return {"data.category_set": sorted(run_categories(params))}
    except AdlabError:
        return {"data.category_set": "all"}


def data_checks(params: PipelineParams) -> list[Any]:
    """What ``adlab queue`` checks: the categories of a standard run; a cross-domain row's
    train and test domains (each ``category`` or ``dataset:category``, with its own root)."""
    assert isinstance(params, PatchCoreStudyParams)
    if params.mode != "cross_domain":
        return [params.data.data_check()]
    from adlab.pipelines.patchcore_study.domains import domain_checks

    return domain_checks(params)


# Per entry (train x test domain), per bank, and their run-level means; cross-domain runs add
# in-domain / cross-domain means and their gap for the summary scores.
METRICS = {
    **AD_METRICS,
    **LOCO_SPRO_METRICS,
    "infer_ms_per_image": cost("ms", "scoring time per test image"),
    "bank_mb": cost("MB", "memory bank size"),
    "bank_build_s": cost("s", "memory bank build time"),
    "extract_s": cost("s", "feature extraction time"),
    "feature_dim": fact("", "fused feature dimension"),
    "bank_size": fact("rows", "memory bank rows"),
    "bank_dim": fact("", "memory bank row dimension"),
    "train_patches": fact("patches", "training patches"),
    "search_gpu": fact("", "1 when the nearest-neighbour search ran on the GPU"),
    "fusion_weight": fact("", "weight of a backbone layer in the fused feature"),
    "mmd": cost("", "MMD (RBF) between source and target normal features"),
    "wasserstein": cost("", "sliced Wasserstein distance between source and target features"),
    "feature_drift": cost("", "drift of the target's normal features from the source's"),
    "mean_cosine": fact("", "cosine of the mean source and target features"),
    "categories": fact("categories"),
    "test_domains": fact("domains"),
    **cross_domain_metrics(("image_auroc", "pixel_auroc", "aupro")),
}

SPEC = PipelineSpec(
    name=PIPELINE,
    params_model=PatchCoreStudyParams,
    runner="adlab.pipelines.patchcore_study.run:run",
    extras=("anomalib",),
    description="PatchCore re-implementation with pluggable backbone (ResNet/WRN/ViT/DINOv2/CLIP "
                "via timm), feature fusion (single/concat/weighted/adaptive) and memory bank "
                "(coreset/kNN/PCA/k-means) searched with faiss; per-category or cross-domain "
                "(train x test matrix with MMD/Wasserstein/cosine distances); sweeps with "
                "study-level plots.",
    partition_keys=("mode", "data.dataset", "data.category_set", "data.test_limit", "image_size",
                    "cross_domain.train", "cross_domain.test_set", "metrics.resolution"),
    non_group_keys=("seed", "data.root", "data.options", "data.categories", "batch_size", "visuals",
                    "outputs", "sweep", "sweep_child", "backbone.weights", "cross_domain.roots",
                    "cross_domain.max_patches", "cross_domain.train_domains",
                    "cross_domain.test_domains"),
    headline_metric="image_auroc",
    metrics=METRICS,
    name_template="{backbone_name}_{fusion_strategy}_{memory_bank_method}",
    expand=expand,
    dependencies=dependencies,
    derived=derived,
    data_checks=data_checks,
    cli_shortcuts=(CliShortcut("data_root", "data.root", help="dataset root folder"),),
)
