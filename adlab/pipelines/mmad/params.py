"""Params of the ``mmad`` pipeline, shaped like the seed's ``configs/experiment.yaml``.

Top level: ``ad_model``, ``llm``, ``data_root``, ``output_dir``; sections ``eval`` (sampling and
prompting protocol), ``ad`` (where the AD findings come from), ``api`` (remote endpoints) and
``local`` (Hugging Face models). The seed runner's flags (``--llm``, ``--few-shot``, ...) map onto
these paths (``MMAD_SHORTCUTS`` in the spec). Import-light: pydantic, the registry and the
protocol table (per-protocol defaults: templates, max_tokens, temperature; PIL, no SDKs).

Secrets never enter params (they are stored in the database): keys come from environment
variables only, and a value that looks like a key is refused (the lab's one rule,
:func:`adlab.core.secrets.find_secret`).
"""
from __future__ import annotations

import re
from typing import Any, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from adlab.core.secrets import find_secret, secret_refusal
from adlab.pipelines.base import PipelineParams

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HTTP_URL = re.compile(r"^https?://[^\s/:?#]+(:\d{1,5})?(/[^\s]*)?$", re.IGNORECASE)
_ANY_URL = re.compile(r"^[a-z][a-z0-9+.\-]*://", re.IGNORECASE)


def _refuse_secrets(value: Any, path: str) -> None:
    """Refuse key-looking values by the lab's one rule (:mod:`adlab.core.secrets`)."""
    found = find_secret(value, path)
    if found is not None:
        raise ValueError(secret_refusal(f"`{found}`" if found else "the value"))


class EvalParams(PipelineParams):
    few_shot: int = Field(default=1, ge=0, le=8, description="normal template images shown (0-8)")
    similar_template: Optional[bool] = Field(
        default=None, description="true: similar_templates; false: random_templates (the first "
                                  "few_shot of mmad.json's list); null = the protocol's: random "
                                  "under official (MMAD's scripts without --similar_template), "
                                  "similar under adlab")
    max_images: Optional[int] = Field(default=None, ge=1, description="null = all; applied after sampling")
    sample_per_folder: Optional[int] = Field(default=None, ge=1,
                                             description="N images per dataset/category/split folder (null = all)")
    sample_seed: int = Field(default=42, description="sampling seed (same seed = same sample)")
    max_image_size: tuple[int, int] = Field(
        default=(512, 512), description="[width, height]: larger images shrink, aspect kept "
                                        "(protocol official: the box the 512-pixel scripts fit "
                                        "images to, enlarging small ones; Qwen and MiniCPM send "
                                        "original files, InternVL 448x448)")
    batch_mode: Optional[bool] = Field(default=None,
                                       description="true: all questions of an image in one request; "
                                                   "null = the model's default (false for llava models)")
    history: bool = Field(default=False, description="ask one question per turn, keeping the chat history")
    resume: bool = Field(default=False, description="accepted for the seed's --resume; adlab always "
                                                    "resumes a re-claimed run from its stored answers")
    max_tokens: Optional[int] = Field(default=None, ge=1, le=8192,
                                      description="answer length limit; null = the protocol's "
                                                  "(official: the family script's, adlab: 200)")
    temperature: Optional[float] = Field(default=None, ge=0.0, le=2.0,
                                         description="null = the protocol's (official: the "
                                                     "family script's or the API's default; "
                                                     "adlab: 0)")
    domain_knowledge: bool = Field(default=False, description="put MMAD's domain knowledge of "
                                   "the category (domain_knowledge.json) in the prompt")
    domain_knowledge_path: Optional[str] = Field(
        default=None, description="MMAD's domain_knowledge.json; default: "
                                  "<data_root>/domain_knowledge.json")
    cot: bool = Field(default=False, description="MMAD's --CoT (protocol official; families "
                      "llava, cambrian, internvl): each image is first asked the script's "
                      "chain-of-thought request (describe the differences from the templates), "
                      "and its reply goes into every question's prompt as history")
    text_only: bool = Field(default=False, description="MMAD's --text_only (protocol official; "
                            "families llava, cambrian): no image is sent and the instruction "
                            "becomes \"Although you can not see the image...\"; templates and "
                            "domain knowledge are left out as the scripts do")
    record_history: bool = Field(default=False, description="MMAD's --record_history (protocol "
                                 "official; families llava, cambrian, internvl, minicpm, "
                                 "qwen-vl): an image's questions are asked in order, each "
                                 "prompt carrying the earlier questions and replies as the "
                                 "family's script does (unlike eval.history, protocol adlab's "
                                 "chat turns)")
    defect_shot: int = Field(default=0, ge=0, le=8, description="MMAD's --defect_shot (protocol "
                             "official; family internvl): defective images of the query's "
                             "dataset and category shown after the normal templates")
    error_budget: float = Field(default=0.1, ge=0.0, le=1.0,
                                description="fraction of questions that may fail after retries "
                                            "before the run fails")

    @field_validator("max_image_size")
    @classmethod
    def _positive(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 16 or max(value) > 8192:
            raise ValueError("max_image_size must be [width, height] between 16 and 8192 pixels")
        return value


class FitParams(PipelineParams):
    """Few-shot AD model fitted per category on the normal templates listed in mmad.json."""

    max_templates: int = Field(default=8, ge=2, le=256, description="normal images per category")
    holdout: int = Field(default=1, ge=1, le=64,
                         description="normal images held out to set the threshold (max of their scores)")
    image_size: int = Field(default=224, ge=32, le=1024)
    model_params: dict[str, Any] = Field(default_factory=dict,
                                         description="anomalib model params (e.g. backbone, pre_trained)")
    weights: Optional[str] = Field(default=None, description="local pretrained backbone weights file")
    threshold_margin: float = Field(default=1.0, gt=0.0,
                                    description="threshold = margin x max held-out normal score")


class AdParams(PipelineParams):
    output: Optional[Union[int, str]] = Field(
        default=None, description="existing AD predictions JSON, or the id of an earlier AD run "
                                  "(mmad_ad or anomalib): skips AD inference")
    config: Optional[str] = Field(default=None, description="YAML with checkpoints/thresholds/fit "
                                                            "(the seed's ad.config)")
    thresholds: Optional[str] = Field(default=None, description="the seed's thresholds.yaml "
                                                                "(global + <Dataset>/<category>)")
    checkpoints: Optional[Union[str, list[str]]] = Field(
        default=None, description="folder(s) of exported models per <Dataset>/<category>/ "
                                  "(anomalib bundles) or anomalib run output folders")
    checkpoint_run: Optional[int] = Field(default=None, description="an anomalib run whose "
                                                                     "exported models score the images")
    fit: FitParams = Field(default_factory=FitParams)
    findings: Literal["text", "image", "both"] = Field(
        default="text", description="how the AD findings enter the prompt: text, image (the "
                                    "query image with the defect box drawn in red, MMAD's Expert "
                                    "Agent) or both")

    @field_validator("output")
    @classmethod
    def _output(cls, value: Optional[Union[int, str]]) -> Optional[Union[int, str]]:
        if isinstance(value, str):
            text = value.strip()
            if not text or text.lower() in ("null", "none"):
                return None
            if text.isdigit():
                return int(text)
            if text.lower().startswith("run:") and text[4:].strip().isdigit():
                return int(text[4:].strip())
            return text
        return value


class ApiParams(PipelineParams):
    provider: Literal["auto", "openai", "anthropic", "gemini", "openai-compatible", "hf"] = "auto"
    base_url: Optional[str] = Field(default=None, description="endpoint (vLLM, Ollama, LM Studio, a proxy)")
    model_id: Optional[str] = Field(default=None, description="model id sent to the endpoint "
                                                              "(default: the registry's)")
    api_key_env: Optional[str] = Field(default=None, description="environment variable holding the key")
    concurrency: int = Field(default=8, ge=1, le=256, description="requests in flight at once")
    timeout_s: float = Field(default=120.0, gt=0.0, le=3600.0)
    max_retries: int = Field(default=5, ge=0, le=50, description="retries on 429, 5xx, timeouts")
    backoff_s: float = Field(default=1.0, ge=0.0, le=600.0, description="first retry delay (doubles)")
    max_backoff_s: float = Field(default=60.0, ge=0.0, le=3600.0)
    stream: Optional[bool] = Field(default=None, description="stream replies (a server cancels a "
                                   "streamed request the client abandons, e.g. on a timeout); "
                                   "null = stream for OpenAI-compatible servers only")
    image_detail: Literal["low", "high", "auto"] = Field(default="low",
                                                         description="OpenAI image detail (MMAD: low)")

    @field_validator("base_url")
    @classmethod
    def _url_shape(cls, value: Optional[str]) -> Optional[str]:
        if value is None or not value.strip():
            return None
        text = value.strip()
        if not _HTTP_URL.match(text):
            raise ValueError(f"api.base_url {text!r} is not an http(s) URL; write it like "
                             "http://127.0.0.1:8000/v1 (scheme, host, optional port and path)")
        return text

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("api_key_env is the NAME of an environment variable (e.g. "
                             "VLLM_API_KEY), not the key itself")
        return value


class LocalParams(PipelineParams):
    batch_size: Optional[int] = Field(
        default=None, ge=1, le=256, description="prompts per generate() call; null = the "
        "protocol's: 1 under official (MMAD's scripts generate one prompt at a time; batching "
        "pads prompts, which can change greedy outputs), 4 under adlab")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        default="auto", description="auto: bf16 (fp16 without bf16 support) on GPU, fp32 on CPU")
    attn_implementation: Optional[str] = None
    trust_remote_code: bool = False


class MmadParams(PipelineParams):
    ad_model: Optional[str] = Field(default=None, description="patchcore, padim, ... or null (no AD)")
    llm: str = Field(default="qwen", description="registry name, HF id or local path (`adlab models`)")
    data_root: Optional[str] = Field(default=None, description="MMAD folder (mmad.json + image tree); "
                                                               "else $ADLAB_DATA_ROOT[/MMAD]")
    mmad_json: Optional[str] = Field(default=None, description="default: <data_root>/mmad.json")
    output_dir: Optional[str] = Field(default=None, description="extra folder for answers_*.json "
                                                                "(they are run artifacts anyway)")
    protocol: Literal["official", "adlab"] = Field(
        default="official", description="official = the MMAD query script of the model's family "
                                        "(prompt, question grouping, templates, images, "
                                        "sampling, first/last letter and difflib reading); "
                                        "adlab = adlab's prompt, strict reading (never an "
                                        "article or a word)")
    family: Optional[str] = Field(default=None, description="MMAD script family under protocol "
                                  "official (gpt4o, gpt4o-mini, claude, gemini, qwen, qwen-vl, "
                                  "llava, cambrian, internvl, minicpm); null = the registry's or "
                                  "from the model name")
    eval: EvalParams = Field(default_factory=EvalParams)
    ad: AdParams = Field(default_factory=AdParams)
    api: ApiParams = Field(default_factory=ApiParams)
    local: LocalParams = Field(default_factory=LocalParams)

    @field_validator("ad_model")
    @classmethod
    def _null_ad(cls, value: Optional[str]) -> Optional[str]:
        if value is None or value.strip().lower() in ("", "null", "none"):
            return None
        return value.strip()

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        _refuse_secrets(data, "")
        return data

    @model_validator(mode="after")
    def _model_defaults(self) -> "MmadParams":
        """Fill per-model defaults (batch_mode) so the stored config says what ran."""
        from adlab.pipelines.mmad.registry import resolve_llm

        if _ANY_URL.match(self.llm.strip()):
            raise ValueError(f"llm {self.llm!r} is a URL; put the endpoint in api.base_url and the "
                             "served model's name in llm (e.g. llm: Qwen/Qwen2.5-VL-3B-Instruct, "
                             f"api.base_url: {self.llm.strip()})")
        entry = resolve_llm(self.llm, provider=self.api.provider, base_url=self.api.base_url)
        if entry.provider == "openai-compatible" and not entry.base_url:
            raise ValueError(f"llm {self.llm!r} is served by an OpenAI-compatible endpoint but no "
                             "endpoint is given; set api.base_url (e.g. http://127.0.0.1:8000/v1)")
        from adlab.pipelines.mmad.protocol import FAMILIES, protocol_for

        if self.family is not None and self.family not in FAMILIES:
            raise ValueError(f"family {self.family!r} is not an MMAD script family; use one of "
                             f"{', '.join(sorted(FAMILIES))} or null")
        official = self.protocol == "official"
        if official and (self.eval.batch_mode or self.eval.history):
            which = "eval.batch_mode" if self.eval.batch_mode else "eval.history"
            hint = (" (MMAD's --record_history is eval.record_history)"
                    if which == "eval.history" else "")
            raise ValueError(f"{which} is a protocol adlab setting; protocol official groups the "
                             f"questions as the family's MMAD script does{hint}. Set protocol: "
                             f"adlab or remove {which}")
        from adlab.pipelines.mmad.protocol import refused_option, run_family

        refusal = refused_option(self.eval, run_family(self, entry), self.protocol)
        if refusal is not None:
            raise ValueError(refusal)
        if self.eval.text_only and (self.eval.domain_knowledge or self.ad.findings != "text"):
            which = ("eval.domain_knowledge" if self.eval.domain_knowledge
                     else f"ad.findings: {self.ad.findings}")
            raise ValueError(f"{which} cannot be combined with eval.text_only, whose prompt "
                             "(MMAD's --text_only) shows no image and drops the domain "
                             f"knowledge; remove one of them")
        if self.eval.batch_mode is None:
            self.eval.batch_mode = bool(entry.defaults.get("batch_mode", False))
        if self.eval.similar_template is None:
            self.eval.similar_template = not official
        if self.local.batch_size is None:
            self.local.batch_size = 1 if official else 4
        gen = protocol_for(self, entry).generation(self.eval.max_tokens, self.eval.temperature)
        self.eval.max_tokens, self.eval.temperature = gen.max_tokens, gen.temperature
        if self.eval.history and self.eval.batch_mode:
            raise ValueError("eval.history asks one question per turn, so it cannot be combined "
                             "with eval.batch_mode: true; set one of them to false")
        if self.ad_model is None and (self.ad.output is not None or self.ad.checkpoints
                                      or self.ad.checkpoint_run is not None):
            raise ValueError("ad.output / ad.checkpoints are set but ad_model is null; set "
                             "ad_model (e.g. patchcore) or remove them")
        return self
