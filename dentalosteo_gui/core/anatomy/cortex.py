"""Inferior mandibular cortex: MCW, endosteal roughness, porosity and a rule-based Klemetti hint.

Per side, in a window of columns around the usual mental-foramen position (the premolar
region, 13-20 % of the image width from the mandible's midline), intensity profiles are
sampled along normals to the smoothed traced border, from 2 mm outside the border to 9 mm
inside it. Profiles are averaged over a short stretch of neighbouring normals (0.4 mm)
to suppress quantum noise and trabecular texture. On each profile:

- periosteal margin: steepest rise of intensity going inward near the traced border;
- endosteal margin: the first strong fall of intensity going inward past the cortex (where
  the bright cortex gives way to trabecular bone), found as the first local minimum of the
  derivative that reaches at least half of the strongest fall in the search range.

MCW = median of (endosteal - periosteal) over the normals, in mm, with the interquartile
range. Endosteal roughness = robust spread of the endosteal margin around its running
median, relative to MCW; porosity = fraction of dark pixels inside the cortical band.
The Klemetti hint (C1 even and sharp; C2 semilunar defects / residues; C3 heavy residues
and porous) is a transparent rule on these indices plus a residue index; its thresholds were
calibrated on synthetic phantoms with seeds 10000-10149 (never on the phantoms used to report
accuracy, seeds 0-299). The indices on real radiographs are not validated (no labels).
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..types import (
    KLEMETTI_DEFINITIONS,
    CortexMeasurement,
    CortexSide,
    Radiograph,
    RoiProposal,
    Spacing,
)

log = logging.getLogger(__name__)

# Measurement window: distance from the mandible's midline as a fraction of image width.
WINDOW_FRAC = (0.13, 0.20)
NORMAL_STEP_MM = 0.25  # spacing of the normals along the border
OUTSIDE_MM, INSIDE_MM = 2.0, 9.0  # profile extent outside/inside the border
SAMPLE_MM = 0.04  # profile sampling step
TANGENT_SMOOTH_MM = 0.4  # Gaussian sigma along the border for the profiles
MIN_WIDTH_MM, MAX_WIDTH_MM = 0.6, 8.0
MCW_PERCENTILE = 90.0
BORDER_SMOOTH_MM = 2.0
TEXTURE_MIN_CONTRAST_REL = 0.3  # porosity/residues only where cortex vs trabecular >= this x step
GRADE_MAX_BAND_CV = 0.6  # Klemetti grading only where band noise / contrast <= this
CORTEX_MIN_CONTRAST = 0.1  # the cortex must stand out by this fraction of the periosteal step
HOLD_MM = 0.5
TRAB_FROM_MM = 7.0  # Gaussian sigma of the border before normals are taken

# Klemetti rule thresholds: grid search on phantom seeds 10000-10149 (phantoms.py at 61470e1),
# rounded; accuracy is reported on seeds 0-299 only (bench/eval_cortex.py). Phantom-calibrated:
# not validated on real radiographs.
ROUGH_C2 = 0.06  # endosteal roughness (mean recession / MCW) at or above this: at least C2
ROUGH_C3 = 0.28  # extreme roughness: C3
POROSITY_C3 = 0.18  # dark fraction inside the cortical band at or above this: C3
RESIDUES_C3 = 0.12  # bright fragment fraction past the endosteal margin at or above this: C3


def _med(a: np.ndarray) -> float:
    """``float(np.median(a))`` of a small 1-D array, without np.median's per-call overhead
    (thousands of calls per image): the same value, NaN when ``a`` holds one."""
    s = np.sort(np.asarray(a, dtype=np.float64).ravel())
    n = s.size
    if n == 0:
        return float("nan")
    if np.isnan(s[-1]):
        return float("nan")
    h = n // 2
    return float(s[h]) if n % 2 else float((s[h - 1] + s[h]) / 2.0)


def _side_points(proposal: RoiProposal) -> tuple[np.ndarray, np.ndarray, float]:
    right = np.asarray(proposal.border_right, dtype=np.float64).reshape(-1, 2)
    left = np.asarray(proposal.border_left, dtype=np.float64).reshape(-1, 2)
    if right.size and left.size:
        mid = 0.5 * (float(right[:, 0].max()) + float(left[:, 0].min()))
    else:
        mid = proposal.box.x + proposal.box.w / 2.0
    return right, left, mid


def _sample_normals(
    pts: np.ndarray, x_lo: float, x_hi: float, step_px: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Points and upward (inward) unit normals along a smoothed border in [x_lo, x_hi]."""
    if pts.shape[0] < 4:
        return None
    order = np.argsort(pts[:, 0])
    px, py = pts[order, 0], pts[order, 1]
    keep = np.concatenate([[True], np.diff(px) > 1e-6])
    px, py = px[keep], py[keep]
    if px[0] > x_lo or px[-1] < x_hi:
        x_lo, x_hi = max(x_lo, px[0]), min(x_hi, px[-1])
    if x_hi - x_lo < 5 * step_px:
        return None
    # Smooth the border (a ~4 mm local fit) so normals follow the bone, not pixel noise.
    xs = np.arange(px[0], px[-1], 1.0)
    ys = np.interp(xs, px, py)
    sig = max(2.0, BORDER_SMOOTH_MM / NORMAL_STEP_MM * step_px)
    ys_s = gaussian_filter1d(ys, sigma=sig, mode="nearest")
    dys = np.gradient(ys_s)
    # Arc-length sampling inside the window.
    sel = (xs >= x_lo) & (xs <= x_hi)
    xw, yw, dw = xs[sel], ys_s[sel], dys[sel]
    seg = np.sqrt(1.0 + dw**2)
    arc = np.concatenate([[0.0], np.cumsum(seg[1:])])
    s_new = np.arange(0.0, arc[-1], step_px)
    xn = np.interp(s_new, arc, xw)
    yn = np.interp(s_new, arc, yw)
    dn = np.interp(s_new, arc, dw)
    norm = np.sqrt(1.0 + dn**2)
    normals = np.stack([dn / norm, -1.0 / norm], axis=1)  # points up (into the mandible)
    return np.stack([xn, yn], axis=1), normals


def _profiles(pix: np.ndarray, base: np.ndarray, normals: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Intensity profiles (n_normals, n_samples) and their depths t (mm, + = inward)."""
    t_mm = np.arange(-OUTSIDE_MM, INSIDE_MM + 1e-9, SAMPLE_MM)
    t_px = t_mm / spacing
    mx = (base[:, 0:1] + normals[:, 0:1] * t_px[None, :]).astype(np.float32)
    my = (base[:, 1:2] + normals[:, 1:2] * t_px[None, :]).astype(np.float32)
    prof = cv2.remap(pix, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return prof.astype(np.float64), t_mm


def _parabolic(d: np.ndarray, k: int) -> float:
    if 0 < k < d.size - 1:
        a, b, c = d[k - 1], d[k], d[k + 1]
        den = a - 2 * b + c
        if abs(den) > 1e-12:
            return float(k + np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return float(k)


def _half_crossing(pi: np.ndarray, t_mm: np.ndarray, k0: int, k1: int, half: float, hold: int) -> float | None:
    """Depth of the first sample in [k0, k1) after which ``pi`` stays below ``half`` for ``hold``."""
    below = pi[k0:k1] < half
    if below.size < hold:
        return None
    run = np.convolve(below.astype(np.int32), np.ones(hold, np.int32), mode="valid")
    ok_k = np.flatnonzero(run >= hold)
    if ok_k.size == 0:
        return None
    k = int(ok_k[0]) + k0
    if k == 0:
        return float(t_mm[0])
    a, b = pi[k - 1], pi[k]
    frac = float(np.clip((a - half) / (a - b), 0.0, 1.0)) if a != b else 0.0
    return float(t_mm[k - 1] + frac * (t_mm[k] - t_mm[k - 1]))


def _margins(prof: np.ndarray, t_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Periosteal and endosteal depth (mm) per smoothed profile (NaN where not found).

    Periosteal: steepest rise going inward within 1.5 mm of the traced border.
    Endosteal: the first strong fall going inward (first local minimum of the derivative
    reaching half the strongest fall within MIN..MAX_WIDTH), accepted only when the cortex
    stands out from what follows it by CORTEX_MIN_CONTRAST of the periosteal step. When the
    cortex is brightest next to the periosteum (a dense band, the usual case), the margin is
    refined to the half-level crossing between that band and the trabecular level
    TRAB_FROM_MM deep, which pores inside a porous cortex (brief dips) do not trigger.
    """
    n = prof.shape[0]
    d = np.gradient(prof, axis=1)
    peri = np.full(n, np.nan)
    endo = np.full(n, np.nan)
    p_lo, p_hi = np.searchsorted(t_mm, [-1.5, 1.5])
    hold = max(2, int(round(HOLD_MM / SAMPLE_MM)))
    idx = np.arange(t_mm.size)
    for i in range(n):
        di, pi = d[i], prof[i]
        kp = p_lo + int(np.argmax(di[p_lo:p_hi]))
        if di[kp] <= 0:
            continue
        tp = float(np.interp(_parabolic(di, kp), idx, t_mm))
        e_lo, e_hi = np.searchsorted(t_mm, [tp + MIN_WIDTH_MM, tp + MAX_WIDTH_MM])
        seg = di[e_lo:e_hi]
        if seg.size < 3:
            continue
        strongest = float(seg.min())
        if strongest >= 0:
            continue
        ke = None
        for k in range(1, seg.size - 1):
            if seg[k] <= 0.5 * strongest and seg[k] <= seg[k - 1] and seg[k] <= seg[k + 1]:
                ke = k
                break
        if ke is None:
            ke = int(np.argmin(seg))
        te = float(np.interp(_parabolic(di, e_lo + ke), idx, t_mm))
        # validation: the cortex must stand out from what follows it
        o0, o1 = np.searchsorted(t_mm, [tp - 1.5, tp - 0.5])
        s0, s1 = np.searchsorted(t_mm, [tp, te])
        f0, f1 = np.searchsorted(t_mm, [te, te + 2.0])
        if o1 <= o0 or s1 <= s0 or f1 <= f0:
            continue
        band_max = float(pi[s0:s1].max())
        step = band_max - _med(pi[o0:o1])
        drop = band_max - float(pi[f0:f1].min())
        if step <= 0 or drop < CORTEX_MIN_CONTRAST * step:
            continue
        c0, c1 = np.searchsorted(t_mm, [tp + 0.1, tp + 2.0])
        near = float(pi[c0:c1].max()) if c1 > c0 else -np.inf
        if near >= 0.97 * band_max:
            d0, d1 = np.searchsorted(t_mm, [tp + TRAB_FROM_MM, tp + TRAB_FROM_MM + 2.0])
            if d1 - d0 >= 2:
                trab = _med(pi[d0:d1])
                if near - trab > CORTEX_MIN_CONTRAST * step:
                    th = _half_crossing(pi, t_mm, e_lo, e_hi, trab + 0.5 * (near - trab), hold)
                    if th is not None and th >= te - 0.2:
                        te = th
        peri[i], endo[i] = tp, te
    return peri, endo


def _texture(prof: np.ndarray, t_mm: np.ndarray, peri: np.ndarray, endo: np.ndarray) -> dict[str, float]:
    """Porosity and residue indices from the (unsmoothed) profiles.

    Levels: cortex = median in the band's middle, trabecular = median 2.5-4.5 mm past the
    endosteal margin; threshold halfway. Porosity = fraction of dark pixels inside the band
    (20-85 % of its width); residues = fraction of bright pixels in the 1.5 mm just past the
    endosteal margin (cortical fragments left in the trabecular zone).
    """
    band: list[np.ndarray] = []
    past: list[np.ndarray] = []
    cort: list[float] = []
    trab: list[float] = []
    outside: list[float] = []
    for i in range(prof.shape[0]):
        if not (np.isfinite(peri[i]) and np.isfinite(endo[i])):
            continue
        o0, o1 = np.searchsorted(t_mm, [peri[i] - 1.5, peri[i] - 0.5])
        if o1 > o0:
            outside.append(_med(prof[i, o0:o1]))
        w = endo[i] - peri[i]
        a, b = np.searchsorted(t_mm, [peri[i] + 0.2 * w, peri[i] + 0.85 * w])
        c0, c1 = np.searchsorted(t_mm, [endo[i] + 2.5, endo[i] + 4.5])
        r0, r1 = np.searchsorted(t_mm, [endo[i] + 0.2, endo[i] + 1.5])
        if b - a < 2 or c1 - c0 < 2 or r1 - r0 < 2:
            continue
        band.append(prof[i, a:b])
        past.append(prof[i, r0:r1])
        cort.append(_med(prof[i, a:b]))
        trab.append(_med(prof[i, c0:c1]))
    if not band:
        return {}
    level_c = float(np.median(cort))
    level_t = float(np.median(trab))
    contrast = level_c - level_t
    step = level_c - float(np.median(outside)) if outside else 0.0
    contrast_rel = contrast / step if step > 1e-6 else 0.0
    if contrast_rel < TEXTURE_MIN_CONTRAST_REL:
        # cortex and trabecular bone look alike (soft image, superimposition): dark or
        # bright pixels say nothing about pores or residues there
        return {"contrast_rel": contrast_rel}
    thr = level_t + 0.5 * contrast
    allb = np.concatenate(band)
    allp = np.concatenate(past)
    return {
        "porosity": float(np.mean(allb < thr)),
        "residues": float(np.mean(allp > thr)),
        "band_cv": float(np.std(allb) / contrast),
        "past_cv": float(np.std(allp) / contrast),
        "contrast_rel": contrast_rel,
    }


def _measure_side(
    pix: np.ndarray, pts: np.ndarray, mid: float, width: int, sign: int, spacing: float
) -> tuple[CortexSide, dict[str, Any]]:
    lo, hi = mid + sign * WINDOW_FRAC[0] * width, mid + sign * WINDOW_FRAC[1] * width
    x_lo, x_hi = min(lo, hi), max(lo, hi)
    empty = CortexSide(mcw_mm=None, mcw_iqr_mm=None, roughness=None, porosity=None, n_normals=0)
    got = _sample_normals(pts, x_lo, x_hi, NORMAL_STEP_MM / spacing)
    if got is None:
        return empty, {"reason": "border not traced in the mental-foramen window"}
    base, normals = got
    prof, t_mm = _profiles(pix, base, normals, spacing)
    sig = TANGENT_SMOOTH_MM / NORMAL_STEP_MM
    prof_s = gaussian_filter1d(prof, sigma=sig, axis=0, mode="nearest")
    peri, endo = _margins(gaussian_filter1d(prof_s, sigma=max(1.0, 0.06 / SAMPLE_MM), axis=1), t_mm)
    ok = np.isfinite(peri) & np.isfinite(endo)
    if ok.sum() < 5:
        return empty, {"reason": "cortex margins not found"}
    widths = (endo - peri)[ok]
    # MCW is the width of the intact cortex: lacunar (semilunar) defects only ever thin it
    # locally, so the upper part of the distribution (90th percentile) is the intact width;
    # the defects themselves are reported by the roughness index.
    mcw = float(np.percentile(widths, MCW_PERCENTILE))
    q25, q75 = np.percentile(widths, [25, 75])
    # Roughness: mean recession of the endosteal margin below the intact width, relative to
    # it (0 = even margin; semilunar lacunae and residues raise it).
    rough = float(np.mean(np.maximum(0.0, mcw - widths)) / max(mcw, 1e-6))
    spread = float((np.percentile(widths, 90) - np.percentile(widths, 10)) / max(mcw, 1e-6))
    # texture on profiles smoothed only along depth (porosity is small and elongated)
    prof_d = gaussian_filter1d(prof, sigma=max(1.0, 0.06 / SAMPLE_MM), axis=1)
    tex = _texture(prof_d, t_mm, peri, endo)
    por = tex.get("porosity")
    normals_out: list[tuple[tuple[float, float], tuple[float, float]]] = []
    idx = np.flatnonzero(ok)
    for i in idx[:: max(1, idx.size // 12)]:
        p0 = base[i] + normals[i] * (peri[i] / spacing)
        p1 = base[i] + normals[i] * (endo[i] / spacing)
        normals_out.append(((float(p0[0]), float(p0[1])), (float(p1[0]), float(p1[1]))))
    side = CortexSide(
        mcw_mm=mcw,
        mcw_iqr_mm=float(q75 - q25),
        roughness=rough,
        porosity=por,
        n_normals=int(ok.sum()),
        normals=normals_out,
    )
    ev = {
        "window_px": [round(x_lo, 1), round(x_hi, 1)],
        "width_median_mm": round(float(np.median(widths)), 3),
        **{k: round(v, 4) for k, v in tex.items()},
        "width_spread_rel": round(spread, 4),
        "found_fraction": round(float(ok.mean()), 3),
    }
    return side, ev


def klemetti_rule(
    sides: list[CortexSide],
    residues: list[float | None] | None = None,
    distinct: list[bool] | None = None,
) -> tuple[str | None, dict[str, Any]]:
    """Rule-based Klemetti hint from the worse side's roughness, porosity and residue indices.

    C3 when the cortex is porous or shows heavy endosteal residues (or extreme roughness),
    C2 when the endosteal margin is uneven, else C1. Only sides whose endosteal margin is
    distinct (``distinct``; default all) are graded; with none, no hint is given.
    """
    n = len(sides)
    res_all = list(residues) if residues is not None else [None] * n
    dist_all = list(distinct) if distinct is not None else [True] * n
    use = [i for i in range(n) if sides[i].roughness is not None and dist_all[i]]
    if not any(s.roughness is not None for s in sides):
        return None, {"why": "no side could be measured"}
    if not use:
        return None, {
            "why": "the endosteal margin is not distinct on either side (cortex and trabecular "
            "bone look alike here): no automatic Klemetti grade; grade it by eye",
        }
    r = max(float(sides[i].roughness or 0.0) for i in use)
    p = max(float(sides[i].porosity or 0.0) for i in use)
    q = max(float(res_all[i] or 0.0) for i in use)
    if p >= POROSITY_C3 or q >= RESIDUES_C3 or r >= ROUGH_C3:
        cls, why = "C3", "porous cortex / heavy endosteal residues"
    elif r >= ROUGH_C2:
        cls, why = "C2", "uneven endosteal margin (semilunar defects or residues)"
    else:
        cls, why = "C1", "even and sharp endosteal margin"
    return cls, {
        "roughness_max": round(r, 4),
        "porosity_max": round(p, 4),
        "residues_max": round(q, 4),
        "sides_graded": [("right", "left")[i] if n == 2 else i for i in use],
        "thresholds": {
            "roughness_c2": ROUGH_C2,
            "roughness_c3": ROUGH_C3,
            "porosity_c3": POROSITY_C3,
            "residues_c3": RESIDUES_C3,
        },
        "why": why,
        "definition": KLEMETTI_DEFINITIONS[cls],
        "calibration": "thresholds calibrated on synthetic phantoms; not validated on real radiographs",
    }


def measure_cortex(rad: Radiograph, proposal: RoiProposal, spacing: Spacing) -> CortexMeasurement:
    """Measure the inferior cortex per side below the mental-foramen region.

    ``spacing`` is required (resolved once, with its provenance, by
    ``core.screening.spacing.resolve_spacing``); this function holds no default of its own.
    """
    mm = float(spacing.mm_per_px)
    pix = np.ascontiguousarray(rad.pixels, dtype=np.float32)
    right_pts, left_pts, mid = _side_points(proposal)
    w = rad.width
    right, ev_r = _measure_side(pix, right_pts, mid, w, -1, mm)
    left, ev_l = _measure_side(pix, left_pts, mid, w, +1, mm)
    # grade a side only when its endosteal margin is distinct: the cortex stands out from the
    # trabecular bone and its own texture noise is small against that contrast
    distinct = [
        ev.get("contrast_rel") is not None
        and float(ev["contrast_rel"]) >= TEXTURE_MIN_CONTRAST_REL
        and ev.get("band_cv") is not None
        and float(ev["band_cv"]) <= GRADE_MAX_BAND_CV
        for ev in (ev_r, ev_l)
    ]
    cls, ev = klemetti_rule([right, left], [ev_r.get("residues"), ev_l.get("residues")], distinct)
    evidence: dict[str, Any] = {
        "rule": ev,
        "right": {
            "mcw_mm": None if right.mcw_mm is None else round(right.mcw_mm, 3),
            "roughness": None if right.roughness is None else round(right.roughness, 4),
            "porosity": None if right.porosity is None else round(right.porosity, 4),
            **ev_r,
        },
        "left": {
            "mcw_mm": None if left.mcw_mm is None else round(left.mcw_mm, 3),
            "roughness": None if left.roughness is None else round(left.roughness, 4),
            "porosity": None if left.porosity is None else round(left.porosity, 4),
            **ev_l,
        },
        "pixel_spacing_mm": mm,
        "assumed_spacing": spacing.assumed,
    }
    return CortexMeasurement(right=right, left=left, klemetti_rule=cls, evidence=evidence, spacing=spacing)
