"""Porosity and endosteal residues of the inferior cortex, in units that carry across devices.

Inputs are periosteum-aligned strips (normals x depth, ``endosteal.aligned_strip``): a
``fine`` one (smoothed in depth only: pores are small and elongated) and a ``smooth`` one
(also along the border), the endosteal width per normal and which normals are confident.

- Reference contrast ``step``: how much darker the bone is just past the endosteal margin
  than just inside it (0.4 mm either side, median over the confident normals). Positive
  wherever a margin was found, whatever the image's grey scale.
- Background: per depth, the running median along the border (3 mm); pores and fragments
  are departures from it, so a brightness ramp through the cortex (tangential projection)
  or a cortex darker than the trabecular bone (superimposed soft tissue) does not count.
- Noise ``sigma``: from differences between neighbouring normals (1.4826 x MAD / sqrt 2).
- Porosity: fraction of the band's middle (15-85 % of the width) darker than the
  background by half the step; residues: fraction of the 0.2-1.5 mm past the margin
  brighter than the background by half the step. Each is corrected for the fraction that
  noise alone would give, ``(f - f0) / (1 - f0)`` with ``f0 = Phi(-step / 2 sigma)``, so a
  noisier detector does not read as a more porous cortex.

Ratios of intensity differences: unchanged by gain, offset and (locally) gamma.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import median_filter

BACKGROUND_MM = 3.0  # running-median length along the border for the background
STEP_MM = 0.4  # the reference step is measured this far either side of the margin
BAND = (0.15, 0.85)  # part of the cortical width where pores are counted
PAST_MM = (0.2, 1.5)  # where residues are counted, past the endosteal margin


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _excess(frac: float, f0: float) -> float:
    return max(0.0, (frac - f0) / (1.0 - f0)) if f0 < 1.0 else 0.0


def _collect(res: np.ndarray, depth: np.ndarray, widths: np.ndarray, rows: np.ndarray,
             lo: tuple[float, float], hi: tuple[float, float]) -> np.ndarray:
    """Residual samples of ``rows`` between lo[0]*w + lo[1] and hi[0]*w + hi[1] mm deep."""
    w = widths[rows]
    starts = np.searchsorted(depth, lo[0] * w + lo[1])
    ends = np.searchsorted(depth, hi[0] * w + hi[1])
    use = ends - starts >= 2
    if not use.any():
        return np.zeros(0)
    # the rows' runs concatenated in row order, gathered through one flat index
    r, a, b = rows[use], starts[use], ends[use]
    lens = b - a
    first = np.cumsum(lens) - lens
    flat = np.repeat(r * res.shape[1] + a - first, lens) + np.arange(int(lens.sum()))
    out: np.ndarray = res.ravel()[flat]
    return out


def _step(smooth: np.ndarray, depth: np.ndarray, widths: np.ndarray, rows: np.ndarray) -> float:
    w = widths[rows]
    a_all = np.searchsorted(depth, w - STEP_MM)
    m_all = np.searchsorted(depth, w)
    b_all = np.searchsorted(depth, w + STEP_MM)
    steps = []
    for i, a, m, b in zip(rows.tolist(), a_all.tolist(), m_all.tolist(), b_all.tolist(), strict=True):
        if m - a >= 2 and b - m >= 2:
            before, after = smooth[i, a:m], smooth[i, m:b]
            # a.sum() / n is what ndarray.mean computes (same pairwise sum, same division)
            steps.append(float(before.sum() / before.size - after.sum() / after.size))
    return float(np.median(steps)) if steps else 0.0


def _median_along_rows(x: np.ndarray, size: int) -> np.ndarray:
    """``median_filter(x, size=(size, 1), mode="nearest")`` for odd ``size`` (the same values:
    the median of an odd count is one of the samples), through a sliding window; scipy's
    rank filter is the fallback for non-finite input (its ordering of NaN differs)."""
    if size % 2 == 0 or x.ndim != 2 or x.shape[0] == 0 or not np.isfinite(x).all():
        out: np.ndarray = median_filter(x, size=(size, 1), mode="nearest")
        return out
    h = size // 2
    padded = np.concatenate([np.repeat(x[:1], h, axis=0), x, np.repeat(x[-1:], h, axis=0)], axis=0)
    win = np.lib.stride_tricks.sliding_window_view(np.ascontiguousarray(padded.T), size, axis=1)
    med: np.ndarray = np.partition(win, h, axis=-1)[..., h].T
    return med


def cortex_texture(fine: np.ndarray, smooth: np.ndarray, depth: np.ndarray, widths: np.ndarray,
                   confident: np.ndarray, normal_step_mm: float) -> dict[str, float]:
    """Porosity, residues and their references (see the module doc); {} without a margin."""
    rows = np.flatnonzero(confident & np.isfinite(widths))
    if rows.size < 4 or fine.shape[0] < 4:
        return {}
    step = _step(smooth, depth, widths, rows)
    diff = np.diff(fine, axis=0)
    sigma = 1.4826 * float(np.median(np.abs(diff - np.median(diff)))) / math.sqrt(2.0) + 1e-12
    size = max(3, int(round(BACKGROUND_MM / normal_step_mm)) | 1)
    res = fine - _median_along_rows(fine, size)
    band = _collect(res, depth, widths, rows, (BAND[0], 0.0), (BAND[1], 0.0))
    past = _collect(res, depth, widths, rows, (1.0, PAST_MM[0]), (1.0, PAST_MM[1]))
    if step <= 0 or band.size == 0 or past.size == 0:
        return {"step_to_noise": round(step / sigma, 3)}
    f0 = _phi(-0.5 * step / sigma)
    return {
        "porosity": _excess(float(np.mean(band < -0.5 * step)), f0),
        "residues": _excess(float(np.mean(past > 0.5 * step)), f0),
        "step_to_noise": step / sigma,
        "noise_fraction": f0,
    }
