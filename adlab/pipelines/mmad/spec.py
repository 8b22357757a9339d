"""Registration of ``mmad`` (VLM evaluation on MMAD) and ``mmad_ad`` (the AD run feeding it).

Import-light: pydantic, json and yaml only. ``mmad`` with ``ad_model`` set asks for an
``mmad_ad`` run on exactly the sampled images (queued first, or an identical queued/succeeded
one reused) and waits for it; ``ad.output`` naming a predictions JSON or a run id skips that.

Comparison: the partition is the evaluation itself: the sampled subset (a hash over the chosen
images and their mmad.json records, computed at queue time), few-shot count, template kind,
batch/history protocol, image size and the official scripts' prompt options (chain of thought,
text only, recorded history, defect shots). The LLM, the AD model and endpoint settings are left out
of the default group, so ``adlab compare`` ranks LLM x AD combinations on the same evaluation
(the seed's compare_results table).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from adlab.core.vocabulary import Direction, MetricInfo, Scale, cost, fact, fraction, percent
from adlab.errors import AdlabError, ConfigError
from adlab.pipelines import register_pipeline
from adlab.pipelines.base import Dependency, PipelineSpec
from adlab.pipelines.mmad.ad_params import MmadAdParams
from adlab.pipelines.mmad.answers import PREFIX as ANSWER_PREFIX
from adlab.pipelines.mmad.params import MmadParams
from adlab.pipelines.views import CliShortcut, DetailTab

# The seed runner's flags (scripts/run_experiment.py) and the YAML fields they set.
MMAD_SHORTCUTS = (
    CliShortcut("ad_model", "ad_model", help="AD model feeding the prompt (null: none)"),
    CliShortcut("llm", "llm", help="vision-language model name (see `adlab models`)"),
    CliShortcut("ad_output", "ad.output", help="AD predictions JSON or AD run id"),
    CliShortcut("few_shot", "eval.few_shot", int, help="normal templates shown per question"),
    CliShortcut("max_images", "eval.max_images", int, help="at most this many images"),
    CliShortcut("sample_per_folder", "eval.sample_per_folder", int, help="images per folder"),
    CliShortcut("sample_seed", "eval.sample_seed", int, help="sampling seed"),
    CliShortcut("batch_mode", "eval.batch_mode", bool, help="all questions of an image at once"),
    CliShortcut("data_root", "data_root", help="MMAD image root"),
    CliShortcut("output_dir", "output_dir", help="where answers files are written"),
    CliShortcut("resume", "eval.resume", bool, help="skip questions already answered"),
)

_SUBSET_CACHE: dict[tuple, tuple[str, int]] = {}


def _data_field(data_root: str | None, mmad_json: str | None) -> str:
    """The setting that named mmad.json."""
    if mmad_json:
        return "mmad_json"
    return "data_root" if data_root else "ADLAB_DATA_ROOT"


def subset_facts(data_root: str | None, mmad_json: str | None, per_folder: int | None, seed: int,
                 max_images: int | None) -> dict[str, Any]:
    """``{"subset": sha256[:16], "subset_size": n}``; when mmad.json is not readable here, the
    sampling parameters stand in (``subset: "unresolved:..."``)."""
    from adlab.pipelines.mmad.data import load_mmad, resolve_json, select_images

    try:
        path = resolve_json(data_root, mmad_json)
        stat = path.stat()
    except (ConfigError, OSError):
        return {"subset": f"unresolved:{mmad_json or 'mmad.json'}:{per_folder}:{seed}:{max_images}",
                "subset_size": None}
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, per_folder, seed, max_images)
    if key not in _SUBSET_CACHE:
        try:
            data = load_mmad(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{_data_field(data_root, mmad_json)}: cannot read {path} ({exc}); "
                              "give MMAD's mmad.json") from None
        except AdlabError as exc:
            raise ConfigError(f"{_data_field(data_root, mmad_json)}: {exc}; give MMAD's "
                              "mmad.json") from None
        subset = select_images(data, per_folder=per_folder, seed=seed, max_images=max_images)
        _SUBSET_CACHE[key] = (subset.sha256[:16], len(subset.images))
    digest, size = _SUBSET_CACHE[key]
    return {"subset": digest, "subset_size": size}


def mmad_derived(params: MmadParams) -> Mapping[str, Any]:
    ev = params.eval
    facts = subset_facts(params.data_root, params.mmad_json, ev.sample_per_folder, ev.sample_seed,
                         ev.max_images)
    return {f"eval.{k}": v for k, v in facts.items()}


def ad_run_config(params: MmadParams) -> dict[str, Any]:
    """The ``mmad_ad`` params for an MMAD run: same sampling, AD settings from ``ad``/``ad.config``."""
    ad = params.ad
    config: dict[str, Any] = {}
    if ad.config:
        from adlab.core.yaml_safety import read_yaml_file

        path = Path(ad.config).expanduser()
        if not path.is_file():
            raise ConfigError(f"ad.config: {path} does not exist; give a YAML with checkpoints, "
                              f"thresholds and/or fit, or remove ad.config")
        loaded = read_yaml_file(path, "ad.config:", ConfigError) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"ad.config: {path} must hold a mapping (checkpoints:, thresholds:, fit:)")
        allowed = {"checkpoints", "checkpoint_run", "thresholds", "fit", "batch_size"}
        unknown = sorted(set(loaded) - allowed)
        if unknown:
            raise ConfigError(f"ad.config: {path} has unknown key {unknown[0]!r}; allowed: "
                              f"{', '.join(sorted(allowed))}")
        config.update(loaded)
    for key in ("checkpoints", "checkpoint_run", "thresholds"):
        value = getattr(ad, key)
        if value is not None:
            config[key] = value
    if "fit" not in config or ad.fit != type(ad.fit)():
        config["fit"] = ad.fit.model_dump(mode="json")
    ev = params.eval
    return {"ad_model": params.ad_model, "data_root": params.data_root, "mmad_json": params.mmad_json,
            "sample_per_folder": ev.sample_per_folder, "sample_seed": ev.sample_seed,
            "max_images": ev.max_images, **config}


def mmad_dependencies(params: MmadParams) -> list[Dependency]:
    if params.ad_model is None:
        return []
    output = params.ad.output
    if isinstance(output, int):
        return [Dependency(run_id=output)]
    if isinstance(output, str):
        if not Path(output).expanduser().is_file():
            raise ConfigError(f"ad.output: predictions file {output} does not exist; give an "
                              f"existing AD predictions JSON, an AD run id, or null to run the AD model")
        return []
    return [Dependency(pipeline="mmad_ad", params=ad_run_config(params))]


def mmad_data_checks(params: MmadParams) -> list[Any]:
    from adlab.pipelines.mmad.data_check import mmad_checks

    return mmad_checks(params)


def ad_data_checks(params: MmadAdParams) -> list[Any]:
    from adlab.pipelines.mmad.data_check import mmad_ad_checks

    return mmad_ad_checks(params)


def ad_derived(params: MmadAdParams) -> Mapping[str, Any]:
    return subset_facts(params.data_root, params.mmad_json, params.sample_per_folder,
                        params.sample_seed, params.max_images)


def ad_dependencies(params: MmadAdParams) -> list[Dependency]:
    return [Dependency(run_id=params.checkpoint_run)] if params.checkpoint_run is not None else []


# MMAD scores are percentages (scope "<dataset>/<question type>" for every table cell).
METRICS = {
    "accuracy": percent("MMAD accuracy"),
    "accuracy_official": percent("MMAD accuracy as summary.py computes it (unparsed dropped)"),
    "dropped_official": fact("questions", "answers summary.py drops (not a letter A-E)"),
    "skipped_official": fact("questions", "answers summary.py skips (its list-mutation quirk)"),
    "truncated": fact("questions", "replies cut at eval.max_tokens"),
    "overkill": MetricInfo(Direction.LOWER, Scale.PERCENT, "%", "normal images called anomalous"),
    "miss": MetricInfo(Direction.LOWER, Scale.PERCENT, "%", "anomalous images called normal"),
    "elapsed_s": cost("s", "wall time of the evaluation"),
    "latency_mean_s": cost("s", "mean answer latency"),
    "answers_per_s": MetricInfo(Direction.HIGHER, Scale.RAW, "1/s", "answers per second"),
    "questions": fact("questions"),
    "answered": fact("questions", "questions answered without an error"),
    "unparseable": fact("questions", "answers without a choice letter (scored wrong)"),
    "errors": fact("questions", "questions whose request failed"),
    "images": fact("images"),
    "ad_missing": fact("images", "images without AD findings"),
    "tokens_in": fact("tokens"),
    "tokens_out": fact("tokens"),
}
AD_METRICS_MMAD = {
    "verdict_accuracy": fraction("AD verdict (normal / anomalous) accuracy"),
    "image_auroc": fraction("image-level AUROC of the AD scores"),
    "images": fact("images"),
}

SPEC: PipelineSpec[MmadParams] = PipelineSpec(
    name="mmad",
    params_model=MmadParams,
    runner="adlab.pipelines.mmad.run:run",
    extras=("vlm",),
    description="Evaluate a vision-language model (API or local) on MMAD questions, optionally "
                "with an AD model's findings in the prompt; stratified sampling, resumable answers, "
                "MMAD scoring.",
    partition_keys=("protocol", "eval.subset", "eval.few_shot", "eval.similar_template",
                    "eval.batch_mode", "eval.history", "eval.max_image_size",
                    "eval.domain_knowledge", "eval.cot", "eval.text_only",
                    "eval.record_history", "eval.defect_shot"),
    non_group_keys=("llm", "family", "ad_model", "ad", "api", "local", "data_root", "mmad_json",
                    "output_dir", "eval.resume", "eval.error_budget", "eval.sample_per_folder",
                    "eval.sample_seed", "eval.max_images", "eval.subset_size",
                    "eval.domain_knowledge_path"),
    headline_metric="accuracy",
    metrics=METRICS,
    name_template="{ad_model}_{llm}_{eval_few_shot}shot",
    dependencies=mmad_dependencies,
    derived=mmad_derived,
    data_checks=mmad_data_checks,
    cli_shortcuts=MMAD_SHORTCUTS,
    flat_table="adlab.pipelines.mmad.views:flat_table",
    report_sections="adlab.pipelines.mmad.views:report_sections",
    detail_tabs=(DetailTab(id="mmad", title="MMAD accuracy", item_prefix=ANSWER_PREFIX,
                           view="adlab.pipelines.mmad.views:live_accuracy"),),
)

AD_SPEC: PipelineSpec[MmadAdParams] = register_pipeline(PipelineSpec(
    name="mmad_ad",
    params_model=MmadAdParams,
    runner="adlab.pipelines.mmad.ad_predict:run",
    extras=("anomalib",),
    description="AD model predictions (score, verdict, defect location) for the images an MMAD "
                "evaluation samples: exported anomalib models or a few-shot fit per category.",
    partition_keys=("subset",),
    non_group_keys=("data_root", "mmad_json", "sample_per_folder", "sample_seed", "max_images",
                    "batch_size", "subset_size"),
    headline_metric="image_auroc",
    metrics=AD_METRICS_MMAD,
    name_template="{ad_model}_mmad_ad",
    dependencies=ad_dependencies,
    derived=ad_derived,
    data_checks=ad_data_checks,
    cli_shortcuts=tuple(s for s in MMAD_SHORTCUTS if s.name in ("ad_model", "data_root"))
    + (CliShortcut("max_images", "max_images", int, help="at most this many images"),
       CliShortcut("sample_per_folder", "sample_per_folder", int, help="images per folder"),
       CliShortcut("sample_seed", "sample_seed", int, help="sampling seed")),
))

