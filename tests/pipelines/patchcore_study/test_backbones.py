"""Backbones built offline through timm: random init, local weights files, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from adlab.errors import PipelineError
from adlab.pipelines.patchcore_study.backbones import build_extractor
from adlab.pipelines.patchcore_study.params import BackboneParams


def _forward(name: str, size: int = 64, **kw):
    extractor = build_extractor(BackboneParams(name=name, pretrained=False, **kw), image_size=size,
                                device="cpu", seed=0)
    images = np.random.default_rng(0).integers(0, 255, (2, size, size, 3), dtype=np.uint8)
    return extractor, extractor(images)


@pytest.mark.parametrize("name,layers,dims,grids", [
    ("resnet18", ["layer2", "layer3"], [128, 256], [(8, 8), (4, 4)]),
    ("vit_tiny_patch16_224", ["blocks.5", "blocks.8"], [192, 192], [(4, 4), (4, 4)]),
])
def test_small_backbones_give_grids(name, layers, dims, grids):
    extractor, feats = _forward(name)
    assert extractor.layers == layers and extractor.layer_dims == dims
    assert [tuple(f.shape[-2:]) for f in feats] == grids and [f.shape[1] for f in feats] == dims
    assert extractor.weights == {"source": "random-init", "seed": 0}
    _, again = _forward(name)
    assert all(torch.equal(a, b) for a, b in zip(feats, again))  # seeded random init


@pytest.mark.heavy
@pytest.mark.parametrize("name,family,dim,grid", [
    ("resnet50", "cnn", 512, (8, 8)), ("wide_resnet50_2", "cnn", 512, (8, 8)),
    ("vit_b16", "vit", 768, (4, 4)), ("dinov2_vit_b14", "vit", 768, (4, 4)),
    ("clip_vit_b32", "vit", 768, (2, 2)), ("open_clip:ViT-B-32", "vit", 768, (2, 2)),
])
def test_required_backbone_families_construct_and_forward(name, family, dim, grid):
    extractor, feats = _forward(name)
    assert extractor.family == family
    assert feats[0].shape[1] == dim and tuple(feats[0].shape[-2:]) == grid
    assert len(feats) == 2


def test_pretrained_without_weights_says_where_to_put_them(tmp_path):
    with pytest.raises(PipelineError, match="set backbone.weights"):
        build_extractor(BackboneParams(name="resnet18"), image_size=64, device="cpu", seed=0)
    with pytest.raises(PipelineError, match="has no resnet18"):
        build_extractor(BackboneParams(name="resnet18", weights=str(tmp_path)), image_size=64,
                        device="cpu", seed=0)
    with pytest.raises(PipelineError, match="does not exist"):
        build_extractor(BackboneParams(name="resnet18", weights=str(tmp_path / "x.pth")),
                        image_size=64, device="cpu", seed=0)


def test_local_weights_file_is_loaded_and_recorded(tmp_path):
    import timm

    torch.manual_seed(123)
    reference = timm.create_model("resnet18", pretrained=False)
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    extractor = build_extractor(BackboneParams(name="resnet18", weights=str(tmp_path)),
                                image_size=64, device="cpu", seed=0)
    assert extractor.weights["source"] == "file" and len(extractor.weights["sha256"]) == 64
    assert torch.equal(extractor.model.conv1.weight, reference.conv1.weight)
    bad = tmp_path / "bad.pth"
    torch.save({"nothing": torch.zeros(1)}, bad)
    with pytest.raises(PipelineError, match="could not be loaded"):
        build_extractor(BackboneParams(name="resnet18", weights=str(bad)), image_size=64,
                        device="cpu", seed=0)


def test_vit_weights_at_224_load_into_a_smaller_image_size(tmp_path):
    import timm

    reference = timm.create_model("vit_tiny_patch16_224", pretrained=False)  # 14x14 positions
    torch.save(reference.state_dict(), tmp_path / "vit.pth")
    extractor = build_extractor(BackboneParams(name="vit_tiny_patch16_224", weights=str(tmp_path / "vit.pth")),
                                image_size=64, device="cpu", seed=0)
    assert torch.equal(extractor.model.patch_embed.proj.weight, reference.patch_embed.proj.weight)
    assert extractor.model.pos_embed.shape[1] == 1 + 4 * 4  # resampled to the 4x4 grid


def test_unknown_layer_and_unknown_backbone():
    from pydantic import ValidationError

    with pytest.raises(PipelineError, match="available: act1, layer1"):
        _forward("resnet18", layers=["layer9"])
    with pytest.raises(ValidationError, match="unknown backbone"):
        BackboneParams(name="not_a_model_xyz")
