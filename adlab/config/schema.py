"""The study file: what sits around a pipeline's params (conditions, grid, group keys).

Any top-level key that is not a study field below is a pipeline parameter, so a file can look
exactly like the seed runner's ``experiment.yaml`` (``ad_model:``, ``llm:``, ``eval:``) plus a
``pipeline:`` line.
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Condition(BaseModel):
    """One named variant (as in the seed's base-exp_condition.json): a partial config."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    pipeline: Optional[str] = None
    config: dict[str, Any] = Field(default_factory=dict)
    grid: Optional[dict[str, list[Any]]] = None
    group_keys: Optional[list[str]] = None


class StudyFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipeline: Optional[str] = None
    study: str = ""
    name: Optional[str] = None
    description: str = ""
    name_template: Optional[str] = None
    group_keys: Optional[list[str]] = None
    conditions: Optional[list[Condition]] = None
    grid: Optional[dict[str, list[Any]]] = None
    max_attempts: int = Field(default=3, ge=1, le=100)
    priority: int = 0

    @field_validator("grid")
    @classmethod
    def _grid_lists_not_empty(cls, grid: Optional[dict[str, list[Any]]]) -> Optional[dict[str, list[Any]]]:
        for key, values in (grid or {}).items():
            if not values:
                raise ValueError(f"grid entry {key!r} has no values; give at least one")
        return grid


STUDY_KEYS = frozenset(StudyFields.model_fields) | {"experiment_conditions"}


def split_study(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(study fields, pipeline params) from one parsed file."""
    study = {k: v for k, v in raw.items() if k in STUDY_KEYS}
    if "experiment_conditions" in study:  # the seed's JSON spelling
        study.setdefault("conditions", study.pop("experiment_conditions"))
        study.pop("experiment_conditions", None)
    params = {k: v for k, v in raw.items() if k not in STUDY_KEYS}
    return study, params
