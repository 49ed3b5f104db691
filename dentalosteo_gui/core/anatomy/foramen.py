"""The mental foramen per side, and the panoramic mandibular index (PMI) measured at it.

Proposal (:func:`propose_foramen`): per patient side, the image is straightened along the
traced inferior border (columns along the border, rows = height above it along the
upward normal), so the search window is defined by the anatomy, never in pixels:

- along the border: ``WINDOW_SPAN`` of the mandible's span (the traced border, gonial angle
  to gonial angle) from the midline: the premolar region;
- above the border: ``DEPTH_SPAN`` of the span, with a soft prior ``DEPTH_PRIOR`` (the
  foramen's centre lies about 14 mm above the inferior border: 0.056 of the 253 mm
  reference span of ``scale.py``);
- working resolution: the span resampled to ``WORK_SPAN_PX`` pixels, so the foramen radii
  tried (``RADII_SPAN`` of the span, about 1.8-4.5 mm) mean the same on any image.

The candidate is the darkest disc against its surround: per radius, the mean log grey level
of an annulus (``RING_FRAC`` radii) less that of the disc (``INNER_FRAC`` radii), in units
of the annulus' spread, best over the radii, less the height prior's penalty. Its confidence
is a logistic of that contrast times a logistic of its lead over the runner-up (the best
other candidate ``APART_RADII`` radii away): a dark spot among equally dark ones is not a
confident foramen. Below ``CONF_FLOOR`` no point is proposed and the reason says so.

PMI (Benson 1991, :func:`measure_pmi`): the cortical width at the foramen divided by the
height of the foramen's lower margin above the inferior border, along the border normal
through the foramen, in pixels (a ratio: no spacing involved). The width is the intact width
(``WIDTH_PERCENTILE``) of the cortex measurement's per-normal widths (its drawn normals)
within ``WIDTH_NEAR_SPAN`` of the foramen's column, else the side's MCW; the height runs
from the nearest normal's periosteal point. The lower margin is where the profile below the
centre rises half-way from the foramen's darkness to the bone beneath (:func:`lower_margin_row`).
A point the dentist placed is measured the same way (its radius from the contrast there).

Constants: chosen on phantom seeds 500-519 (styles v1 and v2) only; the error is reported on
held-out seeds 0-39 (``bench/foramen.py``, docs/scale.md); real radiographs were only looked
at. Pure numpy / OpenCV.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..types import CortexSide, ForamenPoint, Point, RoiProposal
from .band import midline

log = logging.getLogger(__name__)

WORK_SPAN_PX = 400.0  # the traced span at the working resolution (constants chosen at 800; see docs/scale.md)
WINDOW_SPAN = (0.14, 0.30)  # search columns: distance from the midline / span
DEPTH_SPAN = (0.035, 0.085)  # search rows: foramen centre above the border / span
STRIP_DEPTH_SPAN = 0.125  # the straightened strip reaches this far above the border
RADII_SPAN = (0.007, 0.009, 0.011, 0.014, 0.018)  # foramen radii tried / span (about 1.8-4.5 mm)
INNER_FRAC, RING_FRAC = 0.8, (1.3, 2.3)  # the dark disc and its surround, in radii
SPREAD_FLOOR = 1e-3  # added to the surround's spread (log units) so flat areas do not explode
DEPTH_PRIOR = (0.056, 0.016)  # usual height of the centre above the border / span, and its SD
APART_RADII = 3.0  # a rival candidate lies at least this many radii away
N_CANDIDATES = 2  # the best candidate and its runner-up (for the confidence)
BORDER_SMOOTH_SPAN = 0.012  # Gaussian sigma of the border before its normals are taken
CONF_Z_MID, CONF_Z_SLOPE = 1.2, 1.6  # logistic of the contrast z-score
CONF_LEAD_MID, CONF_LEAD_SLOPE = 0.0, 4.0  # ... times a logistic of its lead over the rival
CONF_FLOOR = 0.5  # no proposal below this (tuning phantoms: 1 in 3 below it within 5 mm)
USER_HALF_SPAN = 0.04  # a user point is re-measured in a strip this wide either side
MARGIN_AVERAGE_RADII = 0.5  # the lower margin is found on the strip averaged over +-this
WIDTH_NEAR_SPAN = 0.025  # cortex normals within this distance of the foramen column (~6 mm)
PMI_MAX = 0.6  # PMI is about 0.3 in healthy adults, lower with bone loss: twice that is a wrong point
PMI_CHECK = 0.5  # above this (and up to PMI_MAX) the PMI is given with a note to check the point
WIDTH_PERCENTILE = 90.0  # of their widths: the intact cortex, as MCW (lacunae only thin it)


@dataclass
class Strip:
    """The image straightened along one side's border: ``img[row, col]`` at border point
    ``base[col]`` + depth ``row * step`` along the upward unit normal ``normal[col]``."""

    img: np.ndarray
    base: np.ndarray  # (n_cols, 2) image x, y
    normal: np.ndarray  # (n_cols, 2), pointing up into the mandible
    step: float  # image pixels per strip pixel (both axes)

    def to_image(self, col: float, row: float) -> tuple[float, float]:
        c = int(np.clip(round(col), 0, len(self.base) - 1))
        p = self.base[c] + self.normal[c] * (row * self.step)
        return float(p[0]), float(p[1])

    def from_image(self, x: float, y: float) -> tuple[float, float]:
        """(col, row) of an image point: the border point whose normal passes nearest."""
        d = np.array([x, y]) - self.base
        along = d[:, 0] * self.normal[:, 0] + d[:, 1] * self.normal[:, 1]
        perp = np.abs(d[:, 0] * self.normal[:, 1] - d[:, 1] * self.normal[:, 0])
        c = int(np.argmin(perp))
        return float(c), float(along[c] / self.step)


def side_points(proposal: RoiProposal, side: str) -> np.ndarray:
    pts = proposal.border_left if side == "left" else proposal.border_right
    arr = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    return arr[np.argsort(arr[:, 0])] if arr.size else arr


def frame_of(proposal: RoiProposal) -> tuple[float, float] | None:
    """(midline x, span) of the traced mandible; None without a border on both sides."""
    r, le = side_points(proposal, "right"), side_points(proposal, "left")
    if r.shape[0] < 4 or le.shape[0] < 4:
        return None
    span = float(le[:, 0].max() - r[:, 0].min())
    return (midline(proposal, r, le), span) if span > 64 else None


def build_strip(pix: np.ndarray, pts: np.ndarray, x_lo: float, x_hi: float, span: float) -> Strip | None:
    """Straighten ``pix`` along the border ``pts`` between columns ``x_lo`` and ``x_hi``."""
    if pts.shape[0] < 4:
        return None
    keep = np.concatenate([[True], np.diff(pts[:, 0]) > 1e-6])
    px, py = pts[keep, 0], pts[keep, 1]
    x_lo, x_hi = max(x_lo, float(px[0])), min(x_hi, float(px[-1]))
    step = span / WORK_SPAN_PX
    if x_hi - x_lo < 20 * step:
        return None
    xs = np.arange(px[0], px[-1] + 1e-9, max(step / 2, 0.5))
    ys = gaussian_filter1d(np.interp(xs, px, py), sigma=BORDER_SMOOTH_SPAN * span / max(step / 2, 0.5),
                           mode="nearest")
    dys = np.gradient(ys, xs)
    sel = (xs >= x_lo) & (xs <= x_hi)
    xw, yw, dw = xs[sel], ys[sel], dys[sel]
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(xw), np.diff(yw)))])
    s = np.arange(0.0, arc[-1], step)
    base = np.stack([np.interp(s, arc, xw), np.interp(s, arc, yw)], axis=1)
    d = np.interp(s, arc, dw)
    nrm = np.sqrt(1.0 + d**2)
    normal = np.stack([d / nrm, -1.0 / nrm], axis=1)
    rows = np.arange(0.0, STRIP_DEPTH_SPAN * span / step)
    mx = (base[None, :, 0] + normal[None, :, 0] * rows[:, None] * step).astype(np.float32)
    my = (base[None, :, 1] + normal[None, :, 1] * rows[:, None] * step).astype(np.float32)
    # area-average down to the working resolution first (only the part sampled), so the
    # samples do not alias
    k = step / 2.0
    h, w = pix.shape
    pad = int(np.ceil(3 * k)) + 2
    x0, x1 = max(0, int(mx.min()) - pad), min(w, int(np.ceil(mx.max())) + pad + 1)
    y0, y1 = max(0, int(my.min()) - pad), min(h, int(np.ceil(my.max())) + pad + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    src: np.ndarray = np.ascontiguousarray(pix[y0:y1, x0:x1], dtype=np.float32)
    if k > 0.7:
        src = np.asarray(cv2.GaussianBlur(src, (0, 0), k))
    img = cv2.remap(src, mx - x0, my - y0, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return Strip(img=img.astype(np.float64), base=base, normal=normal, step=float(step))


def _radii(span: float, step: float) -> np.ndarray:
    """The foramen radii tried, in strip pixels."""
    out: np.ndarray = np.asarray(RADII_SPAN) * span / step
    return out


def _disc(r: float, r_out: float | None = None) -> np.ndarray:
    """A normalised disc (or, with ``r_out``, annulus r..r_out) kernel."""
    rad = r_out if r_out is not None else r
    n = int(np.ceil(rad))
    yy, xx = np.mgrid[-n:n + 1, -n:n + 1]
    d = np.hypot(yy, xx)
    k = ((d <= r) if r_out is None else ((d >= r) & (d <= r_out))).astype(np.float32)
    out: np.ndarray = k / max(float(k.sum()), 1.0)
    return out


def log_grey(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log grey levels (gain and gamma become offsets), and the levels with their squares as
    two channels (the surround's mean and spread come from one filtering of both)."""
    lg = np.log(np.maximum(img, 1.0 / 255.0)).astype(np.float32)
    return lg, np.dstack([lg, lg * lg])


def contrast_map(img: np.ndarray, r: float, logs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per pixel: how much darker a disc of radius ``r`` is than its annulus (1.3-2.3 r), in
    units of the annulus' spread, on log grey levels (``logs``: ``log_grey(img)``, computed
    once for several radii)."""
    lg, both = logs if logs is not None else log_grey(img)
    inner = cv2.filter2D(lg, -1, _disc(INNER_FRAC * r), borderType=cv2.BORDER_REFLECT)
    ring = cv2.filter2D(both, -1, _disc(RING_FRAC[0] * r, RING_FRAC[1] * r), borderType=cv2.BORDER_REFLECT)
    out_m, out_sq = ring[..., 0], ring[..., 1]
    sd = np.sqrt(np.maximum(out_sq - out_m**2, 1e-8)) + SPREAD_FLOOR
    z: np.ndarray = (out_m - inner) / sd
    return z


def blob_maps(img: np.ndarray, radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best contrast over the radii per pixel, and the index of that radius."""
    logs = log_grey(img)
    stack = np.stack([contrast_map(img, float(r), logs) for r in radii])
    return stack.max(axis=0), stack.argmax(axis=0)


def confidence_of(z: float, lead: float) -> float:
    """0-1 from the blob's contrast ``z`` and its lead over the best rival candidate."""
    return float(1.0 / (1.0 + np.exp(-CONF_Z_SLOPE * (z - CONF_Z_MID)))
                 / (1.0 + np.exp(-CONF_LEAD_SLOPE * (lead - CONF_LEAD_MID))))


@dataclass
class Candidate:
    """A dark blob on one side: image point, place in mandible units (distance from the
    midline and height above the border, as fractions of the span), contrast and score."""

    x: float
    y: float
    dist: float
    depth: float
    z: float
    score: float  # z less the height prior's penalty


def _search_mask(strip: Strip, span: float, mid: float, sign: int) -> np.ndarray:
    h, w = strip.img.shape
    rows = np.arange(h)[:, None] * strip.step
    dist = sign * (strip.base[:, 0] - mid)
    cols_ok = (dist >= WINDOW_SPAN[0] * span) & (dist <= WINDOW_SPAN[1] * span)
    rows_ok = (rows >= DEPTH_SPAN[0] * span) & (rows <= DEPTH_SPAN[1] * span)
    return np.asarray(rows_ok & cols_ok[None, :])


def side_candidates(pix: np.ndarray, proposal: RoiProposal, side: str) -> list[Candidate] | None:
    """The strongest distinct dark blobs in ``side``'s search window (None: no border
    there), best first, each at least ``APART_RADII`` radii from a better one."""
    fr = frame_of(proposal)
    if fr is None:
        return None
    mid, span = fr
    sign = 1 if side == "left" else -1
    # the strip reaches past the window, so a blob at the window's edge sees its surround
    pad = RING_FRAC[1] * RADII_SPAN[-1] * span
    lo, hi = mid + sign * (WINDOW_SPAN[0] * span - pad), mid + sign * (WINDOW_SPAN[1] * span + pad)
    strip = build_strip(pix, side_points(proposal, side), min(lo, hi), max(lo, hi), span)
    if strip is None:
        return None
    radii = _radii(span, strip.step)
    z, arg = blob_maps(strip.img, radii)
    depth = np.arange(z.shape[0])[:, None] * strip.step / span
    score = np.where(_search_mask(strip, span, mid, sign) & (z > 0),
                     z - 0.5 * ((depth - DEPTH_PRIOR[0]) / DEPTH_PRIOR[1]) ** 2, -np.inf)
    yy, xx = np.ogrid[:z.shape[0], :z.shape[1]]
    out: list[Candidate] = []
    while len(out) < N_CANDIDATES:
        i, j = np.unravel_index(int(np.argmax(score)), score.shape)
        if not np.isfinite(score[i, j]):
            break
        x, y = strip.to_image(float(j), float(i))
        out.append(Candidate(x, y, float(sign * (x - mid) / span), float(i * strip.step / span),
                             float(z[i, j]), float(score[i, j])))
        score[np.hypot(yy - i, xx - j) < APART_RADII * radii[arg[i, j]]] = -np.inf
    return out


def best_of(cands: list[Candidate]) -> tuple[Candidate, float] | None:
    """The best candidate and its lead in score over the runner-up (the whole score when
    there is no other)."""
    if not cands:
        return None
    return cands[0], cands[0].score - (cands[1].score if len(cands) > 1 else 0.0)


def propose_foramen(pix: np.ndarray, proposal: RoiProposal) -> tuple[dict[str, ForamenPoint], dict[str, str]]:
    """Both sides: the points found and, for the other sides, why none was proposed.

    Each side is chosen on its own: on phantoms a joint choice favouring left-right symmetry
    did not lower the error (the foramina are not placed that symmetrically)."""
    pix = np.asarray(pix, dtype=np.float32)
    cands = {side: side_candidates(pix, proposal, side) for side in ("right", "left")}
    found: dict[str, ForamenPoint] = {}
    why: dict[str, str] = {}
    for side in ("right", "left"):
        if cands[side] is None:
            why[side] = ("inferior border not traced on both sides" if frame_of(proposal) is None
                         else "border not traced in the premolar region")
            continue
        chosen = best_of(cands[side] or [])
        if chosen is None:
            why[side] = "no dark round spot above the cortex in the premolar region: place the point by hand"
            continue
        c, lead = chosen
        conf = confidence_of(c.z, lead)
        log.debug("foramen %s: z %.2f lead %.2f confidence %.2f", side, c.z, lead, conf)
        if conf < CONF_FLOOR:
            why[side] = (f"no distinct round radiolucency in the premolar region (confidence {conf:.2f} "
                         f"< {CONF_FLOOR:g}): place the point by hand")
            continue
        found[side] = ForamenPoint(c.x, c.y, round(conf, 3), "auto")
    return found, why


# ---------------------------------------------------------------------------- PMI
def _radius_at(strip: Strip, span: float, col: float, row: float) -> float:
    """The foramen's radius (strip px) at a given centre: the radius of the strongest
    contrast in a small neighbourhood."""
    radii = _radii(span, strip.step)
    z, arg = blob_maps(strip.img, radii)
    h, w = z.shape
    r0, c0 = int(np.clip(round(row), 0, h - 1)), int(np.clip(round(col), 0, w - 1))
    k = max(2, int(round(0.5 * radii[0])))
    sub = z[max(0, r0 - k):min(h, r0 + k + 1), max(0, c0 - k):min(w, c0 + k + 1)]
    i, j = np.unravel_index(int(np.argmax(sub)), sub.shape)
    return float(radii[arg[max(0, r0 - k) + i, max(0, c0 - k) + j]])


def lower_margin_row(strip: Strip, col: float, row: float, r: float) -> float:
    """The row of the foramen's lower margin below a centre (``row``): going down towards
    the border, where the profile (log grey levels, averaged across the foramen's middle)
    first rises half-way from the foramen's darkness to the bone below it (1.8-2.6 radii
    down). A half-level crossing, not the steepest step: trabecular texture makes many steps."""
    c = int(np.clip(round(col), 0, strip.img.shape[1] - 1))
    k = max(1, int(round(MARGIN_AVERAGE_RADII * r)))
    cols = strip.img[:, max(0, c - k):c + k + 1].mean(axis=1)
    prof = gaussian_filter1d(np.log(np.maximum(cols, 1.0 / 255.0)), sigma=max(1.0, 0.3 * r))
    i0 = int(np.clip(round(row), 0, prof.size - 1))
    below = prof[max(0, int(round(row - 2.6 * r))):max(1, int(round(row - 1.8 * r)) + 1)]
    if below.size == 0 or i0 < 2:
        return max(0.0, row - r)
    dark = float(prof[max(0, i0 - 1):i0 + 2].mean())
    half = 0.5 * (dark + float(np.median(below)))
    for i in range(i0, max(0, int(round(row - 2.6 * r))) - 1, -1):
        if prof[i] >= half:
            # sub-row: where the profile crosses the half level between rows i and i + 1
            nxt = prof[min(i + 1, prof.size - 1)]
            frac = 0.0 if nxt == prof[i] else float((half - prof[i]) / (nxt - prof[i]))
            return float(i + np.clip(frac, 0.0, 1.0))
    return max(0.0, row - r)


def _cortex_near(normals: list[tuple[Point, Point]], foot: np.ndarray, tangent: np.ndarray,
                 span: float) -> tuple[list[float], np.ndarray | None]:
    """Widths (px) of the cortex normals whose periosteal point lies near ``foot`` along
    the border, and the nearest one's periosteal point."""
    if not normals:
        return [], None
    p0 = np.array([a for a, _ in normals], dtype=np.float64)
    p1 = np.array([b for _, b in normals], dtype=np.float64)
    along = np.abs((p0 - foot) @ tangent)
    widths = np.hypot(*(p1 - p0).T)
    near = along <= WIDTH_NEAR_SPAN * span
    if not near.any():
        return [], None
    return [float(w) for w in widths[near]], p0[int(np.argmin(along))]


def measure_pmi(pix: np.ndarray, proposal: RoiProposal, side: str, point: ForamenPoint,
                cortex: CortexSide | None, window_mcw_px: float | None = None) -> tuple[float | None, dict[str, Any]]:
    """PMI on ``side`` at the foramen centre ``point``: (index or None, detail in pixels
    with ``reason`` when there is none). The cortical width is the intact width of the
    cortex measurement's normals near the foramen (``cortex_at: foramen``), else the side's
    MCW over its window (``window_mcw_px``; ``cortex_at: window``)."""
    fr = frame_of(proposal)
    if fr is None:
        return None, {"reason": "inferior border not traced on both sides"}
    _mid, span = fr
    half = USER_HALF_SPAN * span
    strip = build_strip(np.asarray(pix, dtype=np.float32), side_points(proposal, side),
                        point.x - half, point.x + half, span)
    if strip is None:
        return None, {"reason": "inferior border not traced below the foramen"}
    col, row = strip.from_image(point.x, point.y)
    if row <= 0:
        return None, {"reason": "the foramen point lies below the inferior border"}
    r = _radius_at(strip, span, col, row)
    low = lower_margin_row(strip, col, row, r)
    c = int(np.clip(round(col), 0, len(strip.base) - 1))
    n = strip.normal[c]
    widths, p0 = _cortex_near(cortex.normals if cortex else [], strip.base[c], np.array([-n[1], n[0]]), span)
    lower = np.array(strip.to_image(col, low))
    detail: dict[str, Any] = {"lower_margin_px": [round(float(v), 1) for v in lower],
                              "foramen_radius_px": round(r * strip.step, 1)}
    if widths and p0 is not None:
        width, at = float(np.percentile(widths, WIDTH_PERCENTILE)), "foramen"
    elif window_mcw_px is not None and window_mcw_px > 0:
        # the periosteal margin below the foramen: the traced border (the cortex was measured
        # elsewhere along it)
        width, at, p0 = float(window_mcw_px), "window", strip.base[c]
    else:
        detail["reason"] = "the cortex was not measured near the foramen"
        return None, detail
    height = float((lower - p0) @ n)
    detail.update(cortex_px=round(width, 2), height_px=round(height, 2), cortex_at=at, n_normals=len(widths),
                  border_px=[round(float(v), 1) for v in p0])
    if height * PMI_MAX <= width:
        detail["reason"] = (f"the foramen's lower margin is implausibly close to the border (PMI would be "
                            f"{width / max(height, 1e-6):.2f}, over {PMI_MAX:g}): check the point")
        return None, detail
    detail.update(pmi_check(width / height))
    return width / height, detail


def pmi_check(pmi: float, what: str = "") -> dict[str, str]:
    """``{"check": note}`` for a PMI above :data:`PMI_CHECK` (normal about 0.3, Benson 1991):
    kept, but the foramen point (its lower margin sets the height) is the usual culprit."""
    if not pmi > PMI_CHECK:
        return {}
    said = f" {what}" if what else ""
    return {"check": (f"PMI{said} {pmi:.2f} is above {PMI_CHECK:g} (normal about 0.3): check the "
                      "foramen point")}
