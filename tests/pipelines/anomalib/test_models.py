"""Model factory: local weights are really loaded; missing weights/folders fail in one sentence."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow  # imports anomalib (~10 s)

from adlab.errors import PipelineError
from adlab.pipelines.anomalib.models import build_model
from adlab.pipelines.anomalib.params import AnomalibParams


def _params(**config) -> AnomalibParams:
    return AnomalibParams.model_validate({"image_size": 64, **config})


@pytest.mark.parametrize("config, needle", [
    ({"model": "stfpm", "model_params": {"backbone": "resnet18"}}, "teacher backbone 'resnet18'"),
    ({"model": "patchcore", "model_params": {"backbone": "resnet18"}}, "backbone 'resnet18'"),
    ({"model": "dinomaly"}, "encoder 'vit_base_patch14_reg4_dinov2'"),
    ({"model": "winclip"}, "open_clip ViT-B-16-plus-240"),
])
def test_missing_weights_is_one_clear_sentence(config: dict, needle: str) -> None:
    with pytest.raises(PipelineError) as err:
        build_model(_params(**config))
    text = str(err.value)
    assert needle in text and "not available locally" in text and "`weights:" in text
    assert "\n" not in text and "Traceback" not in text


def test_weights_file_that_does_not_exist_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(PipelineError, match=f"weights file {missing} does not exist"):
        build_model(_params(model="stfpm", model_params={"backbone": "resnet18"}, weights=str(missing)))


def test_stfpm_teacher_loads_the_local_state_dict(tmp_path: Path) -> None:
    import timm

    reference = timm.create_model("resnet18", pretrained=False)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    built = build_model(_params(model="stfpm", model_params={"backbone": "resnet18"}, weights=str(path)))
    teacher = built.module.model.teacher_model.feature_extractor
    assert torch.equal(teacher.conv1.weight, reference.conv1.weight)
    assert torch.equal(teacher.layer3[0].conv1.weight, reference.layer3[0].conv1.weight)
    assert built.weights["source"] == "file" and len(built.weights["sha256"]) == 64


def test_efficientad_teacher_comes_from_the_configured_file(tmp_path: Path) -> None:
    from anomalib.models.image.efficient_ad.torch_model import SmallPatchDescriptionNetwork

    teacher = SmallPatchDescriptionNetwork(out_channels=384)
    path = tmp_path / "pretrained_teacher_small.pth"
    torch.save(teacher.state_dict(), path)
    imagenet = tmp_path / "imagenet"
    imagenet.mkdir()
    params = _params(model="efficient_ad", model_params={"imagenet_dir": str(imagenet)},
                     weights=str(path), train={"batch_size": 1})
    built = build_model(params)
    built.module.prepare_pretrained_model()  # what anomalib calls at train start
    assert torch.equal(built.module.model.teacher.conv1.weight, teacher.conv1.weight)
    with pytest.raises(PipelineError, match="EfficientAd teacher state dict"):
        build_model(params.model_copy(update={"weights": None}))


@pytest.mark.parametrize("config, needle", [
    ({"model": "draem"}, "needs model_params.dtd_dir"),
    ({"model": "efficient_ad", "train": {"batch_size": 1}}, "needs model_params.imagenet_dir"),
    ({"model": "fastflow", "model_params": {"backbone": "resnet_nope", "pre_trained": False}},
     "unknown timm backbone 'resnet_nope'"),
])
def test_missing_local_folders_and_bad_backbones(config: dict, needle: str) -> None:
    with pytest.raises(PipelineError, match=needle):
        build_model(_params(**config))


def test_pass_through_checks_keys_against_the_class_signature() -> None:
    with pytest.raises(PipelineError, match="model 'dfm' does not take model_params.depth; allowed keys: backbone"):
        build_model(_params(model="Dfm", model_params={"depth": 3}))
    built = build_model(_params(model="Dfm", model_params={"backbone": "resnet18", "pre_trained": False}))
    assert type(built.module).__name__ == "Dfm"
