"""The queue-time data check over a study's runs: each distinct dataset selection is checked
once by :func:`adlab.data.checks.check_dataset` (the rules, and when a missing root is a warning,
live there)."""
from __future__ import annotations

import json
from collections.abc import Sequence

from adlab.core.run_spec import RunSpec
from adlab.data.checks import check_dataset
from adlab.errors import AdlabError, DataError
from adlab.pipelines.dataset_params import DatasetSelection

SKIP_HINT = "`adlab queue --no-data-check` skips this check"


def check_run_data(specs: Sequence[RunSpec]) -> list[str]:
    """Warnings for data not reachable from here; raises :class:`DataError` (the reader's
    sentence, with the run's name and how to skip the check) for the first problem."""
    warnings: list[str] = []
    seen: set[str] = set()
    for spec in specs:
        data = getattr(spec.params, "data", None)
        if not isinstance(data, DatasetSelection):
            continue  # a pipeline that reads no image dataset
        key = json.dumps([data.dataset, data.root, data.category_list(), data.options],
                         sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        try:
            found = check_dataset(data.dataset, data.root, data.category_list(), **data.options)
        except AdlabError as exc:
            raise DataError(f"run {spec.name}: {exc} ({SKIP_HINT})") from None
        warnings.extend(w for w in found if w not in warnings)
    return warnings
