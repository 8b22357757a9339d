"""Model factory: an anomalib image model from adlab params, with local-only pretrained weights.

Models are built with anomalib's post-processor and evaluator switched off: adlab scores the
test set itself (onnxruntime) and computes metrics and F1-optimal thresholds itself, so the
exported graph yields raw scores and maps. Pretrained weights are never downloaded: they come
from ``weights:`` (a local file) or an already filled offline cache, else the run stops with one
sentence saying what is missing and where to put it.
"""
from __future__ import annotations

import contextlib
import importlib.util
import inspect
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from adlab.errors import PipelineError
from adlab.pipelines.components.weights import file_sha256, offline_hub
from adlab.pipelines.anomalib.model_params import ModelInfo
from adlab.pipelines.anomalib.params import AnomalibParams

_DISABLED_PARTS = {"post_processor": False, "evaluator": False, "visualizer": False}


@dataclass
class BuiltModel:
    module: Any  # anomalib AnomalibModule
    info: ModelInfo
    weights: dict[str, Any]  # provenance: {"source": "random-init" | "file" | "offline-cache", ...}


@contextlib.contextmanager
def timm_weights_from(path: Path | None) -> Iterator[None]:
    """Every ``timm.create_model(..., pretrained=True)`` inside loads ``path`` instead of the hub.

    anomalib builds backbones with ``timm.create_model`` and no way to pass a file; timm's
    ``pretrained_cfg_overlay={"file": ...}`` is its own local-file mechanism, so this routes
    the pretrained request to it for the duration of model construction only.
    """
    if path is None:
        yield
        return
    import timm

    original = timm.create_model

    def create_model(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("pretrained"):
            overlay = dict(kwargs.pop("pretrained_cfg_overlay", None) or {})
            overlay["file"] = str(path)
            kwargs["pretrained_cfg_overlay"] = overlay
        return original(*args, **kwargs)

    timm.create_model = create_model
    try:
        yield
    finally:
        timm.create_model = original


@contextlib.contextmanager
def open_clip_weights_from(path: Path | None) -> Iterator[None]:
    """WinCLIP asks open_clip for a hub tag; open_clip also takes a checkpoint file path."""
    if path is None:
        yield
        return
    import open_clip

    original = open_clip.create_model_and_transforms

    def create(model_name: str, pretrained: Any = None, **kwargs: Any) -> Any:
        return original(model_name, pretrained=str(path), **kwargs)

    open_clip.create_model_and_transforms = create
    try:
        yield
    finally:
        open_clip.create_model_and_transforms = original


def _weights_needed(info: ModelInfo, model_params: dict[str, Any]) -> bool:
    if info.weights is None:
        return False
    if "pre_trained" in model_params:
        return bool(model_params["pre_trained"])
    return True


def _what_weights(info: ModelInfo, mp: dict[str, Any]) -> str:
    return {
        "backbone": f"ImageNet weights for backbone {mp.get('backbone')!r} (a timm state dict, "
                    f"or set model_params.pre_trained: false)",
        "teacher": f"ImageNet weights for its teacher backbone {mp.get('backbone')!r} (a timm state dict)",
        "encoder": f"weights for encoder {mp.get('encoder_name')!r} (a timm state dict)",
        "clip": "the open_clip ViT-B-16-plus-240 laion400m_e31 checkpoint file",
        "efficientad_teacher": f"the EfficientAd teacher state dict "
                               f"(pretrained_teacher_{mp.get('model_size', 'small')}.pth)",
    }[info.weights or "backbone"]


def missing_weights_error(info: ModelInfo, mp: dict[str, Any], detail: str = "") -> PipelineError:
    why = f" ({detail})" if detail else ""
    return PipelineError(
        f"model {info.name!r} needs {_what_weights(info, mp)}, which is not available locally"
        f"{why}; download it on a machine with internet access, copy it here and set "
        f"`weights: /path/to/file` in the run config")


def _check_local_dirs(info: ModelInfo, mp: dict[str, Any]) -> None:
    if info.name == "draem" and mp.get("anomaly_source") != "synthetic":
        dtd = mp.get("dtd_dir")
        if not dtd or not Path(dtd).expanduser().is_dir():
            raise PipelineError(
                f"model 'draem' needs model_params.dtd_dir, a local folder of texture images "
                f"(e.g. DTD's images/), for its synthetic anomalies; got {dtd!r}; or set "
                f"model_params.anomaly_source: synthetic to use adlab's generated textures")
    if info.name == "efficient_ad":
        imagenet = mp.get("imagenet_dir")
        if not imagenet or not Path(imagenet).expanduser().is_dir():
            raise PipelineError(
                f"model 'efficient_ad' needs model_params.imagenet_dir, a local ImageFolder of "
                f"natural images (e.g. Imagenette), for its penalty loss; got {imagenet!r}")


def _constructor_kwargs(cls: type, info: ModelInfo, params: AnomalibParams) -> dict[str, Any]:
    mp = {k: v for k, v in params.model_params.items() if k not in info.params.adlab_keys}
    if params.model_params.get("anomaly_source") == "synthetic":
        from adlab.data.synth.texture_folder import texture_folder

        mp["dtd_dir"] = str(texture_folder(seed=params.seed))
    signature = inspect.signature(cls.__init__).parameters
    accepted = [p for p in signature if p not in ("self", "args", "kwargs")]
    unknown = sorted(set(mp) - set(accepted))
    if unknown:
        allowed = [p for p in accepted if p not in ("pre_processor", *_DISABLED_PARTS)]
        raise PipelineError(f"model {info.name!r} does not take model_params.{unknown[0]}; "
                            f"allowed keys: {', '.join(allowed)}")
    if info.lr_param and params.train.learning_rate is not None:
        mp[info.lr_param] = params.train.learning_rate
    for key in ("dtd_dir", "imagenet_dir"):
        if mp.get(key):
            mp[key] = str(Path(mp[key]).expanduser())
    kwargs = {k: v for k, v in _DISABLED_PARTS.items() if k in signature}
    if "pre_processor" in signature:
        kwargs["pre_processor"] = _pre_processor(cls, params.size_hw)
    return {**mp, **kwargs}


def _pre_processor(cls: type, size: tuple[int, int]) -> Any:
    configure = getattr(cls, "configure_pre_processor", None)
    if configure is None:
        return True
    accepted = inspect.signature(configure).parameters
    kwargs: dict[str, Any] = {"image_size": size} if "image_size" in accepted else {}
    if "crop_size" in accepted:  # Dinomaly: centre crop; adlab feeds images already at image_size
        kwargs["crop_size"] = min(size)
    try:
        return configure(**kwargs)
    except ValueError as exc:
        raise PipelineError(f"model {cls.__name__} cannot work at image_size {list(size)}: {exc}; "
                            f"change image_size") from None


def _install_efficientad_teacher(module: Any, path: Path) -> None:
    """EfficientAd loads its teacher from a fixed cache folder (downloading when absent); load
    the configured file instead, exactly as anomalib's own loader does."""
    import torch

    def prepare_pretrained_model(self: Any) -> None:
        state = torch.load(path, map_location=torch.device(self.device), weights_only=True)
        self.model.teacher.load_state_dict(state)

    module.prepare_pretrained_model = types.MethodType(prepare_pretrained_model, module)


def build_model(params: AnomalibParams) -> BuiltModel:
    """Construct the configured model; raises PipelineError for missing weights or folders."""
    import anomalib.models as models

    info = params.model_info
    mp = dict(params.model_params)
    cls = getattr(models, info.class_name, None)
    if cls is None:
        raise PipelineError(f"anomalib {models.__name__} has no model class {info.class_name!r}; "
                            f"check `model:`")
    _check_local_dirs(info, mp)
    if info.weights == "clip" and importlib.util.find_spec("open_clip") is None:
        raise PipelineError(f"model {info.name!r} is built on open_clip, which is not installed; "
                            "pip install 'adlab[anomalib]' (or open_clip_torch)")
    weights_path = Path(params.weights).expanduser() if params.weights else None
    if weights_path is not None and not weights_path.is_file():
        raise missing_weights_error(info, mp, f"weights file {weights_path} does not exist")
    needed = _weights_needed(info, mp)
    if needed and info.weights == "efficientad_teacher" and weights_path is None:
        raise missing_weights_error(info, mp, "no `weights:` file given")
    if info.weights in ("backbone", "teacher", "encoder"):
        backbone = mp.get("backbone") or mp.get("encoder_name")
        if backbone:
            import timm

            if not timm.is_model(backbone):
                raise PipelineError(f"model {info.name!r}: unknown timm backbone {backbone!r}; "
                                    f"see timm.list_models() for valid names")
    kwargs = _constructor_kwargs(cls, info, params)
    timm_file = weights_path if info.weights in ("backbone", "teacher", "encoder") and needed else None
    clip_file = weights_path if info.weights == "clip" else None
    try:
        with offline_hub(), timm_weights_from(timm_file), open_clip_weights_from(clip_file):
            module = cls(**kwargs)
    except PipelineError:
        raise
    except Exception as exc:  # a hub lookup that cannot happen offline, or a bad weights file
        if needed:
            detail = (f"loading {weights_path} failed: {type(exc).__name__}: {str(exc)[:200]}"
                      if weights_path else "not in the offline cache and no `weights:` file given")
            raise missing_weights_error(info, mp, detail) from None
        raise PipelineError(f"model {info.name!r} could not be built with model_params "
                            f"{mp}: {type(exc).__name__}: {str(exc)[:300]}") from None
    if info.weights == "efficientad_teacher" and weights_path is not None:
        _install_efficientad_teacher(module, weights_path)
    if weights_path is not None and needed:
        provenance = {"source": "file", "path": str(weights_path), "sha256": file_sha256(weights_path)}
    elif needed:
        provenance = {"source": "offline-cache"}
    else:
        provenance = {"source": "random-init"}
    provenance["kind"] = info.weights or "none"
    return BuiltModel(module=module, info=info, weights=provenance)
