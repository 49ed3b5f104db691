"""Pixel preprocessing shared by training and inference (pure functions, numpy + OpenCV).

The published pipeline (Lee et al. 2020) resizes every panoramic radiograph to a
1200 x 630 px reference frame and cuts a 700 x 140 px ROI on the lower mandible. Our packs
record the ROI as a box in original-image pixels; :func:`crop_roi` cuts that box from the
full-resolution image and resizes it (area interpolation) straight to the model's input
size, which is what resizing to the reference frame and then cropping does, without the
double interpolation. :func:`to_reference_frame` / :func:`box_to_reference` give the
reference-frame view for reports and for comparing with the paper.

Model input normalisation (:func:`normalise_patch`): per-patch z-score (subtract the mean,
divide by the standard deviation), clipped to +-4. That removes the exposure and contrast
differences between machines, which a 0..1 scaling would keep.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .types import LANDMARK_NAMES, RoiBox, RoiProposal

if TYPE_CHECKING:
    from .anatomy.band import BandSpec, CortexBand

REFERENCE_WIDTH = 1200
REFERENCE_HEIGHT = 630
REFERENCE_ROI_WIDTH = 700
REFERENCE_ROI_HEIGHT = 140
DEFAULT_SPACING_MM = 0.1
Z_CLIP = 4.0

PREPROCESSING_DESCRIPTION_ROI = (
    "grayscale float in [0,1] (DICOM: modality LUT, VOI LUT/window, MONOCHROME1 inversion "
    "first); crop the ROI box (original-image pixels, clipped to the image, edge-padded where "
    "it leaves the image); resize to the model input with OpenCV INTER_AREA; per-patch "
    "z-score ((x - mean) / std, std floor 1e-3), clipped to [-4, 4]; float32; the single "
    "channel repeated to the model's channel count"
)
PREPROCESSING_DESCRIPTION_LANDMARKS = (
    "grayscale float in [0,1]; for each of the 8 landmarks (order: right condyle, right gonial "
    "angle, right premolar, right maxillary tuberosity, then the same on the left) a square of "
    "patch_mm millimetres (pixel spacing from the file, else 0.1 mm) centred on the point, "
    "edge-padded outside the image, resized to out_size x out_size with INTER_AREA; each patch "
    "z-scored and clipped to [-4, 4]; float32, shape (8, out, out, 1)"
)
PREPROCESSING_DESCRIPTION_BAND = (
    "grayscale float in [0,1]; the inferior mandibular border traced inside the ROI box "
    "(core.anatomy: propose_roi, or border_from_box for a given box); per side, the smoothed border "
    "sampled at cols_per_side equal arc-length steps between window[0] and window[1] of the box "
    "half-width from the box centre (the symphysis and the spine ghost are left out), and at each "
    "step rows samples along the normal from inside_mm into the mandible to outside_mm below the "
    "border (pixel spacing from the file or dataset, else 0.1 mm), bilinear after a Gaussian "
    "pre-blur of 0.4 x the sampling step; the image-left side then the image-right side, as in "
    "the image; z-scored and clipped to [-4, 4]; float32 (core.anatomy.band)"
)


def to_reference_frame(pixels: np.ndarray) -> np.ndarray:
    """Resize (bilinear) a radiograph to the 1200 x 630 px reference frame of Lee et al."""
    img = np.asarray(pixels, dtype=np.float32)
    return cv2.resize(img, (REFERENCE_WIDTH, REFERENCE_HEIGHT), interpolation=cv2.INTER_LINEAR)


def box_to_reference(box: RoiBox, image_shape: Sequence[int]) -> RoiBox:
    """Map a box in original-image pixels to the 1200 x 630 reference frame."""
    h, w = int(image_shape[0]), int(image_shape[1])
    sx = REFERENCE_WIDTH / float(w)
    sy = REFERENCE_HEIGHT / float(h)
    return RoiBox(int(round(box.x * sx)), int(round(box.y * sy)),
                  max(1, int(round(box.w * sx))), max(1, int(round(box.h * sy))))


def box_from_reference(box: RoiBox, image_shape: Sequence[int]) -> RoiBox:
    """Map a reference-frame box back to original-image pixels."""
    h, w = int(image_shape[0]), int(image_shape[1])
    sx = w / float(REFERENCE_WIDTH)
    sy = h / float(REFERENCE_HEIGHT)
    return RoiBox(int(round(box.x * sx)), int(round(box.y * sy)),
                  max(1, int(round(box.w * sx))), max(1, int(round(box.h * sy))))


def crop_padded(pixels: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Cut rows y0:y1, columns x0:x1; parts outside the image repeat the edge pixels."""
    img = np.asarray(pixels)
    h, w = img.shape[:2]
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"empty crop ({x0},{y0})-({x1},{y1})")
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(w, x1), min(h, y1)
    if cx1 <= cx0 or cy1 <= cy0:  # entirely outside: nearest edge pixel everywhere
        yy = int(np.clip(y0, 0, h - 1))
        xx = int(np.clip(x0, 0, w - 1))
        return np.full((y1 - y0, x1 - x0), img[yy, xx], dtype=img.dtype)
    core = img[cy0:cy1, cx0:cx1]
    pad = ((cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1))
    if any(p for pp in pad for p in pp):
        core = np.pad(core, pad, mode="edge")
    return core


def normalise_patch(patch: np.ndarray) -> np.ndarray:
    """Per-patch z-score, clipped to +-4, float32 (works on any shape)."""
    p = np.asarray(patch, dtype=np.float32)
    m = float(p.mean())
    s = max(float(p.std()), 1e-3)
    return np.clip((p - m) / s, -Z_CLIP, Z_CLIP).astype(np.float32)


def resize_area(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a 2-D float array to (height, width): INTER_AREA when shrinking, else linear."""
    a = np.ascontiguousarray(img, dtype=np.float32)
    shrink = a.shape[0] >= height and a.shape[1] >= width
    return cv2.resize(a, (int(width), int(height)),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def crop_roi(pixels: np.ndarray, box: RoiBox, height: int, width: int) -> np.ndarray:
    """The ROI box resized to (height, width), float32, NOT normalised."""
    img = np.asarray(pixels, dtype=np.float32)
    if img.ndim == 3:
        img = img.mean(axis=2)
    x0, y0 = int(round(box.x)), int(round(box.y))
    x1, y1 = x0 + max(1, int(round(box.w))), y0 + max(1, int(round(box.h)))
    return resize_area(crop_padded(img, x0, y0, x1, y1), height, width)


def prepare_roi_input(
    pixels: np.ndarray, box: RoiBox, height: int, width: int, channels: int = 1
) -> np.ndarray:
    """Model input (1, height, width, channels) float32 for an ROI model (see module doc)."""
    patch = normalise_patch(crop_roi(pixels, box, height, width))
    x = np.repeat(patch[None, :, :, None], channels, axis=3)
    return x.astype(np.float32)


def prepare_band_input(pixels: np.ndarray, proposal: RoiProposal, spacing_mm: float,
                       spec: BandSpec | None = None, channels: int = 1) -> tuple[np.ndarray, CortexBand]:
    """Model input (1, rows, 2*cols, channels) float32 for a cortex-band model, and the band
    (its sampling maps take a strip map back to the image)."""
    from .anatomy.band import extract_band

    band = extract_band(pixels, proposal, spacing_mm, spec)
    x = np.repeat(normalise_patch(band.strip)[None, :, :, None], channels, axis=3)
    return x.astype(np.float32), band


def landmark_patch_px(pixel_spacing_mm: float | None, patch_mm: float) -> float:
    """Side of a landmark patch in image pixels."""
    sp = float(pixel_spacing_mm) if pixel_spacing_mm and pixel_spacing_mm > 0 else DEFAULT_SPACING_MM
    return max(4.0, patch_mm / sp)


def crop_landmark_patches(
    pixels: np.ndarray,
    landmarks: Mapping[str, Sequence[float]],
    pixel_spacing_mm: float | None,
    out_size: int = 64,
    patch_mm: float = 10.0,
) -> np.ndarray:
    """Eight square patches (8, out, out) float32 in [0,1], NOT normalised.

    Same semantics as ``core.anatomy.extract_patches``: a ``patch_mm`` square centred on each
    landmark, in :data:`LANDMARK_NAMES` order, resized to ``out_size``.
    """
    img = np.asarray(pixels, dtype=np.float32)
    if img.ndim == 3:
        img = img.mean(axis=2)
    side = landmark_patch_px(pixel_spacing_mm, patch_mm)
    out = np.empty((len(LANDMARK_NAMES), out_size, out_size), dtype=np.float32)
    for i, name in enumerate(LANDMARK_NAMES):
        if name not in landmarks:
            raise KeyError(f"landmark {name!r} missing")
        cx, cy = float(landmarks[name][0]), float(landmarks[name][1])
        x0 = int(round(cx - side / 2.0))
        y0 = int(round(cy - side / 2.0))
        n = int(round(side))
        out[i] = resize_area(crop_padded(img, x0, y0, x0 + n, y0 + n), out_size, out_size)
    return out


def normalise_landmark_patches(patches: np.ndarray) -> np.ndarray:
    """(8, out, out) -> (1, 8, out, out, 1): each patch z-scored (see module doc)."""
    p = np.stack([normalise_patch(q) for q in np.asarray(patches, dtype=np.float32)])
    return p[None, :, :, :, None].astype(np.float32)


def jitter_box(box: RoiBox, rng: np.random.Generator, frac: float = 0.05,
               scale: float = 0.0) -> tuple[float, float, float, float]:
    """Randomly shift each box edge by up to ``frac`` of the box size (training only).

    Returns (x, y, w, h) as floats; ``scale`` adds a joint size change of up to +-scale.
    """
    s = 1.0 + (rng.uniform(-scale, scale) if scale > 0 else 0.0)
    w = box.w * s * (1.0 + rng.uniform(-frac, frac))
    h = box.h * s * (1.0 + rng.uniform(-frac, frac))
    cx = box.x + box.w / 2.0 + rng.uniform(-frac, frac) * box.w
    cy = box.y + box.h / 2.0 + rng.uniform(-frac, frac) * box.h
    return (cx - w / 2.0, cy - h / 2.0, w, h)
