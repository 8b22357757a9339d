"""SAM from segment_anything's modeling classes: the registry architectures (vit_h/l/b) or a
reduced encoder described by a JSON file, with weights from a local state dict."""
from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any, Mapping

from adlab.errors import PipelineError

REGISTRY_ENCODERS: dict[str, dict[str, Any]] = {
    "vit_h": {"encoder_embed_dim": 1280, "encoder_depth": 32, "encoder_num_heads": 16,
              "encoder_global_attn_indexes": [7, 15, 23, 31]},
    "vit_l": {"encoder_embed_dim": 1024, "encoder_depth": 24, "encoder_num_heads": 16,
              "encoder_global_attn_indexes": [5, 11, 17, 23]},
    "vit_b": {"encoder_embed_dim": 768, "encoder_depth": 12, "encoder_num_heads": 12,
              "encoder_global_attn_indexes": [2, 5, 8, 11]},
}
CONFIG_DEFAULTS: dict[str, Any] = {"image_size": 1024, "patch_size": 16, "prompt_embed_dim": 256,
                                   "window_size": 14, "mlp_ratio": 4.0}
SAM_CHECKPOINT_HINT = ("download a SAM checkpoint (e.g. sam_vit_h_4b8939.pth from "
                       "github.com/facebookresearch/segment-anything) and point sam_checkpoint at it")


def sam_config(sam_type: str) -> dict[str, Any]:
    """The encoder description for a registry name or a JSON file (keys as in REGISTRY_ENCODERS,
    optionally image_size, patch_size, prompt_embed_dim, window_size, mlp_ratio)."""
    if sam_type in REGISTRY_ENCODERS:
        return {**CONFIG_DEFAULTS, **REGISTRY_ENCODERS[sam_type], "name": sam_type}
    path = Path(sam_type).expanduser()
    if not path.is_file():
        raise PipelineError(f"sam_type {sam_type!r} is neither vit_h, vit_l, vit_b nor an existing JSON "
                            f"file describing the SAM encoder; fix sam_type")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PipelineError(f"sam_type: cannot read SAM config {path} ({exc}); give a JSON object") from None
    required = set(REGISTRY_ENCODERS["vit_b"])
    allowed = required | set(CONFIG_DEFAULTS) | {"name"}
    if not isinstance(raw, dict) or required - set(raw) or set(raw) - allowed:
        raise PipelineError(f"sam_type: SAM config {path} must hold {sorted(required)} (and optionally "
                            f"{sorted(CONFIG_DEFAULTS)}); got {sorted(raw) if isinstance(raw, dict) else raw!r}")
    return {**CONFIG_DEFAULTS, **raw, "name": raw.get("name", path.stem)}


def build_sam(config: Mapping[str, Any]) -> Any:
    """An untrained SAM of the described architecture (eval mode)."""
    from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                           TwoWayTransformer)
    import torch

    size, patch, dim = int(config["image_size"]), int(config["patch_size"]), int(config["prompt_embed_dim"])
    grid = size // patch
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=int(config["encoder_depth"]), embed_dim=int(config["encoder_embed_dim"]), img_size=size,
            mlp_ratio=float(config["mlp_ratio"]), norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=int(config["encoder_num_heads"]), patch_size=patch, qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=tuple(config["encoder_global_attn_indexes"]),
            window_size=int(config["window_size"]), out_chans=dim),
        prompt_encoder=PromptEncoder(embed_dim=dim, image_embedding_size=(grid, grid),
                                     input_image_size=(size, size), mask_in_chans=16),
        mask_decoder=MaskDecoder(num_multimask_outputs=3,
                                 transformer=TwoWayTransformer(depth=2, embedding_dim=dim, mlp_dim=2048,
                                                               num_heads=8),
                                 transformer_dim=dim, iou_head_depth=3, iou_head_hidden_dim=256),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


def read_state_dict(path: Path) -> dict[str, Any]:
    """A state dict from a .pth/.pt/.bin (torch.load, tensors only) or .safetensors file."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PipelineError(f"{path} does not hold a state dict; give a SAM checkpoint .pth")
    return state


def load_sam_weights(sam: Any, state: Mapping[str, Any], source: str, *, strict: bool = True) -> None:
    """Copy ``state`` into ``sam``; missing or mis-shaped keys are one clear error."""
    own = sam.state_dict()
    wrong = [k for k, v in state.items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
    if wrong:
        raise PipelineError(f"{source}: SAM weight {wrong[0]} has shape {tuple(state[wrong[0]].shape)} but "
                            f"the architecture expects {tuple(own[wrong[0]].shape)}; check sam_type")
    result = sam.load_state_dict(dict(state), strict=False)
    if strict and result.missing_keys:
        raise PipelineError(f"{source}: {len(result.missing_keys)} SAM weight(s) missing (first: "
                            f"{result.missing_keys[0]}); check that it is a SAM checkpoint of sam_type")


def load_sam(sam_type: str, checkpoint: str | None, *, required: bool = True) -> tuple[Any, dict[str, Any]]:
    """SAM of ``sam_type`` with the checkpoint's weights; returns (sam, provenance)."""
    config = sam_config(sam_type)
    sam = build_sam(config)
    info: dict[str, Any] = {"sam_type": config["name"], "sam_encoder": {k: config[k] for k in sorted(config)
                                                                        if k != "name"}}
    if checkpoint is None:
        if required:
            raise PipelineError(f"sam_checkpoint is not set; {SAM_CHECKPOINT_HINT}")
        return sam, info
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise PipelineError(f"sam_checkpoint {path} does not exist; {SAM_CHECKPOINT_HINT}")
    load_sam_weights(sam, read_state_dict(path), str(path))
    info["sam_checkpoint"] = str(path)
    return sam, info
