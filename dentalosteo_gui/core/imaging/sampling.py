"""Pixel sampling shared by the landmark patches (``core.anatomy``) and the model inputs
(``core.model_input``): edge-padded crops, area resizes, and the pixel spacing assumed when
none is known. Pure functions, numpy + OpenCV.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

DEFAULT_SPACING_MM = 0.1  # the published ~0.1 mm/px panoramic scale


def spacing_or_default(spacing_mm: float | None) -> float:
    """``spacing_mm`` when it is a positive number, else :data:`DEFAULT_SPACING_MM`."""
    if spacing_mm and spacing_mm > 0 and math.isfinite(spacing_mm):
        return float(spacing_mm)
    return DEFAULT_SPACING_MM


def as_gray(pixels: np.ndarray) -> np.ndarray:
    """float32 2-D view of an image (a colour image is averaged over its channels)."""
    img = np.asarray(pixels, dtype=np.float32)
    return img.mean(axis=2) if img.ndim == 3 else img


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


def resize_area(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a 2-D float array to (height, width): INTER_AREA when shrinking, else linear."""
    a = np.ascontiguousarray(img, dtype=np.float32)
    shrink = a.shape[0] >= height and a.shape[1] >= width
    return cv2.resize(a, (int(width), int(height)),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
