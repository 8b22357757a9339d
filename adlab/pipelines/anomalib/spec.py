"""Registration of the ``anomalib`` pipeline (import-light: pydantic and adlab.data only)."""
from __future__ import annotations

from typing import Any, Mapping

from adlab.core.vocabulary import AD_METRICS, cost, cross_domain_metrics, fact
from adlab.errors import AdlabError, ConfigError
from adlab.pipelines.anomalib.params import AnomalibParams
from adlab.pipelines.base import PipelineSpec
from adlab.pipelines.components.loco_spro import LOCO_SPRO_METRICS
from adlab.pipelines.views import CliShortcut


def resolve_run_categories(params: AnomalibParams) -> list[str]:
    """The categories a run covers, ``all`` resolved against the dataset on disk."""
    from adlab.data import dataset_root, resolve_categories

    data = params.data
    root = dataset_root(data.root, data.dataset)
    return resolve_categories(data.dataset, root, data.category_list() or "all", **data.options)


def resolve_test_domains(params: AnomalibParams) -> list[str]:
    """``cross_domain.test_domains`` as category names: ``auto`` is every category on disk
    except the run's own (the source domain); a list is checked against those on disk."""
    from adlab.data import dataset_root, resolve_categories

    wanted = params.cross_domain.test_domains
    if wanted is None:
        return []
    data = params.data
    root = dataset_root(data.root, data.dataset)
    sources = set(data.category_list() or [])
    if wanted == "auto":
        return [c for c in resolve_categories(data.dataset, root, "all", **data.options)
                if c not in sources]
    return resolve_categories(data.dataset, root, list(wanted),
                              categories_field="cross_domain.test_domains", **data.options)


def data_checks(params: AnomalibParams) -> list[Any]:
    """What ``adlab queue`` checks: the run's categories and the categories named in
    ``cross_domain.test_domains`` (``auto`` is whatever is on disk)."""
    checks = [params.data.data_check()]
    wanted = params.cross_domain.test_domains
    if isinstance(wanted, list):
        from adlab.data.checks import DatasetCheck

        data = params.data
        checks.append(DatasetCheck.of(data.dataset, data.root, wanted, data.options,
                                      categories_field="cross_domain.test_domains"))
    return checks


def expand(params: AnomalibParams) -> list[AnomalibParams]:
    """``split_runs: per_category`` over several (or all) categories -> one run per category."""
    named = params.data.category_list()
    if params.data.split_runs != "per_category" or (named is not None and len(named) == 1):
        return [params]
    try:
        categories = resolve_run_categories(params) if named is None else named
    except AdlabError as exc:
        raise ConfigError(f"data.categories: cannot list the categories of "
                          f"{params.data.dataset!r} to make one run per category ({exc})") from None
    out: list[AnomalibParams] = []
    for category in categories:
        config = params.model_dump(mode="json")
        config["data"]["categories"] = category
        out.append(AnomalibParams.model_validate(config))
    return out


def derived(params: AnomalibParams) -> Mapping[str, Any]:
    """The resolved category set joins the evaluation partition (``all`` means what is on disk)."""
    out: dict[str, Any] = {}
    if params.cross_domain.test_domains is not None:  # the test domains join the partition
        try:
            out["cross_domain.test_set"] = sorted(resolve_test_domains(params))
        except AdlabError:
            out["cross_domain.test_set"] = f"unresolved:{params.cross_domain.test_domains}"
    named = params.data.category_list()
    if named is not None:
        return {"data.category_set": sorted(named), **out}
    try:
        return {"data.category_set": sorted(resolve_run_categories(params)), **out}
    except AdlabError:
        return {"data.category_set": "all", **out}


# Every metric the run records (per category and, averaged, for the run; training losses are
# curves with a step and follow the name rule).
METRICS = {
    **AD_METRICS,
    **LOCO_SPRO_METRICS,
    "fit_s": cost("s", "training / memory-bank fit time"),
    "export_s": cost("s", "ONNX export time"),
    "export_mb": cost("MB", "size of the exported ONNX files"),
    "infer_ms_per_image": cost("ms", "scoring time per test image"),
    "infer_wall_s": cost("s", "wall time to score the test set"),
    "parity_score_max_abs": cost("", "max |ONNX - torch| image score on the parity sample"),
    "parity_map_max_abs": cost("", "max |ONNX - torch| anomaly-map value on the parity sample"),
    "best_val_loss": cost("", "best validation loss"),
    "epochs_run": fact("epochs"),
    "image_threshold": fact("", "image threshold of the category (F1-optimal on the test "
                                "labels, or thresholds.source: validation; run info "
                                "threshold_source says which)"),
    "global_threshold": fact("", "image threshold over all categories (same source)"),
    "categories": fact("categories"),
    # cross_domain.test_domains: scope "train=<source>/test=<target>" per target domain.
    **cross_domain_metrics(("image_auroc", "pixel_auroc", "aupro")),
    "test_domains": fact("domains", "domains scored besides the training domain"),
}

SPEC: PipelineSpec[AnomalibParams] = PipelineSpec(
    name="anomalib",
    params_model=AnomalibParams,
    runner="adlab.pipelines.anomalib.run:run",
    extras=("anomalib",),
    description="Train an anomalib image model, export it to ONNX, score the test set with "
                "onnxruntime (optionally faiss for PatchCore), write predictions, thresholds, "
                "metrics and heatmaps.",
    partition_keys=("data.dataset", "data.category_set", "data.test_limit", "image_size",
                    "metrics.resolution", "cross_domain.test_set"),
    non_group_keys=("seed", "data.root", "data.split_runs", "data.categories", "train.num_workers",
                    "train.checkpoint", "export.parity_samples", "export.parity_tolerance",
                    "export.memory_bank", "inference", "visuals", "outputs",
                    "cross_domain.test_domains"),
    headline_metric="image_auroc",
    metrics=METRICS,
    name_template="{model}_{data_dataset}_{data_categories}",
    expand=expand,
    derived=derived,
    data_checks=data_checks,
    cli_shortcuts=(CliShortcut("data_root", "data.root", help="dataset root folder"),
                   CliShortcut("ad_model", "model", help="anomalib model name")),
    services={"fit_normals": "adlab.pipelines.anomalib.fewshot:fit_normals",
              "canonical_model_name": "adlab.pipelines.anomalib.fewshot:canonical_model_name",
              "seed_conditions": "adlab.pipelines.anomalib.seed_conditions:translate"},
)
