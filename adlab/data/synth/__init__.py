"""Synthetic anomaly-detection data (numpy + Pillow only): textured materials and an object,
with small scratches, holes, cracks, stains and missing pieces, masks exact to the pixel."""
from adlab.data.synth.defects import DEFECT_KINDS, MAX_AREA_FRACTION, MIN_AREA_FRACTION, add_defect
from adlab.data.synth.generator import (
    PROVENANCE_FILE,
    SYNTH_CATEGORIES,
    SynthSummary,
    generate_synthetic,
    render_defect,
    render_normal,
)

__all__ = [
    "DEFECT_KINDS",
    "MAX_AREA_FRACTION",
    "MIN_AREA_FRACTION",
    "PROVENANCE_FILE",
    "SYNTH_CATEGORIES",
    "SynthSummary",
    "add_defect",
    "generate_synthetic",
    "render_defect",
    "render_normal",
]
