"""Reading a pipeline's spec (its metrics, partition and non-group keys) loads pydantic only:
``adlab compare``, ``adlab pipelines`` and the TUI's compare screen read the spec of every
pipeline they compare. MVTec LOCO's sPRO keys come from :mod:`adlab.core.loco_keys`, so the AD
specs that declare them no longer load NumPy, PIL and the metrics package (0.13 s of the first
comparison on a cold interpreter)."""
from __future__ import annotations

import subprocess
import sys


def test_every_builtin_spec_imports_without_numpy() -> None:
    code = ("import importlib, sys\nfrom adlab.pipelines import BUILTIN_SPEC_MODULES\n"
            "for m in BUILTIN_SPEC_MODULES:\n    importlib.import_module(m)\n"
            "from adlab.pipelines.declared import declared_metrics\n"
            "assert 'spro@0.3' in declared_metrics('anomalib')\n"
            "print(sorted(m for m in ('numpy', 'PIL', 'scipy', 'torch', 'adlab.metrics',"
            " 'adlab.data') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_declared_spro_keys_are_those_the_loco_evaluation_reports() -> None:
    from adlab.core import loco_keys
    from adlab.metrics import loco_eval
    from adlab.pipelines.components.loco_spro import LOCO_SPRO_METRICS

    assert loco_eval.spro_key is loco_keys.spro_key
    reported = loco_eval.loco_metric_keys(loco_eval.OFFICIAL_SPRO_LIMITS)
    assert list(LOCO_SPRO_METRICS) == [k for k in reported if k.startswith("spro")]
    assert len(LOCO_SPRO_METRICS) == 15 and "spro_logical@0.05" in LOCO_SPRO_METRICS
