"""Local Hugging Face vision-language models through transformers' image-text-to-text classes.

Any checkpoint that ``AutoModelForImageTextToText`` and ``AutoProcessor`` load (Qwen2.5-VL,
Qwen3-VL, LLaVA, LLaVA-OneVision, InternVL "-hf", ...) works, from a hub id or a local folder.
bf16 on GPUs that support it (fp16 otherwise), fp32 on CPU; prompts are batched (left padding)
and decoded greedily at temperature 0, sampled above it, and with the checkpoint's own
generation config when no temperature is set (MMAD's Qwen2.5-VL script). The run's protocol
adds chat-template arguments (Qwen's ``add_vision_id``) and processor loading arguments
(Qwen's ``min_pixels``/``max_pixels``). :meth:`HFClient.prepare` is what the processor gets:
the rendered prompt texts and the images in order.
"""
from __future__ import annotations

import time
from typing import Any, Optional, Sequence

from adlab.errors import PipelineError
from adlab.pipelines.mmad.clients.base import Completion, RequestFailed
from adlab.pipelines.mmad.prompting import ImagePart, Message


def pick_dtype(device: str, requested: str) -> Any:
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def to_chat(messages: Sequence[Message]) -> list[dict[str, Any]]:
    conv = []
    for m in messages:
        content = [{"type": "image", "image": p.image} if isinstance(p, ImagePart)
                   else {"type": "text", "text": p} for p in m.parts]
        conv.append({"role": m.role, "content": content})
    return conv


class HFClient:
    concurrency = 1
    provider = "hf"

    def __init__(self, *, name: str, model_id: str, device: str, batch_size: int, dtype: str,
                 max_tokens: int, temperature: Optional[float], trust_remote_code: bool = False,
                 attn_implementation: Optional[str] = None,
                 chat_template_kwargs: Optional[dict[str, Any]] = None,
                 processor_kwargs: Optional[dict[str, Any]] = None) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.name, self.model_id, self.batch_size = name, model_id, batch_size
        self.device = device if (not device.startswith("cuda") or torch.cuda.is_available()) else "cpu"
        self.dtype = pick_dtype(self.device, dtype)
        kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        start = time.perf_counter()
        try:
            self.processor = AutoProcessor.from_pretrained(model_id, **kwargs,
                                                           **(processor_kwargs or {}))
            self.model = AutoModelForImageTextToText.from_pretrained(model_id, dtype=self.dtype, **kwargs)
        except (OSError, ValueError) as exc:
            raise PipelineError(
                f"cannot load the Hugging Face model {model_id!r} ({str(exc).splitlines()[0][:200]}); "
                f"give a local folder, or download it first (it must load with "
                f"AutoModelForImageTextToText)") from None
        self.model.to(self.device).eval()
        self.load_s = time.perf_counter() - start
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
        self._pad_id = getattr(tokenizer, "pad_token_id", None)
        self._max_tokens, self._temperature = max_tokens, temperature
        self._chat_kwargs = dict(chat_template_kwargs or {})

    def prepare(self, batch: Sequence[Sequence[Message]]) -> tuple[list[str], list[Any]]:
        """The processor's inputs: each conversation rendered by the chat template (with the
        protocol's arguments) and every image of the batch, in order."""
        texts = [self.processor.apply_chat_template(to_chat(m), add_generation_prompt=True,
                                                    tokenize=False, **self._chat_kwargs)
                 for m in batch]
        images = [p.image for m in batch for msg in m for p in msg.parts if isinstance(p, ImagePart)]
        return texts, images

    def generation_kwargs(self, max_tokens: Optional[int] = None) -> dict[str, Any]:
        gen: dict[str, Any] = {"max_new_tokens": max_tokens if max_tokens is not None
                               else self._max_tokens}
        if self._temperature is not None:
            gen["do_sample"] = self._temperature > 0
            if self._temperature > 0:
                gen["temperature"] = self._temperature
        return gen

    def complete(self, messages: Sequence[Message],
                 max_tokens: Optional[int] = None) -> Completion:
        return self.complete_batch([messages], max_tokens)[0]

    def complete_batch(self, batch: Sequence[Sequence[Message]],
                       max_tokens: Optional[int] = None) -> list[Completion]:
        import torch

        start = time.perf_counter()
        try:
            texts, images = self.prepare(batch)
            inputs = self.processor(text=texts, images=images or None, padding=True,
                                    return_tensors="pt")
            inputs = inputs.to(self.device)
            if "pixel_values" in inputs and torch.is_floating_point(inputs["pixel_values"]):
                inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
            with torch.inference_mode():
                out = self.model.generate(**inputs, **self.generation_kwargs(max_tokens))
        except torch.cuda.OutOfMemoryError as exc:
            raise PipelineError(f"{self.model_id}: out of GPU memory with {len(batch)} prompt(s) "
                                f"per batch ({exc}); lower local.batch_size or eval.max_image_size") from None
        except (RuntimeError, ValueError) as exc:
            raise RequestFailed(f"generation failed: {type(exc).__name__}: {str(exc)[:200]}",
                                latency_s=time.perf_counter() - start) from None
        prompt_len = inputs["input_ids"].shape[1]
        generated = out[:, prompt_len:]
        texts = self.processor.batch_decode(generated, skip_special_tokens=True)
        elapsed = time.perf_counter() - start
        mask = inputs.get("attention_mask")
        results = []
        for i, text in enumerate(texts):
            row = generated[i]
            n_out = int((row != self._pad_id).sum()) if self._pad_id is not None else int(row.numel())
            n_in = int(mask[i].sum()) if mask is not None else int(prompt_len)
            results.append(Completion(text=text.strip(), tokens_in=n_in, tokens_out=n_out,
                                      latency_s=elapsed))
        return results

    def close(self) -> None:
        del self.model
