"""Periosteal and endosteal margins of the inferior cortex on border-normal profiles.

Real panoramics show the cortex only a little brighter than the trabecular bone next to it
(about 0.4 standard deviations of the texture, against 1.8 on our phantoms), and its
brightness often ramps up towards the endosteal margin (the cortical shell is seen
tangentially). A per-profile "first strong fall" then lands on texture. Here:

1. Periosteal margin: the steepest rise going inward within 1.5 mm of the traced border, per
   profile; then a running median and a Gaussian along the border (the periosteal surface
   is smooth; lacunae are endosteal), so one noisy profile cannot shift its normal.
2. The profiles are aligned on that margin (depth 0 = periosteum) into a strip.
3. Step response at several scales: for a half-width ``a`` (0.2, 0.4, 0.8 mm) the mean
   ``a`` before minus the mean ``a`` after each depth (bright cortex before, darker bone
   after). Each scale is divided by its own robust spread over the strip (1.4826 x the
   median absolute deviation), so the response is a z-score: free of the image's grey
   scale, gain and (locally) gamma. The margin's path (step 4) follows the z averaged over
   the scales that fit at each depth (``scale_mean``): a fall that holds at every scale.
   (Taking the largest z let the winning scale decide which edge is the margin, and sensor
   noise, which dims the finest scale, or a device's unsharp masking, which lifts the
   coarse one, then switched between two candidate edges: on abdi_dev the p90 of the MCW
   change under noise - 2 % white noise, then a 0.6 px blur, about 1 % left - was 0.78 mm
   with the maximum and 0.35 mm with the mean.) The confidence (step 5) keeps the clearest
   scale.
4. The endosteal margin is the path through the strip, one depth per normal, that collects
   the most (saturated) response under a smoothness cost (a dynamic programme, as for the
   border): a margin that continues along the border outweighs isolated texture steps.
4b. Past pore lines: the endosteal margin is the *last* fall from cortical to trabecular
   level, not the first dark line. Where a second fall of at least ``Z_CONFIDENT`` (in the
   response averaged over the scales that fit, as for the path: stricter than the
   clearest-scale response of step 5, which is never below it) lies 0.3-1.5 mm deeper than
   the path and the bone between the two is still at cortical
   level (nearer the cortex above than the trabecular bone below), the first fall was a
   pore line inside a porous cortex and the margin moves to the deeper one. Decided over
   1 mm of border (a margin is continuous along the border, pore lines are short).
5. Per-normal confidence: the response on the path (at its clearest scale, in log or
   linear grey levels, averaged over 1 mm of border) is at least ``Z_CONFIDENT`` robust SDs
   and the path is not at the search limits; widths are read only there.

``find_margins`` takes the profiles twice: in log grey levels to decide which edges are the
margins (a change of gamma or gain is then a uniform scale of the profiles, which the robust
z-scores do not see) and in linear grey levels to place them (the logarithm would pull each
edge towards its darker side).

Pure functions of the profiles (numpy / scipy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter

from .roi import dp_path

PERI_SEARCH_MM = 3.0  # periosteal margin within this distance of the traced border
PERI_STEP_MM = 1.0  # scale of the soft-tissue-to-bone step that picks the periosteal edge
PERI_REFINE_MM = 0.4  # the steepest rise within this distance of that step places it
PERI_MEDIAN_MM = 3.0  # running-median length along the border for the periosteal margin
PERI_SMOOTH_MM = 1.0  # then a Gaussian of this sigma along the border
STEP_SCALES_MM = (0.2, 0.4, 0.8)  # half-widths of the step (Haar) response
MIN_WIDTH_MM, MAX_WIDTH_MM = 0.6, 8.0
Z_SATURATE = 6.0  # responses saturate softly (tanh) at about this many robust SDs in the path
Z_CONFIDENT = 2.0  # per-normal confidence: response on the path >= this (robust SDs)
SPREAD_FLOOR = 1e-4  # smallest robust SD a response is divided by (log grey levels, about 0.01 %
# contrast): a flat image's spread is float rounding, which turned rounding into "confident"
# margins (a uniform grey PNG read an MCW of 1.75 mm); real and phantom spreads are >= 0.002
CONF_SMOOTH_MM = 1.0  # the response is averaged over this length of border first
PATH_SLOPE = 1.0  # the margin may move at most this many mm in depth per mm along the border
PATH_SMOOTH = 0.02  # cost per (depth sample)^2 of change between neighbouring normals
REFINE_MM = 0.4  # the margin is refined within this distance of the path
PORE_GAP_MM, PORE_REACH_MM = 0.3, 1.5  # a deeper fall is looked for this far past the path
PORE_LEVEL = 0.5  # the bone between is "cortical" above this fraction of (cortex - trabecular)
STRIP_DEPTH_MM = 12.5  # aligned strip depth (margin search + trabecular reference beyond it)


@dataclass
class Margins:
    """Per normal: periosteal and endosteal depth (mm along the normal, + = inward, from the
    traced border), the response on the endosteal path (robust SDs) and the confidence flag;
    ``strip`` is the periosteum-aligned strip (normals x ``depth`` mm)."""

    peri: np.ndarray
    endo: np.ndarray
    z: np.ndarray
    confident: np.ndarray
    strip: np.ndarray
    depth: np.ndarray


def _parabolic_offsets(d: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Sub-sample offset of the extremum of each row of ``d`` at column ``k`` (parabola)."""
    rows = np.arange(d.shape[0])
    kk = np.clip(k, 1, d.shape[1] - 2)
    a, b, c = d[rows, kk - 1], d[rows, kk], d[rows, kk + 1]
    den = a - 2 * b + c
    off = np.zeros(k.size)
    ok = (np.abs(den) > 1e-12) & (k > 0) & (k < d.shape[1] - 1)
    off[ok] = np.clip(0.5 * (a[ok] - c[ok]) / den[ok], -0.5, 0.5)
    return kk + off


def _median(x: np.ndarray) -> float:
    """``float(np.median(x))`` of all of ``x``, without its overhead: the same partition
    (same kth, so the same element lands at each), the same mean of the middle pair."""
    a = np.asarray(x)
    n = a.size
    if n == 0 or a.dtype.kind != "f":
        return float(np.median(a))
    h = n // 2
    kth = [h - 1, h, -1] if n % 2 == 0 else [(n - 1) // 2, -1]
    part = np.partition(a, kth, axis=None)
    if np.isnan(part[-1]):
        return float(np.median(a))
    if n % 2:
        return float(part[h])
    return float(np.mean(part[h - 1 : h + 1]))


def _robust_spread(ref: np.ndarray) -> float:
    """1.4826 x the median absolute deviation of ``ref``, at least ``SPREAD_FLOOR``."""
    return max(1.4826 * _median(np.abs(ref - _median(ref))), SPREAD_FLOOR)


def _row_cumsum(prof: np.ndarray) -> np.ndarray:
    """Cumulative sums along each row with a leading 0 column (shared by all ``_haar`` scales)."""
    n = prof.shape[0]
    return np.concatenate([np.zeros((n, 1)), np.cumsum(prof, axis=1)], axis=1)


def _haar(prof: np.ndarray, a: int, cs: np.ndarray | None = None) -> np.ndarray:
    """Mean of the ``a`` samples after minus the mean of the ``a`` before, per column (the
    boundary between samples k - 1 and k); 0 where the scale does not fit. ``cs``:
    ``_row_cumsum(prof)`` when already computed."""
    n, m = prof.shape
    if cs is None:
        cs = _row_cumsum(prof)
    out = np.zeros((n, m))
    if m > 2 * a:
        # columns k = a .. m - a (those < m), as slices of the cumulative sums
        cnt = min(m - a + 1, m) - a
        r = (cs[:, 2 * a : 2 * a + cnt] - 2.0 * cs[:, a : a + cnt] + cs[:, :cnt]) / a
        out[:, a : a + cnt] = r
    return out


def smooth_path(z: np.ndarray, lo: int, hi: int, step_mm: float, normal_step_mm: float) -> np.ndarray:
    """Depth index per normal of the smooth path through ``z[:, lo:hi]`` with the most
    saturated response (dynamic programme over the normals)."""
    # soft saturation: a strong margin cannot be outvoted by one huge artefact, and the
    # response keeps its peak (a hard clip would make a clean edge a flat plateau)
    cost = -np.tanh(np.maximum(z[:, lo:hi], 0.0) / Z_SATURATE).T  # (depth, normals)
    max_step = max(1, int(round(PATH_SLOPE * normal_step_mm / step_mm)))
    path: np.ndarray = dp_path(cost, max_step=max_step, smooth=PATH_SMOOTH) + lo
    return path


def periosteal(prof: np.ndarray, t_mm: np.ndarray, normal_step_mm: float,
               locate: np.ndarray | None = None) -> np.ndarray:
    """Periosteal depth per profile (mm), smoothed along the border (running median, then
    Gaussian); NaN everywhere when no profile rises.

    Within ``PERI_SEARCH_MM`` of the trace, the smooth path along the border (as for the
    endosteal margin) through the largest steps from soft tissue into bone at
    ``PERI_STEP_MM`` (mean inside minus mean outside) picks the edge - a trace that ran
    along a faint soft-tissue edge or the other side's contour a few mm off is overruled
    by the bone's own border - and the steepest rise within ``PERI_REFINE_MM`` of it places
    the margin precisely (on ``locate`` when given: the same profiles in linear grey levels).
    """
    step = float(t_mm[1] - t_mm[0])
    d = np.gradient(prof if locate is None else locate, axis=1)
    big = _haar(prof, max(1, int(round(PERI_STEP_MM / step))))
    lo, hi = (int(v) for v in np.searchsorted(t_mm, [-PERI_SEARCH_MM, PERI_SEARCH_MM]))
    ref = big[:, lo:hi]
    zb = big / _robust_spread(ref)
    kb = smooth_path(zb, lo, hi, step, normal_step_mm)
    rows = np.arange(prof.shape[0])
    rises = big[rows, kb] > 0
    if not rises.any():
        return np.full(prof.shape[0], np.nan)
    r = max(1, int(round(PERI_REFINE_MM / step)))
    cols = np.clip(kb[:, None] + np.arange(-r, r + 1)[None, :], 1, t_mm.size - 2)
    k = cols[rows, np.argmax(d[rows[:, None], cols], axis=1)]
    raw = np.interp(_parabolic_offsets(d, k), np.arange(t_mm.size), t_mm)
    raw = np.where(rises, raw, np.median(raw[rises]))
    size = max(3, int(round(PERI_MEDIAN_MM / normal_step_mm)) | 1)
    med = median_filter(raw, size=size, mode="nearest")
    out: np.ndarray = gaussian_filter1d(med, sigma=max(0.5, PERI_SMOOTH_MM / normal_step_mm), mode="nearest")
    return out


def aligned_strip(prof: np.ndarray, t_mm: np.ndarray, peri: np.ndarray,
                  step_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Profiles re-sampled from each periosteal margin inward: (normals x depth), depth mm."""
    idx = _strip_index(t_mm, peri, step_mm)
    return _strip_gather(prof, idx), idx[3]


def _strip_index(t_mm: np.ndarray, peri: np.ndarray, step_mm: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where ``aligned_strip`` samples each profile: flat indices of the two neighbouring
    samples (for a (normals x ``t_mm.size``) array), the fraction between them and the depths."""
    depth = np.arange(0.0, STRIP_DEPTH_MM + 1e-9, step_mm)
    pos = (peri[:, None] + depth[None, :] - t_mm[0]) / step_mm  # fractional sample index
    pos = np.clip(pos, 0.0, t_mm.size - 1.0)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, t_mm.size - 1)
    f = pos - i0
    row0 = np.arange(peri.shape[0])[:, None] * t_mm.size
    return row0 + i0, row0 + i1, f, depth


def _strip_gather(prof: np.ndarray, idx: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
                  ) -> np.ndarray:
    """``aligned_strip``'s linear interpolation of ``prof`` at ``_strip_index``'s positions."""
    j0, j1, f, _ = idx
    flat = np.ravel(prof)
    strip: np.ndarray = flat.take(j0) * (1.0 - f) + flat.take(j1) * f
    return strip


def _half_widths(step_mm: float) -> list[int]:
    """Half-width in samples of each ``STEP_SCALES_MM`` scale."""
    return [max(1, int(round(a_mm / step_mm))) for a_mm in STEP_SCALES_MM]


def step_response(strip: np.ndarray, step_mm: float, lo: int, hi: int) -> np.ndarray:
    """Fall response (bright before, dark after) per scale in robust SDs, (scales, normals,
    depth); 0 where a scale does not fit. Each scale's spread is measured over depth
    columns [lo, hi). Column k is the boundary between depth samples k - 1 and k."""
    out = np.zeros((len(STEP_SCALES_MM),) + strip.shape)
    cs = _row_cumsum(strip)
    for s, a in enumerate(_half_widths(step_mm)):
        r = -_haar(strip, a, cs)
        out[s] = r / _robust_spread(r[:, lo:hi])
    return out


def scale_mean(zs: np.ndarray, step_mm: float) -> np.ndarray:
    """Mean of ``step_response``'s scales at each depth over the scales that fit there (a
    scale of half-width ``a`` samples fits columns a .. depth - a; elsewhere it reads 0, which
    must not pull the mean towards 0: a thin margin would then move to where the coarsest
    scale starts to fit)."""
    m = zs.shape[-1]
    cols = np.arange(m)
    fits = np.zeros((len(STEP_SCALES_MM), m))
    for s, a in enumerate(_half_widths(step_mm)):
        fits[s] = (cols >= a) & (cols <= m - a)
    w = fits[:, None, :]
    out: np.ndarray = (zs * w).sum(axis=0) / np.maximum(w.sum(axis=0), 1.0)
    return out


def past_pore_lines(strip: np.ndarray, zpath: np.ndarray, path: np.ndarray, lims: tuple[int, int],
                    step: float, normal_step_mm: float) -> np.ndarray:
    """The path moved past pore lines (module doc, step 4b): per normal, the deeper fall is
    taken where, averaged over 1 mm of border, the bone between the two falls is nearer the
    cortical level (between the periosteum and the path) than the trabecular level (1 mm
    past the deeper fall) and the deeper fall's response is at least ``Z_CONFIDENT``."""
    lo, hi = lims
    n, m = strip.shape
    g, reach = max(1, int(round(PORE_GAP_MM / step))), max(2, int(round(PORE_REACH_MM / step)))
    depth_idx = np.arange(m)[None, :]
    allowed = (depth_idx >= (path + g)[:, None]) & (depth_idx <= np.minimum(path + reach, hi - 1)[:, None])
    deeper = smooth_path(np.where(allowed, zpath, 0.0), lo, hi, step, normal_step_mm)
    t = max(2, int(round(1.0 / step)))
    cs = np.concatenate([np.zeros((n, 1)), np.cumsum(strip, axis=1)], axis=1)
    rows = np.arange(n)

    def mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = np.clip(a, 0, m), np.clip(b, 0, m)
        return (cs[rows, np.maximum(b, a + 1)] - cs[rows, a]) / np.maximum(b - a, 1)

    skin = max(1, int(round(0.2 / step)))
    cortex = mean(np.full(n, skin), np.maximum(path - 1, skin + 1))
    between = mean(path + 1, deeper - 1)
    trab = mean(deeper + 1, deeper + 1 + t)
    frac = (between - trab) / np.maximum(cortex - trab, 1e-12)
    sm = max(0.5, CONF_SMOOTH_MM / normal_step_mm / 2.0)
    frac = gaussian_filter1d(np.where(cortex > trab, frac, 0.0), sigma=sm, mode="nearest")
    zd = gaussian_filter1d(zpath[rows, np.clip(deeper, 0, m - 1)], sigma=sm, mode="nearest")
    move = (frac > PORE_LEVEL) & (zd >= Z_CONFIDENT) & (deeper - path >= g)
    return np.where(move, deeper, path)


def _refine(zm: np.ndarray, path: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Sub-sample position of the largest scale-averaged response within +-r of the path
    (saturation in the path search makes broad responses flat), and that response."""
    n, m = zm.shape
    offs = np.arange(-r, r + 1)
    cols = np.clip(path[:, None] + offs[None, :], 1, m - 2)
    rows = np.arange(n)
    best = cols[rows, np.argmax(zm[rows[:, None], cols], axis=1)]
    return _parabolic_offsets(zm, best), zm[rows, best]


def find_margins(prof: np.ndarray, t_mm: np.ndarray, normal_step_mm: float,
                 locate: np.ndarray | None = None) -> Margins | None:
    """Periosteal and endosteal margins of tangentially smoothed profiles (see module doc);
    None when no periosteal rise is found.

    ``prof`` decides which edges are the margins (the search and the confidence; give it
    log grey levels and a change of gamma changes nothing); ``locate`` (default ``prof``),
    the same profiles in linear grey levels, places them to a fraction of a sample (the
    logarithm would pull each edge towards its darker side)."""
    step = float(t_mm[1] - t_mm[0])
    peri = periosteal(prof, t_mm, normal_step_mm, locate)
    if not np.isfinite(peri).all():
        return None
    idx = _strip_index(t_mm, peri, step)  # shared by the log and the linear strip
    strip, depth = _strip_gather(prof, idx), idx[3]
    lo, hi = (int(v) for v in np.searchsorted(depth, [MIN_WIDTH_MM, MAX_WIDTH_MM]))
    zs_all = step_response(strip, step, lo, hi)
    zpath = scale_mean(zs_all, step)  # the fall that holds at every scale (module doc, step 3)
    path = smooth_path(zpath, lo, hi, step, normal_step_mm)
    path = past_pore_lines(strip, zpath, path, (lo, hi), step, normal_step_mm)
    zloc = zs_all if locate is None else step_response(_strip_gather(locate, idx), step, lo, hi)
    zloc_mean = zpath if locate is None else scale_mean(zloc, step)
    k, _ = _refine(zloc_mean, path, max(1, int(round(REFINE_MM / step))))
    width = np.interp(k - 0.5, np.arange(depth.size), depth)
    # confidence at the scale, and in the grey-level representation (log or linear), where
    # the margin is clearest
    zc = np.maximum(zs_all.max(axis=0), zloc.max(axis=0))
    zp = zc[np.arange(zc.shape[0]), np.clip(np.round(k).astype(np.int64), 0, zc.shape[1] - 1)]
    zs = gaussian_filter1d(zp, sigma=max(0.5, CONF_SMOOTH_MM / normal_step_mm / 2.0), mode="nearest")
    inner = (path > lo) & (path < hi - 1)
    confident = (zs >= Z_CONFIDENT) & inner
    return Margins(peri=peri, endo=peri + width, z=zs, confident=confident, strip=strip, depth=depth)
