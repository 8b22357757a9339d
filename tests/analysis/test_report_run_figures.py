"""Plots that runs write (study bars, cross-domain matrix, heatmaps) appear in the report."""
from __future__ import annotations

import os
from pathlib import Path

from PIL import Image
from sqlmodel import Session

from adlab.analysis.report import render_report
from adlab.config.loader import build_run_specs
from adlab.db.models import Artifact, Metric, Run
from adlab.queue import enqueue


def _png(path: Path, colour: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)
    return path


def test_run_plots_and_best_heatmaps_are_copied_into_the_report(engine, tmp_path):
    ids = enqueue(engine, build_run_specs({"pipeline": "diag", "grid": {"seed": [0, 1]}})).created
    root = Path(os.environ["ADLAB_ARTIFACTS"])
    matrix = _png(root / "runs" / "a" / "matrix.png", (255, 0, 0))
    heat = _png(root / "runs" / "b" / "heat.png", (0, 255, 0))
    with Session(engine) as s:
        for rid, value in zip(ids, (0.9, 0.8)):
            run = s.get(Run, rid)
            run.status = "succeeded"
            s.add(Metric(run_id=rid, key="value", value=value))
        s.add(Artifact(run_id=ids[1], kind="plot_matrix", path="runs/a/matrix.png", sha256="x", bytes=1))
        s.add(Artifact(run_id=ids[0], kind="heatmap", path="runs/b/heat.png", sha256="x", bytes=1))
        s.add(Artifact(run_id=ids[1], kind="heatmap", path="runs/b/heat.png", sha256="x", bytes=1))
        s.commit()
    out = render_report(engine, out=tmp_path / "r.md", metrics=["value"])
    text = out.read_text()
    assert "## Figures from the runs" in text or "# Figures from the runs" in text
    assert f"plot matrix of run {ids[1]}" in text
    assert f"heatmap of run {ids[0]}" in text  # the group's best run
    assert f"heatmap of run {ids[1]}" not in text  # not best: no heatmap
    copied = sorted((tmp_path / "r_figures").glob("run*.png"))
    assert len(copied) == 2
    assert {p.read_bytes() for p in copied} == {matrix.read_bytes(), heat.read_bytes()}
    again = render_report(engine, out=tmp_path / "r.md", metrics=["value"])
    assert again.read_text() == text  # same database, same bytes
