"""The part of a radiograph that holds the image: black margins (padding added by an export,
a collimator band across the whole width or height) are not anatomy.

Everything that is a fraction of the image (search band, box size, measurement window,
landmark proportions) is a fraction of this content frame, so padding a radiograph with a
black margin moves nothing relative to the anatomy. numpy / OpenCV.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from ..imaging import memo
from ..types import Radiograph, RoiBox, RoiProposal

MARGIN_LEVEL = 8.0 / 255.0  # a margin pixel is at most this bright (JPEG ringing included)
MARGIN_FRAC = 0.97  # a row / column is margin when at least this fraction of it is that dark
FLAT_BLACK_STEP = 1.0 / 255.0  # pixels within this of the darkest level are "at" it
FLAT_BLACK_FRAC = 0.01  # a flat black (clipped, collimated or padded) region holds at least this


def black_floor(pixels: np.ndarray) -> float:
    """The image's black level: its darkest grey level when a flat region sits there (a
    collimator band, padding or clipping, at 0 on most devices but raised on some: a pedestal,
    an offset LUT), else 0. Tissue is never flat at its darkest level (noise), so an image
    without such a region keeps the absolute levels."""
    lo = float(pixels.min())
    if lo <= 0.0:
        return 0.0
    at_floor = np.count_nonzero(pixels <= lo + FLAT_BLACK_STEP) / max(1, pixels.size)
    return lo if at_floor >= FLAT_BLACK_FRAC else 0.0


def _dark_counts(dark: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number of True pixels per row and per column of a 2-D boolean mask (exact integer
    counts, as ``np.count_nonzero(dark, axis=1 / 0)``; OpenCV's reduction is several times
    faster on a radiograph)."""
    if dark.size == 0 or dark.shape[0] >= 2**31 // max(1, dark.shape[1]):
        return np.count_nonzero(dark, axis=1), np.count_nonzero(dark, axis=0)
    u8 = np.ascontiguousarray(dark).view(np.uint8)
    per_row = cv2.reduce(u8, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    per_col = cv2.reduce(u8, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    return per_row, per_col


def content_bounds(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the image without whole black rows / columns at its edges (found
    once per screening for the same array: ``imaging.memo``)."""
    return memo.memoised(pixels, ("content_bounds",), lambda: _content_bounds(pixels))


def _content_bounds(pixels: np.ndarray) -> tuple[int, int, int, int]:
    h, w = pixels.shape
    dark = pixels <= black_floor(pixels) + MARGIN_LEVEL  # counted, not averaged: same fractions, no float copy
    per_row, per_col = _dark_counts(dark)
    rows = np.flatnonzero(per_row / w < MARGIN_FRAC)
    cols = np.flatnonzero(per_col / h < MARGIN_FRAC)
    if rows.size < max(8, h // 8) or cols.size < max(8, w // 8):
        return 0, 0, w, h
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def content_width(pixels: np.ndarray) -> int:
    x0, _, x1, _ = content_bounds(pixels)
    return x1 - x0


def content_view(pixels: np.ndarray, bounds: tuple[int, int, int, int]) -> np.ndarray:
    """``pixels`` inside ``bounds`` (:func:`content_bounds`): the array itself when they cover
    all of it (so working copies keyed on the array, ``dentition.DentitionWork``, are shared),
    else a view, no copy."""
    x0, y0, x1, y1 = bounds
    if (x0, y0, x1, y1) == (0, 0, pixels.shape[1], pixels.shape[0]):
        return pixels
    return pixels[y0:y1, x0:x1]


def crop_to_content(rad: Radiograph) -> tuple[Radiograph, int, int]:
    """The radiograph restricted to its content (a view, no copy) and the offset (dx, dy)."""
    bounds = content_bounds(rad.pixels)
    view = content_view(rad.pixels, bounds)
    if view is rad.pixels:
        return rad, 0, 0
    return replace(rad, pixels=view, warnings=[]), bounds[0], bounds[1]


def shift_box(box: RoiBox, dx: float, dy: float) -> RoiBox:
    return RoiBox(int(round(box.x + dx)), int(round(box.y + dy)), box.w, box.h)


def shift_proposal(p: RoiProposal, dx: float, dy: float) -> RoiProposal:
    """The same proposal in a frame moved by (dx, dy) pixels."""
    if dx == 0 and dy == 0:
        return p

    def mv(poly: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(float(x + dx), float(y + dy)) for x, y in poly]

    return RoiProposal(box=shift_box(p.box, dx, dy), border_right=mv(p.border_right),
                       border_left=mv(p.border_left), confidence=p.confidence, reasons=list(p.reasons),
                       midline_x=None if p.midline_x is None else float(p.midline_x + dx))
