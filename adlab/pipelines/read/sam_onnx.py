"""SAM's prompt encoder + mask decoder as one ONNX graph run by onnxruntime, and the same
computation in torch (the reference for parity).

segment_anything's ``SamOnnxModel`` covers points, masks and post-processing; READ/LISA also put
the projected [SEG] embedding into the sparse prompt (after the points), and READ decodes with
``multimask_output=False`` (the first mask). :class:`SamPromptOnnx` adds both. The export needs
torch's legacy exporter (``dynamo=False``, opset 17): the dynamo exporter fails on the data
dependent output size. Image embeddings come from SAM's image encoder once per image and are
fed to either decoder.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PAD_LABEL = -1.0
ONNX_OPSET = 17
INPUT_NAMES = ["image_embeddings", "point_coords", "point_labels", "text_embeds", "orig_im_size"]
OUTPUT_NAMES = ["masks", "iou_predictions", "low_res_masks"]


def _onnx_module(sam: Any) -> Any:
    import torch
    from segment_anything.utils.onnx import SamOnnxModel

    class SamPromptOnnx(SamOnnxModel):
        """Points (with SAM's padding point) + text embeddings -> first mask at original size."""

        @torch.no_grad()
        def forward(self, image_embeddings, point_coords, point_labels, text_embeds, orig_im_size):  # type: ignore[override]
            sparse = self._embed_points(point_coords, point_labels)
            sparse = torch.cat([sparse, text_embeds.to(sparse.dtype)], dim=1)
            dense = self.model.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
            masks, scores = self.model.mask_decoder.predict_masks(
                image_embeddings=image_embeddings, image_pe=self.model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense)
            masks, scores = masks[:, :1], scores[:, :1]
            return self.mask_postprocessing(masks, orig_im_size), scores, masks

        def mask_postprocessing(self, masks, orig_im_size):  # type: ignore[override]
            # As SamOnnxModel's, but the crop to the resized size stays a tensor: ``int()`` there
            # would freeze the export-time image size into the graph.
            masks = torch.nn.functional.interpolate(masks, size=(self.img_size, self.img_size),
                                                    mode="bilinear", align_corners=False)
            prepadded = self.resize_longest_image_size(orig_im_size, self.img_size)
            masks = masks[..., : prepadded[0], : prepadded[1]]
            size = orig_im_size.to(torch.int64)
            return torch.nn.functional.interpolate(masks, size=(size[0], size[1]), mode="bilinear",
                                                   align_corners=False)

    return SamPromptOnnx(sam, return_single_mask=True).eval()


@dataclass(frozen=True)
class DecoderInputs:
    """One prompt in SAM's frame: (1, N, 2) coords incl. the padding point, (1, N) labels,
    (1, T, C) text embeddings (T = 0 for points only), the original (H, W)."""

    coords: np.ndarray
    labels: np.ndarray
    text: np.ndarray
    original_size: tuple[int, int]


def decoder_inputs(coords_sam: np.ndarray, labels: np.ndarray, text: np.ndarray | None,
                   original_size: tuple[int, int], embed_dim: int) -> DecoderInputs:
    """Add SAM's padding point (as ``PromptEncoder`` does for points without boxes; no points,
    no padding) and batch dimensions."""
    pts = np.asarray(coords_sam, np.float32).reshape(-1, 2)
    lab = np.asarray(labels, np.float32).reshape(-1)
    if len(lab):
        pts = np.concatenate([pts, np.zeros((1, 2), np.float32)])
        lab = np.concatenate([lab, [PAD_LABEL]]).astype(np.float32)
    txt = (np.zeros((0, embed_dim), np.float32) if text is None
           else np.asarray(text, np.float32).reshape(-1, embed_dim))
    return DecoderInputs(coords=pts[None], labels=lab[None], text=txt[None], original_size=original_size)


def torch_decode(sam: Any, image_embeddings: Any, inputs: DecoderInputs, input_size: tuple[int, int]) -> np.ndarray:
    """(H, W) mask logits with segment_anything's own modules (READ's generate_pred_masks)."""
    import torch

    device = image_embeddings.device
    with torch.inference_mode():
        n_real = max(0, inputs.coords.shape[1] - 1)  # without the padding point PromptEncoder adds
        points = None
        if n_real > 0:
            points = (torch.as_tensor(inputs.coords[:, :n_real], device=device),
                      torch.as_tensor(inputs.labels[:, :n_real], device=device).to(torch.int))
        sparse, dense = sam.prompt_encoder(points=points, boxes=None, masks=None)
        text = torch.as_tensor(inputs.text, device=device, dtype=sparse.dtype)
        sparse = torch.cat([sparse, text], dim=1)
        low_res, _ = sam.mask_decoder(image_embeddings=image_embeddings,
                                      image_pe=sam.prompt_encoder.get_dense_pe(),
                                      sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                      multimask_output=False)
        masks = sam.postprocess_masks(low_res, input_size=input_size, original_size=inputs.original_size)
    return masks[0, 0].float().cpu().numpy()


def export_decoder(sam: Any, path: Path) -> Path:
    """Write the prompt encoder + mask decoder graph (dynamic point and text counts)."""
    import torch

    module = _onnx_module(_decoder_parts(sam))
    dim = int(sam.prompt_encoder.embed_dim)
    grid = tuple(sam.prompt_encoder.image_embedding_size)
    dummy = (torch.randn(1, dim, *grid), torch.randint(0, 1024, (1, 3, 2), dtype=torch.float),
             torch.tensor([[1.0, 0.0, -1.0]]), torch.randn(1, 1, dim), torch.tensor([480.0, 640.0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # SAM's attention scale becomes a constant: correct, but noisy
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        _export(module, dummy, path)
    return path


def _export(module: Any, dummy: tuple, path: Path) -> None:
    import torch

    torch.onnx.export(module, dummy, str(path), input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                      dynamic_axes={"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"},
                                    "text_embeds": {1: "num_text"}, "masks": {2: "height", 3: "width"}},
                      opset_version=ONNX_OPSET, do_constant_folding=True, dynamo=False)


def _decoder_parts(sam: Any) -> Any:
    """A float32 CPU copy of what the graph needs (prompt encoder, mask decoder, sizes), leaving
    the caller's SAM (maybe on a GPU, without a copy of its large image encoder) untouched."""
    import copy
    from types import SimpleNamespace

    from torch import nn

    parts = nn.Module()
    parts.prompt_encoder = copy.deepcopy(sam.prompt_encoder).float().cpu()
    parts.mask_decoder = copy.deepcopy(sam.mask_decoder).float().cpu()
    parts.image_encoder = SimpleNamespace(img_size=int(sam.image_encoder.img_size))
    parts.mask_threshold = float(sam.mask_threshold)
    return parts


class OnnxDecoder:
    """An onnxruntime session over the exported graph."""

    def __init__(self, path: Path, provider: str = "auto", threads: int | None = None) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        wanted = {"cpu": ["CPUExecutionProvider"],
                  "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
                  "auto": ["CUDAExecutionProvider", "CPUExecutionProvider"]}[provider]
        providers = [p for p in wanted if p in available] or ["CPUExecutionProvider"]
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self.providers = self.session.get_providers()

    def decode(self, image_embeddings: np.ndarray, inputs: DecoderInputs) -> np.ndarray:
        masks, _, _ = self.session.run(None, {
            "image_embeddings": np.ascontiguousarray(image_embeddings, dtype=np.float32),
            "point_coords": inputs.coords, "point_labels": inputs.labels, "text_embeds": inputs.text,
            "orig_im_size": np.asarray(inputs.original_size, dtype=np.float32)})
        return masks[0, 0]
