"""Grad-CAM map post-processing as separate pure functions (MONAI CAMBase + blend_images).

raw map (model resolution) -> resize to ROI -> normalise -> place in image -> colour -> blend.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..types import RoiBox

DEFAULT_CMAP = "inferno"  # perceptually uniform


def resize_map(raw: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D map to ``shape`` (rows, cols).

    Uses scipy.ndimage.zoom(order=1), the same upsampling tf-keras-vis uses, so maps from
    our fast path and from tf-keras-vis are comparable.
    """
    from scipy.ndimage import zoom

    m = np.asarray(raw, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"map must be 2-D, got shape {m.shape}")
    if m.shape == tuple(shape):
        return m.copy()
    factors = (shape[0] / m.shape[0], shape[1] / m.shape[1])
    out = zoom(m, factors, order=1)
    # zoom can be off by one pixel through rounding: crop/pad to the exact shape
    fixed = np.zeros(shape, dtype=np.float32)
    h, w = min(shape[0], out.shape[0]), min(shape[1], out.shape[1])
    fixed[:h, :w] = out[:h, :w]
    return fixed


def normalise_map(m: np.ndarray) -> np.ndarray:
    """Min-max scale a map to [0, 1]; a flat map becomes all zeros."""
    a = np.nan_to_num(np.asarray(m, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(a.min()) if a.size else 0.0, float(a.max()) if a.size else 0.0
    if hi - lo <= 1e-12:
        return np.zeros_like(a, dtype=np.float32)
    return ((a - lo) / (hi - lo)).astype(np.float32)


def place_in_image(roi_map: np.ndarray, box: RoiBox, image_shape: tuple[int, int]) -> np.ndarray:
    """Paste an ROI-sized map into an image-sized float32 map that is zero outside the ROI."""
    h, w = int(image_shape[0]), int(image_shape[1])
    out = np.zeros((h, w), dtype=np.float32)
    b = box.clipped(w, h)
    m = resize_map(roi_map, (box.h, box.w)) if roi_map.shape != (box.h, box.w) else roi_map
    dy, dx = b.y - box.y, b.x - box.x
    out[b.y : b.y + b.h, b.x : b.x + b.w] = m[dy : dy + b.h, dx : dx + b.w]
    return out


@lru_cache(maxsize=8)
def colormap_lut(name: str = DEFAULT_CMAP) -> np.ndarray:
    """(256, 3) uint8 lookup table of a matplotlib colour map."""
    from matplotlib import colormaps

    cmap = colormaps[name]
    lut = (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0 + 0.5).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def colorize(m: np.ndarray, name: str = DEFAULT_CMAP) -> np.ndarray:
    """Map a [0, 1] map to RGB uint8 with a perceptually uniform colour map."""
    idx = np.clip(np.asarray(m, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return colormap_lut(name)[idx]


def gray_to_rgb(pixels: np.ndarray) -> np.ndarray:
    """[0, 1] grayscale float -> RGB uint8."""
    g = np.clip(np.asarray(pixels, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def blend(gray: np.ndarray, heat: np.ndarray, alpha: float = 0.45, name: str = DEFAULT_CMAP,
          threshold: float = 0.05) -> np.ndarray:
    """Overlay a [0, 1] heat map on a [0, 1] grayscale image; returns RGB uint8.

    Pixels whose heat is below ``threshold`` keep the plain radiograph, so the overlay never
    hides anatomy outside the ROI.
    """
    if gray.shape != heat.shape:
        raise ValueError(f"image {gray.shape} and heat map {heat.shape} differ in shape")
    base = gray_to_rgb(gray).astype(np.float32)
    col = colorize(heat, name).astype(np.float32)
    a = np.where(np.asarray(heat) >= threshold, float(alpha), 0.0)[..., None].astype(np.float32)
    out = base * (1.0 - a) + col * a
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def colorbar(height: int = 256, width: int = 16, name: str = DEFAULT_CMAP) -> np.ndarray:
    """A vertical colour bar (high at the top), RGB uint8."""
    ramp = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None].repeat(width, axis=1)
    return colorize(ramp, name)


def mass_near_polyline(heat: np.ndarray, polyline: list[tuple[float, float]], radius_px: float,
                       box: RoiBox | None = None) -> float:
    """Share of the heat map's mass within ``radius_px`` of a polyline (inside ``box``)."""
    import cv2

    h, w = heat.shape
    mask = np.zeros((h, w), dtype=np.uint8)
    if len(polyline) >= 2:
        pts = np.round(np.asarray(polyline, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(mask, [pts], False, 1, thickness=max(1, int(round(2 * radius_px))))
    m = np.asarray(heat, dtype=np.float64)
    if box is not None:
        b = box.clipped(w, h)
        sel = np.zeros_like(m, dtype=bool)
        sel[b.y : b.y + b.h, b.x : b.x + b.w] = True
        m = np.where(sel, m, 0.0)
    total = float(m.sum())
    if total <= 0:
        return 0.0
    return float((m * mask).sum() / total)
