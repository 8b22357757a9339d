"""The three studies in miniature through queue -> worker (child process) -> database, built
from the example files with test-size overrides (random weights, synthetic data, 64 px)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adlab.config.loader import build_run_specs
from adlab.config.yamlio import read_config_file
from adlab.db.queries import list_runs, run_artifacts, run_detail
from adlab.queue import enqueue
from adlab.worker.context import resolve_artifact_path



EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _queue(engine, example: str, sets: list) -> list:
    specs = build_run_specs(read_config_file(EXAMPLES / example), source=example, sets=sets)
    enqueue(engine, specs)
    return specs


def _work() -> None:
    worker = subprocess.run([sys.executable, "-m", "adlab", "worker", "--until-empty"],
                            capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert worker.returncode == 0, worker.stderr[-3000:]


def _metrics(engine, run_id: int) -> dict[tuple[str, str], float]:
    return {(m["key"], m["scope"]): m["value"] for m in run_detail(engine, run_id=run_id)["metrics"]}


def _artifacts(engine, run_id: int) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for a in run_artifacts(engine, run_id=run_id):
        out.setdefault(a["kind"], []).append(resolve_artifact_path(a["path"]))
    return out


@pytest.mark.heavy
@pytest.mark.representative
def test_cross_domain_matrix_rows_and_diagonal_equal_in_domain_runs(tiny_sets, engine):
    base = tiny_sets + [("backbone.name", "resnet18")]
    rows = _queue(engine, "patchcore_cross_domain.yaml", base)
    assert [s.params.cross_domain.train for s in rows] == ["woven", "wood"]
    # The same configuration as per-category (in-domain) runs, for the diagonal check.
    _queue(engine, "patchcore_cross_domain.yaml", base + [("mode", "standard")])
    _work()
    runs = sorted(list_runs(engine), key=lambda r: r.id)
    assert {r.status for r in runs} == {"succeeded"}, [(r.name, r.error) for r in runs]
    standard = next(r for r in runs if r.name.endswith("concat_coreset") and r.depends_on is None
                    and _metrics(engine, r.id).get(("categories", "")))
    in_domain = _metrics(engine, standard.id)
    row_runs = [r for r in runs if r.id != standard.id]
    assert len(row_runs) == 2 and row_runs[1].depends_on == row_runs[0].id
    for row in row_runs:
        m = _metrics(engine, row.id)
        train = "woven" if row.name.endswith("woven") else "wood"
        other = "wood" if train == "woven" else "woven"
        # The diagonal is the in-domain run's value, computed the same way.
        assert m[("image_auroc", f"train={train}/test={train}")] == in_domain[("image_auroc", train)]
        assert m[("pixel_auroc", f"train={train}/test={train}")] == in_domain[("pixel_auroc", train)]
        assert m[("in_domain_image_auroc", "")] == in_domain[("image_auroc", train)]
        assert m[("cross_domain_image_auroc", "")] == m[("image_auroc", f"train={train}/test={other}")]
        for key in ("mmd", "wasserstein", "mean_cosine", "feature_drift"):
            assert (key, f"train={train}/test={other}") in m
        assert m[("feature_drift", f"train={train}/test={other}")] > 0
        for key in ("feature_dim", "bank_size", "bank_build_s", "search_gpu", "infer_ms_per_image"):
            assert (key, "") in m
    last = row_runs[-1]
    arts = _artifacts(engine, last.id)
    assert {"plot_matrix", "cross_domain_matrix", "study_rows", "plot_roc", "plot_pr", "heatmap"} <= set(arts)
    assert arts["plot_matrix"][0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    [matrix] = json.loads(arts["cross_domain_matrix"][0].read_text()).values()
    assert matrix["train"] == ["woven", "wood"] and matrix["test"] == ["woven", "wood"]
    for i, cat in enumerate(matrix["train"]):
        assert matrix["image_auroc"][i][i] == pytest.approx(in_domain[("image_auroc", cat)], abs=1e-12)
    lm = _metrics(engine, last.id)
    diag = [matrix["image_auroc"][i][i] for i in range(2)]
    off = [matrix["image_auroc"][0][1], matrix["image_auroc"][1][0]]
    assert lm[("in_domain_image_auroc", "matrix")] == pytest.approx(sum(diag) / 2)
    assert lm[("cross_domain_image_auroc", "matrix")] == pytest.approx(sum(off) / 2)


@pytest.mark.heavy
def test_backbone_study_sweep_compares_backbones(tiny_sets, engine, cli, tmp_path):
    sets = tiny_sets + [("sweep", {"backbone.name": ["resnet18", "vit_tiny_patch16_224"]}),
                                         ("data.categories", ["woven"])]
    specs = _queue(engine, "patchcore_backbones.yaml", sets)
    assert [s.params.backbone.name for s in specs] == ["resnet18", "vit_tiny_patch16_224"]
    _work()
    runs = sorted(list_runs(engine), key=lambda r: r.id)
    assert [r.status for r in runs] == ["succeeded"] * 2, [(r.name, r.error) for r in runs]
    assert runs[0].group_hash == runs[1].group_hash  # backbones are ranked together
    dims = [_metrics(engine, r.id)[("feature_dim", "")] for r in runs]
    assert dims == [128 + 256, 192 + 192]  # concat: resnet18 layer2+layer3, ViT-Ti blocks 5+8
    arts = _artifacts(engine, runs[-1].id)
    assert {"plot_comparison", "plot_fusion", "plot_roc", "plot_pr", "plot_bars", "curves"} <= set(arts)
    rows = json.loads(arts["study_rows"][0].read_text())["rows"]
    assert [r["values"]["backbone.name"] for r in rows] == ["resnet18", "vit_tiny_patch16_224"]
    for r, run in zip(rows, runs):
        assert r["summary"]["image_auroc"] == _metrics(engine, run.id)[("image_auroc", "")]
    exported = cli("export", "--format", "csv", "--study", "patchcore-backbones", check=True)
    header = exported.stdout.splitlines()[0]
    assert "metrics.image_auroc" in header and "metrics.feature_dim" in header
    report = cli("report", "--study", "patchcore-backbones", "--output", str(tmp_path / "r.md"))
    assert report.returncode == 0, report.stderr


@pytest.mark.heavy
def test_fusion_study_records_dimension_and_weights(tiny_sets, engine):
    sets = tiny_sets + [("backbone.name", "resnet18"), ("data.categories", ["woven"])]
    _queue(engine, "patchcore_fusion.yaml", sets)
    _work()
    runs = sorted(list_runs(engine), key=lambda r: r.id)
    assert [r.status for r in runs] == ["succeeded"] * 4, [(r.name, r.error) for r in runs]
    dims = {r.name.split("_")[1]: _metrics(engine, r.id)[("feature_dim", "")] for r in runs}
    assert dims == {"single": 256, "concat": 64 + 128 + 256, "weighted": 64, "adaptive": 64}
    weighted = _metrics(engine, runs[2].id)
    assert weighted[("fusion_weight", "woven/layer=layer3")] == pytest.approx(0.5)
    adaptive = _metrics(engine, runs[3].id)
    assert sum(adaptive[("fusion_weight", f"woven/layer={n}")] for n in ("layer1", "layer2", "layer3")) \
        == pytest.approx(1.0)
    arts = _artifacts(engine, runs[-1].id)
    assert {"plot_fusion", "plot_comparison"} <= set(arts)
