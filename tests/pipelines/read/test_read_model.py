"""READ's parts on tiny random weights in the real formats: preprocessing sizes, SasP points,
checkpoint loading (READ and LISA layouts), ONNX/torch decoder parity, clear weight errors."""
from __future__ import annotations

import numpy as np
import pytest

from adlab.errors import PipelineError
from adlab.pipelines.read.model.sasp import (NEGATIVE, NEUTRAL, POSITIVE, full_resolution_map, refine_points,
                                             similarity_to_points)


def test_clip_and_sam_preprocessing_sizes_as_read():
    from adlab.pipelines.read.model.sam import build_sam, sam_config
    from adlab.pipelines.read.preprocess import clip_pixels, clip_processor, sam_pixels

    image = (np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)
    pixels = clip_pixels(clip_processor(None, 336), image)
    assert tuple(pixels.shape) == (1, 3, 336, 336) and (336 // 14) ** 2 == 576
    config = {**sam_config("vit_b"), "encoder_depth": 1, "encoder_embed_dim": 16, "encoder_num_heads": 1,
              "encoder_global_attn_indexes": [0]}
    sam = build_sam(config)
    prepared = sam_pixels(sam, image)
    assert tuple(prepared.pixels.shape) == (1, 3, 1024, 1024)
    assert prepared.input_size == (768, 1024) and prepared.original_size == (480, 640)
    assert float(prepared.pixels[0, :, 768:].abs().max()) == 0.0  # zero padding below the image
    assert tuple(sam.image_encoder(prepared.pixels).shape) == (1, 256, 64, 64)


def test_sasp_points_follow_the_similarity_peak():
    side = 24
    yy, xx = np.mgrid[:side, :side]
    sim = np.exp(-((yy - 6) ** 2 + (xx - 18) ** 2) / 8.0).reshape(-1)
    prompt = similarity_to_points(sim, (480, 480), clip_size=336, num_points=30)
    labels = prompt.labels
    assert len(labels) == 30 and set(labels.tolist()) <= {POSITIVE, NEGATIVE, NEUTRAL}
    assert labels[0] == POSITIVE and (labels == NEGATIVE).any()
    first_neg = int(np.argmax(labels == NEGATIVE))
    assert (labels[:first_neg] == POSITIVE).all()  # positives first, then negatives
    peak = np.array([18.5 * 20, 6.5 * 20])
    positives = prompt.coords[labels == POSITIVE]
    assert np.linalg.norm(positives.mean(axis=0) - peak) < 40
    assert (prompt.coords >= 0).all() and (prompt.coords <= 479).all()


def test_full_map_pads_the_centre_crop_and_refinement_moves_uphill():
    sim = np.arange(16, dtype=np.float64)
    full = full_resolution_map(sim, (40, 80), clip_size=32)
    assert full.shape == (40, 80) and full[:, :2].max() == 0.0 and full.max() <= 1.0 + 1e-6
    ramp = np.tile(np.linspace(0, 30, 100), (100, 1))
    moved = refine_points(ramp, np.array([[50, 50]]))[0]
    assert moved[0] > 50 and abs(moved[1] - 50) < 1e-9


def test_decoder_onnx_matches_torch(tiny_weights, tmp_path):
    import torch
    from segment_anything.utils.transforms import ResizeLongestSide

    from adlab.pipelines.read.model.sam import load_sam
    from adlab.pipelines.read.sam_onnx import OnnxDecoder, decoder_inputs, export_decoder, torch_decode

    sam, _ = load_sam(str(tiny_weights.sam_config), str(tiny_weights.sam_weights))
    decoder = OnnxDecoder(export_decoder(sam, tmp_path / "decoder.onnx"), provider="cpu")
    rng = np.random.default_rng(1)
    embeddings = torch.as_tensor(rng.standard_normal((1, 256, 64, 64)), dtype=torch.float32)
    # read (points + [SEG]), baseline (points only), LISA (only [SEG]); sizes unlike the export's
    for size, n_points, with_text in [((48, 48), 7, True), ((300, 200), 3, False), ((90, 130), 0, True)]:
        coords = rng.random((n_points, 2)).astype(np.float32) * 1000
        labels = rng.integers(-1, 2, n_points)
        text = rng.standard_normal(256).astype(np.float32) if with_text else None
        inputs = decoder_inputs(coords, labels, text, size, 256)
        input_size = ResizeLongestSide.get_preprocess_shape(size[0], size[1], 1024)
        ref = torch_decode(sam, embeddings, inputs, input_size)
        got = decoder.decode(embeddings.numpy(), inputs)
        assert ref.shape == got.shape == size
        assert float(np.abs(ref - got).max()) < 1e-4


@pytest.mark.parametrize("which", ["read", "lisa"])
def test_mllm_loads_released_layouts(tiny_weights, which):
    from adlab.pipelines.read.model.mllm import ReadMllm
    from adlab.pipelines.read.preprocess import clip_pixels, clip_processor

    folder = tiny_weights.read if which == "read" else tiny_weights.lisa
    mllm = ReadMllm.load(str(folder), str(tiny_weights.clip))
    assert mllm.info["projector"] == ("gelu" if which == "read" else "linear")
    assert bool(mllm.sam_state) == (which == "read")
    assert mllm.num_patches == 16 and mllm.use_im_start_end
    image = (np.random.default_rng(2).random((40, 56, 3)) * 255).astype(np.uint8)
    pixels = clip_pixels(clip_processor(mllm.vision_folder, mllm.image_size), image)
    generated = mllm.answer(pixels, "Is there any defect on the woven?", mode="generate", max_new_tokens=4)
    fixed = mllm.answer(pixels, "Is there any defect on the woven?", mode="fixed")
    for answer in (generated, fixed):
        assert answer.seg_embedding.shape == (256,) and answer.similarity.shape == (16,)
        assert np.isfinite(answer.seg_embedding).all()
    assert "[SEG]" in fixed.text and fixed.seg_found is False
    assert fixed.generated is None and isinstance(generated.generated, str)
    assert generated.seg_found == ("[SEG]" in generated.generated)
    if not generated.seg_found:  # a random LLM rarely says [SEG]: the fixed answer stands in
        assert generated.text == fixed.text


def test_missing_or_wrong_weights_are_one_clear_sentence(tiny_weights, tmp_path):
    from adlab.pipelines.read.model.mllm import ReadMllm
    from adlab.pipelines.read.model.sam import load_sam
    from adlab.pipelines.read.params import ReadParams
    from adlab.pipelines.read.run import check_weights

    with pytest.raises(PipelineError, match="mllm_path is not set; download a READ checkpoint"):
        check_weights(ReadParams())
    with pytest.raises(PipelineError, match="clip_path is not set; download a CLIP model"):
        check_weights(ReadParams(mode="baseline", sam_checkpoint=str(tiny_weights.sam_weights)))
    with pytest.raises(PipelineError, match="sam_checkpoint is not set .*point sam_checkpoint at it"):
        check_weights(ReadParams(mode="baseline", clip_path=str(tiny_weights.clip)))
    with pytest.raises(PipelineError, match="does not exist; download a SAM checkpoint"):
        check_weights(ReadParams(mllm_path=str(tiny_weights.read), sam_checkpoint=str(tmp_path / "sam.pth")))
    with pytest.raises(PipelineError, match="not a local folder and clip_path is not set"):
        ReadMllm.load(str(tiny_weights.read), None)
    with pytest.raises(PipelineError, match="config.json does not exist; download a READ checkpoint"):
        ReadMllm.load(str(tiny_weights.clip.parent / "sam"), str(tiny_weights.clip))
    with pytest.raises(PipelineError, match="check sam_type"):
        load_sam("vit_b", str(tiny_weights.sam_weights))
