"""Inferior mandibular cortex: MCW, endosteal roughness, porosity, residues and a Klemetti hint.

Per side, in a window of columns around the usual mental-foramen position (the premolar
region, 13-20 % of the content width from the mandible's midline), intensity profiles are
sampled along normals to the smoothed traced border, every 0.25 mm, from 4.5 mm outside the
border to 14.5 mm inside it, and averaged over 0.4 mm along the border.

- Margins (``endosteal.find_margins``): the periosteal margin per normal, smoothed along the
  border; the endosteal margin as the smooth path of strongest multi-scale "bright cortex
  before, darker bone after" response in robust noise units, with a per-normal confidence.
  Widths are read only on confident normals.
- MCW = 90th percentile of the confident widths (lacunar defects only thin the cortex
  locally), with the interquartile range; none when the margin is confident on less than
  ``MIN_CONFIDENT_FRAC_MCW`` of the window.
- Roughness = mean recession of the margin below MCW, relative to MCW.
- Porosity and residues (``texture.cortex_texture``): noise-corrected fractions of pores in
  the band and of bright fragments past the margin, against the margin's own step.

The Klemetti hint (C1 even and sharp; C2 semilunar defects / residues; C3 heavy residues and
porous) is a transparent rule on these indices of the worse graded side; a side is graded
when its margin is confident on at least ``MIN_CONFIDENT_FRAC_GRADE`` of the window, and the
rule says why when it grades neither. Thresholds: grid search on phantom seeds 10000-10149
(never on the phantoms used to report accuracy, seeds 0-299, nor on real radiographs). The
indices on real radiographs are not validated (no labels).
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
from .endosteal import Margins, aligned_strip, find_margins
from .frame import crop_to_content, shift_proposal
from .quality import METAL_FRAC, METAL_LEVEL
from .roi import MEASURE_WINDOW
from .texture import cortex_texture

log = logging.getLogger(__name__)

# Measurement window: distance from the mandible's midline as a fraction of the content width.
WINDOW_FRAC = MEASURE_WINDOW
NORMAL_STEP_MM = 0.25  # spacing of the normals along the border
OUTSIDE_MM, INSIDE_MM = 4.5, 14.5  # profile extent outside/inside the border
SAMPLE_MM = 0.04  # profile sampling step
TANGENT_SMOOTH_MM = 0.4  # Gaussian sigma along the border for the margin search
DEPTH_SMOOTH_MM = 0.06  # Gaussian sigma along the normal (all profiles)
MCW_PERCENTILE = 90.0
BORDER_SMOOTH_MM = 2.0  # Gaussian sigma of the border before normals are taken
FIT_MARGIN_MM = 5.0  # the robust border curve is fitted over the window and this much either side
DETOUR_MM = 1.0  # a trace further than this (and 3 robust SDs) from that curve is a detour
MIN_CONFIDENT_NORMALS = 8
MIN_CONFIDENT_FRAC_MCW = 0.3  # MCW only when the margin is confident on this much of the window
MIN_CONFIDENT_FRAC_GRADE = 0.5  # a side is graded when its margin is confident on this much
LOG_FLOOR = 1.0 / 255.0  # grey levels below this are taken as this before the logarithm
WIDTH_SMOOTH_MM = 0.5  # widths are averaged along the border at this scale (below lacunae)
DRAW_EVERY_MM = 1.0  # one drawn normal per this length of border

# Klemetti rule thresholds. Roughness: grid search on phantom seeds 10000-10149 (accuracy
# 0.867 in-sample for any C2 threshold in 0.05-0.10 with C3 at 0.27; the C2 threshold is set
# mid-gap between the C1 90th and the C2 10th percentile, 0.037 and 0.128). Porosity and residues:
# on phantoms their noise-corrected values are 0.003-0.03 even for C3, below what real
# trabecular texture alone gives (0-0.04 on abdi_dev), so phantom-fitted cut-offs there
# would not transfer; they decide C3 only when clearly present (conservative, not fitted).
# Accuracy is reported on seeds 0-299 only (bench/eval_cortex.py). Not validated on real
# radiographs.
ROUGH_C2 = 0.08  # endosteal roughness (mean recession / MCW) at or above this: at least C2
ROUGH_C3 = 0.27  # extreme roughness: C3
POROSITY_C3 = 0.10  # noise-corrected pore fraction inside the cortical band: C3
RESIDUES_C3 = 0.12  # noise-corrected bright-fragment fraction past the margin: C3


def _side_points(proposal: RoiProposal) -> tuple[np.ndarray, np.ndarray, float]:
    right = np.asarray(proposal.border_right, dtype=np.float64).reshape(-1, 2)
    left = np.asarray(proposal.border_left, dtype=np.float64).reshape(-1, 2)
    if right.size and left.size:
        mid = 0.5 * (float(right[:, 0].max()) + float(left[:, 0].min()))
    else:
        mid = proposal.box.x + proposal.box.w / 2.0
    return right, left, mid


def _robust_border(px: np.ndarray, py: np.ndarray, x_lo: float, x_hi: float, mm_px: float) -> np.ndarray:
    """The border with local detours replaced by a robust quadratic through the window.

    Over the window and ``FIT_MARGIN_MM`` either side the inferior border is a gentle curve;
    where the trace leaves it by more than ``DETOUR_MM`` (and 3 robust SDs) - a step onto a
    double contour or a soft-tissue edge - the periosteal search would start in the wrong
    place, so the curve is used there instead."""
    sel = (px >= x_lo - FIT_MARGIN_MM * mm_px) & (px <= x_hi + FIT_MARGIN_MM * mm_px)
    if sel.sum() < 8:
        return py
    x, y = px[sel], py[sel]
    xc = x - x.mean()
    keep = np.ones(x.size, dtype=bool)
    coef = np.zeros(3)
    for _ in range(4):
        coef = np.polyfit(xc[keep], y[keep], 2)
        res = y - np.polyval(coef, xc)
        tol = max(DETOUR_MM * mm_px, 3.0 * 1.4826 * float(np.median(np.abs(res[keep]))))
        keep = np.abs(res) <= tol
        if keep.sum() < 6:
            return py
    out = py.copy()
    out[np.flatnonzero(sel)[~keep]] = np.polyval(coef, xc[~keep])
    return out


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
    py = _robust_border(px, py, x_lo, x_hi, step_px / NORMAL_STEP_MM)
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


def _side_profiles(pix: np.ndarray, base: np.ndarray, normals: np.ndarray,
                   spacing: float) -> dict[str, Any]:
    """Profiles along the normals, smoothed in depth: ``log`` (log grey levels) and
    ``log_s`` (also smoothed along the border), ``lin_s`` (linear, smoothed along the
    border), ``t`` (depths, mm) and ``metal`` (fraction of saturated samples from 1 mm
    outside the border inward).

    Logarithm of the grey level: another device's or viewer's gamma or gain becomes a
    uniform scale or offset of the profiles, which the margin search's robust z-scores and
    the texture ratios do not see; the linear profiles place the margins found."""
    prof, t_mm = _profiles(pix, base, normals, spacing)
    prof = gaussian_filter1d(prof, sigma=max(1.0, DEPTH_SMOOTH_MM / SAMPLE_MM), axis=1)
    sig = TANGENT_SMOOTH_MM / NORMAL_STEP_MM
    lg = np.log(np.maximum(prof, LOG_FLOOR))
    return {"log": lg, "log_s": gaussian_filter1d(lg, sigma=sig, axis=0, mode="nearest"),
            "lin_s": gaussian_filter1d(prof, sigma=sig, axis=0, mode="nearest"), "t": t_mm,
            "metal": float(np.mean(prof[:, t_mm >= -1.0] >= METAL_LEVEL))}


def _drawn(base: np.ndarray, normals: np.ndarray, m: Margins, spacing: float
           ) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Confident normals as image segments (periosteal -> endosteal), about one per mm."""
    out: list[tuple[tuple[float, float], tuple[float, float]]] = []
    every = max(1, int(round(DRAW_EVERY_MM / NORMAL_STEP_MM)))
    for i in np.flatnonzero(m.confident)[::every]:
        p0 = base[i] + normals[i] * (m.peri[i] / spacing)
        p1 = base[i] + normals[i] * (m.endo[i] / spacing)
        out.append(((float(p0[0]), float(p0[1])), (float(p1[0]), float(p1[1]))))
    return out


def _margin_lines(base: np.ndarray, normals: np.ndarray, m: Margins, spacing: float) -> dict[str, Any]:
    """The periosteal margin over the window and the endosteal margin where it is confident
    (runs of confident normals), as image polylines with a point about every mm."""
    every = max(1, int(round(DRAW_EVERY_MM / NORMAL_STEP_MM)))

    def pt(i: int, depth: float) -> list[float]:
        q = base[i] + normals[i] * (depth / spacing)
        return [round(float(q[0]), 1), round(float(q[1]), 1)]

    n = m.peri.size
    idx = sorted(set(range(0, n, every)) | {n - 1})
    runs: list[list[list[float]]] = []
    prev_ok = False
    for i in idx:
        ok = bool(m.confident[i])
        if ok and prev_ok:
            runs[-1].append(pt(i, m.endo[i]))
        elif ok:
            runs.append([pt(i, m.endo[i])])
        prev_ok = ok
    return {"periosteal": [pt(i, m.peri[i]) for i in idx], "endosteal": [r for r in runs if len(r) >= 2]}


def _lacuna_scale(widths: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Widths averaged along the border over the confident normals only (Gaussian sigma
    ``WIDTH_SMOOTH_MM``): semilunar defects (a millimetre and more) stay, the sub-millimetre
    jitter of the margin's localisation goes (it would read as roughness on noisy images)."""
    sig = WIDTH_SMOOTH_MM / NORMAL_STEP_MM
    w = np.where(ok, widths, 0.0)
    num = gaussian_filter1d(w, sig, mode="constant")
    den = gaussian_filter1d(ok.astype(np.float64), sig, mode="constant")
    out: np.ndarray = np.where(den > 1e-6, num / np.maximum(den, 1e-6), widths)
    return out


def _width_stats(widths: np.ndarray) -> tuple[float, float, float, float]:
    """(MCW, IQR, roughness, 10-90 % spread relative to MCW) of the confident widths."""
    # MCW is the width of the intact cortex: lacunar (semilunar) defects only ever thin it
    # locally, so the upper part of the distribution (90th percentile) is the intact width.
    mcw = float(np.percentile(widths, MCW_PERCENTILE))
    q25, q75 = np.percentile(widths, [25, 75])
    rough = float(np.mean(np.maximum(0.0, mcw - widths)) / max(mcw, 1e-6))
    spread = float((np.percentile(widths, 90) - np.percentile(widths, 10)) / max(mcw, 1e-6))
    return mcw, float(q75 - q25), rough, spread


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
    pr = _side_profiles(pix, base, normals, spacing)
    metal, t_mm = pr["metal"], pr["t"]
    if metal >= METAL_FRAC:
        return empty, {"reason": f"metal (implant, plate or restoration) over the cortex: {metal:.0%} of the "
                       "window saturated", "metal_fraction": round(metal, 3)}
    m = find_margins(pr["log_s"], t_mm, NORMAL_STEP_MM, locate=pr["lin_s"])
    if m is None:
        return empty, {"reason": "periosteal margin not found (no rise from soft tissue into bone)"}
    ev: dict[str, Any] = {
        "window_px": [round(x_lo, 1), round(x_hi, 1)],
        "margins_px": _margin_lines(base, normals, m, spacing),
        "n_normals_window": int(m.confident.size),
        "found_fraction": round(float(m.confident.mean()), 3),
        "margin_z_median": round(float(np.median(m.z)), 2),
    }
    ok = m.confident
    if ok.sum() < MIN_CONFIDENT_NORMALS or ok.mean() < MIN_CONFIDENT_FRAC_MCW:
        ev["reason"] = (f"endosteal margin distinct on only {ok.mean():.0%} of the window "
                        f"(needs {MIN_CONFIDENT_FRAC_MCW:.0%}): no width measured")
        return empty, ev
    widths = _lacuna_scale(m.endo - m.peri, ok)[ok]
    mcw, iqr, rough, spread = _width_stats(widths)
    fine_a, _ = aligned_strip(pr["log"], t_mm, m.peri, SAMPLE_MM)
    tex = cortex_texture(fine_a, m.strip, m.depth, m.endo - m.peri, ok, NORMAL_STEP_MM)
    side = CortexSide(mcw_mm=mcw, mcw_iqr_mm=iqr, roughness=rough, porosity=tex.get("porosity"),
                      n_normals=int(ok.sum()), normals=_drawn(base, normals, m, spacing))
    ev.update({"width_median_mm": round(float(np.median(widths)), 3), "width_spread_rel": round(spread, 4),
               **{k: round(float(v), 4) for k, v in tex.items()}})
    if ok.mean() < MIN_CONFIDENT_FRAC_GRADE:
        ev["reason"] = (f"endosteal margin distinct on only {ok.mean():.0%} of the window "
                        f"(grading needs {MIN_CONFIDENT_FRAC_GRADE:.0%})")
    elif "porosity" not in tex:
        ev["reason"] = "no endosteal step to measure porosity and residues against"
    return side, ev



def _abstain(why: str, per_side: dict[str, Any]) -> tuple[None, dict[str, Any]]:
    return None, {"why": why + "; grade it by eye", "abstain_reason": why, "per_side": per_side}


def klemetti_rule(
    sides: list[CortexSide],
    residues: list[float | None] | None = None,
    distinct: list[bool] | None = None,
    reasons: list[str | None] | None = None,
) -> tuple[str | None, dict[str, Any]]:
    """Rule-based Klemetti hint from the worse side's roughness, porosity and residue indices.

    C3 when the cortex is porous or shows heavy endosteal residues (or extreme roughness),
    C2 when the endosteal margin is uneven, else C1. Only sides whose endosteal margin is
    distinct (``distinct``; default all) are graded; with none, no hint is given and the
    evidence says why (``abstain_reason``, from ``reasons`` per side when given).
    """
    n = len(sides)
    res_all = list(residues) if residues is not None else [None] * n
    dist_all = list(distinct) if distinct is not None else [True] * n
    why_all = list(reasons) if reasons is not None else [None] * n
    names = [("right", "left")[i] if n == 2 else str(i) for i in range(n)]
    use = [i for i in range(n) if sides[i].roughness is not None and dist_all[i]]
    per_side = {names[i]: {"roughness": _r4(sides[i].roughness), "porosity": _r4(sides[i].porosity),
                           "residues": _r4(res_all[i]), "graded": i in use,
                           **({"reason": why_all[i]} if why_all[i] and i not in use else {})}
                for i in range(n)}
    if not use:
        if not any(s.roughness is not None for s in sides):
            detail = "; ".join(f"{names[i]}: {why_all[i]}" for i in range(n) if why_all[i])
            return _abstain("no side could be measured" + (f" ({detail})" if detail else ""), per_side)
        detail = "; ".join(f"{names[i]}: {why_all[i]}" for i in range(n) if why_all[i])
        return _abstain("the endosteal margin is not distinct enough on either side to grade"
                        + (f" ({detail})" if detail else ""), per_side)
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
        "sides_graded": [names[i] for i in use],
        "per_side": per_side,
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


def _r4(v: float | None) -> float | None:
    return None if v is None else round(float(v), 4)


def _side_evidence(side: CortexSide, ev: dict[str, Any]) -> dict[str, Any]:
    return {"mcw_mm": None if side.mcw_mm is None else round(side.mcw_mm, 3),
            "roughness": _r4(side.roughness), "porosity": _r4(side.porosity), **ev}


def _shifted(side: CortexSide, ev: dict[str, Any], dx: float, dy: float) -> tuple[CortexSide, dict[str, Any]]:
    """A side measured in the content frame, its drawn geometry moved back to the image."""
    if dx == 0 and dy == 0:
        return side, ev

    def mv(p: Any) -> list[float]:
        return [round(float(p[0]) + dx, 1), round(float(p[1]) + dy, 1)]

    side.normals = [((a[0] + dx, a[1] + dy), (b[0] + dx, b[1] + dy)) for a, b in side.normals]
    if "window_px" in ev:
        ev["window_px"] = [round(ev["window_px"][0] + dx, 1), round(ev["window_px"][1] + dx, 1)]
    lines = ev.get("margins_px")
    if lines:
        ev["margins_px"] = {"periosteal": [mv(p) for p in lines["periosteal"]],
                            "endosteal": [[mv(p) for p in run] for run in lines["endosteal"]]}
    return side, ev


def measure_cortex(rad: Radiograph, proposal: RoiProposal, spacing: Spacing) -> CortexMeasurement:
    """Measure the inferior cortex per side below the mental-foramen region.

    ``spacing`` is required (resolved once, with its provenance, by
    ``core.screening.spacing.resolve_spacing``); this function holds no default of its own.
    """
    mm = float(spacing.mm_per_px)
    # measured in the content frame (black margins cut off), so a padded copy reads the same
    sub, dx, dy = crop_to_content(rad)
    pix = np.ascontiguousarray(sub.pixels, dtype=np.float32)
    right_pts, left_pts, mid = _side_points(shift_proposal(proposal, -dx, -dy))
    w = pix.shape[1]
    right, ev_r = _shifted(*_measure_side(pix, right_pts, mid, w, -1, mm), dx, dy)
    left, ev_l = _shifted(*_measure_side(pix, left_pts, mid, w, +1, mm), dx, dy)
    # grade a side only when its endosteal margin is distinct over most of the window and
    # the texture indices could be measured against the margin's step
    distinct = [s.roughness is not None and "reason" not in ev for s, ev in ((right, ev_r), (left, ev_l))]
    cls, ev = klemetti_rule([right, left], [ev_r.get("residues"), ev_l.get("residues")], distinct,
                            [ev_r.get("reason"), ev_l.get("reason")])
    evidence: dict[str, Any] = {
        "rule": ev,
        "right": _side_evidence(right, ev_r),
        "left": _side_evidence(left, ev_l),
        "pixel_spacing_mm": mm,
        "assumed_spacing": spacing.assumed,
    }
    return CortexMeasurement(right=right, left=left, klemetti_rule=cls, evidence=evidence, spacing=spacing)
