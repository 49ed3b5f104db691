"""Model input, one builder per input kind, shared by training and inference (numpy + OpenCV).

- ROI box (``roi``): :func:`prepare_roi_input`; the box is recorded in original-image pixels
  and cut from the full-resolution image straight to the model's input size, which is what
  resizing to the 1200 x 630 px reference frame of Lee et al. 2020 and cropping their
  700 x 140 px ROI does, without the double interpolation. :func:`to_reference_frame` /
  :func:`box_to_reference` give the reference-frame view for reports and the paper.
- cortex strip (``strip``): :func:`prepare_band_input`.
- landmark patches (``landmarks``): :func:`prepare_landmark_input` (the patches of
  ``core.anatomy.extract_patches``).

Normalisation (:func:`normalise_patch`): per-patch z-score (subtract the mean, divide by the
standard deviation), clipped to +-4. That removes the exposure and contrast differences
between machines, which a 0..1 scaling would keep.

This module keeps the reference-frame helpers and re-exports the builders of ``roi``,
``strip``, ``landmarks`` and ``common`` under their historical names.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..imaging.sampling import DEFAULT_SPACING_MM, crop_padded, resize_area
from ..types import RoiBox
from .common import Z_CLIP, normalise_patch
from .landmarks import (
    PREPROCESSING_DESCRIPTION_LANDMARKS,
    crop_landmark_patches,
    landmark_patch_px,
    normalise_landmark_patches,
    prepare_landmark_input,
)
from .roi import PREPROCESSING_DESCRIPTION_ROI, crop_roi, prepare_roi_input
from .strip import PREPROCESSING_DESCRIPTION_BAND, prepare_band_input

REFERENCE_WIDTH = 1200
REFERENCE_HEIGHT = 630
REFERENCE_ROI_WIDTH = 700
REFERENCE_ROI_HEIGHT = 140

PREPROCESSING_DESCRIPTIONS: dict[str, str] = {
    "roi": PREPROCESSING_DESCRIPTION_ROI,
    "band": PREPROCESSING_DESCRIPTION_BAND,
    "landmarks": PREPROCESSING_DESCRIPTION_LANDMARKS,
}


def to_reference_frame(pixels: np.ndarray) -> np.ndarray:
    """Resize (bilinear) a radiograph to the 1200 x 630 px reference frame of Lee et al."""
    img = np.asarray(pixels, dtype=np.float32)
    return cv2.resize(img, (REFERENCE_WIDTH, REFERENCE_HEIGHT), interpolation=cv2.INTER_LINEAR)


def _scale_box(box: RoiBox, sx: float, sy: float) -> RoiBox:
    return RoiBox(int(round(box.x * sx)), int(round(box.y * sy)),
                  max(1, int(round(box.w * sx))), max(1, int(round(box.h * sy))))


def box_to_reference(box: RoiBox, image_shape: Sequence[int]) -> RoiBox:
    """Map a box in original-image pixels to the 1200 x 630 reference frame."""
    h, w = int(image_shape[0]), int(image_shape[1])
    return _scale_box(box, REFERENCE_WIDTH / float(w), REFERENCE_HEIGHT / float(h))


def box_from_reference(box: RoiBox, image_shape: Sequence[int]) -> RoiBox:
    """Map a reference-frame box back to original-image pixels."""
    h, w = int(image_shape[0]), int(image_shape[1])
    return _scale_box(box, w / float(REFERENCE_WIDTH), h / float(REFERENCE_HEIGHT))


__all__ = [
    "DEFAULT_SPACING_MM", "PREPROCESSING_DESCRIPTIONS", "PREPROCESSING_DESCRIPTION_BAND",
    "PREPROCESSING_DESCRIPTION_LANDMARKS", "PREPROCESSING_DESCRIPTION_ROI", "REFERENCE_HEIGHT",
    "REFERENCE_ROI_HEIGHT", "REFERENCE_ROI_WIDTH", "REFERENCE_WIDTH", "Z_CLIP",
    "box_from_reference", "box_to_reference", "crop_landmark_patches", "crop_padded", "crop_roi",
    "landmark_patch_px", "normalise_landmark_patches", "normalise_patch",
    "prepare_band_input", "prepare_landmark_input", "prepare_roi_input", "resize_area",
    "to_reference_frame",
]
