"""Study files in seed 002's spelling (``base-exp_condition.json``): ``experiment_conditions``
whose ``config`` blocks use the seed's field names.

Such a file names no pipeline (the seed had one kind of run: anomalib models), so it means
:data:`SEED_PIPELINE`. Each pipeline that understands the seed's names offers a
``seed_conditions`` service, ``(config, where) -> (params, notes)``; the notes (one line per
mapped field) are printed at queue time and stored in each run's info as ``config_notes``.
"""
from __future__ import annotations

from typing import Any, Mapping

from adlab.pipelines import PipelineSpec

SEED_KEY = "experiment_conditions"
SEED_PIPELINE = "anomalib"
NOTES_INFO_KEY = "config_notes"


def is_seed_study(raw: Mapping[str, Any]) -> bool:
    """The file uses the seed's ``experiment_conditions`` (not adlab's ``conditions``)."""
    return SEED_KEY in raw and "conditions" not in raw


def translate_seed(spec: PipelineSpec, base: Mapping[str, Any], config: Mapping[str, Any],
                   where: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """``(base params, condition params, notes)`` in ``spec``'s field names; a pipeline that
    offers no ``seed_conditions`` service gets the fields as written (its validation speaks)."""
    if "seed_conditions" not in spec.services:
        return dict(base), dict(config), []
    translate = spec.service("seed_conditions")
    base_params, base_notes = translate(base, where) if base else ({}, [])
    params, notes = translate(config, where)
    return base_params, params, [*base_notes, *notes]
