"""Registration of ``anomalib_import`` (import-light: pydantic only). ``adlab import-model DIR``
queues one such run; the worker exports every checkpoint once, and MMAD runs use the run as
their AD model with ``ad.checkpoint_run: <id>``."""
from __future__ import annotations

from adlab.core.vocabulary import cost, fact
from adlab.pipelines.anomalib.checkpoint_params import AnomalibImportParams
from adlab.pipelines.base import PipelineSpec

METRICS = {
    "export_s": cost("s", "ONNX export time"),
    "parity_score_max_abs": cost("", "max |ONNX - torch| image score on the parity sample"),
    "parity_map_max_abs": cost("", "max |ONNX - torch| anomaly-map value on the parity sample"),
    "image_threshold": fact("", "the category's threshold from the imported thresholds.yaml"),
    "global_threshold": fact("", "the imported thresholds.yaml's global threshold"),
    "categories": fact("categories"),
}

SPEC: PipelineSpec[AnomalibImportParams] = PipelineSpec(
    name="anomalib_import",
    params_model=AnomalibImportParams,
    runner="adlab.pipelines.anomalib.checkpoint_import:run",
    extras=("anomalib",),
    description="Import trained anomalib checkpoints (<Dataset>/<category>/model.pt, as seed 000 "
                "keeps them) with their thresholds.yaml: one ONNX export and parity check each; "
                "MMAD runs use the run as AD model (ad.checkpoint_run).",
    partition_keys=("checkpoints",),
    non_group_keys=("data_root", "parity_samples", "parity_tolerance", "batch_size"),
    headline_metric=None,
    metrics=METRICS,
    name_template="{model}_import",
)
