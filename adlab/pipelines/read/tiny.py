"""Tiny random-weight models in the real on-disk formats, for tests and smoke runs.

Nothing here is a shortcut inside the pipeline: these builders write folders and files exactly
as users get them (a CLIP save_pretrained folder, a SAM state dict .pth with a JSON describing
its reduced encoder, a READ checkpoint folder in the LLaVA-v1 code layout), and the pipeline
loads them through its normal loading code.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# A SAM whose encoder is cut to one small block; prompt encoder and mask decoder keep SAM's
# real sizes (256-d prompts, 64x64 embeddings for 1024x1024 input).
TINY_SAM_CONFIG: dict[str, Any] = {"encoder_embed_dim": 16, "encoder_depth": 1, "encoder_num_heads": 1,
                                   "encoder_global_attn_indexes": [0], "window_size": 14,
                                   "image_size": 1024, "patch_size": 16, "prompt_embed_dim": 256}
CLIP_SPECIALS = ["<|startoftext|>", "<|endoftext|>"]
LLAMA_SPECIALS = ["<unk>", "<s>", "</s>"]
READ_ADDED = ["[SEG]", "<im_start>", "<im_end>"]


def byte_level_tokenizer(specials: list[str], *, bos: str | None, eos: str | None,
                         added: list[str] = (), unk: str | None = None) -> Any:
    """A ``PreTrainedTokenizerFast`` over the 256 byte characters (no merges, so any text
    encodes), the special tokens, and atomic added tokens; BOS (and EOS) wrap each text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {ch: i for i, ch in enumerate(sorted(set(bytes_to_unicode().values())))}
    for token in specials:
        vocab[token] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    single = " ".join(([bos] if bos else []) + ["$A"] + ([eos] if eos and bos == CLIP_SPECIALS[0] else []))
    pairs = [(t, vocab[t]) for t in (bos, eos) if t]
    tok.post_processor = processors.TemplateProcessing(single=single, special_tokens=pairs)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, unk_token=unk,
                                   pad_token=eos)
    if added:
        fast.add_tokens(list(added))
    return fast


def write_tiny_clip(folder: Path, *, image_size: int = 32, patch_size: int = 8, hidden: int = 32,
                    projection_dim: int = 24, seed: int = 0) -> Path:
    """A CLIP folder (both towers, image processor, tokenizer) as ``save_pretrained`` writes it."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(seed)
    tokenizer = byte_level_tokenizer(CLIP_SPECIALS, bos=CLIP_SPECIALS[0], eos=CLIP_SPECIALS[1])
    eos_id = tokenizer.convert_tokens_to_ids(CLIP_SPECIALS[1])
    config = CLIPConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": hidden, "intermediate_size": 2 * hidden,
                     "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 77,
                     "eos_token_id": eos_id, "bos_token_id": eos_id - 1, "pad_token_id": eos_id},
        vision_config={"hidden_size": hidden, "intermediate_size": 2 * hidden, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": image_size, "patch_size": patch_size},
        projection_dim=projection_dim)
    folder.mkdir(parents=True, exist_ok=True)
    CLIPModel(config).save_pretrained(str(folder))
    CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
                       ).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def write_tiny_sam(folder: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """(``sam_tiny.pth`` state dict, ``sam_tiny.json`` describing its reduced encoder)."""
    import torch

    from adlab.pipelines.read.model.sam import build_sam, sam_config

    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "sam_tiny.json"
    config_path.write_text(json.dumps(TINY_SAM_CONFIG, indent=2))
    torch.manual_seed(seed)
    sam = build_sam(sam_config(str(config_path)))
    weights = folder / "sam_tiny.pth"
    torch.save(sam.state_dict(), str(weights))
    return weights, config_path


def write_tiny_read(folder: Path, *, sam_config_path: Path | None = None, hidden: int = 32,
                    vision_hidden: int = 32, projector: str = "mlp2x_gelu", include_sam: bool = True,
                    vision_tower: str = "openai/clip-vit-large-patch14-336", seed: int = 0,
                    architecture: str = "READForCausalLM") -> Path:
    """A READ/LISA checkpoint folder in the LLaVA-v1 code layout: config.json with Llama and
    ``mm_*`` fields, ``model.safetensors`` under the original weight names (LLM, mm_projector,
    text_hidden_fcs, and SAM as visual_model when ``include_sam``), a tokenizer with [SEG]."""
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    from adlab.pipelines.read.model.mllm import seg_projection
    from adlab.pipelines.read.model.sam import build_sam, sam_config

    torch.manual_seed(seed)
    tokenizer = byte_level_tokenizer(LLAMA_SPECIALS, bos="<s>", eos="</s>", unk="<unk>", added=READ_ADDED)
    llama_fields = {"hidden_size": hidden, "intermediate_size": 2 * hidden, "num_hidden_layers": 2,
                    "num_attention_heads": 2, "num_key_value_heads": 2, "hidden_act": "silu",
                    "max_position_embeddings": 512, "rms_norm_eps": 1e-6,
                    "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                    "pad_token_id": tokenizer.unk_token_id}
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), tie_word_embeddings=False, **llama_fields))
    state = {k: v.contiguous() for k, v in llama.state_dict().items()}
    if projector == "mlp2x_gelu":
        mlp = torch.nn.Sequential(torch.nn.Linear(vision_hidden, hidden), torch.nn.GELU(),
                                  torch.nn.Linear(hidden, hidden))
        state.update({f"model.mm_projector.{k}": v for k, v in mlp.state_dict().items()})
    else:
        lin = torch.nn.Linear(vision_hidden, hidden)
        state.update({f"model.mm_projector.{k}": v for k, v in lin.state_dict().items()})
    out_dim = 256
    if include_sam:
        if sam_config_path is None:
            raise ValueError("include_sam needs sam_config_path (the reduced SAM's JSON)")
        sam = build_sam(sam_config(str(sam_config_path)))
        out_dim = int(sam.prompt_encoder.embed_dim)
        state.update({f"model.visual_model.{k}": v for k, v in sam.state_dict().items()})
    state.update({f"model.text_hidden_fcs.0.{k}": v for k, v in seg_projection(hidden, out_dim).state_dict().items()})
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"),
              metadata={"format": "pt"})
    config = {"architectures": [architecture], "model_type": "llava", "vocab_size": len(tokenizer),
              **llama_fields, "tie_word_embeddings": False, "torch_dtype": "float32",
              "mm_vision_tower": vision_tower, "vision_tower": vision_tower, "mm_hidden_size": vision_hidden,
              "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch", "mm_use_im_start_end": True,
              "mm_use_im_patch_token": False, "out_dim": out_dim, "train_mask_decoder": True,
              **({"mm_projector_type": projector} if projector == "mlp2x_gelu" else {})}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(str(folder))
    return folder
