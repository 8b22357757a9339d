"""What a pipeline declares, looked up by its name: partition and non-group keys, metrics.

Imported runs may name pipelines adlab does not have: every lookup answers "nothing declared"
for them instead of failing, and an imported run's own recorded partition keys win. Comparison,
pivots, reports and the exporters all read these facts from here.
"""
from __future__ import annotations

import functools
import json
from typing import Mapping

from adlab.core.vocabulary import MetricInfo
from adlab.errors import AdlabError


def partition_keys_of(pipeline: str, info_json: str | None) -> list[str]:
    """The partition keys a run was grouped with: recorded at import, else the pipeline's."""
    if info_json:
        try:
            info = json.loads(info_json)
        except ValueError:
            info = {}
        if isinstance(info, dict) and isinstance(info.get("partition_keys"), list):
            return [str(k) for k in info["partition_keys"]]
    return list(spec_keys(pipeline)[0])


@functools.lru_cache(maxsize=None)
def spec_keys(pipeline: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(partition keys, non-group keys) of ``pipeline``'s spec; empty for unknown pipelines."""
    try:
        from adlab.pipelines import get_pipeline

        spec = get_pipeline(pipeline)
    except AdlabError:
        return (), ()
    return tuple(spec.partition_keys), tuple(spec.non_group_keys)


@functools.lru_cache(maxsize=None)
def declared_metrics(pipeline: str) -> Mapping[str, MetricInfo]:
    """The metrics ``pipeline``'s spec declares (empty for imported or unknown pipelines)."""
    try:
        from adlab.pipelines import get_pipeline

        return dict(get_pipeline(pipeline).metrics)
    except AdlabError:
        return {}
