"""Anatomy on panoramic radiographs: ROI proposal, landmarks, cortex (MCW) and Klemetti hint.

Core code: numpy / OpenCV / scipy only (no Qt, no TensorFlow).
"""

from __future__ import annotations

from .roi import border_from_box, propose_roi

__all__ = ["propose_roi", "border_from_box"]
