"""Pure pixel helpers shared by the image and DICOM readers: size limits, scaling, luma.

Kept apart from the readers so ``dicom`` and ``imageio`` do not import each other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ImageTooLargeError, ImageTooSmallError

MAX_PIXELS = 100_000_000  # refuse images above 100 megapixels
MIN_SIDE = 64  # refuse images under 64 px on a side

def check_size(path: Path | str, width: int, height: int) -> None:
    """Refuse decompression bombs and thumbnails before any pixel is allocated."""
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            path,
            f"image is {width} x {height} px ({width * height / 1e6:.0f} MP), over the "
            f"{MAX_PIXELS // 1_000_000} MP limit",
            "export the radiograph at its native resolution",
        )
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageTooSmallError(
            path,
            f"image is {width} x {height} px, under {MIN_SIDE} px on a side",
            "open the full-resolution radiograph, not a thumbnail",
        )


def to_unit_float(arr: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Scale integer pixels to float32 [0, 1] by their bit depth (pure function)."""
    a = np.asarray(arr)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if np.issubdtype(a.dtype, np.integer):
        if bits is None:
            mx = int(a.max()) if a.size else 0
            bits = max(8, min(16, int(np.ceil(np.log2(mx + 1))) if mx > 0 else 8))
        return np.clip(a.astype(np.float32) / float(2**bits - 1), 0.0, 1.0)
    return minmax_unit(a)


def minmax_unit(a: np.ndarray) -> np.ndarray:
    """Min-max scale finite values to [0, 1]; NaN/inf become 0 (pure function)."""
    f = np.asarray(a, dtype=np.float64)
    finite = np.isfinite(f)
    if not finite.any():
        return np.zeros(f.shape, dtype=np.float32)
    lo = float(f[finite].min())
    hi = float(f[finite].max())
    out = np.zeros(f.shape, dtype=np.float32)
    if hi > lo:
        out[finite] = ((f[finite] - lo) / (hi - lo)).astype(np.float32)
    return out


def rgb_to_gray(a: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an (H, W, 3|4) array; alpha is dropped (pure function)."""
    rgb = a[..., :3].astype(np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
