"""One image in, mask logits out: SAM's image encoder once per image, a prompt (READ: the MLLM's
[SEG] embedding + SasP points from its similarity map; baseline: SasP points from CLIP's
similarity map), then the prompt encoder + mask decoder (onnxruntime or torch), post-processed
back to the original image size."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adlab.errors import PipelineError
from adlab.pipelines.read import prompts
from adlab.pipelines.read.params import ReadParams
from adlab.pipelines.read.preprocess import SamInput, clip_pixels, clip_processor, sam_pixels, sam_point_coords
from adlab.pipelines.read.sam_onnx import DecoderInputs, decoder_inputs, torch_decode


@dataclass
class ImagePrompt:
    """The prompt for one image, and what produced it (kept as per-sample metadata)."""

    question: str
    decoder: DecoderInputs
    points_xy: np.ndarray
    point_labels: np.ndarray
    answer: str | None = None
    seg_found: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class EncodedImage:
    sam_input: SamInput
    embeddings: Any  # torch (1, C, 64, 64)


class Segmenter:
    def __init__(self, params: ReadParams, sam: Any, *, mllm: Any = None, clip: Any = None,
                 clip_folder: Any = None) -> None:
        self.params = params
        self.sam = sam
        self.mllm = mllm
        self.clip = clip
        size = mllm.image_size if mllm is not None else clip.image_size
        self.clip_size = int(size)
        self.processor = clip_processor(clip_folder, self.clip_size)
        self.embed_dim = int(sam.prompt_encoder.embed_dim)
        self.sam_size = int(sam.image_encoder.img_size)

    def encode(self, image: np.ndarray) -> EncodedImage:
        """SAM's image embedding, computed once per image and reused by every decode of it."""
        import torch

        sam_input = sam_pixels(self.sam, image)
        with torch.inference_mode():
            embeddings = self.sam.image_encoder(sam_input.pixels)
        return EncodedImage(sam_input=sam_input, embeddings=embeddings)

    def prompt(self, image: np.ndarray, category: str, defect_type: str) -> ImagePrompt:
        from adlab.pipelines.read.model.sasp import PointPrompt, similarity_to_points

        p = self.params
        question = prompts.render(p.question_template, category, defect_type)
        pixels = clip_pixels(self.processor, image)
        answer, text, seg_found, extra = None, None, None, {}
        if self.mllm is not None:
            answer = self.mllm.answer(pixels, question, mode=p.prompt.answer,
                                      max_new_tokens=p.prompt.max_new_tokens)
            similarity, text, seg_found = answer.similarity, answer.text, answer.seg_found
            extra = {"generated": answer.generated}
        else:
            normal = prompts.render(p.prompt.normal_template, category, defect_type)
            similarity = self.clip.similarity(pixels, question, normal)
        shape = (int(image.shape[0]), int(image.shape[1]))
        if p.points.enabled:
            pts = similarity_to_points(similarity, shape, clip_size=self.clip_size,
                                       num_points=p.points.num_points, t_pos=p.points.t_pos,
                                       t_neg=p.points.t_neg, down_sample=p.points.down_sample)
        else:
            pts = PointPrompt(coords=np.zeros((0, 2), np.float32), labels=np.zeros(0, np.int64))
        if answer is None and not len(pts.labels):
            raise PipelineError("mode: baseline needs points (points.enabled: true): without the LLM "
                                "they are SAM's only prompt")
        coords_sam = sam_point_coords(pts.coords, shape, self.sam_size) if len(pts.labels) else pts.coords
        inputs = decoder_inputs(coords_sam, pts.labels, None if answer is None else answer.seg_embedding,
                                shape, self.embed_dim)
        return ImagePrompt(question=question, decoder=inputs, points_xy=pts.coords, point_labels=pts.labels,
                           answer=text, seg_found=seg_found, extra=extra)

    def decode_torch(self, encoded: EncodedImage, prompt: ImagePrompt) -> np.ndarray:
        return torch_decode(self.sam, encoded.embeddings, prompt.decoder, encoded.sam_input.input_size)


def load_segmenter(params: ReadParams, device: str) -> tuple[Segmenter, dict[str, Any]]:
    """Load what the mode needs from local paths; returns the segmenter and weight provenance."""
    from adlab.pipelines.read.model.sam import load_sam, load_sam_weights

    info: dict[str, Any] = {"mode": params.mode}
    if params.mode == "baseline":
        from adlab.pipelines.read.model.clip_prompter import ClipPrompter

        sam, sam_info = load_sam(params.sam_type, params.sam_checkpoint, required=True)
        clip = ClipPrompter.load(params.clip_path, device=device)
        info.update(sam_info, clip_path=str(clip.folder))
        return Segmenter(params, sam.to(device), clip=clip, clip_folder=clip.folder), info
    from adlab.pipelines.read.model.mllm import ReadMllm

    mllm = ReadMllm.load(params.mllm_path, params.clip_path, device=device, dtype=params.dtype)
    sam, sam_info = load_sam(params.sam_type, params.sam_checkpoint, required=not mllm.sam_state)
    if mllm.sam_state:  # READ/LISA fine-tune SAM's decoder: the checkpoint's SAM weights win
        load_sam_weights(sam, mllm.sam_state, f"{params.mllm_path} (visual_model)",
                         strict=params.sam_checkpoint is None)
        sam_info["sam_weights"] = "mllm checkpoint" + (" over sam_checkpoint" if params.sam_checkpoint else "")
    info.update(sam_info, **mllm.info)
    return Segmenter(params, sam.to(device), mllm=mllm, clip_folder=mllm.vision_folder), info
