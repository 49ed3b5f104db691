"""ROI-box model input: the ROI box cut from the full-resolution image and resized straight to
the model's input size (what resizing to the 1200 x 630 reference frame and cropping the
700 x 140 box of Lee et al. 2020 does, without the double interpolation), then z-scored.

:func:`prepare_roi_input` is the input of training (exact, evaluation) and inference;
:func:`roi_context_crop` is the training cache augmented crops are cut from.
"""

from __future__ import annotations

import numpy as np

from ..imaging.sampling import as_gray, crop_padded, resize_area
from ..types import RoiBox
from .common import batch_of_one, normalise_patch

ROI_CONTEXT = 0.15
ROI_OVERSAMPLE = 1.25

PREPROCESSING_DESCRIPTION_ROI = (
    "grayscale float in [0,1] (DICOM: modality LUT, VOI LUT/window, MONOCHROME1 inversion "
    "first); crop the ROI box (original-image pixels, clipped to the image, edge-padded where "
    "it leaves the image); resize to the model input with OpenCV INTER_AREA; per-patch "
    "z-score ((x - mean) / std, std floor 1e-3), clipped to [-4, 4]; float32; the single "
    "channel repeated to the model's channel count"
)


def crop_roi(pixels: np.ndarray, box: RoiBox, height: int, width: int) -> np.ndarray:
    """The ROI box resized to (height, width), float32, NOT normalised."""
    img = as_gray(pixels)
    x0, y0 = int(round(box.x)), int(round(box.y))
    x1, y1 = x0 + max(1, int(round(box.w))), y0 + max(1, int(round(box.h)))
    return resize_area(crop_padded(img, x0, y0, x1, y1), height, width)


def prepare_roi_input(
    pixels: np.ndarray, box: RoiBox, height: int, width: int, channels: int = 1
) -> np.ndarray:
    """Model input (1, height, width, channels) float32 for an ROI model (see module doc)."""
    return batch_of_one(normalise_patch(crop_roi(pixels, box, height, width)), channels)


def roi_context_crop(
    pixels: np.ndarray, box: RoiBox, height: int, width: int,
    context: float = ROI_CONTEXT, oversample: float = ROI_OVERSAMPLE,
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Training cache: the ROI plus a ``context`` margin at ``oversample`` x the input scale,
    float16; returns (crop, the ROI box in crop pixels)."""
    img = np.asarray(pixels, dtype=np.float32)
    mx, my = context * box.w, context * box.h
    x0, y0 = int(np.floor(box.x - mx)), int(np.floor(box.y - my))
    x1, y1 = int(np.ceil(box.x + box.w + mx)), int(np.ceil(box.y + box.h + my))
    sx = oversample * width / float(box.w)
    sy = oversample * height / float(box.h)
    out_w = max(8, int(round((x1 - x0) * sx)))
    out_h = max(8, int(round((y1 - y0) * sy)))
    crop = resize_area(crop_padded(img, x0, y0, x1, y1), out_h, out_w)
    sx, sy = out_w / float(x1 - x0), out_h / float(y1 - y0)
    inner = ((box.x - x0) * sx, (box.y - y0) * sy, box.w * sx, box.h * sy)
    return crop.astype(np.float16), inner
