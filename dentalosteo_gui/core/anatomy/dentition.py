"""The occlusal plane and the upper crowns, found above the traced inferior border.

Between the upper and the lower crowns a panoramic radiograph shows a thin dark band (the
occlusal gap: the bite block keeps the arches a little apart): bright enamel above, bright
enamel below. Its path gives the occlusal plane; how much brighter the band just above it
is than the band itself tells where both arches carry crowns; a robust line through the path
there is the occlusal plane. Along that line, an upper crown is a bright band whose lower
edge (the occlusal surface) falls to a darker one, whether a lower tooth meets it or not.
From these:

- the distal end of the last upper crown on each side (the maxillary tuberosity lies just
  behind it, ``landmarks``);
- whether the mandible carries teeth at all (``quality``: an edentulous jaw shows no
  occlusal gap between crowns and no row of crowns along it).

Every length is a fraction of the content frame's height or width and every threshold a
ratio of responses in the same image, so the result does not depend on the pixel size,
gain or gamma. Pure functions of the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..imaging import memo
from .trace import dp_path

WORK_W = 640.0
SEARCH_DX = (0.06, 0.40)  # columns searched, fraction of the width from the midline
SEARCH_DY = (0.25, 0.50)  # rows searched, fraction of the height above the traced border
CROWN_H = 0.035  # half an upper or lower crown's height, fraction of the height
GAP_HALF = (0.0, 0.005, 0.011)  # half-heights of the occlusal gap tried (fraction of the height)
EDGE_BELOW = 0.012  # the dark band under an upper crown's occlusal surface (fraction of the height)
LINE_TOL = 0.025  # the occlusal path is fitted within this of its median height (height)
EDGE_WINDOW = (0.07, 0.02)  # the upper crowns' edge is looked for this far above / below the
# line (fraction of the height): the plane curves up behind the molars (curve of Spee)
CROWN_REL = 0.5  # a crown column: contrast >= this x the side's reference contrast
GAP_REL = 0.25  # the occlusal gap: the band below the path >= this x the reference too
CROWN_SPAN = (0.12, 0.36)  # premolars to third molars, fraction of the width from the midline
CROWN_REF_PCT = 80  # reference crown contrast: this percentile over the span (metal
# restorations, far brighter than enamel, must not raise it)
MIN_CROWN = 0.012  # shortest run counted as a crown (half a premolar), fraction of the width
MAX_GAP = 0.15  # longest run without crowns inside a dentition (both premolars and the
# first molar lost)
CROWN_RUN_REL = 0.65  # a crown run's median edge reaches this x the reference: a crown is
# enamel over its whole width; the fainter edges behind the dentition (the ramus, the soft
# palate, the tuberosity itself) reach the column threshold only in places


@dataclass(frozen=True)
class OcclusalSide:
    """One side's occlusal path (image pixels of the analysed frame) and evidence per column
    (contrasts on the image stretched to its 1st-99.5th percentiles)."""

    xs: np.ndarray  # column x, from the midline outward
    ys: np.ndarray  # occlusal path y
    gap: np.ndarray  # min(upper band, lower band) - path
    upper: np.ndarray  # upper band - path
    line: tuple[float, float] | None  # occlusal plane y = a*x + b (None: no crowns to fit)
    crown_edge: np.ndarray  # upper crown over a darker band, best within EDGE_WINDOW of the line


def _prepare(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """Work copy about WORK_W wide, stretched to [0, 1] by its 1st-99.5th percentiles, and the
    scale factor from image pixels to work pixels."""
    h, w = pixels.shape
    f = min(1.0, WORK_W / w)
    # INTER_AREA; within a screening the border trace made this very copy already (memo)
    small = memo.area_resized(pixels, max(8, int(round(w * f))), max(8, int(round(h * f))), np.float32)
    lo_p, hi_p = np.percentile(small, [1.0, 99.5])
    img = np.clip((small - lo_p) / max(float(hi_p - lo_p), 1e-6), 0.0, 1.0).astype(np.float32)
    return cv2.GaussianBlur(img, (0, 0), 1.0), f


@dataclass(eq=False)
class DentitionWork:
    """The working copies of one image that the dentition checks share, each made once on
    first use: the edentulous check (``tooth_rhythm``), the child check (``maturity``, through
    ``occlusal_sides``) and the tuberosity landmarks all start from the same stretched, blurred
    copy and the same band responses. Tied to one pixel array (``pixels``, by identity): a
    check handed another array builds its own, so a stale copy is never read. The results are
    those of the uncached functions, bit for bit."""

    pixels: np.ndarray
    _prepared: tuple[np.ndarray, float] | None = None
    _band: np.ndarray | None = None
    _bands: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    # occlusal_sides per (border, midline): quality and landmarks split the sides at
    # different midlines, so only an exact repeat is answered from here
    _sides: dict[tuple[object, ...], dict[str, OcclusalSide] | None] = field(default_factory=dict)

    def prepared(self) -> tuple[np.ndarray, float]:
        if self._prepared is None:
            self._prepared = _prepare(self.pixels)
        return self._prepared

    def crown_band(self) -> np.ndarray:
        """Mean of a crown's height (``CROWN_H``) of rows centred on each row of the work copy."""
        if self._band is None:
            img = self.prepared()[0]
            self._band = cv2.blur(img, (1, _crown_rows(img.shape[0])))
        return self._band

    def bands(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._bands is None:
            self._bands = _bands(self.prepared()[0], self.crown_band())
        return self._bands


def dentition_work(pixels: np.ndarray, work: DentitionWork | None = None) -> DentitionWork:
    """``work`` when it was made for ``pixels`` (the same array), else a fresh one."""
    return work if work is not None and work.pixels is pixels else DentitionWork(pixels)


def _crown_rows(hs: int) -> int:
    return max(2, int(round(CROWN_H * hs)))


def _diff_rows(a: np.ndarray, ka: int, b: np.ndarray, kb: int, fill: float) -> np.ndarray:
    """out[y] = a[y - ka] - b[y - kb] (rows; k > 0 reads above), ``fill`` where either row
    falls outside: one subtraction over the rows both exist, no NaN to fill afterwards."""
    hs = a.shape[0]
    lo, hi = max(0, ka, kb), min(hs, hs + ka, hs + kb)
    out = np.full_like(a, fill)
    if hi > lo:
        out[lo:hi] = a[lo - ka : hi - ka] - b[lo - kb : hi - kb]
    return out


def _bands(img: np.ndarray, band: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: the best occlusal-gap response over the gap heights tried and its upper-band
    contrast; and the upper-crown edge (band above minus the thin band below). ``band``: the
    mean of ``_crown_rows`` rows centred on each row (``DentitionWork.crown_band``)."""
    hs = img.shape[0]
    c = _crown_rows(hs)
    best = np.full(img.shape, -1.0, np.float32)
    up_b = np.zeros_like(img)
    for gf in GAP_HALF:
        o = int(round(gf * hs))
        centre = cv2.blur(img, (1, 2 * o + 1)) if o > 0 else img
        sh = o + 1 + c // 2
        up = _diff_rows(band, sh, centre, 0, -1.0)
        resp = np.minimum(up, _diff_rows(band, -sh, centre, 0, -1.0))
        better = resp > best
        np.copyto(best, resp, where=better)
        np.copyto(up_b, up, where=better)
    e = max(2, int(round(EDGE_BELOW * hs)))
    thin = cv2.blur(img, (1, e))
    edge = _diff_rows(band, c // 2 + 1, thin, -(e // 2 + 1), 0.0)
    return best, up_b, edge


def occlusal_sides(pixels: np.ndarray, bx: np.ndarray, by: np.ndarray, mid: float,
                   work: DentitionWork | None = None) -> dict[str, OcclusalSide] | None:
    """The occlusal path and crown evidence on each side (patient's ``right`` = image left),
    or None when the border is not traced. ``bx``/``by``: the traced inferior border;
    ``work``: the image's shared working copies (``DentitionWork``), when there are any."""
    if bx.size < 10:
        return None
    work = dentition_work(pixels, work)
    key = (bx.dtype.str, bx.tobytes(), by.dtype.str, by.tobytes(), float(mid))
    if key not in work._sides:
        work._sides[key] = _occlusal_sides(work, bx, by, float(mid))
    return work._sides[key]


def _occlusal_sides(work: DentitionWork, bx: np.ndarray, by: np.ndarray,
                    mid: float) -> dict[str, OcclusalSide] | None:
    h, w = work.pixels.shape
    f = work.prepared()[1]
    best, up_b, edge = work.bands()
    out: dict[str, OcclusalSide] = {}
    for side, sign in (("right", -1), ("left", 1)):
        xs = mid + sign * np.arange(SEARCH_DX[0], SEARCH_DX[1], 1.0 / (f * w)) * w
        xs = xs[(xs >= 0) & (xs <= w - 1)]
        if xs.size < 10:
            return None
        out[side] = _side(best, up_b, edge, xs, np.interp(xs, bx, by), f, (h, w), mid)
    return out


def _side(best: np.ndarray, up_b: np.ndarray, edge: np.ndarray, xs: np.ndarray, yb: np.ndarray,
          f: float, shape: tuple[int, int], mid: float) -> OcclusalSide:
    """One side: the occlusal path (dynamic programme over the gap response within
    SEARCH_DY above the border), the line through it, and the crown edge along the line."""
    h, w = shape
    hs, ws = best.shape
    r0 = int(max(0, (np.min(yb) - SEARCH_DY[1] * h) * f))
    r1 = int(min(hs - 1, (np.max(yb) - SEARCH_DY[0] * h) * f))
    cols = np.clip(np.round(xs * f).astype(int), 0, ws - 1)
    rows = np.arange(r0, r1)[:, None]
    inside = (rows >= ((yb - SEARCH_DY[1] * h) * f)[None, :]) & (rows <= ((yb - SEARCH_DY[0] * h) * f)[None, :])
    cost = -np.where(inside, np.clip(best[r0:r1, cols], 0.0, None), -0.05)
    rr = dp_path(cost, max_step=2, smooth=0.002) + r0
    part = OcclusalSide(xs=xs, ys=(rr + 0.5) / f, gap=best[rr, cols], upper=up_b[rr, cols], line=None,
                        crown_edge=np.zeros(xs.size))
    line = _fit_line(part, w, h, mid)
    if line is None:
        return part
    yl = (line[0] * xs + line[1]) * f
    up, down = (max(1, int(round(t * hs))) for t in EDGE_WINDOW)
    win = np.clip(np.round(yl).astype(int)[None, :] + np.arange(-up, down + 1)[:, None], 0, hs - 1)
    return OcclusalSide(xs=xs, ys=part.ys, gap=part.gap, upper=part.upper, line=line,
                        crown_edge=edge[win, cols[None, :]].max(axis=0))


def _span(side: OcclusalSide, w: int, mid: float) -> np.ndarray:
    d = np.abs(side.xs - mid) / w
    return (d >= CROWN_SPAN[0]) & (d <= CROWN_SPAN[1])


def _runs(mask: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``mask`` with gaps shorter than 0.4 % of the width (interdental) closed."""
    step = float(np.median(np.abs(np.diff(d)))) if d.size > 1 else 1.0
    k = max(1, int(round(0.004 / max(step, 1e-9))))
    ker = np.ones((1, 2 * k + 1), np.uint8)
    m = mask.astype(np.uint8)[None, :]
    return (cv2.erode(cv2.dilate(m, ker), ker)[0] > 0) | mask


def _fit_line(side: OcclusalSide, w: int, h: int, mid: float) -> tuple[float, float] | None:
    """Robust straight line y = a*x + b through the occlusal path where crowns bound it from
    above and below (the gap is then the occlusal plane), or None with too few such columns."""
    sel = _span(side, w, mid)
    up, gap = side.upper[sel], side.gap[sel]
    ref = float(np.percentile(up, 80)) if up.size else 0.0
    if up.size < 10 or ref <= 0:
        return None
    crown = (up >= CROWN_REL * ref) & (gap >= GAP_REL * ref)
    if crown.sum() < 8:
        return None
    x, y = side.xs[sel][crown], side.ys[sel][crown]
    h_tol = LINE_TOL * h
    # start from the median height (the dominant band), not a least-squares line that a
    # stretch of path on another edge (a palate line where teeth are missing) could tilt
    keep = np.abs(y - np.median(y)) <= h_tol
    a, b = 0.0, float(np.median(y))
    for _ in range(3):
        if keep.sum() < 5:
            return None
        a, b = np.polyfit(x[keep], y[keep], 1)
        keep = np.abs(y - (a * x + b)) <= 0.6 * h_tol
    return float(a), float(b)


def last_upper_crown(side: OcclusalSide, w: int, mid: float) -> float | None:
    """Distance from the midline (fraction of ``w``) of the distal end of the last upper
    crown, or None when no crown is seen. A column holds an upper crown where the crown edge
    along the occlusal line reaches ``CROWN_REL`` x its 80th percentile over the span; crown
    runs (at least ``MIN_CROWN`` long) are followed outward from the premolars while the next
    one starts within ``MAX_GAP`` of the last: a bright edge far behind the dentition (the
    ramus, a ghost) does not count."""
    if side.line is None:
        return None
    sel = _span(side, w, mid)
    d, ce = np.abs(side.xs[sel] - mid) / w, side.crown_edge[sel]
    ref = float(np.percentile(ce, CROWN_REF_PCT)) if ce.size >= 10 else 0.0
    if ref <= 0:
        return None
    crown = _runs(ce >= CROWN_REL * ref, d)
    step = float(np.median(np.abs(np.diff(d))))
    n_min = max(2, int(round(MIN_CROWN / max(step, 1e-9))))
    last: float | None = None
    prev_end = CROWN_SPAN[0]
    i = 0
    while i < crown.size:
        j = i
        while crown[i] and j + 1 < crown.size and crown[j + 1]:
            j += 1
        if crown[i] and j - i + 1 >= n_min and float(np.median(ce[i:j + 1])) >= CROWN_RUN_REL * ref:
            if d[i] - prev_end > MAX_GAP or j == crown.size - 1:
                break  # too far from the dentition, or running on past it (the ramus)
            last = prev_end = float(d[j])
        i = j + 1
    return last


RHYTHM_DX = (0.03, 0.30)  # incisors to molars, fraction of the width from the midline
RHYTHM_DY = (0.12, 0.52)  # heights above the border tried, fraction of the height
RHYTHM_SIGMA = 0.012  # tooth-scale high-pass along the arch, fraction of the width
MIN_RHYTHM = 0.035  # a side with teeth shows at least this (fraction of the stretched range)


def tooth_rhythm(pixels: np.ndarray, bx: np.ndarray, by: np.ndarray, mid: float,
                 work: DentitionWork | None = None) -> tuple[float, float] | None:
    """Per side (patient's right, left): how strongly a crown-high band above the border
    varies from tooth to tooth along the arch. Teeth stand side by side, bright crowns and
    roots with dark interdental spaces and canals between them, at a period of a tooth's width;
    an edentulous ridge, the maxilla and the palate run smoothly along the arch. The band
    (CROWN_H high) is read at every height in RHYTHM_DY above the traced border over
    RHYTHM_DX, high-passed along the arch (Gaussian, RHYTHM_SIGMA of the width), and the
    RMS is taken at the height where it is largest; units: the image stretched to its
    1st-99.5th percentiles (gain-free). None when the border is not traced. ``pixels``
    should be the content frame (a black margin would change the stretch); ``work``: its shared
    working copies (``DentitionWork``), when there are any."""
    from scipy.ndimage import gaussian_filter1d

    h, w = pixels.shape
    if bx.size < 10:
        return None
    work = dentition_work(pixels, work)
    img, f = work.prepared()
    hs, ws = img.shape
    band = work.crown_band()
    dys = np.arange(RHYTHM_DY[0], RHYTHM_DY[1], 0.01)
    out = []
    for sign in (-1, 1):
        xs = mid + sign * np.arange(RHYTHM_DX[0], RHYTHM_DX[1], 1.0 / (f * w)) * w
        xs = xs[(xs >= 0) & (xs <= w - 1)]
        if xs.size < 20:
            return None
        cols = np.clip(np.round(xs * f).astype(int), 0, ws - 1)
        rows = np.clip(np.round((np.interp(xs, bx, by)[None, :] - dys[:, None] * h) * f).astype(int), 0, hs - 1)
        u = band[rows, cols[None, :]].astype(np.float64)
        hp = u - gaussian_filter1d(u, RHYTHM_SIGMA * w * f, axis=1, mode="nearest")
        out.append(float(np.sqrt(np.mean(hp**2, axis=1)).max()))
    return out[0], out[1]
