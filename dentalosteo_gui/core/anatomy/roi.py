"""ROI proposal: trace the inferior mandibular border and place the published 700 x 140 box.

Method (no learned weights, so it transfers to radiographs we never saw):

1. Work on a copy downscaled to about 640 px wide (speed; the border is a large structure).
2. Edge map of "bright bone above, dark soft tissue below": the negative vertical derivative
   of the Gaussian-smoothed image, plus the outward horizontal derivative near the sides
   where the border turns up into the ramus. Thin bright clutter (the burned-in "R" marker,
   the hyoid ghost) is weakened by requiring bone brightness over a band above the edge.
3. Dynamic programming across columns finds the smooth path that collects the most edge
   strength (a first-order smoothness penalty; at most a few pixels of rise per column),
   inside a search band relative to the image size (lower 55 % of the image).
4. The coarse path is refined at full resolution by a second dynamic programme in a narrow
   band around it, with sub-pixel peak interpolation.
5. The mandible's midline is the vertex of a robust parabola fitted to the traced border;
   the box is the published 700 x 140 box on the image resized to 1200 x 630, centred on
   that midline, placed vertically so the traced border in its columns lies inside it.

Everything is returned in original-image pixels.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import AnatomyError
from ..types import Polyline, Radiograph, RoiBox, RoiProposal

log = logging.getLogger(__name__)

# The published pipeline (METHODS.md section 1): resize to 1200 x 630, crop 700 x 140.
REF_W, REF_H = 1200, 630
BOX_W_REF, BOX_H_REF = 700, 140

WORK_W = 640  # working width of the coarse trace
SEARCH_TOP = 0.42  # the border is searched below this fraction of the image height
TRACE_X0, TRACE_X1 = 0.06, 0.94  # traced columns as fractions of the image width
EDGE_SAT_PCT = 98.5  # edge strengths above this percentile count as 1
C_CONCAVE = 6.0  # cost per unit increase of slope (concavity) in the coarse trace
GAMMA = 0.5
CLIP_LEVEL = 3.0 / 255.0  # raw values at or below this are treated as clipped black
EDGE_SIGMAS = (1.5,)
LOW_PRIOR = 0.25  # cost per unit of height above the bottom of the search band
NODE_STEP = 3  # work columns per node of the convex dynamic programme
MIN_TRACE_COLS = 6  # smallest search region (work px) the tracer accepts
MIN_TRACE_ROWS = 4
POLY_STEP = 4  # original-pixel spacing of the returned polyline points


@dataclass
class BorderTrace:
    """Full-resolution trace of the inferior border: one y per column in [x0, x1)."""

    x0: int
    x1: int
    y: np.ndarray  # float64, len x1 - x0, original pixels
    strength: np.ndarray  # edge strength along the path (0..1, coarse scale, per column)
    midline_x: float

    def y_at(self, x: np.ndarray | float) -> np.ndarray:
        xs = np.asarray(x, dtype=np.float64)
        return np.interp(xs, np.arange(self.x0, self.x1, dtype=np.float64), self.y)


# --------------------------------------------------------------------------- helpers


def _working_copy(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """Downscale to about WORK_W wide; return (image, scale = original px per work px)."""
    h, w = pixels.shape
    scale = max(1.0, w / WORK_W)
    if scale > 1.0:
        ww = int(round(w / scale))
        hh = int(round(h / scale))
        small = cv2.resize(pixels, (ww, hh), interpolation=cv2.INTER_AREA)
        scale = w / ww
    else:
        small = pixels.copy()
    return small.astype(np.float32), float(scale)


def _normalise(img: np.ndarray) -> np.ndarray:
    """Robust contrast stretch to [0, 1] (1st-99th percentile of non-clipped pixels)."""
    valid = img[(img > 0.01) & (img < 0.99)]
    if valid.size < 100:
        valid = img.ravel()
    lo, hi = np.percentile(valid, [1, 99])
    if hi - lo < 1e-6:
        return np.zeros_like(img)
    return np.clip((img - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def dp_path(cost: np.ndarray, max_step: int, smooth: float) -> np.ndarray:
    """Minimum-cost path through a (rows, cols) cost map, one row per column.

    Transition cost is ``smooth * dy**2`` for |dy| <= max_step (rows per column).
    """
    rows, cols = cost.shape
    acc = cost[:, 0].astype(np.float64).copy()
    back = np.zeros((rows, cols), dtype=np.int16)
    offs = np.arange(-max_step, max_step + 1)
    pen = smooth * offs.astype(np.float64) ** 2
    big = 1e18
    m = int(max_step)
    padded = np.full(rows + 2 * m, big)
    # win[y, k] = padded[y + 2m - k] = acc[y - offs[k]]: every shift at once, as a view that
    # follows the updates of `padded`; rows that no shift reaches read `big`
    win = np.lib.stride_tricks.sliding_window_view(padded, 2 * m + 1)[:, ::-1]
    cand = np.empty((rows, offs.size))
    row_idx = np.arange(rows)
    pen_row = pen[None, :]
    for j in range(1, cols):
        padded[m : m + rows] = acc  # cand[y, k] = acc[y - d] + pen[k] (we came from row y - d)
        np.add(win, pen_row, out=cand)
        arg = np.argmin(cand, axis=1)
        acc = cand[row_idx, arg] + cost[:, j]
        back[:, j] = offs[arg]
    path = np.zeros(cols, dtype=np.int64)
    path[-1] = int(np.argmin(acc))
    for j in range(cols - 1, 0, -1):
        path[j - 1] = path[j] - back[path[j], j]
    return np.clip(path, 0, rows - 1)


def _dp_convex(
    cost: np.ndarray, max_slope: int, c_change: float, c_concave: float
) -> np.ndarray:
    """Minimum-cost path whose slope (rows per node) mostly decreases from left to right.

    The inferior border of the mandible is U-shaped (y grows downward): descending on the
    image-left side, flat at the chin, rising on the image-right side, so its slope is
    non-increasing. An increase of slope costs ``c_concave`` per unit (the antegonial notch
    and small irregularities stay possible); any slope change costs ``c_change * ds**2``.
    Straight detector steps that a free path would follow and then leave with a jump are
    thereby excluded. ``cost`` is (rows, nodes); returns one row per node.
    """
    rows, n = cost.shape
    slopes = np.arange(-max_slope, max_slope + 1)
    ns = slopes.size
    ds = slopes[None, :] - slopes[:, None]  # [s_prev, s_new]
    trans = c_change * ds.astype(np.float64) ** 2 + c_concave * np.maximum(0, ds)
    big = 1e18
    acc = np.repeat(cost[:, 0][None, :].astype(np.float64), ns, axis=0)  # [slope, row]
    back_s = np.zeros((n, ns, rows), dtype=np.int8)
    tot = np.empty((ns, ns, rows))
    # new[k, y] = best[k, y - slopes[k]] (new row y = row_prev + slope); rows no slope reaches
    # hold `big` and a zero back-pointer
    src = np.arange(rows)[None, :] - slopes[:, None]
    valid = (src >= 0) & (src < rows)
    src_c = np.clip(src, 0, rows - 1)
    k_idx = np.repeat(np.arange(ns)[:, None], rows, axis=1)
    for j in range(1, n):
        np.add(acc[:, None, :], trans[:, :, None], out=tot)  # [s_prev, s_new, row_prev]
        arg = np.argmin(tot, axis=0)  # [s_new, row_prev]
        best = np.take_along_axis(tot, arg[None], axis=0)[0]
        new = np.where(valid, best[k_idx, src_c], big)
        back_s[j] = np.where(valid, arg[k_idx, src_c], 0)
        acc = new + cost[:, j][None, :]
    k0, y0 = np.unravel_index(int(np.argmin(acc)), acc.shape)
    k, y = int(k0), int(y0)
    path = np.zeros(n, dtype=np.int64)
    path[-1] = y
    for j in range(n - 1, 0, -1):
        kp = int(back_s[j, k, y])
        y = y - int(slopes[k])
        k = kp
        path[j - 1] = y
    return np.clip(path, 0, rows - 1)


def _edge_map(work: np.ndarray, scale: float, raw: np.ndarray | None = None) -> np.ndarray:
    """Edge strength (0..1) of the mandible's lower edge: bright bone above, dark below."""
    h, w = work.shape
    if GAMMA != 1.0:
        # Expand the dark grey levels: under-exposed images hide the border near black.
        work = np.power(np.clip(work, 0.0, 1.0), GAMMA).astype(np.float32)
    xs = np.arange(w, dtype=np.float32) / max(1, w - 1)
    side_w = np.clip((np.abs(xs - 0.5) - 0.2) / 0.2, 0.0, 1.0)
    e = np.zeros_like(work)
    for sigma in EDGE_SIGMAS:
        # Scale-normalised derivatives (x sigma): soft, blurred borders answer at the larger
        # scale as strongly as sharp ones at the smaller.
        sm_s = cv2.GaussianBlur(work, (0, 0), sigma)
        gy = cv2.Sobel(sm_s, cv2.CV_32F, 0, 1, ksize=3) / 8.0 * (sigma / EDGE_SIGMAS[0])
        gx = cv2.Sobel(sm_s, cv2.CV_32F, 1, 0, ksize=3) / 8.0 * (sigma / EDGE_SIGMAS[0])
        down = np.maximum(0.0, -gy)
        # Near the sides the border turns up into the ramus: there the outward direction has a
        # horizontal part (image-left half: darker to the left; right half: darker to the right).
        outward = np.where(xs < 0.5, np.maximum(0.0, gx), np.maximum(0.0, -gx))
        e = np.maximum(e, np.sqrt(down**2 + (outward * side_w[None, :]) ** 2))
    sm = cv2.GaussianBlur(work, (0, 0), EDGE_SIGMAS[0])
    # Bone support: the cortex and the body above it are brighter than the tissue below over
    # a band of several millimetres; thin bright clutter (letters, hyoid ghost) is not.
    band = max(3, int(round(6.0 * 640.0 / max(w, 1))))
    k = np.ones((band, 1), np.float32) / band
    mean = cv2.filter2D(sm, -1, k, borderType=cv2.BORDER_REPLICATE)
    above = np.roll(mean, band // 2 + 1, axis=0)
    below = np.roll(mean, -(band // 2 + 1), axis=0)
    support = np.clip((above - below) / 0.15, 0.0, 1.0)
    e = e * support
    if raw is not None:
        # Clipped black regions (collimator, cropped corners) make strong but meaningless
        # edges with the dark soft tissue above them; keep an edge next to clipping only when
        # bone-bright pixels are above it (a chin touching the clipped region).
        clipped = (raw <= CLIP_LEVEL).astype(np.float32)
        clip_below = np.roll(cv2.filter2D(clipped, -1, k, borderType=cv2.BORDER_REPLICATE), -(band // 2 + 1), axis=0)
        valid = sm[raw > CLIP_LEVEL]
        bone_level = float(np.percentile(valid, 50)) if valid.size else 0.5
        e = np.where((clip_below > 0.3) & (above < bone_level), 0.0, e)
    # Detector stitching and collimator steps are straight horizontal edges across most of
    # the width; a curved anatomical border occupies any one row only briefly. Subtracting a
    # high per-row percentile removes the former and barely touches the latter.
    row_level = np.percentile(e[:, int(0.1 * w) : int(0.9 * w)], 40, axis=1)
    e = np.maximum(0.0, e - 1.5 * row_level[:, None])
    # Saturate: an edge is either clearly there or not; geometry (smooth U shape, lowest
    # edge) then decides between the anatomical border and stronger artefacts.
    ref = float(np.percentile(e[int(SEARCH_TOP * h) :], EDGE_SAT_PCT)) if e.size else 0.0
    if ref <= 1e-9:
        return np.zeros_like(e)
    return np.clip(e / ref, 0.0, 1.0).astype(np.float32)


def _robust_parabola_vertex(xs: np.ndarray, ys: np.ndarray, fallback: float) -> float:
    """x of the lowest point (max y) of a robust parabola through the border points."""
    if xs.size < 10:
        return fallback
    keep = np.ones(xs.size, dtype=bool)
    coef = None
    for _ in range(3):
        coef = np.polyfit(xs[keep], ys[keep], 2)
        res = ys - np.polyval(coef, xs)
        mad = np.median(np.abs(res[keep])) + 1e-6
        keep = np.abs(res) < 3.0 * 1.4826 * mad
        if keep.sum() < 10:
            break
    if coef is None or coef[0] >= 0:  # not U-shaped (y grows downward, so a < 0 is a U)
        return fallback
    return float(-coef[1] / (2 * coef[0]))


def border_for_box(rad: Radiograph, box: RoiBox, auto: RoiProposal | None) -> RoiProposal:
    """The border to use inside a user-given box.

    When the whole-image proposal ``auto`` traced the border through this box (its border
    spans at least 90 % of the box width inside it, within 10 % of the box height above or
    below), that whole border is kept: nudging the box must not change the anatomy
    the app reads (a box-restricted re-trace can differ by 1-2 mm along part of a side).
    Otherwise the border is re-traced inside the box, split at ``auto``'s midline.
    """
    h, w = rad.pixels.shape
    b = box.clipped(w, h)
    if auto is None or not (auto.border_right or auto.border_left):
        return border_from_box(rad, b, midline_x=None if auto is None else auto.midline_x)
    x0, x1 = float(b.x), float(b.x + b.w)
    pad = 0.1 * b.h
    right = [p for p in auto.border_right if x0 <= p[0] <= x1]
    left = [p for p in auto.border_left if x0 <= p[0] <= x1]
    pts = right + left
    mid_ok = auto.midline_x is not None and abs(float(auto.midline_x) - (x0 + b.w / 2)) <= 0.3 * b.w
    if pts and mid_ok:
        xs = np.array([p[0] for p in pts])
        ys = np.array([p[1] for p in pts])
        inside = float(np.mean((ys >= b.y - pad) & (ys <= b.y + b.h + pad)))
        span = (xs.max() - xs.min()) / max(1.0, float(b.w))
        if inside >= 0.95 and span >= 0.9 and len(right) >= 4 and len(left) >= 4:
            return RoiProposal(box=b, border_right=list(auto.border_right), border_left=list(auto.border_left),
                               confidence=auto.confidence, reasons=list(auto.reasons), midline_x=auto.midline_x)
    return border_from_box(rad, b, midline_x=auto.midline_x)


def _symmetric_midline(xs: np.ndarray, ys: np.ndarray, width: int, height: int) -> float:
    """Mandible midline: midpoint of where the U-shaped border crosses several heights.

    At each level a little above the lowest point, the border crosses once on each side; the
    midpoints of the crossings are symmetric about the midline whatever the local curvature.
    """
    fallback = 0.5 * width
    if xs.size < 20:
        return fallback
    sel = (xs > 0.1 * width) & (xs < 0.9 * width)
    x, y = xs[sel], ys[sel]
    if x.size < 20:
        return fallback
    y = np.convolve(y, np.ones(9) / 9.0, mode="same")
    mid = fallback
    for _ in range(3):
        # remove a head tilt / asymmetric angle: the line through the border at mid +- 0.3 W
        xa, xb = mid - 0.3 * width, mid + 0.3 * width
        ya, yb = float(np.interp(xa, x, y)), float(np.interp(xb, x, y))
        y_adj = y - (ya + (yb - ya) * (x - xa) / (xb - xa))
        y_low = float(np.percentile(y_adj, 98))
        mids = []
        for frac in (0.02, 0.04, 0.06, 0.08, 0.10, 0.12):
            below = np.flatnonzero(y_adj >= y_low - frac * height)
            if below.size < 2:
                continue
            x_a, x_b = x[below[0]], x[below[-1]]
            if x_b - x_a < 0.1 * width:
                continue
            mids.append(0.5 * (x_a + x_b))
        if not mids:
            mids = [_robust_parabola_vertex(x[::4], y[::4], fallback)]
        mid = float(np.clip(np.median(mids), 0.4 * width, 0.6 * width))
    return mid


# --------------------------------------------------------------------------- tracing


@dataclass(frozen=True)
class _SearchRegion:
    """Where the border is traced: original pixels [x0, x1) x [ya, yb), and the same region on
    the working copy [cx0, cx1) x [cy0, cy1)."""

    x0: int
    x1: int
    ya: int
    yb: int
    cx0: int
    cx1: int
    cy0: int
    cy1: int


def _search_region(shape: tuple[int, int], work_shape: tuple[int, int], scale: float,
                   x_range: tuple[int, int] | None,
                   y_range: tuple[int, int] | None) -> _SearchRegion:
    """The search region (default: the lower part of the image, all but the side margins);
    raises :class:`AnatomyError` when it is too small to trace in."""
    h, w = shape
    wh, ww = work_shape
    if x_range is None:
        x0, x1 = int(TRACE_X0 * w), int(math.ceil(TRACE_X1 * w))
    else:
        x0, x1 = max(0, int(x_range[0])), min(w, int(x_range[1]))
    if y_range is None:
        ya, yb = int(SEARCH_TOP * h), h
    else:
        ya, yb = max(0, int(y_range[0])), min(h, int(y_range[1]))
    cx0, cx1 = min(int(x0 / scale), ww), min(ww, int(math.ceil(x1 / scale)))
    cy0, cy1 = min(int(ya / scale), wh), min(wh, int(math.ceil(yb / scale)))
    if cx1 - cx0 < MIN_TRACE_COLS or cy1 - cy0 < MIN_TRACE_ROWS or x1 - x0 < 2:
        raise AnatomyError(
            f"the search region ({x1 - x0} x {yb - ya} px) is too small to trace the border; "
            "draw the ROI box over the lower border of the mandible"
        )
    return _SearchRegion(x0, x1, ya, yb, cx0, cx1, cy0, cy1)


def _coarse_path(sub: np.ndarray) -> np.ndarray:
    """Row of the border in every column of the edge map ``sub`` (convex dynamic programme)."""
    # Every strong false edge (occlusal plane, teeth, detector steps, the endosteal side of
    # anatomy) lies ABOVE the inferior border, which is the lowest edge with bone above it:
    # a mild preference for lower rows breaks ties between comparable edges.
    rel = np.linspace(1.0, 0.0, sub.shape[0])[:, None]
    cost = -sub + LOW_PRIOR * rel
    # Nodes every NODE_STEP work columns; the edge map is max-pooled over each node's span.
    ncols = sub.shape[1]
    node_x = np.arange(0, ncols, NODE_STEP)
    pooled = np.stack(
        [cost[:, i : i + NODE_STEP].min(axis=1) for i in node_x], axis=1
    )
    nodes = _dp_convex(pooled, max_slope=6, c_change=0.01, c_concave=C_CONCAVE)
    path: np.ndarray = np.round(np.interp(np.arange(ncols), node_x + (NODE_STEP - 1) / 2, nodes)).astype(np.int64)
    return path


def _gradient_band(pixels: np.ndarray, x0: int, x1: int, y_coarse: np.ndarray,
                   scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertical gradient (bright above, dark below) in a narrow band around ``y_coarse``.

    Returns ``band`` (offsets x columns) and the image row of each of its cells.
    """
    h = pixels.shape[0]
    sigma = max(1.0, 0.6 * scale)
    r = int(math.ceil(1.5 * scale)) + 2
    # Smooth and differentiate only the rows the band can touch.
    ylo = int(max(0, np.floor(y_coarse.min()) - r - 8))
    yhi = int(min(h, np.ceil(y_coarse.max()) + r + 9))
    strip: np.ndarray = cv2.GaussianBlur(pixels[ylo:yhi, x0:x1].astype(np.float32), (0, 0), sigma)
    gy = -(np.roll(strip, -1, axis=0) - np.roll(strip, 1, axis=0)) * 0.5
    gy[0, :] = 0
    gy[-1, :] = 0
    offs = np.arange(-r, r + 1)
    rows_idx = np.clip(np.round(y_coarse).astype(np.int64)[None, :] + offs[:, None] - ylo, 1, strip.shape[0] - 2)
    cols_idx = np.arange(x1 - x0)[None, :]
    band = gy[rows_idx, cols_idx]
    return band, rows_idx + ylo


def _subpixel_rows(band: np.ndarray, rows: np.ndarray, sel: np.ndarray,
                   fine: np.ndarray) -> np.ndarray:
    """Image row of the path ``fine`` (band offsets in columns ``sel``), refined by parabolic
    interpolation of the band around each peak."""
    k = np.asarray(fine, dtype=np.int64)[: sel.size]
    c = sel[: k.size]
    inner = (k > 0) & (k < band.shape[0] - 1)
    kk = np.clip(k, 1, band.shape[0] - 2)
    a, b, cc = band[kk - 1, c], band[kk, c], band[kk + 1, c]
    den = a - 2 * b + cc
    ok = inner & (np.abs(den) > 1e-12)
    d = np.zeros(k.size)
    d[ok] = np.clip(0.5 * (a[ok] - cc[ok]) / den[ok], -0.5, 0.5)
    y: np.ndarray = rows[k, c] + d
    return y


def _refine_trace(pixels: np.ndarray, x0: int, x1: int, y_coarse: np.ndarray,
                  scale: float) -> np.ndarray:
    """Full-resolution border y for every column in [x0, x1), in a narrow band around the
    coarse trace ``y_coarse``."""
    band, rows = _gradient_band(pixels, x0, x1, y_coarse, scale)
    bmax = float(np.percentile(band, 99)) if band.size else 0.0
    bcost = -(band / bmax) if bmax > 1e-9 else np.zeros_like(band)
    # The fine DP runs on every `step`-th column (speed), then is interpolated.
    step = max(1, int(round(scale / 2)))
    sel = np.arange(0, x1 - x0, step)
    fine = dp_path(bcost[:, sel], max_step=max(1, step), smooth=0.05 / max(1, step))
    y_fine: np.ndarray = np.interp(np.arange(x1 - x0), sel, _subpixel_rows(band, rows, sel, fine))
    return y_fine


def trace_border(
    pixels: np.ndarray, x_range: tuple[int, int] | None = None, y_range: tuple[int, int] | None = None
) -> BorderTrace:
    """Trace the inferior mandibular border (periosteal lower edge) at full resolution.

    ``x_range``/``y_range`` (original pixels) restrict the search (used when the user moved
    the box). Returns one y per column in ``x_range``. Raises :class:`AnatomyError` when
    the search region is too small to trace in.
    """
    h, w = pixels.shape
    work_raw, scale = _working_copy(pixels)
    work = _normalise(work_raw)
    edge = _edge_map(work, scale, work_raw)
    reg = _search_region((h, w), work.shape, scale, x_range, y_range)

    sub = edge[reg.cy0 : reg.cy1, reg.cx0 : reg.cx1]
    path = _coarse_path(sub) + reg.cy0
    strength = sub[path - reg.cy0, np.arange(sub.shape[1])]

    # ---- full-resolution refinement in a narrow band around the coarse path
    xs_full = np.arange(reg.x0, reg.x1)
    coarse_x = (np.arange(reg.cx0, reg.cx1) + 0.5) * scale
    y_coarse = np.interp(xs_full, coarse_x, (path + 0.5) * scale)
    y_fine = _refine_trace(pixels, reg.x0, reg.x1, y_coarse, scale)

    midline = _symmetric_midline(xs_full.astype(float), y_fine, w, h)
    strength_full = np.interp(xs_full, coarse_x, strength)
    return BorderTrace(x0=reg.x0, x1=reg.x1, y=y_fine, strength=strength_full, midline_x=midline)


# --------------------------------------------------------------------------- box + proposal


def box_size(width: int, height: int) -> tuple[int, int]:
    """The published 700 x 140 box (on a 1200 x 630 image) in this image's pixels."""
    return int(round(BOX_W_REF / REF_W * width)), int(round(BOX_H_REF / REF_H * height))


def _place_box(trace: BorderTrace, width: int, height: int) -> RoiBox:
    bw, bh = box_size(width, height)
    x = int(round(trace.midline_x - bw / 2))
    x = max(0, min(width - bw, x))
    cols = np.arange(x, x + bw)
    ys = trace.y_at(cols)
    # Cover the border in the box's columns with a margin below it for the soft-tissue edge,
    # keeping as much of the cortex (above the border) as the box height allows.
    lo, hi = float(np.percentile(ys, 2)), float(np.percentile(ys, 98))
    margin_below = 0.12 * bh
    y_bottom = hi + margin_below
    y = int(round(y_bottom - bh))
    if y > lo - 0.25 * bh:  # border spans more than the box: keep the upper part covered too
        y = int(round(min(y, lo - 0.1 * bh)))
    y = max(0, min(height - bh, y))
    return RoiBox(x, y, bw, bh)


def _split_polylines(trace: BorderTrace, y_max: int) -> tuple[Polyline, Polyline]:
    xs = np.arange(trace.x0, trace.x1, POLY_STEP)
    ys = trace.y_at(xs)
    pts = [(float(x), float(min(y, y_max))) for x, y in zip(xs, ys, strict=False)]
    right = [p for p in pts if p[0] < trace.midline_x]  # patient's right = image-left half
    left = [p for p in pts if p[0] >= trace.midline_x]
    return right, left


def _confidence(trace: BorderTrace, box: RoiBox, width: int, height: int) -> tuple[float, list[str]]:
    reasons: list[str] = []
    cols = np.arange(box.x, box.x + box.w)
    ys = trace.y_at(cols)
    strength = np.interp(cols, np.arange(trace.x0, trace.x1), trace.strength)
    med_strength = float(np.median(strength))
    weak_frac = float(np.mean(strength < 0.15))
    conf = 1.0
    if med_strength < 0.35:
        conf -= 0.35 * (1.0 - med_strength / 0.35)
        reasons.append("the lower edge of the mandible is faint (low contrast at the border)")
    if weak_frac > 0.25:
        conf -= 0.4 * min(1.0, (weak_frac - 0.25) / 0.5)
        reasons.append(f"no clear border found in {weak_frac:.0%} of the ROI columns")
    at_bottom = float(np.mean(ys > height - 1 - 0.006 * height))
    if at_bottom > 0.05:
        conf -= 0.5 * min(1.0, at_bottom / 0.3)
        reasons.append("the inferior cortex is cut off by the bottom of the image")
    # Shape: the border should be U-shaped (lowest near the midline, higher at the box sides).
    q = max(1, box.w // 8)
    side_y = 0.5 * (float(np.median(ys[:q])) + float(np.median(ys[-q:])))
    mid_y = float(np.median(ys[box.w // 2 - q // 2 : box.w // 2 + q // 2 + 1]))
    if mid_y < side_y - 0.02 * height:
        conf -= 0.3
        reasons.append("the traced border is not U-shaped (heavy artefact or not a panoramic)")
    # Symmetry: the two sides should sit at similar heights.
    asym = abs(float(np.median(ys[:q])) - float(np.median(ys[-q:]))) / height
    if asym > 0.08:
        conf -= 0.3 * min(1.0, (asym - 0.08) / 0.08)
        reasons.append("the left and right borders are at very different heights (patient tilt or artefact)")
    aspect = width / height
    if not (1.6 <= aspect <= 3.2):
        conf -= 0.4
        reasons.append(f"aspect ratio {aspect:.2f} is unusual for a panoramic radiograph")
    return float(np.clip(conf, 0.0, 1.0)), reasons


def propose_roi(rad: Radiograph) -> RoiProposal:
    """Propose the published ROI box and trace the inferior mandibular border per side.

    Returns the box in original pixels, the border polylines (``border_right`` in the
    image-left half = patient's right), a confidence in [0, 1] and plain-language reasons
    when confidence is low.
    """
    h, w = rad.pixels.shape
    try:
        trace = trace_border(rad.pixels)
    except AnatomyError as exc:  # degenerate image (e.g. a thin strip): no border, no crash
        bw, bh = box_size(w, h)
        box = RoiBox((w - bw) // 2, h - bh, bw, bh).clipped(w, h)
        return RoiProposal(box=box, border_right=[], border_left=[], confidence=0.0, reasons=[str(exc)])
    box = _place_box(trace, w, h)
    conf, reasons = _confidence(trace, box, w, h)
    right, left = _split_polylines(trace, h - 1)
    log.debug("ROI %s confidence %.2f", box.as_dict(), conf)
    return RoiProposal(box=box, border_right=right, border_left=left, confidence=conf, reasons=reasons,
                       midline_x=float(trace.midline_x))


def border_from_box(rad: Radiograph, box: RoiBox, midline_x: float | None = None) -> RoiProposal:
    """Re-trace the inferior border inside a user-edited box (the box itself is kept).

    ``midline_x``: the mandible's midline found on the whole image (``propose_roi``); used
    when it lies in the middle 60 % of the box, so moving the box does not move the split
    between the sides. Otherwise (or when not given) the box centre is the midline.
    A box too small to trace in (e.g. dragged into a corner) gives a zero-confidence
    proposal with no border and a reason, never an exception.
    """
    h, w = rad.pixels.shape
    b = box.clipped(w, h)
    pad = int(0.1 * b.h)
    try:
        trace = trace_border(rad.pixels, x_range=(b.x, b.x + b.w), y_range=(b.y - pad, b.y + b.h + pad))
    except AnatomyError as exc:
        log.debug("border_from_box: %s", exc)
        return RoiProposal(box=b, border_right=[], border_left=[], confidence=0.0, reasons=[str(exc)])
    centre = float(b.x + b.w / 2)
    m = float(midline_x) if midline_x is not None else float("nan")
    trace.midline_x = m if (np.isfinite(m) and abs(m - centre) <= 0.3 * b.w) else centre
    conf, reasons = _confidence(trace, b, w, h)
    right, left = _split_polylines(trace, h - 1)
    return RoiProposal(box=b, border_right=right, border_left=left, confidence=conf, reasons=reasons,
                       midline_x=trace.midline_x)


def border_arrays(proposal: RoiProposal) -> tuple[np.ndarray, np.ndarray]:
    """The proposal's two polylines joined into sorted (x, y) arrays (image left to right)."""
    pts = sorted(list(proposal.border_right) + list(proposal.border_left))
    if not pts:
        return np.zeros(0), np.zeros(0)
    arr = np.asarray(pts, dtype=np.float64)
    return arr[:, 0], arr[:, 1]
