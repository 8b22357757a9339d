"""Seed 002's condition fields (``base-exp_condition.json``) as anomalib pipeline params.

The seed's ``config`` blocks are flat (``model_type``, ``source_domain``, ``max_epochs``,
``early_stopping_patience``, ``learning_rate``, ``batch_size``, ``image_size: "224x224"``) plus
the model's own parameters inline (``encoder_name``, ``target_layers``). :func:`translate`
maps each to adlab's field and says so in one line per field; adlab's own field names pass
through unchanged; anything else is refused naming the field and what exists.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from adlab.errors import ConfigError
from adlab.pipelines.anomalib.model_params import resolve_model
from adlab.pipelines.anomalib.params import AnomalibParams

Note = str
_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
# The seed's anomalib (a development version) named the Dinomaly encoders differently from
# anomalib 2.7 / timm: dinov2reg_vit_base_14 is timm's vit_base_patch14_reg4_dinov2.
_OLD_DINO = re.compile(r"^dinov2(reg)?_vit_(small|base|large|giant)_(\d+)$")


def _image_size(value: Any, where: str) -> Any:
    if isinstance(value, str):
        match = _SIZE.match(value)
        if not match:
            raise ConfigError(f"{where}: image_size {value!r} is not HEIGHTxWIDTH (e.g. \"224x224\") "
                              f"or a number; fix the value")
        h, w = int(match.group(1)), int(match.group(2))
        return h if h == w else [h, w]
    return value


def _encoder(value: Any) -> tuple[Any, str]:
    match = _OLD_DINO.match(str(value))
    if not match:
        return value, ""
    reg, size, patch = match.groups()
    name = f"vit_{size}_patch{patch}{'_reg4' if reg else ''}_dinov2"
    return name, f" (the seed's encoder name for timm's {name})"


def _set(params: dict[str, Any], dotted: str, value: Any) -> None:
    node = params
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


# seed field -> adlab field. Fields needing more than a rename are handled in translate().
RENAMED: Mapping[str, str] = {
    "model_type": "model",
    "max_epochs": "train.max_epochs",
    "early_stopping_patience": "train.early_stopping.patience",
    "learning_rate": "train.learning_rate",
    "batch_size": "train.batch_size",
    "image_size": "image_size",
    "source_domain": "data.categories",
    "target_domains": "cross_domain.test_domains",
}
# Training-only fields a model without an optimizer ignores (the seed's trainer did too).
OPTIMIZER_FIELDS = ("learning_rate", "early_stopping_patience")
CONVERTERS: Mapping[str, Callable[[Any, str], Any]] = {"image_size": _image_size}


def seed_fields() -> list[str]:
    """Every seed field name adlab maps (for error messages and docs)."""
    return sorted(RENAMED)


def translate(config: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[Note]]:
    """``(anomalib params, one note per mapped field)`` for one seed ``config`` block."""
    native = set(AnomalibParams.model_fields)
    model = config.get("model_type", config.get("model"))
    info = None
    if model is not None:
        try:
            info = resolve_model(str(model))
        except ValueError as exc:
            raise ConfigError(f"{where}: model_type: {exc}") from None
    model_keys = set(info.params.model_fields) if info is not None else set()
    passed = native - set(RENAMED)  # adlab's own names, as written
    params: dict[str, Any] = {k: v for k, v in config.items() if k in passed}
    notes: list[Note] = []
    for key, value in config.items():
        if key in passed:
            continue
        if key in OPTIMIZER_FIELDS and info is not None and not info.trainable:
            notes.append(f"{key} = {value!r} ignored: {info.name} has no optimizer")
            continue
        if key in RENAMED:
            target = RENAMED[key]
            converted = CONVERTERS[key](value, where) if key in CONVERTERS else value
            _set(params, target, converted)
            notes.append(f"{key} -> {target} = {converted!r}")
        elif key in model_keys:
            converted, why = _encoder(value) if key == "encoder_name" else (value, "")
            _set(params, f"model_params.{key}", converted)
            notes.append(f"{key} -> model_params.{key} = {converted!r}{why}")
        else:
            model_part = (f"; {info.name}'s model_params: {', '.join(sorted(model_keys))}"
                          if info is not None else "")
            raise ConfigError(
                f"{where}: field {key!r} is neither a seed 002 field adlab maps "
                f"({', '.join(seed_fields())}) nor an anomalib pipeline field "
                f"({', '.join(sorted(native))}){model_part}; rename or remove it")
    if "source_domain" in config:
        notes.extend(_domain_defaults(params, config))
    return params, notes


def _domain_defaults(params: dict[str, Any], config: Mapping[str, Any]) -> list[Note]:
    """A source domain means seed 002's protocol: train on it, test on the other domains of
    an HDMAP tree (unless the condition says otherwise)."""
    from adlab.data.folder import HDMAP_OPTIONS

    notes: list[Note] = []
    data = params.setdefault("data", {})
    if "target_domains" not in config and "cross_domain" not in config:
        _set(params, "cross_domain.test_domains", "auto")
        notes.append("source_domain: the other domains are scored too (cross_domain.test_domains = "
                     "'auto', seed 002's target_domains default)")
    if "dataset" not in data:
        data["dataset"] = "folder"
        data.setdefault("options", dict(HDMAP_OPTIONS))
        notes.append("source_domain: HDMAP layout, data.dataset = 'folder' with options "
                     f"{HDMAP_OPTIONS} (<root>/<domain>/train/good, test/good, test/fault); "
                     "set data.root or --data-root")
    return notes
