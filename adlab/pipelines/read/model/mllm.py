"""READ's multimodal LLM: LLaVA (CLIP vision tower -> projector -> Llama) with a ``[SEG]`` token
whose last-layer hidden state goes through the projection MLP (``text_hidden_fcs``) into SAM's
prompt space; the same hidden states at the image positions give SasP's similarity map.

A released READ/LISA folder is converted on load into transformers' ``LlavaForConditionalGeneration``
(same weights, standard modules); image features are spliced into the token embeddings where the
LLaVA-v1 code splices them (``<im_start> <image> <im_end>``), so positions match the original.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adlab.errors import PipelineError
from adlab.pipelines.read import prompts
from adlab.pipelines.read.model.checkpoint import (CLIP_HINT, MLLM_HINT, PROJECTOR_PREFIX, SAM_PREFIX,
                                                   SEG_PREFIX, VISION_PREFIXES, read_json, read_weights,
                                                   require_folder, take)

IMAGE_PLACEHOLDER = "<image>"
IM_START, IM_END = "<im_start>", "<im_end>"
LLAMA_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "hidden_act", "max_position_embeddings", "rms_norm_eps",
              "rope_theta", "rope_scaling", "bos_token_id", "eos_token_id", "pad_token_id",
              "attention_bias", "mlp_bias", "head_dim")


@dataclass
class SegAnswer:
    """What the MLLM says about one image: its answer, whether it emitted [SEG], the projected
    [SEG] embedding for SAM (out_dim,), and SasP's (patches,) similarity of image states to it."""

    text: str  # the answer the hidden states were taken from
    generated: str | None  # the model's own answer (None when the answer is fixed)
    seg_found: bool
    seg_embedding: np.ndarray
    similarity: np.ndarray


def seg_projection(hidden: int, out_dim: int) -> Any:
    """``text_hidden_fcs[0]``: Linear(h, h) -> ReLU -> Linear(h, out_dim) (-> Dropout(0))."""
    from torch import nn

    return nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim),
                         nn.Dropout(0.0))


def _vision_config(clip_folder: Path) -> Any:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(clip_folder))
    return getattr(config, "vision_config", config)


def _clip_vision_weights(clip_folder: Path) -> dict[str, Any]:
    state = read_weights(clip_folder, CLIP_HINT)
    vision = take(state, "vision_model.")
    if not vision:
        raise PipelineError(f"{clip_folder} holds no CLIP vision weights (vision_model.*); {CLIP_HINT}")
    return vision


def _vision_folder(config: dict[str, Any], clip_path: str | None) -> Path:
    if clip_path:
        return require_folder(clip_path, "clip_path", CLIP_HINT)
    for key in ("mm_vision_tower", "vision_tower"):
        value = config.get(key)
        if value and Path(str(value)).expanduser().is_dir():
            return Path(str(value)).expanduser()
    named = config.get("mm_vision_tower") or config.get("vision_tower") or "its CLIP model"
    raise PipelineError(f"the checkpoint's vision tower {named} is not a local folder and clip_path is not "
                        f"set; {CLIP_HINT}")


def _projector_weights(state: dict[str, Any], hidden: int) -> tuple[dict[str, Any], str]:
    """LLaVA-1.5's mlp2x_gelu projector maps 1:1; LLaVA-v1's single linear projector becomes
    linear_1 with an identity linear_2 and no activation (the same function)."""
    import torch

    proj = take(state, PROJECTOR_PREFIX)
    if "0.weight" in proj and "2.weight" in proj:
        return {"linear_1.weight": proj["0.weight"], "linear_1.bias": proj["0.bias"],
                "linear_2.weight": proj["2.weight"], "linear_2.bias": proj["2.bias"]}, "gelu"
    if "weight" in proj:
        eye = torch.eye(hidden, dtype=proj["weight"].dtype)
        return {"linear_1.weight": proj["weight"], "linear_1.bias": proj["bias"],
                "linear_2.weight": eye, "linear_2.bias": torch.zeros(hidden, dtype=eye.dtype)}, "linear"
    raise PipelineError(f"the checkpoint has no {PROJECTOR_PREFIX}* weights (LLaVA projector); {MLLM_HINT}")


class ReadMllm:
    """A loaded READ/LISA model: tokenizer, LLaVA, [SEG] projection, and the checkpoint's SAM
    weights (``sam_state``, possibly empty) for the caller to load into its SAM."""

    def __init__(self, llava: Any, projection: Any, tokenizer: Any, *, seg_token_id: int,
                 use_im_start_end: bool, sam_state: dict[str, Any], vision_folder: Path,
                 info: dict[str, Any]) -> None:
        self.llava = llava
        self.projection = projection
        self.tokenizer = tokenizer
        self.seg_token_id = seg_token_id
        self.use_im_start_end = use_im_start_end
        self.sam_state = sam_state
        self.vision_folder = vision_folder
        self.info = info
        self.image_size = int(llava.config.vision_config.image_size)
        self.patch_size = int(llava.config.vision_config.patch_size)

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def device(self) -> Any:
        return self.projection[0].weight.device

    @classmethod
    def load(cls, mllm_path: str | None, clip_path: str | None, *, device: str = "cpu",
             dtype: str = "auto") -> "ReadMllm":
        from transformers import AutoTokenizer, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

        folder = require_folder(mllm_path, "mllm_path", MLLM_HINT)
        config = read_json(folder / "config.json", MLLM_HINT)
        torch_dtype = _dtype(dtype, device)
        state = read_weights(folder, MLLM_HINT)
        if "model.embed_tokens.weight" not in state or not take(state, SEG_PREFIX):
            raise PipelineError(f"{folder} is not a READ/LISA checkpoint (needs model.embed_tokens and "
                                f"{SEG_PREFIX}* weights); {MLLM_HINT}")
        vision_folder = _vision_folder(config, clip_path)
        vocab = int(state["model.embed_tokens.weight"].shape[0])
        text_config = LlamaConfig(vocab_size=vocab, **{k: config[k] for k in LLAMA_KEYS if k in config})
        hidden = int(text_config.hidden_size)
        projector, act = _projector_weights(state, hidden)
        vision_config = _vision_config(vision_folder)
        select_layer = int(config.get("mm_vision_select_layer", -2))
        llava_config = LlavaConfig(vision_config=vision_config.to_dict(), text_config=text_config.to_dict(),
                                   image_token_id=vocab,  # never in a sequence: features are spliced here
                                   projector_hidden_act=act,
                                   vision_feature_layer=select_layer, vision_feature_select_strategy="default",
                                   tie_word_embeddings=bool(config.get("tie_word_embeddings", False)))
        llava = LlavaForConditionalGeneration(llava_config).eval()
        lm = take(state, "model.")
        lm = {k: v for k, v in lm.items()
              if not k.startswith(("mm_projector.", "visual_model.", "text_hidden_fcs.", "vision_tower."))}
        _load_into(llava.model.language_model, lm, folder, "language model")
        _load_into(llava.lm_head, take(state, "lm_head."), folder, "lm_head")
        _load_into(llava.model.multi_modal_projector, projector, folder, "projector")
        vision = next((take(state, p) for p in VISION_PREFIXES if take(state, p)), None)
        vision_source = str(folder)
        if vision is None:
            vision, vision_source = _clip_vision_weights(vision_folder), str(vision_folder)
        _load_vision(llava.model.vision_tower, vision, vision_source)
        out_dim = int(config.get("out_dim", 256))
        projection = seg_projection(hidden, out_dim).eval()
        _load_into(projection, take(state, SEG_PREFIX), folder, "[SEG] projection (text_hidden_fcs)")
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        ids = tokenizer(prompts.SEG_TOKEN, add_special_tokens=False).input_ids
        if len(ids) != 1:
            raise PipelineError(f"the tokenizer in {folder} has no single {prompts.SEG_TOKEN} token; "
                                f"{MLLM_HINT}")
        llava.to(device=device, dtype=torch_dtype)
        projection.to(device=device, dtype=torch_dtype)
        info = {"mllm_path": str(folder), "architecture": (config.get("architectures") or ["?"])[0],
                "vision_weights": vision_source, "projector": act, "dtype": str(torch_dtype).replace("torch.", ""),
                "llm_parameters": int(sum(p.numel() for p in llava.parameters()))}
        return cls(llava, projection, tokenizer, seg_token_id=int(ids[0]),
                   use_im_start_end=bool(config.get("mm_use_im_start_end", False)),
                   sam_state=take(state, SAM_PREFIX), vision_folder=vision_folder, info=info)

    # --- inference -------------------------------------------------------------------------
    def _embed_text(self, text: str, *, first: bool) -> Any:
        import torch

        ids = self.tokenizer(text, add_special_tokens=first).input_ids
        return torch.as_tensor(ids, dtype=torch.long, device=self.device)

    def image_features(self, pixel_values: Any) -> Any:
        """(patches, hidden): vision tower layer ``vision_feature_layer`` without CLS -> projector."""
        cfg = self.llava.config
        tower = self.llava.model.vision_tower
        out = tower(pixel_values.to(self.device, dtype=self.projection[0].weight.dtype),
                    output_hidden_states=True)
        feats = out.hidden_states[cfg.vision_feature_layer][:, 1:]
        return self.llava.model.multi_modal_projector(feats)[0]

    def prompt_embeddings(self, pixel_values: Any, question: str) -> tuple[Any, int]:
        """Token embeddings of the LLaVA-v1 chat with image features spliced in; the image start."""
        import torch

        placeholder = f"{IM_START}{IMAGE_PLACEHOLDER}{IM_END}" if self.use_im_start_end else IMAGE_PLACEHOLDER
        text = prompts.llava_v1_conversation(question, placeholder)
        before, after = text.split(IMAGE_PLACEHOLDER, 1)
        embed = self.llava.get_input_embeddings()
        head, tail = self._embed_text(before, first=True), self._embed_text(after, first=False)
        image = self.image_features(pixel_values)
        embeds = torch.cat([embed(head), image.to(embed.weight.dtype), embed(tail)], dim=0)
        return embeds, int(head.numel())

    def answer(self, pixel_values: Any, question: str, *, mode: str = "generate",
               max_new_tokens: int = 32) -> SegAnswer:
        """Answer (greedy, or the fixed LISA/READ answer), then one forward pass over prompt +
        answer: the state that emits [SEG] -> projection -> SAM embedding; image states . it ->
        similarity. Without a generated [SEG], the fixed answer is used (``seg_found`` False)."""
        import torch

        with torch.inference_mode():
            prompt, image_start = self.prompt_embeddings(pixel_values, question)
            answer_ids: list[int] = []
            generated = None
            if mode == "generate":
                answer_ids = self._generate(prompt, max_new_tokens)
                generated = self.tokenizer.decode(answer_ids, skip_special_tokens=False)
            seg_found = self.seg_token_id in answer_ids
            if not seg_found:
                answer_ids = self.tokenizer(" " + prompts.FIXED_ANSWER, add_special_tokens=False).input_ids
            text = self.tokenizer.decode(answer_ids, skip_special_tokens=False)
            ids = torch.as_tensor(answer_ids, dtype=torch.long, device=self.device)
            embeds = torch.cat([prompt, self.llava.get_input_embeddings()(ids)], dim=0)
            out = self.llava.model.language_model(inputs_embeds=embeds[None], use_cache=False)
            hidden = out.last_hidden_state[0]
            seg_pos = prompt.shape[0] + answer_ids.index(self.seg_token_id)
            seg_state = hidden[seg_pos - 1]  # the state whose next token is [SEG] (as LISA/READ take it)
            seg_embedding = self.projection(seg_state)
            image_states = hidden[image_start:image_start + self.num_patches]
            similarity = image_states.float() @ seg_state.float()
        return SegAnswer(text=text, generated=generated, seg_found=seg_found and mode == "generate",
                         seg_embedding=seg_embedding.float().cpu().numpy(),
                         similarity=similarity.cpu().numpy().astype(np.float64))

    def _generate(self, prompt: Any, max_new_tokens: int) -> list[int]:
        import torch

        eos = self.tokenizer.eos_token_id
        out = self.llava.generate(inputs_embeds=prompt[None], attention_mask=torch.ones(
            1, prompt.shape[0], dtype=torch.long, device=self.device), max_new_tokens=max_new_tokens,
            do_sample=False, num_beams=1, eos_token_id=eos, pad_token_id=eos if eos is not None else 0)
        ids = out[0].tolist()
        if eos is not None and eos in ids:
            ids = ids[:ids.index(eos)]
        return ids


def _dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def _load_into(module: Any, state: dict[str, Any], folder: Path, what: str) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    if missing:
        raise PipelineError(f"{folder}: {what} weight {missing[0]} is missing ({len(missing)} in all); "
                            f"{MLLM_HINT}")
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        raise PipelineError(f"{folder}: {what} weight {bad[0]} has shape {tuple(state[bad[0]].shape)}, "
                            f"expected {tuple(own[bad[0]].shape)}; the config does not match the weights")
    module.load_state_dict({k: state[k] for k in own}, strict=True)


def _load_vision(tower: Any, vision: dict[str, Any], source: str) -> None:
    """CLIP vision weights (``embeddings.*``, ``encoder.*``, ...) into the tower, whatever prefix
    its own state dict uses."""
    own = tower.state_dict()
    prefix = "vision_model." if any(k.startswith("vision_model.") for k in own) else ""
    state = {prefix + k: v for k, v in vision.items() if prefix + k in own}
    missing = sorted(set(own) - set(state))
    if missing:
        raise PipelineError(f"{source}: CLIP vision weight {missing[0]} is missing; {CLIP_HINT}")
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        raise PipelineError(f"{source}: CLIP vision weight {bad[0]} has shape {tuple(state[bad[0]].shape)}, "
                            f"expected {tuple(own[bad[0]].shape)}; {CLIP_HINT}")
    tower.load_state_dict(state, strict=True)
