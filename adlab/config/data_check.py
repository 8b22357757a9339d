"""The queue-time data check over a study's runs.

What a run reads is its pipeline's ``data_checks`` hook (MMAD's files, cross-domain test
domains), else its ``data`` section when that is a dataset selection. Each distinct check runs
once however many runs share it; the rules, and when data not reachable here is only a warning,
live in :mod:`adlab.data.checks` (and the pipeline's readers its checks call)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adlab.core.run_spec import RunSpec
from adlab.errors import AdlabError, DataError
from adlab.pipelines import get_pipeline
from adlab.pipelines.dataset_params import DatasetSelection

SKIP_HINT = "`adlab queue --no-data-check` skips this check"


def data_checks_of(spec: RunSpec) -> list[Any]:
    """The checks of the data one run reads ([] for a run that reads none)."""
    hook = get_pipeline(spec.pipeline).data_checks
    if hook is not None:
        return list(hook(spec.params))
    data = getattr(spec.params, "data", None)
    return [data.data_check()] if isinstance(data, DatasetSelection) else []


def check_run_data(specs: Sequence[RunSpec], source: str | None = None) -> list[str]:
    """Warnings for data not reachable from here; raises :class:`DataError` (the reader's
    sentence, with the study file ``source``, the run's name and how to skip the check) for the
    first problem."""
    where = f"config {source}: " if source else ""
    warnings: list[str] = []
    seen: set[Any] = set()
    for spec in specs:
        try:
            checks = data_checks_of(spec)
        except AdlabError as exc:
            raise DataError(f"{where}run {spec.name}: {exc} ({SKIP_HINT})") from None
        for check in checks:
            if check in seen:
                continue
            seen.add(check)
            try:
                found = check.run()
            except AdlabError as exc:
                raise DataError(f"{where}run {spec.name}: {exc} ({SKIP_HINT})") from None
            warnings.extend(w for w in found if w not in warnings)
    return warnings
