"""The two records every dataset reader produces, whatever the folder layout on disk."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Lower-case suffixes of files treated as images; anything else in a data folder is ignored.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
)

NORMAL_LABEL = 0
ANOMALOUS_LABEL = 1
GOOD = "good"


@dataclass(frozen=True)
class Sample:
    """One image with its ground truth; ``mask_paths`` is empty for normal images."""

    image_path: Path
    mask_paths: tuple[Path, ...]
    label: int  # 0 normal, 1 anomalous
    defect_type: str  # "good" for normal images
    category: str
    split: str  # "train" | "val" | "test"

    @property
    def is_anomalous(self) -> bool:
        return self.label == ANOMALOUS_LABEL


@dataclass(frozen=True)
class CategoryData:
    """All samples of one category; ``val`` is empty unless the layout has a validation split."""

    dataset: str
    category: str
    root: Path
    train: list[Sample]
    test: list[Sample]
    val: list[Sample] = field(default_factory=list)

    @property
    def defect_types(self) -> list[str]:
        """Defect folders seen in the test split, sorted (``good`` excluded)."""
        return sorted({s.defect_type for s in self.test if s.label == ANOMALOUS_LABEL})

    def counts(self) -> dict[str, object]:
        """Image counts for listings: train, val, test good/anomalous and per defect type."""
        per_defect = Counter(s.defect_type for s in self.test if s.label == ANOMALOUS_LABEL)
        return {
            "train": len(self.train),
            "val": len(self.val),
            "test_good": sum(1 for s in self.test if s.label == NORMAL_LABEL),
            "test_anomalous": sum(per_defect.values()),
            "test_with_mask": sum(1 for s in self.test if s.mask_paths),
            "defect_types": dict(sorted(per_defect.items())),
        }


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name (hidden files skipped)."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: p.name)


def list_subdirs(folder: Path) -> list[Path]:
    """Visible sub-folders of ``folder``, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name)
