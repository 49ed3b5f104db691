"""Landmark-patch model input: the eight patches of ``core.anatomy.extract_patches`` (the one
patch extractor: the model's input and the GUI's preview are the same pixels), each z-scored.

:func:`prepare_landmark_input` is the input of training (exact, evaluation) and inference;
:func:`landmark_context_patches` is the training cache (patches of 1.4 x the side) that
augmentation shifts, scales and rotates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..anatomy.landmarks import extract_patches, landmark_patch_px
from ..types import LANDMARK_NAMES
from .common import batch_of_one, normalise_patch

LANDMARK_CONTEXT = 1.4

LANDMARK_GROUPS: tuple[str, ...] = tuple(n.split("_", 1)[1] for n in LANDMARK_NAMES[:4])
"""The landmark model's four groups (a right / left pair each, the attention weights s1..s4):
condyle, gonial_angle, premolar, maxillary_tuberosity."""

crop_landmark_patches = extract_patches  # (8, out, out) float32, NOT normalised

PREPROCESSING_DESCRIPTION_LANDMARKS = (
    "grayscale float in [0,1]; for each of the 8 landmarks (order: right condyle, right gonial "
    "angle, right premolar, right maxillary tuberosity, then the same on the left) a square of "
    "patch_mm millimetres (pixel spacing from the file, else 0.1 mm) centred on the point, "
    "edge-padded outside the image, resized to out_size x out_size with INTER_AREA; each patch "
    "z-scored and clipped to [-4, 4]; float32, shape (8, out, out, 1)"
)


def normalise_landmark_patches(patches: np.ndarray, channels: int = 1) -> np.ndarray:
    """(8, out, out) -> (1, 8, out, out, channels): each patch z-scored."""
    p = np.stack([normalise_patch(q) for q in np.asarray(patches, dtype=np.float32)])
    return batch_of_one(p, channels)


def prepare_landmark_input(
    pixels: np.ndarray, landmarks: Mapping[str, Sequence[float]], pixel_spacing_mm: float | None,
    out_size: int = 64, patch_mm: float = 10.0, channels: int = 1,
) -> np.ndarray:
    """Model input (1, 8, out, out, channels) float32 for the landmark model."""
    patches = extract_patches(pixels, landmarks, pixel_spacing_mm, out_size, patch_mm)
    return normalise_landmark_patches(patches, channels)


def landmark_context_patches(
    pixels: np.ndarray, landmarks: Mapping[str, Sequence[float]], spacing_mm: float | None,
    out_size: int, patch_mm: float, context: float = LANDMARK_CONTEXT,
) -> np.ndarray:
    """Training cache: (8, S, S) float16 patches of ``context`` x the patch side (S = out_size * context)."""
    s = int(round(out_size * context))
    return extract_patches(pixels, landmarks, spacing_mm, s, patch_mm * context).astype(np.float16)


__all__ = ["LANDMARK_CONTEXT", "LANDMARK_GROUPS", "PREPROCESSING_DESCRIPTION_LANDMARKS",
           "crop_landmark_patches", "extract_patches", "landmark_context_patches", "landmark_patch_px",
           "normalise_landmark_patches", "prepare_landmark_input"]
