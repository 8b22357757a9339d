"""adlab samples -> an anomalib datamodule for training (test scoring happens outside anomalib).

Why a datamodule built from adlab's readers rather than anomalib's own ones: adlab already
reads every supported layout (including LOCO, GoodsAD, generic folders and the synthetic data)
into ``Sample`` lists with one set of error messages, and some models (EfficientAd) read
``trainer.datamodule`` during training, so plain dataloaders are not enough. The model's resize
is appended by anomalib before collation, so images of mixed sizes batch correctly.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd
from anomalib.data.datamodules.base.image import AnomalibDataModule
from anomalib.data.datasets.base.image import AnomalibDataset

from adlab.data.types import Sample


class SampleDataset(AnomalibDataset):
    """Normal images for fitting or validation loss; labels only, masks are not needed."""

    def __init__(self, samples: Sequence[Sample], split: str, category: str) -> None:
        super().__init__(augmentations=None)
        frame = pd.DataFrame({
            "image_path": [str(s.image_path) for s in samples],
            "mask_path": ["" for _ in samples],
            "label_index": [int(s.label) for s in samples],
            "split": [split for _ in samples],
        })
        frame.attrs["task"] = "classification"
        self.samples = frame
        self.category = category


class SampleDataModule(AnomalibDataModule):
    def __init__(self, train: Sequence[Sample], val: Sequence[Sample], *, category: str,
                 train_batch_size: int, eval_batch_size: int, num_workers: int, seed: int) -> None:
        super().__init__(train_batch_size=train_batch_size, eval_batch_size=eval_batch_size,
                         num_workers=num_workers, seed=seed)
        self._train, self._val = list(train), list(val)
        self.category = category

    def _setup(self, _stage: str | None = None) -> None:
        self.train_data = SampleDataset(self._train, "train", self.category)
        # An empty validation set still needs a dataset object; Lightning skips it when unused.
        self.val_data = SampleDataset(self._val or self._train[:1], "val", self.category)
        self.test_data = self.val_data
