"""Reading released READ / LISA checkpoints (LLaVA-v1 code layout) and CLIP folders.

A READ or LISA folder holds config.json (Llama fields plus ``mm_*`` fields and ``out_dim``),
weights under the LLaVA code's names (``model.layers.*``, ``model.mm_projector.*``,
``model.visual_model.*`` for SAM, ``model.text_hidden_fcs.0.*`` for the <SEG> projection,
sometimes ``model.vision_tower.vision_tower.vision_model.*``) and a tokenizer with ``[SEG]``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adlab.errors import PipelineError

MLLM_HINT = ("download a READ checkpoint (e.g. rui-qian/READ-LLaVA-v1.5-7B-for-ReasonSeg-valtest) "
             "or a LISA one (e.g. xinlai/LISA-7B-v1) and point mllm_path at that folder")
CLIP_HINT = ("download the CLIP model the checkpoint was trained with (e.g. "
             "openai/clip-vit-large-patch14-336) and point clip_path at that folder")

SEG_PREFIX = "model.text_hidden_fcs.0."
SAM_PREFIX = "model.visual_model."
PROJECTOR_PREFIX = "model.mm_projector."
VISION_PREFIXES = ("model.vision_tower.vision_tower.vision_model.", "model.vision_tower.vision_model.")


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PipelineError(f"{path} does not exist; {what}") from None
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot read {path} ({exc}); {what}") from None
    if not isinstance(data, dict):
        raise PipelineError(f"{path} must hold a JSON object; {what}")
    return data


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a save_pretrained-style folder (sharded or not, safetensors or bin)."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            shards = sorted(set(read_json(index, "re-download the checkpoint")["weight_map"].values()))
            return [folder / s for s in shards]
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return [folder / name]
    return []


def read_weights(folder: Path, hint: str) -> dict[str, Any]:
    """Every tensor of a checkpoint folder, by name."""
    from adlab.pipelines.read.model.sam import read_state_dict

    files = weight_files(folder)
    if not files:
        raise PipelineError(f"{folder} holds no model weights (model.safetensors, pytorch_model.bin or an "
                            f"index); {hint}")
    state: dict[str, Any] = {}
    for path in files:
        if not path.is_file():
            raise PipelineError(f"{path} (listed in the index) is missing; {hint}")
        state.update(read_state_dict(path))
    return state


def require_folder(value: str | None, field: str, hint: str) -> Path:
    if not value:
        raise PipelineError(f"{field} is not set; {hint}")
    path = Path(value).expanduser()
    if not path.is_dir():
        raise PipelineError(f"{field} {path} is not a folder; {hint}")
    return path


def take(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The tensors under ``prefix``, prefix removed."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
