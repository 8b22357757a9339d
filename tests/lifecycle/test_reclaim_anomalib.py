"""A real anomalib run over two categories, its worker SIGKILLed after the first category
finished: another worker reclaims the run and resumes it, replaying category one (not training
it again) and computing category two; every per-category metric and artifact is there once."""
from __future__ import annotations

import signal
from pathlib import Path

import pytest
from sqlmodel import Session, select

from adlab.config.loader import build_run_specs
from adlab.data.synth import generate_synthetic
from adlab.db.models import Artifact, RunItem
from adlab.db.queries import get_run
from adlab.pipelines.anomalib.run import STATE_PREFIX
from adlab.queue import enqueue
from adlab.worker.context import resolve_artifact_path
from lab_helpers import start_worker, wait_until
from lifecycle.lifecycle_checks import messages, metric_rows

LEASE = {"ADLAB_LEASE_S": "3"}
# Recorded for every category of a PaDiM run (quick to fit) and, averaged, for the run.
AVERAGED = ("image_auroc", "pixel_auroc", "aupro", "pixel_ap", "fit_s", "export_s",
            "infer_ms_per_image")
PER_CATEGORY_ONLY = ("image_threshold", "epochs_run", "export_mb")


def _saved_units(engine, run_id: int) -> list[str]:  # noqa: ANN001
    with Session(engine) as s:
        keys = s.exec(select(RunItem.key).where(RunItem.run_id == run_id)).all()
    return [k for k in keys if k.startswith(STATE_PREFIX)]


@pytest.mark.heavy
@pytest.mark.slow
def test_reclaimed_anomalib_run_resumes_with_every_category_result_once(engine, tmp_path: Path):
    root = tmp_path / "synthetic"
    generate_synthetic(root, categories=2, seed=0, image_size=64, n_train=10, n_test_good=4,
                       n_test_defect=6)
    categories = sorted(p.name for p in root.iterdir() if p.is_dir())
    raw = {"pipeline": "anomalib", "model": "padim", "image_size": 64,
           "model_params": {"backbone": "resnet18", "layers": ["layer1", "layer2"],
                            "pre_trained": False},
           "data": {"dataset": "synthetic", "root": str(root), "categories": "all",
                    "split_runs": "joint"},
           "train": {"max_epochs": 1, "batch_size": 4}, "inference": {"batch_size": 4},
           "visuals": {"count": 1}}
    [rid] = enqueue(engine, build_run_specs(raw)).created

    victim = start_worker("--name", "victim", env=LEASE)
    try:
        # category one saved, category two begun
        wait_until(lambda: _saved_units(engine, rid) and any(
            m.startswith(f"{categories[1]}: starting") for m in messages(engine, rid)),
            timeout=600, every=0.2)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert get_run(engine, run_id=rid).status == "running"  # killed inside category two
    assert _saved_units(engine, rid) == [STATE_PREFIX + categories[0]]

    rescuer = start_worker("--until-empty", "--name", "rescuer", env=LEASE)
    assert rescuer.wait(timeout=900) == 0, rescuer.stderr.read()
    run = get_run(engine, run_id=rid)
    assert (run.status, run.attempt, run.reclaims) == ("succeeded", 2, 1), run.error

    counts = metric_rows(engine, rid)
    doubled = {k: n for k, n in counts.items() if n != 1}
    assert not doubled, f"metrics recorded more than once: {doubled}"
    wanted = [(k, c) for k in AVERAGED for c in (*categories, "")]
    wanted += [(k, c) for k in PER_CATEGORY_ONLY for c in categories]
    missing = [f"{k}[{c}]" for k, c in wanted if (k, c, None) not in counts]
    assert not missing, f"missing after the resume: {missing}"
    per_category = [{k for (k, sc, st) in counts if sc == c and st is None} for c in categories]
    assert per_category[0] == per_category[1]  # the replayed category has all the computed one has

    with Session(engine) as s:
        arts = s.exec(select(Artifact.kind, Artifact.path).where(Artifact.run_id == rid)).all()
    paths = [p for _, p in arts]
    assert len(paths) == len(set(paths)), "an artifact recorded twice"
    for category in categories:
        kinds = {k for k, p in arts if f"/{category}/" in f"/{p}"}
        assert {"onnx", "bundle", "anomaly_maps", "heatmap"} <= kinds, (category, kinds)
    assert {"thresholds", "predictions"} <= {k for k, _ in arts}
    assert all(resolve_artifact_path(p).is_file() for p in paths)

    log = messages(engine, rid)
    assert any(m.startswith(f"{categories[0]}: already done in an earlier attempt") for m in log)
    assert sum(m.startswith(f"{categories[0]}: starting") for m in log) == 1  # not trained again
    assert sum(m.startswith(f"{categories[1]}: starting") for m in log) == 2  # begun, then redone
