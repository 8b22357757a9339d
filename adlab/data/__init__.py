"""Dataset readers (MVTec AD, VisA, MPDD, MVTec LOCO, GoodsAD, generic folders, adlab's synthetic
data) turning a root folder into :class:`Sample` records, plus image and mask loading.

The synthetic data generator is :mod:`adlab.data.synth`.
"""
from adlab.data.folder import load_folder
from adlab.data.imageio import image_size, load_image, load_mask, load_mask_values
from adlab.data.loco import load_loco_defects_config
from adlab.data.registry import (
    LAYOUTS,
    DatasetLayout,
    get_layout,
    list_categories,
    list_datasets,
    load_category,
    resolve_categories,
)
from adlab.data.roots import dataset_root
from adlab.data.types import IMAGE_EXTENSIONS, CategoryData, Sample

__all__ = [
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "CategoryData",
    "DatasetLayout",
    "Sample",
    "dataset_root",
    "get_layout",
    "image_size",
    "list_categories",
    "list_datasets",
    "load_category",
    "load_folder",
    "load_image",
    "load_loco_defects_config",
    "load_mask",
    "load_mask_values",
    "resolve_categories",
]
