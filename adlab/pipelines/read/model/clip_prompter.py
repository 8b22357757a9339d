"""The training-free baseline's prompter: CLIP alone. Patch features of the image (post-layernorm,
projected into the joint space) against the anomaly text minus the normal text (READ's
``compute_similarity_map`` with redundant features) give the similarity map that SasP turns
into SAM points; no LLM, no [SEG] embedding."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from adlab.errors import PipelineError
from adlab.pipelines.read.model.checkpoint import require_folder

BASELINE_CLIP_HINT = ("download a CLIP model with both towers (e.g. openai/clip-vit-large-patch14-336) and "
                      "point clip_path at that folder")


class ClipPrompter:
    def __init__(self, model: Any, tokenizer: Any, folder: Path) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.folder = folder
        self.image_size = int(model.config.vision_config.image_size)
        self._text_cache: dict[str, np.ndarray] = {}

    @classmethod
    def load(cls, clip_path: str | None, *, device: str = "cpu") -> "ClipPrompter":
        from transformers import AutoTokenizer, CLIPModel

        folder = require_folder(clip_path, "clip_path", BASELINE_CLIP_HINT)
        try:
            model = CLIPModel.from_pretrained(str(folder)).eval().to(device)
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
        except (OSError, ValueError) as exc:
            raise PipelineError(f"clip_path {folder} is not a CLIP model folder ({exc}); "
                                f"{BASELINE_CLIP_HINT}") from None
        return cls(model, tokenizer, folder)

    @property
    def device(self) -> Any:
        return self.model.visual_projection.weight.device

    def text_feature(self, text: str) -> np.ndarray:
        """Unit-norm CLIP text embedding (cached per text)."""
        import torch

        if text not in self._text_cache:
            tokens = self.tokenizer([text], return_tensors="pt", padding=True)
            with torch.inference_mode():
                out = self.model.text_model(input_ids=tokens["input_ids"].to(self.device),
                                            attention_mask=tokens["attention_mask"].to(self.device))
                feat = self.model.text_projection(out.pooler_output)[0].float()
            self._text_cache[text] = (feat / feat.norm().clamp_min(1e-12)).cpu().numpy()
        return self._text_cache[text]

    def patch_features(self, pixel_values: Any) -> np.ndarray:
        """(patches, dim) unit-norm patch embeddings in CLIP's joint space (CLS dropped)."""
        import torch

        with torch.inference_mode():
            out = self.model.vision_model(pixel_values=pixel_values.to(self.device))
            patches = self.model.vision_model.post_layernorm(out.last_hidden_state[0, 1:])
            feats = self.model.visual_projection(patches).float()
            feats = feats / feats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return feats.cpu().numpy()

    def similarity(self, pixel_values: Any, anomaly_text: str, normal_text: str) -> np.ndarray:
        from adlab.pipelines.read.model.sasp import patch_similarity

        return patch_similarity(self.patch_features(pixel_values), self.text_feature(anomaly_text),
                                redundant=self.text_feature(normal_text))

