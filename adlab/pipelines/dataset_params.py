"""The dataset selection every image pipeline shares: which dataset, where, which categories.

One definition, so "categories: all", a single name, a comma list and a YAML list mean the same
thing in every pipeline (and validate the same way).
"""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import Field, field_validator

from adlab.pipelines.base import PipelineParams

DatasetName = Literal["mvtec_ad", "visa", "mpdd", "mvtec_loco", "goodsad", "folder", "synthetic"]


class DatasetSelection(PipelineParams):
    dataset: DatasetName = "synthetic"
    root: Optional[str] = Field(default=None, description="dataset folder; else $ADLAB_DATA_ROOT/<dataset folder>")
    categories: Union[str, list[str]] = Field(default="all", description='"all", one name, or a list')
    options: dict[str, Any] = Field(default_factory=dict, description="layout options (folder layout only)")
    test_limit: Optional[int] = Field(default=None, ge=1, description="score at most N test images (evenly spaced)")

    @field_validator("categories")
    @classmethod
    def _categories_not_empty(cls, value: Union[str, list[str]]) -> Union[str, list[str]]:
        if isinstance(value, list):
            if not value or any(not str(v).strip() for v in value):
                raise ValueError('give at least one category name, or "all"')
            return [str(v).strip() for v in value]
        if not value.strip():
            raise ValueError('give a category name, a list, or "all"')
        return value.strip()

    def category_list(self) -> Optional[list[str]]:
        """The named categories, or None for ``all``."""
        if isinstance(self.categories, list):
            return list(self.categories)
        if self.categories.lower() == "all":
            return None
        return [c.strip() for c in self.categories.split(",") if c.strip()]

    def data_check(self) -> Any:
        """The queue-time check of this selection (an ``adlab.data.checks.DatasetCheck``)."""
        from adlab.data.checks import DatasetCheck

        return DatasetCheck.of(self.dataset, self.root, self.category_list(), self.options)


class TrainableSelection(DatasetSelection):
    """For pipelines that fit on the training split."""

    train_limit: Optional[int] = Field(default=None, ge=1, description="use at most N training images")
