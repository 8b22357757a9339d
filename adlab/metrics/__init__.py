"""Exact, fast anomaly-detection metrics (pure functions over NumPy arrays).

Every value follows the official definition: AUROC and AP as scikit-learn computes them on raw
scores, F1-max as the official MVTec AD script takes it from the precision-recall curve,
AU-PRO as the official MVTec AD evaluation (8-connected regions, FPR over defect-free pixels,
ties merged, interpolation at the FPR limit, area divided by the limit) and sPRO as the
official MVTec LOCO evaluation, at every distinct threshold. Undefined metrics are NaN with a
reason. Importing this package loads NumPy only; scipy (region labelling) and torch (GPU path)
are imported when first needed.
"""
from adlab.metrics._inputs import MetricInputError
from adlab.metrics.aupro import aupro
from adlab.metrics.auroc import image_auroc, pixel_auroc
from adlab.metrics.average_precision import image_ap, pixel_ap
from adlab.metrics.evaluate import (METRIC_KEYS, MetricReport, evaluate,
                                    evaluate_per_category)
from adlab.metrics.f1_max import f1_max, pixel_f1_max
from adlab.metrics.spro import loco_saturation_area, spro
from adlab.metrics.undefined import UndefinedMetricWarning

__all__ = [
    "METRIC_KEYS", "MetricInputError", "MetricReport", "UndefinedMetricWarning", "aupro",
    "evaluate", "evaluate_per_category", "f1_max", "image_ap", "image_auroc",
    "loco_saturation_area", "pixel_ap", "pixel_auroc", "pixel_f1_max", "spro",
]
