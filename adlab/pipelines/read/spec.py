"""Registration of the ``read`` pipeline (import-light: pydantic and adlab.data only).

Partition: dataset, resolved category set, mode (read vs baseline), whether the prompt names the
ground-truth defect type, test subset and evaluation size - runs that differ in any of these are
never ranked together.
"""
from __future__ import annotations

from typing import Any, Mapping

from adlab.core.vocabulary import AD_METRICS, cost, fact, fraction
from adlab.errors import AdlabError
from adlab.pipelines.base import PipelineParams, PipelineSpec
from adlab.pipelines.components.loco_spro import LOCO_SPRO_METRICS
from adlab.pipelines.read.params import ReadParams
from adlab.pipelines.views import CliShortcut


def resolve_run_categories(params: ReadParams) -> list[str]:
    """The categories a run covers, ``all`` resolved against the dataset on disk."""
    from adlab.data import dataset_root, resolve_categories

    data = params.data
    root = dataset_root(data.root, data.dataset)
    return resolve_categories(data.dataset, root, data.category_list() or "all", **data.options)


def derived(params: PipelineParams) -> Mapping[str, Any]:
    """Category set as resolved on disk, and the leakage mark (``prompt.leaks_defect_type``)."""
    assert isinstance(params, ReadParams)
    named = params.data.category_list()
    if named is not None:
        categories: Any = sorted(named)
    else:
        try:
            categories = sorted(resolve_run_categories(params))
        except AdlabError:
            categories = "all"
    return {"data.category_set": categories, "prompt.leaks_defect_type": params.leaks_defect_type}


METRICS = {
    **AD_METRICS,
    **LOCO_SPRO_METRICS,
    "ms_per_image": cost("ms", "segmentation time per test image"),
    "seg_found_fraction": fraction("images where the model produced a <SEG> mask"),
    "decoder_parity_max_abs": cost("", "max |ONNX - torch| SAM decoder logit on the parity sample"),
    "export_s": cost("s", "SAM decoder ONNX export time"),
    "load_s": cost("s", "model load time"),
    "categories": fact("categories"),
}

SPEC = PipelineSpec(
    name="read",
    params_model=ReadParams,
    runner="adlab.pipelines.read.run:run",
    extras=("read",),
    description="READ anomaly segmentation: LLaVA with a <SEG> token + SasP similarity points "
                "prompting SAM (decoder in onnxruntime); or the training-free CLIP + SAM baseline. "
                "Mask logits, metadata, visuals; image/pixel AUROC, AU-PRO, F1-max per category.",
    partition_keys=("data.dataset", "data.category_set", "mode", "prompt.leaks_defect_type",
                    "prompt.allow_defect_name", "data.test_limit", "eval_size",
                    "metrics.resolution"),
    non_group_keys=("seed", "data.root", "data.categories", "data.options", "mllm_path", "sam_checkpoint",
                    "clip_path", "decoder", "visuals", "dtype", "outputs"),
    headline_metric="image_auroc",
    metrics=METRICS,
    name_template="read_{mode}_{data_dataset}_{data_categories}",
    derived=derived,
    cli_shortcuts=(CliShortcut("data_root", "data.root", help="dataset root folder"),),
)
