"""Image preprocessing as READ does it.

CLIP: ``CLIPImageProcessor`` (shortest side resized, centre crop) at the vision tower's size -
336x336 for clip-vit-large-patch14-336, i.e. 24x24 = 576 patches. SAM: ``ResizeLongestSide``
to the encoder size (1024), pixel normalisation, zero padding to 1024x1024 - 64x64 patches of 16.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class SamInput:
    """A SAM-ready image: (1, 3, S, S) tensor, the resized size before padding, the original size."""

    pixels: Any  # torch.Tensor
    input_size: tuple[int, int]
    original_size: tuple[int, int]


def clip_processor(folder: str | Path | None, image_size: int) -> Any:
    """The folder's ``CLIPImageProcessor`` when it has one, else CLIP's defaults at ``image_size``."""
    from transformers import CLIPImageProcessor

    if folder is not None and (Path(folder) / "preprocessor_config.json").is_file():
        proc = CLIPImageProcessor.from_pretrained(str(folder))
        crop = proc.crop_size
        side = crop.get("height") if isinstance(crop, dict) else crop
        if side == image_size:
            return proc
    return CLIPImageProcessor(size={"shortest_edge": image_size},
                              crop_size={"height": image_size, "width": image_size},
                              do_center_crop=True, image_mean=list(OPENAI_CLIP_MEAN),
                              image_std=list(OPENAI_CLIP_STD))


def clip_pixels(processor: Any, image: np.ndarray) -> Any:
    """(1, 3, S, S) float tensor for the CLIP vision tower from an (H, W, 3) uint8 image."""
    return processor(images=np.array(image, copy=True), return_tensors="pt")["pixel_values"]


def sam_pixels(sam: Any, image: np.ndarray) -> SamInput:
    """Resize the longest side to SAM's encoder size, normalise and pad (``Sam.preprocess``)."""
    import torch
    from segment_anything.utils.transforms import ResizeLongestSide

    size = int(sam.image_encoder.img_size)
    resized = ResizeLongestSide(size).apply_image(image)
    tensor = torch.as_tensor(resized).permute(2, 0, 1).contiguous()[None].float()
    device = sam.pixel_mean.device
    pixels = sam.preprocess(tensor.to(device))
    return SamInput(pixels=pixels, input_size=(int(resized.shape[0]), int(resized.shape[1])),
                    original_size=(int(image.shape[0]), int(image.shape[1])))


def sam_point_coords(points_xy: np.ndarray, original_size: tuple[int, int], sam_size: int) -> np.ndarray:
    """Original-image (x, y) points -> the resized SAM frame (``ResizeLongestSide.apply_coords``)."""
    from segment_anything.utils.transforms import ResizeLongestSide

    return ResizeLongestSide(sam_size).apply_coords(np.asarray(points_xy, dtype=np.float32).copy(),
                                                   original_size).astype(np.float32)
