"""MVTec LOCO AD through the queue: a real worker trains PatchCore on LOCO-layout data larger
than the model's resolution, writes its maps in the official TIFF layout, and records AU-sPRO
per anomaly type; ``adlab metrics --loco`` on those TIFFs gives the same values. The pixel
metrics it recorded at mask resolution equal torch-upsampled maps scored by scikit-learn and
anomalib's own AU-PRO, to 1e-6."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adlab.data.synth.loco import generate_synthetic_loco
from adlab.metrics.loco_eval import OFFICIAL_SPRO_LIMITS, spro_key
from adlab.pipelines.components.predictions import load_anomaly_maps

CONFIG = """
pipeline: anomalib
name: loco_patchcore
model: patchcore
model_params: {{backbone: resnet18, layers: [layer2, layer3], pre_trained: false,
                coreset_sampling_ratio: 0.5}}
data: {{dataset: mvtec_loco, root: {root}, categories: woven}}
image_size: 64
train: {{max_epochs: 1, batch_size: 4}}
inference: {{batch_size: 4}}
visuals: {{count: 0}}
outputs: {{tiff_maps: true}}
"""

SPRO_KEYS = [spro_key(limit, kind) for kind in (None, "logical_anomalies", "structural_anomalies")
             for limit in OFFICIAL_SPRO_LIMITS]


def _union_mask(image: Path, root: Path) -> np.ndarray:
    """The image's defects merged, read with PIL straight from the LOCO folders."""
    kind, stem = image.parent.name, image.stem
    folder = root / "woven" / "ground_truth" / kind / stem
    if not folder.is_dir():
        return np.zeros(Image.open(image).size[::-1], bool)
    return np.any([np.asarray(Image.open(p)) > 0 for p in sorted(folder.glob("*.png"))], axis=0)


@pytest.mark.heavy
@pytest.mark.representative
def test_loco_run_through_queue_records_spro_equal_to_metrics_loco(tmp_path, engine, cli):
    from adlab.db.queries import list_runs, run_artifacts, run_detail
    from adlab.worker.context import resolve_artifact_path
    from resolution_reference import independent_pixel_metrics

    from adlab.core.vocabulary import Direction
    from adlab.pipelines.declared import declared_metrics

    root = tmp_path / "mvtec_loco"
    generate_synthetic_loco(root, categories=["woven"], seed=2, image_size=96, n_train=8,
                            n_val=2, n_test_good=3, n_logical=3, n_structural=3)
    cfg = tmp_path / "loco.yaml"
    cfg.write_text(CONFIG.format(root=root))
    cli("queue", str(cfg), "--json", check=True)
    worker = subprocess.run([sys.executable, "-m", "adlab", "worker", "--until-empty"],
                            capture_output=True, text=True, timeout=900, env=os.environ.copy())
    assert worker.returncode == 0, worker.stderr[-3000:]
    (run,) = list_runs(engine)
    assert run.status == "succeeded", run.error
    detail = run_detail(engine, run_id=run.id)
    stored = {(m["key"], m["scope"]): m["value"] for m in detail["metrics"]}
    arts = run_artifacts(engine, run_id=run.id)

    tiffs = [resolve_artifact_path(a["path"]) for a in arts if a["kind"] == "tiff_maps"]
    assert len(tiffs) == 9
    maps_dir = tiffs[0].parents[3]
    assert {p.relative_to(maps_dir).as_posix() for p in tiffs} == {
        f"woven/test/{kind}/{i:03d}.tiff" for kind, n in
        (("good", 3), ("logical_anomalies", 3), ("structural_anomalies", 3)) for i in range(n)}
    assert all(Image.open(p).mode == "F" and Image.open(p).size == (96, 96) for p in tiffs)

    official = cli("metrics", "--loco", "--maps-dir", str(maps_dir), "--dataset-root", str(root),
                   "--json", check=True)
    expected = json.loads(official.stdout)["per_category"]["woven"]
    for key in SPRO_KEYS:
        assert expected[key] is not None and math.isfinite(expected[key]), key
        assert stored[(key, "woven")] == pytest.approx(expected[key], abs=1e-12), key
        assert stored[(key, "")] == pytest.approx(expected[key], abs=1e-12), key
    assert declared_metrics("anomalib")[spro_key(0.3)].direction is Direction.HIGHER
    assert detail["config"]["metrics"]["resolution"] == "mask"

    # Mask resolution: the stored float32 maps, upsampled independently, give the DB's values.
    npz = next(resolve_artifact_path(a["path"]) for a in arts if a["kind"] == "anomaly_maps")
    maps, paths, _ = load_anomaly_maps(npz)
    assert maps.dtype == np.float32 and maps.shape == (9, 64, 64)
    masks = [_union_mask(Path(p), root) for p in paths]
    for key, value in independent_pixel_metrics(maps, masks).items():
        assert stored[(key, "woven")] == pytest.approx(value, abs=1e-6), key
