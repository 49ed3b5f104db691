"""Anatomy on panoramic radiographs: ROI proposal, landmarks, cortex (MCW) and Klemetti hint.

Core code: numpy / OpenCV / scipy only (no Qt, no TensorFlow). See docs/anatomy.md.
"""

from __future__ import annotations

from .cortex import klemetti_rule, measure_cortex
from .foramen import measure_pmi, propose_foramen
from .landmarks import extract_patches, propose_landmarks
from .overlay import draw_overlay
from .quality import (
    LOW_ROI_CONFIDENCE,
    assess_quality,
    has_no_border,
    is_child,
    is_not_panoramic,
    reportable_cortex,
)
from .roi import border_arrays, border_for_box, border_from_box, box_size, propose_roi, trace_border
from .scale import anatomical_mm_per_px

__all__ = [
    "propose_roi",
    "border_from_box",
    "border_for_box",
    "border_arrays",
    "box_size",
    "trace_border",
    "propose_landmarks",
    "extract_patches",
    "measure_cortex",
    "klemetti_rule",
    "assess_quality",
    "is_not_panoramic",
    "has_no_border",
    "is_child",
    "reportable_cortex",
    "LOW_ROI_CONFIDENCE",
    "anatomical_mm_per_px",
    "draw_overlay",
    "propose_foramen",
    "measure_pmi",
]
