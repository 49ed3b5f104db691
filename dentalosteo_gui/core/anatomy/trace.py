"""Trace the inferior mandibular border (periosteal lower edge) at full resolution.

1. Work on a copy downscaled to about 640 px wide (speed; the border is a large structure).
2. Edge map of "bright bone above, dark soft tissue below" (see ``_edge_map``), with bone
   support, clipping and detector-step suppression.
3. A convex dynamic programme across columns (the border is U-shaped) finds the coarse path;
   in its outer parts, a long stretch on weak edges (a chord cutting a sharp gonial angle)
   is searched again below it (``_bridge_weak_runs``).
4. The coarse path is refined at full resolution by a second dynamic programme in a narrow
   band around it, on the vertical derivative weighted towards the outer of two parallel
   edges (the periosteal edge where bone meets soft tissue, not the inner line of a double
   contour), with sub-pixel peak interpolation.
5. The midline: where the U-shaped border crosses several heights, symmetric.

Everything is returned in the pixels of the array given. numpy / OpenCV only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import AnatomyError
from ..imaging import memo
from .frame import black_floor

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
FINE_BAND = 3.0  # half-height (work px) of the full-resolution band: 2 x the coarse edge scale
# (EDGE_SIGMAS), so an edge the coarse map blurred by its Gaussian is inside the band
FINE_SMOOTH = 0.05  # smoothness cost of the full-resolution path
LOG_FLOOR = 1.0 / 255.0  # grey levels below this are clipped black for the log
FINE_DLT = 2.0  # the outer edge's soft-tissue side is read 2 blur scales below it (past the
# edge's own blur)
# Corner bridging (see ``_bridge_weak_runs``): in the outer parts of the traced width, a stretch
# where the convex path runs on weak edges is searched again below it for a stronger path.
BRIDGE_OUTER = 0.35  # fraction of the traced columns at each end (the gonial angles)
BRIDGE_WEAK = 0.35  # edge strength below which the convex path is on no edge
BRIDGE_MIN_RUN = 8  # work columns (about 3-4 mm): shorter gaps are crossings, not corners
BRIDGE_DOWN, BRIDGE_UP = 12, 2  # work rows searched below / above the convex path
BRIDGE_MIN_DEPTH = 3  # work rows: a corner lies this far below its chord somewhere (a path that
# keeps within a row or two of the convex one is the same border, seen on weak edges)
BRIDGE_MID_UP = 10  # work rows (about 4-5 mm) searched above the path between the outer parts: a
# chin whose border arches up at the midline (a notch, or a spine ghost below it) is cut by a chord
# BELOW it, the convex path paying for the arch's increase of slope
BRIDGE_ACCEPT = 0.5  # the new stretch's mean edge strength must reach this
BRIDGE_GAIN = 2.0  # and this many times the old stretch's


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
        small = memo.area_resized(pixels, ww, hh)  # INTER_AREA; the dentition check reuses it
        scale = w / ww
    else:
        small = pixels.copy()
    return small.astype(np.float32), float(scale)


def _normalise(img: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Robust contrast stretch to [0, 1] (1st-99th percentile of non-clipped pixels; clipped
    black is at ``floor``, the image's black level: :func:`frame.black_floor`)."""
    valid = img[(img > floor + 0.01) & (img < 0.99)]
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
    cost_cols = np.ascontiguousarray(cost.T)  # column j as one contiguous row
    back = np.zeros((cols, rows), dtype=np.intp)  # per column, the argmin index into offs
    offs = np.arange(-max_step, max_step + 1)
    pen = smooth * offs.astype(np.float64) ** 2
    big = 1e18
    m = int(max_step)
    padded = np.full(rows + 2 * m, big)
    # win[y, k] = padded[y + 2m - k] = acc[y - offs[k]]: every shift at once, as a view that
    # follows the updates of `padded`; rows that no shift reaches read `big`
    win = np.lib.stride_tricks.sliding_window_view(padded, 2 * m + 1)[:, ::-1]
    cand = np.empty((rows, offs.size))
    cand_flat = cand.ravel()  # a view: cand[y, k] is cand_flat[y * offs.size + k]
    row_start = np.arange(rows) * offs.size
    pen_row = pen[None, :]
    for j in range(1, cols):
        padded[m : m + rows] = acc  # cand[y, k] = acc[y - d] + pen[k] (we came from row y - d)
        np.add(win, pen_row, out=cand)
        arg = cand.argmin(axis=1)
        back[j] = arg
        acc = cand_flat.take(row_start + arg) + cost_cols[j]
    path = np.zeros(cols, dtype=np.int64)
    path[-1] = int(np.argmin(acc))
    for j in range(cols - 1, 0, -1):
        path[j - 1] = path[j] - offs[back[j, path[j]]]
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

    The forward pass keeps only the minima (no argmin per node); the back-pointers of the
    cells the path passes are recomputed from the stored costs while backtracking, with the
    same sums and the same first-minimum rule, so the path is :func:`_dp_convex_plain`'s.
    Costs with NaN or inf take the plain path.
    """
    rows, n = cost.shape
    if n < 2 or rows < 1 or not np.isfinite(cost).all():
        return _dp_convex_plain(cost, max_slope, c_change, c_concave)
    slopes, trans, flat, best = _convex_tables(rows, max_slope, c_change, c_concave)
    ns = slopes.size
    hist = np.empty((n, ns, rows))  # hist[j] = acc after node j: [slope, row]
    hist[0] = cost[:, 0][None, :]
    tot = np.empty((ns, ns, rows))
    cost_t = np.ascontiguousarray(cost.T)
    for j in range(1, n):
        np.add(hist[j - 1][:, None, :], trans[:, :, None], out=tot)  # [s_prev, s_new, row_prev]
        np.minimum.reduce(tot, axis=0, out=best[:, :rows])
        np.add(np.take(best, flat), cost_t[j][None, :], out=hist[j])
    k0, y0 = np.unravel_index(int(np.argmin(hist[n - 1])), (ns, rows))
    k, y = int(k0), int(y0)
    path = np.zeros(n, dtype=np.int64)
    path[-1] = y
    for j in range(n - 1, 0, -1):
        yy = y + rows if y < 0 else y  # the plain back-pointer table's indexing (wraps below 0)
        if not 0 <= yy < rows:
            raise IndexError(f"index {y} is out of bounds for axis 2 with size {rows}")
        yp = yy - int(slopes[k])
        kp = int(np.argmin(hist[j - 1][:, yp] + trans[:, k])) if 0 <= yp < rows else 0
        y = y - int(slopes[k])
        k = kp
        path[j - 1] = y
    return np.clip(path, 0, rows - 1)


def _convex_tables(rows: int, max_slope: int, c_change: float, c_concave: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tables both convex path searches share: the slopes, the slope-change costs
    ``trans[s_prev, s_new]``, and the gather that moves each slope's row one node on:
    new[k, y] = best[k, y - slopes[k]] (new row y = row_prev + slope), through one flat index
    into a (ns, rows + 1) ``best`` whose last column is the sentinel ``1e18`` (rows no slope
    reaches read it, with a zero back-pointer)."""
    slopes = np.arange(-max_slope, max_slope + 1)
    ns = slopes.size
    ds = slopes[None, :] - slopes[:, None]  # [s_prev, s_new]
    trans = c_change * ds.astype(np.float64) ** 2 + c_concave * np.maximum(0, ds)
    src = np.arange(rows)[None, :] - slopes[:, None]
    base = np.arange(ns)[:, None] * (rows + 1)
    flat = np.where((src >= 0) & (src < rows), base + np.clip(src, 0, rows - 1), base + rows)
    best = np.empty((ns, rows + 1))
    best[:, rows] = 1e18
    return slopes, trans, flat, best


def _dp_convex_plain(
    cost: np.ndarray, max_slope: int, c_change: float, c_concave: float
) -> np.ndarray:
    """:func:`_dp_convex` with a back-pointer per cell (the reference; also any non-finite cost)."""
    rows, n = cost.shape
    slopes, trans, flat, best = _convex_tables(rows, max_slope, c_change, c_concave)
    ns = slopes.size
    acc = np.repeat(cost[:, 0][None, :].astype(np.float64), ns, axis=0)  # [slope, row]
    back_s = np.zeros((n, ns, rows), dtype=np.int8)
    tot = np.empty((ns, ns, rows))
    arg = np.zeros((ns, rows + 1), dtype=np.int8)
    for j in range(1, n):
        np.add(acc[:, None, :], trans[:, :, None], out=tot)  # [s_prev, s_new, row_prev]
        arg[:, :rows] = tot.argmin(axis=0)  # [s_new, row_prev]
        np.min(tot, axis=0, out=best[:, :rows])
        back_s[j] = np.take(arg, flat)
        acc = np.take(best, flat) + cost[:, j][None, :]
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


def _shift_rows(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` moved down by ``n`` rows (up for negative ``n``), the first (last) row repeated
    into the gap: the image does not wrap round, so a chin that touches the bottom edge is
    compared with the tissue at that edge, not with the skull at the top."""
    if n == 0:
        return a
    rows = a.shape[0]
    if rows == 0:
        return a[:0].copy()
    # out[i] = a[clip(i - n, 0, rows - 1)], by slices (the same rows as the index gather)
    out: np.ndarray = np.empty_like(a)
    k = min(abs(n), rows)
    if n > 0:
        out[k:] = a[: rows - k]
        out[:k] = a[0]
    else:
        out[: rows - k] = a[k:]
        out[rows - k :] = a[rows - 1]
    return out


def _edge_map(work: np.ndarray, scale: float, raw: np.ndarray | None = None, floor: float = 0.0) -> np.ndarray:
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
        # Replicated (not mirrored) at the image edge: a chin whose border falls in the last
        # rows still makes an edge there instead of being cancelled by its own reflection.
        sm_s = cv2.GaussianBlur(work, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        gy = cv2.Sobel(sm_s, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE) / 8.0
        gx = cv2.Sobel(sm_s, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE) / 8.0
        if sigma != EDGE_SIGMAS[0]:  # x 1.0 at the first scale: the same values, one pass less
            np.multiply(gy, np.float32(sigma / EDGE_SIGMAS[0]), out=gy)
            np.multiply(gx, np.float32(sigma / EDGE_SIGMAS[0]), out=gx)
        down = np.maximum(0.0, -gy)
        # Near the sides the border turns up into the ramus: there the outward direction has a
        # horizontal part (image-left half: darker to the left; right half: darker to the right).
        # (Per half, by slices: xs is increasing, so xs < 0.5 is a prefix of the columns.)
        n_left = int(np.count_nonzero(xs < 0.5))
        outward = np.empty_like(gx)
        np.maximum(0.0, gx[:, :n_left], out=outward[:, :n_left])
        np.maximum(0.0, -gx[:, n_left:], out=outward[:, n_left:])
        e = np.maximum(e, np.sqrt(down**2 + (outward * side_w[None, :]) ** 2))
    sm = cv2.GaussianBlur(work, (0, 0), EDGE_SIGMAS[0], borderType=cv2.BORDER_REPLICATE)
    # Bone support: the cortex and the body above it are brighter than the tissue below over
    # a band of several millimetres; thin bright clutter (letters, hyoid ghost) is not.
    band = max(3, int(round(6.0 * 640.0 / max(w, 1))))
    k = np.ones((band, 1), np.float32) / band
    mean = cv2.filter2D(sm, -1, k, borderType=cv2.BORDER_REPLICATE)
    above = _shift_rows(mean, band // 2 + 1)
    below = _shift_rows(mean, -(band // 2 + 1))
    support = np.clip((above - below) / 0.15, 0.0, 1.0)
    e = e * support
    if raw is not None:
        # Clipped black regions (collimator, cropped corners) make strong but meaningless
        # edges with the dark soft tissue above them; keep an edge next to clipping only when
        # bone-bright pixels are above it (a chin touching the clipped region).
        clip_level = floor + CLIP_LEVEL  # ``raw``'s black level (:func:`frame.black_floor`)
        clipped = (raw <= clip_level).astype(np.float32)
        clip_below = _shift_rows(cv2.filter2D(clipped, -1, k, borderType=cv2.BORDER_REPLICATE), -(band // 2 + 1))
        valid = sm[raw > clip_level]
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


def _pool_min(cost: np.ndarray, step: int) -> np.ndarray:
    """Column ``i`` = the row-wise minimum of ``cost[:, i * step : (i + 1) * step]`` (the last
    span may be shorter): one ``reduceat`` over the consecutive spans, the same minima as
    one ``min`` per span."""
    if cost.ndim != 2 or cost.shape[1] == 0:
        raise ValueError("need at least one array to stack")  # what stacking no spans raised
    return np.minimum.reduceat(cost, np.arange(0, cost.shape[1], step), axis=1)


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
    pooled = _pool_min(cost, NODE_STEP)
    nodes = _dp_convex(pooled, max_slope=6, c_change=0.01, c_concave=C_CONCAVE)
    path: np.ndarray = np.round(np.interp(np.arange(ncols), node_x + (NODE_STEP - 1) / 2, nodes)).astype(np.int64)
    return _bridge_weak_runs(sub, path)


def _weak_runs(weak: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True in ``weak``."""
    edges = np.diff(np.r_[0, weak.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _bridge_weak_runs(sub: np.ndarray, path: np.ndarray) -> np.ndarray:
    """The convex path with its chords replaced by the border beside them: below at the
    gonial corners, above at the chin.

    The gonial angle is a sharp corner, and beyond it the border often turns down again
    (antegonial notch): the convex programme pays for every increase of slope, so it may cut
    the corner with a chord through the faint bone of the angle, on no edge. In the outer
    parts of the traced width, every stretch of at least ``BRIDGE_MIN_RUN`` columns where the
    path runs on weak edges, between two columns on an edge, is searched again: a free
    (smooth, not convex) path from ``BRIDGE_UP`` rows above to ``BRIDGE_DOWN`` rows below the
    chord, pinned to both ends. It replaces the chord only if its edges are clearly stronger
    (``BRIDGE_ACCEPT``, ``BRIDGE_GAIN``). Short weak stretches are crossings of other
    structures (hyoid, ghosts), which the chord rightly ignores; runs that reach the end of
    the traced width are left alone (nothing to pin there: the ramus). The outer parts are
    those of the search region: when the user's box covers one half of the jaw, the chin
    end of it counts as outer too (a chord there is bridged by the same rule).

    Between the outer parts, the chin's border may arch up at the midline (a notch, often
    with a cervical-spine ghost below it): the convex programme pays for the arch's increase
    of slope and runs flat through the ghost instead, on no edge. A weak run there is
    searched up to ``BRIDGE_MID_UP`` rows above the chord; as the ghost also dims the arch's
    edge, the new path needs only to run on an edge on average (``BRIDGE_WEAK``) and be
    ``BRIDGE_GAIN`` times as strong as the chord."""
    rows, ncols = sub.shape
    n_end = int(BRIDGE_OUTER * ncols)
    if n_end < BRIDGE_MIN_RUN:
        return path
    cols = np.arange(ncols)
    strength = sub[path, cols]
    out = path.copy()
    for a, b in _weak_runs(strength < BRIDGE_WEAK):
        if b - a < BRIDGE_MIN_RUN or a == 0 or b == ncols:
            continue
        if a < n_end or b > ncols - n_end:  # a gonial corner: the border lies below the chord
            offs, accept = np.arange(-BRIDGE_UP, BRIDGE_DOWN + 1), BRIDGE_ACCEPT
        else:  # the chin: an arch above the chord, faint where a ghost overlies it
            offs, accept = np.arange(-BRIDGE_MID_UP, BRIDGE_UP + 1), BRIDGE_WEAK
        lo, hi = a - 1, b + 1  # the two pinned columns are on the convex path
        rr = np.clip(path[None, lo:hi] + offs[:, None], 0, rows - 1)
        e = sub[rr, cols[None, lo:hi]].astype(np.float64)
        cost = -e
        pin = np.where(offs == 0, 0.0, 1e6)
        cost[:, 0] += pin
        cost[:, -1] += pin
        k = dp_path(cost, max_step=2, smooth=FINE_SMOOTH)
        new = e[k, np.arange(hi - lo)][1:-1].mean()
        moved = int(np.abs(offs[k]).max()) >= BRIDGE_MIN_DEPTH
        if moved and new >= max(accept, BRIDGE_GAIN * float(strength[a:b].mean())):
            out[lo:hi] = rr[k, np.arange(hi - lo)]
    return out


def _central_dy(strip: np.ndarray) -> np.ndarray:
    """``-(strip[y + 1] - strip[y - 1]) * 0.5`` per row, 0 in the first and last rows: the
    same operations as ``-(roll(strip, -1) - roll(strip, 1)) * 0.5`` (zeroed at the ends)
    on slices, without the two rolled copies."""
    gy = np.empty_like(strip)
    if strip.shape[0] > 2:
        inner = gy[1:-1]
        np.subtract(strip[2:], strip[:-2], out=inner)
        np.negative(inner, out=inner)
        np.multiply(inner, 0.5, out=inner)
    gy[0, :] = 0
    gy[-1, :] = 0
    return gy


def _gradient_band(pixels: np.ndarray, x0: int, x1: int, y_coarse: np.ndarray,
                   scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical gradient (bright above, dark below) in a narrow band around ``y_coarse``.

    Returns ``band`` (offsets x columns), the image row of each of its cells and ``outer``
    (0..1 per cell): how much of the fall from the brightest level above the cell to the
    darkest within one band height below it has happened one blur scale below the cell. At
    the periosteal (outer) edge, where bone meets soft tissue, nearly all of it (1); at the
    inner contour of a double contour or ramp (a rounded base projected obliquely), only part.
    """
    h = pixels.shape[0]
    sigma = max(1.0, 0.6 * scale)
    r = int(math.ceil(FINE_BAND * scale)) + 2
    dlt = int(math.ceil(FINE_DLT * sigma))
    # Smooth and differentiate only the rows the band (and one band height below) can touch.
    ylo = int(max(0, np.floor(y_coarse.min()) - r - 8))
    yhi = int(min(h, np.ceil(y_coarse.max()) + 2 * r + 9))
    strip: np.ndarray = cv2.GaussianBlur(pixels[ylo:yhi, x0:x1].astype(np.float32), (0, 0), sigma)
    gy = _central_dy(strip)
    offs = np.arange(-r, 2 * r + 1)
    rows_idx = np.clip(np.round(y_coarse).astype(np.int64)[None, :] + offs[:, None] - ylo, 1, strip.shape[0] - 2)
    cols_idx = np.arange(x1 - x0)[None, :]
    n = 2 * r + 1
    band = gy[rows_idx[:n], cols_idx]
    # read on log grey levels: a change of gamma or gain is then a uniform scale or offset,
    # which the ratio below does not see
    prof = np.log(np.maximum(strip[rows_idx, cols_idx], LOG_FLOOR))
    top = np.maximum.accumulate(prof, axis=0)[:n]
    low = np.minimum.accumulate(prof[::-1], axis=0)[::-1]
    below = prof[dlt : dlt + n]
    lowest = low[np.minimum(np.arange(n) + r, prof.shape[0] - 1)]
    outer = np.clip((top - below) / np.maximum(top - lowest, 1e-9), 0.0, 1.0)
    return band, rows_idx[:n] + ylo, outer


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
    band, rows, outer = _gradient_band(pixels, x0, x1, y_coarse, scale)
    # Of two parallel edges (a double contour, a ramp), the outer one: bone meets soft tissue.
    band_sel = np.maximum(band, 0.0) * outer
    bmax = float(np.percentile(band_sel, 99)) if band.size else 0.0
    bcost = -(band_sel / bmax) if bmax > 1e-9 else np.zeros_like(band)
    # The fine DP runs on every `step`-th column (speed), then is interpolated.
    step = max(1, int(round(scale / 2)))
    sel = np.arange(0, x1 - x0, step)
    fine = dp_path(bcost[:, sel], max_step=max(1, step), smooth=FINE_SMOOTH / max(1, step))
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
    floor = black_floor(work_raw)
    work = _normalise(work_raw, floor)
    edge = _edge_map(work, scale, work_raw, floor)
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
