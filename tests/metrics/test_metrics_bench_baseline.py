"""The benchmark's plain NumPy/SciPy/sklearn baseline must compute the same numbers as adlab,
otherwise its speed ratios would compare different things."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from adlab.metrics import METRIC_KEYS, evaluate

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_metrics.py"


def test_benchmark_baseline_agrees_with_adlab():
    spec = importlib.util.spec_from_file_location("bench_metrics", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    maps, masks = bench.generate(n_images=40, size=64, seed=3)
    assert 0 < (masks > 0).mean() < 0.5
    expected = bench.official_numpy(maps, masks, 0.3)
    values = evaluate(maps, masks).values
    for key in METRIC_KEYS:
        assert values[key] == pytest.approx(expected[key], abs=1e-6)
