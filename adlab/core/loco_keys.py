"""MVTec LOCO AD's names, shared by the metric arithmetic (:mod:`adlab.metrics.loco_eval`) and
the pipelines that declare the sPRO metrics they record: plain constants, so a pipeline spec
declares its metrics without importing NumPy (specs are read by ``adlab compare``, the TUI's
compare screen and ``adlab pipelines``, which must start fast)."""
from __future__ import annotations

OFFICIAL_SPRO_LIMITS = (0.01, 0.05, 0.1, 0.3, 1.0)
GOOD = "good"  # the test folder names, as MVTec LOCO AD ships them
LOGICAL = "logical_anomalies"
STRUCTURAL = "structural_anomalies"
ANOMALY_TYPES = (LOGICAL, STRUCTURAL)
SHORT_NAMES = {LOGICAL: "logical", STRUCTURAL: "structural"}


def spro_key(limit: float, anomaly_type: str | None = None) -> str:
    """``spro@0.3`` (mean of both types) or ``spro_logical@0.3`` / ``spro_structural@0.3``."""
    prefix = "spro" if anomaly_type is None else f"spro_{SHORT_NAMES[anomaly_type]}"
    return f"{prefix}@{float(limit)}"
