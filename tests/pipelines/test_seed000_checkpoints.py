"""Seed 000's trained checkpoints (``checkpoints/patchcore_224/<Dataset>/<cat>/model.pt`` with
``config.yaml`` and ``thresholds.yaml``) import as one AD run: each exported to ONNX once with
parity checked, the seed's thresholds in the bundles, and an MMAD run uses the run as its AD
model (``ad.checkpoint_run``) against a loopback VLM server."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent / "mmad"))

from mmad_builders import make_mmad  # noqa: E402
from mmad_loopback import LoopbackServer, Script  # noqa: E402

LAYOUT = {"GoodsAD": {"cigarette_box": {"good": 2, "bad": 2}},
          "MVTec-LOCO": {"breakfast_box": {"good": 2, "bad": 2}}}
SEED_THRESHOLDS = {"global": 2.86, "categories": {"GoodsAD/cigarette_box": 3.43,
                                                  "MVTec-LOCO/breakfast_box": 2.80}}


def _seed_tree(mmad_root: Path, out: Path) -> Path:
    """Train one tiny anomalib PatchCore per category with anomalib's own API and save
    model.pt as the seed's trainer would: GoodsAD through the Lightning checkpoint
    (Engine / ModelCheckpoint), MVTec-LOCO as torch.save of the Lightning module."""
    import torch
    from anomalib.data import Folder
    from anomalib.engine import Engine
    from anomalib.models import Patchcore

    ckpt_root = out / "checkpoints" / "patchcore_224"
    for dataset, cats in LAYOUT.items():
        for category in cats:
            base = mmad_root / dataset / category
            dm = Folder(name=category, root=base, normal_dir="train/good", abnormal_dir="test/bad",
                        normal_test_dir="test/good", train_batch_size=4, eval_batch_size=4,
                        num_workers=0)
            model = Patchcore(backbone="resnet18", layers=["layer2", "layer3"], pre_trained=False,
                              coreset_sampling_ratio=0.1,
                              pre_processor=Patchcore.configure_pre_processor(image_size=(64, 64)))
            engine = Engine(max_epochs=1, default_root_dir=str(out / "engine"), logger=False,
                            enable_progress_bar=False, accelerator="cpu")
            engine.fit(model=model, datamodule=dm)
            target = ckpt_root / dataset / category / "model.pt"
            target.parent.mkdir(parents=True, exist_ok=True)
            if dataset == "GoodsAD":
                engine.trainer.save_checkpoint(str(target))
            else:
                torch.save(model, target)
    config = out / "patchcore_training" / "config" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(yaml.safe_dump({
        "data": {"root": str(mmad_root), "mmad_json": str(mmad_root / "mmad.json"),
                 "datasets": {d: list(c) for d, c in LAYOUT.items()}},
        "model": {"backbone": "resnet18", "layers": ["layer2", "layer3"], "coreset_ratio": 0.1,
                  "n_neighbors": 9},
        "output": {"checkpoint_dir": str(ckpt_root), "save_pt": True, "save_onnx": False}}))
    (config.parent / "thresholds.yaml").write_text(yaml.safe_dump(SEED_THRESHOLDS))
    return ckpt_root


def test_import_refuses_a_wrong_tree_in_one_sentence(tmp_path, cli):
    proc = cli("import-model", str(tmp_path / "nope"))
    assert proc.returncode == 1 and "checkpoints folder" in proc.stderr
    (tmp_path / "ckpt" / "GoodsAD" / "cigarette_box").mkdir(parents=True)
    proc = cli("import-model", str(tmp_path / "ckpt"))
    assert proc.returncode == 1 and "no <Dataset>/<category>/model.pt" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.heavy  # 5-7 min on 2 cores: in `make test-all`; CI's anomalib representative is e2e
def test_seed_checkpoints_import_export_once_and_feed_mmad(tmp_path, engine, cli):
    from adlab.db.queries import list_runs, run_artifacts, run_detail
    from adlab.pipelines.components.infer import read_bundle_meta

    mmad_root = tmp_path / "MMAD"
    _, truth = make_mmad(mmad_root, layout=LAYOUT, n_templates=6)
    ckpt_root = _seed_tree(mmad_root, tmp_path / "seed")
    config = tmp_path / "seed" / "patchcore_training" / "config" / "config.yaml"
    thresholds = config.parent / "thresholds.yaml"
    proc = cli("import-model", str(ckpt_root), "--config", str(config), "--thresholds",
               str(thresholds), "--image-size", "64", "--data-root", str(mmad_root), "--json",
               check=True)
    queued = json.loads(proc.stdout)
    assert queued["categories"] == ["GoodsAD/cigarette_box", "MVTec-LOCO/breakfast_box"]
    [import_id] = queued["created"]
    env = {**os.environ, "OPENAI_API_KEY": "k-test"}
    worker = subprocess.run([sys.executable, "-m", "adlab", "worker", "--until-empty"],
                            capture_output=True, text=True, timeout=900, env=env)
    assert worker.returncode == 0, worker.stderr
    detail = run_detail(engine, run_id=import_id)
    assert detail["status"] == "succeeded", detail["error"]
    metrics = {(m["key"], m["scope"]): m["value"] for m in detail["metrics"]}
    for key, t in SEED_THRESHOLDS["categories"].items():
        assert metrics[("image_threshold", key)] == pytest.approx(t)
        assert metrics[("parity_score_max_abs", key)] <= 1e-3
        assert metrics[("parity_map_max_abs", key)] <= 1e-3
        assert metrics[("export_s", key)] > 0
    assert metrics[("global_threshold", "")] == pytest.approx(2.86)
    kinds = [a["kind"] for a in run_artifacts(engine, run_id=import_id)]
    assert kinds.count("onnx") == 2 and kinds.count("bundle") == 2 and "thresholds" in kinds
    bundle = Path(detail["output_dir"]) / "GoodsAD" / "cigarette_box" / "bundle"
    meta = read_bundle_meta(bundle)
    assert meta["image_threshold"] == pytest.approx(3.43) and meta["imported_from"].endswith("model.pt")

    # An MMAD run uses the imported run as its AD model: no fit, no second export.
    with LoopbackServer(Script(answers=dict(truth))) as server:
        study = {"pipeline": "mmad", "llm": "qwen", "ad_model": "patchcore",
                 "data_root": str(mmad_root), "protocol": "adlab",
                 "ad": {"checkpoint_run": import_id},
                 "api": {"base_url": server.url + "/v1", "provider": "openai", "backoff_s": 0.05},
                 "eval": {"few_shot": 1, "similar_template": True}}
        path = tmp_path / "experiment.yaml"
        path.write_text(yaml.safe_dump(study))
        cli("queue", str(path), "--json", check=True)
        worker = subprocess.run([sys.executable, "-m", "adlab", "worker", "--until-empty"],
                                capture_output=True, text=True, timeout=900, env=env)
        assert worker.returncode == 0, worker.stderr
        assert server.requests(), "the VLM was never asked"
    runs = {r.pipeline: r for r in list_runs(engine)}
    assert runs["mmad_ad"].status == "succeeded", runs["mmad_ad"].error
    assert runs["mmad"].status == "succeeded", runs["mmad"].error
    ad_detail = run_detail(engine, run_id=runs["mmad_ad"].id)
    events = json.loads(cli("logs", str(runs["mmad_ad"].id), "--json", check=True).stdout)
    assert any("(checkpoint)" in e["message"] for e in events)
    assert not any(a["kind"] == "onnx" for a in ad_detail["artifacts"])  # exported once, at import
    preds = next(a for a in ad_detail["artifacts"] if a["kind"] == "predictions")
    from adlab.worker.context import resolve_artifact_path

    records = json.loads(resolve_artifact_path(preds["path"]).read_text())
    used = {r["metadata"]["dataset"]: r["threshold_used"] for r in records}
    assert used == {"GoodsAD": pytest.approx(3.43), "MVTec-LOCO": pytest.approx(2.80)}
    mmad_metrics = {(m["key"], m["scope"]): m["value"]
                    for m in run_detail(engine, run_id=runs["mmad"].id)["metrics"]}
    assert mmad_metrics[("ad_missing", "")] == 0


def _seed_standalone_tree(root: Path, weights: Path) -> tuple[Path, "object", "object"]:
    """A model.pt as the seed's own trainer (patchcore_training, pure PyTorch) writes it: a dict
    with the memory bank of a torchvision backbone's hooked, pooled layer2+layer3 patches, and
    no backbone weights (those are saved separately here, as torchvision would provide them)."""
    import torch
    import torchvision
    from torch.nn import functional as F

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None).eval()
    torch.save(net.state_dict(), weights)
    grabbed: dict = {}
    for name in ("layer2", "layer3"):
        getattr(net, name).register_forward_hook(lambda m, i, o, n=name: grabbed.__setitem__(n, o))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    pool = torch.nn.AvgPool2d(kernel_size=3, stride=1, padding=1)

    def features(x):
        with torch.no_grad():
            net((x - mean) / std)
        a, b = grabbed["layer2"], grabbed["layer3"]
        f = pool(torch.cat([a, F.interpolate(b, size=a.shape[-2:], mode="bilinear",
                                             align_corners=False)], dim=1))
        n, c, h, w = f.shape
        return f.permute(0, 2, 3, 1).reshape(n, h * w, c), (h, w)

    train = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    feats, grid = features(train)
    flat = feats.reshape(-1, feats.shape[-1])
    bank = flat[torch.randperm(flat.shape[0], generator=torch.Generator().manual_seed(2))[:64]]
    target = root / "GoodsAD" / "cigarette_box" / "model.pt"
    target.parent.mkdir(parents=True)
    torch.save({"backbone": "resnet18", "layers": ["layer2", "layer3"], "coreset_ratio": 0.1,
                "n_neighbors": 3, "memory_bank": bank, "feature_dim": bank.shape[1],
                "spatial_size": grid, "is_fitted": True}, target)

    def seed_predict(x):  # the seed's predict(): cdist, k nearest, softmax weights, max
        f, (h, w) = features(x)
        d = torch.cdist(f.reshape(-1, f.shape[-1]), bank)
        knn = d.topk(k=3, dim=1, largest=False).values
        patch = (knn * F.softmax(-knn, dim=1)).sum(dim=1).reshape(x.shape[0], 1, h, w)
        amap = F.interpolate(patch, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return amap.reshape(x.shape[0], -1).max(dim=1)[0], amap[:, 0]

    return target, seed_predict, torch


@pytest.mark.heavy
def test_seed_standalone_patchcore_checkpoint_reproduces_its_scores(tmp_path):
    import numpy as np

    from adlab.pipelines.anomalib.checkpoint_import import run
    from adlab.pipelines.anomalib.checkpoint_params import AnomalibImportParams
    from adlab.pipelines.components.infer import load_scorer
    from adlab.pipelines.local import LocalRunContext

    root = tmp_path / "checkpoints" / "patchcore_224"
    weights = tmp_path / "resnet18.pth"
    _, seed_predict, torch = _seed_standalone_tree(root, weights)
    thresholds = tmp_path / "thresholds.yaml"
    thresholds.write_text(yaml.safe_dump({"global": 1.5, "categories": {"GoodsAD/cigarette_box": 1.25}}))
    params = AnomalibImportParams(checkpoints=str(root), thresholds=str(thresholds), image_size=64,
                                  batch_size=2, parity_samples=2)
    with pytest.raises(Exception, match="not its resnet18 backbone"):  # weights are required
        run(LocalRunContext(params=params, output_dir=tmp_path / "no_weights"))
    params = params.model_copy(update={"weights": str(weights)})
    ctx = LocalRunContext(params=params, output_dir=tmp_path / "out")
    run(ctx)
    assert ctx.metric_value("image_threshold", "GoodsAD/cigarette_box") == 1.25
    assert ctx.metric_value("parity_score_max_abs", "GoodsAD/cigarette_box") <= 1e-4
    scorer = load_scorer(tmp_path / "out" / "GoodsAD" / "cigarette_box" / "bundle")
    images = np.random.default_rng(5).random((2, 3, 64, 64), dtype=np.float32)
    got_s, got_m = scorer.score(images)
    want_s, want_m = seed_predict(torch.from_numpy(images))
    # the seed's own scores via onnxruntime, to float32 noise (measured: 1.9e-5 relative)
    np.testing.assert_allclose(got_s, want_s.numpy(), rtol=5e-5, atol=1e-5)
    np.testing.assert_allclose(got_m, want_m.numpy(), rtol=5e-5, atol=1e-5)
    assert scorer.meta["image_threshold"] == 1.25 and scorer.meta["weights"] == str(weights)
