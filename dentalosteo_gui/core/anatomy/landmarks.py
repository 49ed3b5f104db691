"""Eight trabecular landmarks (condyle, gonial angle, premolar region, maxillary tuberosity per
side) placed on the traced anatomy, and the 10 mm (100 x 100 px) patches around them: the one
patch extractor of the product (the landmark model's input and the GUI's preview).

- Gonial angle: the posterior border of the ramus is traced per row (the strongest outward
  edge, dynamic programming for a smooth path) and a line is fitted to it; a second line is
  fitted to the posterior part of the traced inferior border. The landmark is the point of the
  mandible nearest to their intersection, moved a little into the bone along the bisector
  (the angle's trabecular bone, not the air next to it).
- Condyle: the rule point is on the ramus line, 58 % of the content frame's height above the
  gonial angle (the ramus height of an adult on a standard panoramic frame), moved inward by
  the condyle's radius, kept inside the content frame. The condylar head's rounded outline is
  then fitted near it (``_condyle_head``: an upper half-ellipse of plausible size, bright inside,
  darker just outside along the top, i.e. the joint space); its centre replaces the rule point
  only when the fit is strong, is a local optimum of the search window and the head is joined
  to the condylar process below without a dark gap (else the arc sits on the glenoid fossa or
  the articular eminence above the joint space). Otherwise the rule point stays. Phantoms
  (seeds 0-39): median error 3.0-5.6 mm -> 0.4-1.3 mm; on the 29 abdi_dev radiographs the fit
  is accepted on 5 of 58 sides, so there the rule point mostly stays.
- Premolar region: above the traced border at the second premolar's usual distance from
  the midline (14 % of the image width), 16 % of the image height above the border
  (trabecular bone below the apices).
- Maxillary tuberosity: the rounded distal end of the upper alveolar process, just behind
  the last upper crown (``dentition``: the occlusal gap between the arches is traced above
  the border and the upper crowns along it are followed outward), 2 % of the width (about
  half a molar) behind its distal surface and never in front of 25.5 % of the width (the
  tuberosity stays behind the second molar's place when molars are lost); at the level of
  the upper alveolar crest, above the occlusal plane by 0.23 x the occlusal plane's height
  above the inferior border (about one crown height). Without a row of crowns (edentulous,
  teeth in tight occlusion): 27.5 % of the width from the midline, 47 % of the height above
  the border.

All points are clipped into the image. Left/right are the patient's sides.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence

import cv2
import numpy as np

from ..imaging.sampling import as_gray, crop_padded, resize_area, spacing_or_default
from ..types import LANDMARK_NAMES, Radiograph, RoiProposal
from .dentition import DentitionWork, OcclusalSide, last_upper_crown, occlusal_sides
from .frame import crop_to_content, shift_proposal
from .roi import border_arrays, dp_path, propose_roi

log = logging.getLogger(__name__)

PREMOLAR_DX, PREMOLAR_DY = 0.14, 0.16
TUBER_DX, TUBER_DY = 0.275, 0.47  # without a row of upper crowns
TUBER_BEHIND = 0.02  # behind the last upper crown's distal surface, fraction of the width
TUBER_MIN_DX = 0.255  # never in front of the second molar's place, fraction of the width
TUBER_UP = 0.23  # above the occlusal plane, fraction of the plane's height above the border
CONDYLE_DY = 0.58  # condyle above the gonial angle, fraction of the content frame's height
CONDYLE_TOP = 0.04  # never above this fraction of the content frame's height
CONDYLE_INSET = 0.02
GONIAL_INSET = 0.03
# Condylar head fit (``_condyle_head``); lengths are fractions of the content frame's width w or
# height h. Developed on phantom seeds 500-539 (both styles) and checked on the abdi_dev images.
HEAD_SCALE_PX = 800.0  # the fit runs on a copy about this wide (a head radius is then ~15 px)
HEAD_BLUR = 1.5  # Gaussian sigma on that copy: trabecular texture off, the joint space kept
HEAD_WINDOW = (0.02, 0.10, 0.2)  # the fit's image: outward / inward of the ramus line (w), down
# to this far below the rule point (h); its gradient and intensity ranges normalise the scores
HEAD_MIN_EDGE = 0.02  # gradient scale floor (of the frame's 5-95 % range per small px)
HEAD_MIN_RANGE = 0.25  # intensity scale floor (of the frame's 5-95 % range)
HEAD_OUT, HEAD_IN = 0.012, 0.034  # centre search: this far outward / inward of the ramus line (w);
# the head centre lies 0-0.03 w inward of the posterior border's line, the eminence further in
HEAD_UP, HEAD_DOWN = 0.12, 0.06  # centre search above / below the rule point (h): the rule's
# error is mostly vertical; far below it lies the condylar neck, which mimics a head's sides
HEAD_RX = (0.016, 0.020, 0.024, 0.028, 0.032)  # half-widths of the head (w): ~5-10 mm on a ~3000 px frame
HEAD_ASPECT = (0.65, 0.85, 1.05, 1.3)  # half-height / half-width (px) on a panoramic
HEAD_ARC_DEG = (-20.0, 200.0)  # the upper outline (0 deg: posterior); the neck below is open
HEAD_ARC_N = 25
HEAD_TOP_DEG = (50.0, 130.0)  # the top sector; the sectors either side are the head's flanks
HEAD_RING_IN, HEAD_RING_OUT = 0.6, 1.35  # inside vs just outside the top (x radius): joint space
HEAD_RING_DEG = (55.0, 125.0)  # only over the top: wider, the ring leaves a headless ramus's flanks
HEAD_CONTRAST_CAP = 0.3  # the contrast term's most (of the 5-95 % intensity range)
HEAD_MIN_SCORE = 0.7  # weaker outlines fall back to the rule (nearly all phantom heads score more;
# on the abdi_dev radiographs most fits score less and so keep the rule)
HEAD_MIN_CONTRAST = 0.2  # the head brighter than the joint space above it (of the intensity scale)
HEAD_PATH_DOWN = 0.1  # the head must join the process over this height (h) below its centre...
HEAD_MAX_VALLEY = 0.4  # ...without a dark gap deeper than this (of the intensity scale; phantom
# heads stay below it, an arc fitted to the fossa above the joint space does not)
RAMUS_REACH = 0.08  # the posterior ramus border is searched this fraction of the width around
# the gonial guess (the ramus is about 0.1 of the width wide; its posterior border is near the angle)


def _fit_line(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float] | None:
    """Robust x = a*y + b (for the ramus) or y = a*x + b; returns (a, b)."""
    if xs.size < 5:
        return None
    keep = np.ones(xs.size, dtype=bool)
    a = b = 0.0
    for _ in range(3):
        a, b = np.polyfit(xs[keep], ys[keep], 1)
        res = np.abs(ys - (a * xs + b))
        mad = np.median(res[keep]) + 1e-6
        keep = res < 3.0 * 1.4826 * mad
        if keep.sum() < 5:
            break
    return float(a), float(b)


def _ramus_edge(pix: np.ndarray, sign: int, y_top: float, y_bot: float, x_gon_guess: float) -> tuple[np.ndarray, np.ndarray]:
    """Trace the posterior border of the ramus (x per row) on a downscaled copy."""
    h, w = pix.shape
    scale = max(1.0, w / 640.0)
    small = cv2.resize(pix, (int(round(w / scale)), int(round(h / scale))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.5)
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    # image-left side: bone (bright) is to the right of the posterior border -> gx > 0
    edge = np.maximum(0.0, gx if sign < 0 else -gx)
    sh, sw = small.shape
    r0, r1 = int(max(0, y_top / scale)), int(min(sh - 1, y_bot / scale))
    # the posterior border lies within RAMUS_REACH of the width either side of the gonial
    # guess (not out to the frame's edge: a wider field of view shows the cervical spine there)
    c0 = int(max(0, (x_gon_guess - RAMUS_REACH * w) / scale))
    c1 = int(min(sw, (x_gon_guess + RAMUS_REACH * w) / scale))
    if r1 - r0 < 5 or c1 - c0 < 5:
        return np.zeros(0), np.zeros(0)
    sub = edge[r0:r1, c0:c1]
    ref = float(np.percentile(sub, 99)) or 1.0
    cost = -np.clip(sub / ref, 0, 1).T  # (cols, rows): path over rows
    path = dp_path(cost, max_step=2, smooth=0.05)
    ys = (np.arange(r0, r1) + 0.5) * scale
    xs = (path + c0 + 0.5) * scale
    strength = sub[np.arange(r1 - r0), path]
    good = strength > 0.15 * ref
    return xs[good], ys[good]


def _border_turn(bx: np.ndarray, by: np.ndarray, mid: float, sign: int, w: int) -> float:
    """x where the traced inferior border turns up into the ramus (slope beyond 45 degrees,
    going outward), searched 30-50 % of the width from the midline; where the trace stops
    there (``roi`` stops it at the gonial angle), its end; else 41 % (typical)."""
    default = mid + sign * 0.41 * w
    if bx.size < 10:
        return default
    dx = 0.02 * w
    for frac in np.arange(0.30, 0.50, 0.005):
        x0 = mid + sign * frac * w
        x1 = x0 + sign * dx
        if not (bx[0] <= min(x0, x1) and max(x0, x1) <= bx[-1]):
            end = float(bx[0] if sign < 0 else bx[-1])
            return end if abs(end - mid) >= 0.30 * w else default
        rise = float(np.interp(x0, bx, by) - np.interp(x1, bx, by))  # > 0: border goes up
        if rise > dx:
            return float(x0)
    return default


def _gonial_angle(rad: Radiograph, bx: np.ndarray, by: np.ndarray, mid: float,
                  sign: int) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """The gonial angle of one side and the posterior ramus line (x = a*y + b) or None."""
    h, w = rad.pixels.shape
    # posterior body line from the traced border, 25-36 % of the width from the midline
    xa, xb = sorted((mid + sign * 0.25 * w, mid + sign * 0.36 * w))
    sel = (bx >= xa) & (bx <= xb)
    body = _fit_line(bx[sel], by[sel]) if sel.sum() >= 5 else None
    x_gon_guess = _border_turn(bx, by, mid, sign, w)
    y_body_end = float(np.interp(x_gon_guess, bx, by))
    rx, ry = _ramus_edge(rad.pixels, sign, 0.3 * h, y_body_end - 0.06 * h, x_gon_guess)
    ramus = _fit_line(ry, rx) if rx.size >= 10 else None  # x = a*y + b
    if body is None or ramus is None:
        return (x_gon_guess - sign * GONIAL_INSET * 0.5 * h, y_body_end - GONIAL_INSET * h), None
    a_b, b_b = body  # y = a_b x + b_b
    a_r, b_r = ramus  # x = a_r y + b_r
    den = 1.0 - a_b * a_r
    if abs(den) > 1e-6:
        y_i = (a_b * b_r + b_b) / den
        x_i = a_r * y_i + b_r
    else:
        x_i, y_i = x_gon_guess, y_body_end
    # sanity: the intersection must lie near the expected corner
    if not (abs(x_i - x_gon_guess) < 0.08 * w and abs(y_i - y_body_end) < 0.15 * h):
        x_i, y_i = x_gon_guess, y_body_end
    # move into the bone along the bisector (up and toward the midline)
    return (x_i - sign * GONIAL_INSET * 0.5 * h, y_i - GONIAL_INSET * h), ramus


def _condyle(gon: tuple[float, float], ramus: tuple[float, float] | None, sign: int,
             ramus_h: float, h: int, w: int) -> tuple[float, float]:
    """On the posterior ramus line, ``ramus_h`` above the gonial angle, moved inward by the
    condyle's radius; kept inside the content frame (a frame that cuts the condyle gives
    the highest point of the ramus in it)."""
    y_con = max(CONDYLE_TOP * h, gon[1] - ramus_h)
    x_post = gon[0]
    if ramus is not None:
        x_r = ramus[0] * y_con + ramus[1]
        if abs(x_r - gon[0]) <= 0.08 * w:
            x_post = x_r
    return (x_post - sign * CONDYLE_INSET * w, y_con)


def _head_outline_score(sm: np.ndarray, grad: tuple[np.ndarray, np.ndarray], cxs: np.ndarray,
                        cys: np.ndarray, radii: tuple[float, float], sign: int,
                        refs: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Score and top contrast of an upper half-ellipse outline (radii ``(rx, ry)``) centred at
    every (cys x cxs) small-image position: (score, contrast), each of shape (cys, cxs)."""
    sh, sw = sm.shape
    gx, gy = grad
    g_ref, i_ref = refs
    rx, ry = radii
    deg = np.linspace(HEAD_ARC_DEG[0], HEAD_ARC_DEG[1], HEAD_ARC_N)
    cos_t, sin_t = -sign * np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))
    ox, oy = rx * cos_t, -ry * sin_t
    nx, ny = cos_t / rx, -sin_t / ry
    nn = np.hypot(nx, ny)
    ix = np.rint(cxs[None, :, None] + ox).astype(int)
    iy = np.rint(cys[:, None, None] + oy).astype(int)
    inside = (ix >= 0) & (ix < sw) & (iy >= 0) & (iy < sh)
    ixc, iyc = np.clip(ix, 0, sw - 1), np.clip(iy, 0, sh - 1)
    # outward edge: bright inside the outline, darker outside
    edge = np.clip(-(gx[iyc, ixc] * nx + gy[iyc, ixc] * ny) / nn / g_ref, -1.0, 1.0)
    edge = np.where(inside, edge, 0.0)
    means, cover = [], []
    for m in (deg <= HEAD_TOP_DEG[0], (deg > HEAD_TOP_DEG[0]) & (deg < HEAD_TOP_DEG[1]), deg >= HEAD_TOP_DEG[1]):
        n_in = inside[..., m].sum(-1)
        means.append(np.where(n_in > 0, edge[..., m].sum(-1) / np.maximum(n_in, 1), -1.0))
        cover.append(n_in / m.sum())
    e_post, e_top, e_ant = means
    ring = (deg > HEAD_RING_DEG[0]) & (deg < HEAD_RING_DEG[1])
    rings = []
    for f in (HEAD_RING_IN, HEAD_RING_OUT):
        qx = np.clip(np.rint(cxs[None, :, None] + f * ox[ring]).astype(int), 0, sw - 1)
        qy = np.rint(cys[:, None, None] + f * oy[ring]).astype(int)
        ok = (qy >= 0) & (qy < sh)
        v = sm[np.clip(qy, 0, sh - 1), qx]
        rings.append(((v * ok).sum(-1) / np.maximum(ok.sum(-1), 1), ok.mean(-1)))
    (v_in, _), (v_out, f_out) = rings
    contrast = np.where(f_out > 0.5, (v_in - v_out) / i_ref, 0.0)
    # all three sectors alike (a straight line or one border alone does not make a head)
    score = (e_top + e_post + e_ant) / 3.0 - 0.5 * np.abs(e_post - e_ant)
    score = score + np.minimum(contrast, HEAD_CONTRAST_CAP)
    valid = (contrast > 0) & (inside.sum(-1) >= 0.5 * deg.size) & (cover[0] > 0.5) & (cover[2] > 0.5)
    return np.where(valid, score, -np.inf), contrast


def _condyle_head(pix: np.ndarray, rule: tuple[float, float], sign: int) -> tuple[float, float] | None:
    """Centre of the condylar head fitted near the rule point ``rule``, or None when the evidence
    is weak (see the module doc). ``pix``: the content frame, row-major, any intensity scale."""
    h, w = pix.shape
    x_line = rule[0] + sign * CONDYLE_INSET * w  # the posterior ramus line at the rule's height
    xa, xb = sorted((x_line + sign * HEAD_OUT * w, x_line - sign * HEAD_IN * w))
    wa, wb = sorted((x_line + sign * HEAD_WINDOW[0] * w, x_line - sign * HEAD_WINDOW[1] * w))
    x0, x1 = int(max(0.0, wa)), int(min(float(w), wb))
    y1 = int(min(float(h), rule[1] + HEAD_WINDOW[2] * h))
    if x1 - x0 < 16 or y1 < 16:
        return None
    s = max(1.0, w / HEAD_SCALE_PX)
    sub = np.asarray(pix[:y1, x0:x1], dtype=np.float32)
    sm = cv2.resize(sub, (max(1, round(sub.shape[1] / s)), max(1, round(sub.shape[0] / s))),
                    interpolation=cv2.INTER_AREA)
    sm = cv2.GaussianBlur(sm, (0, 0), HEAD_BLUR)
    sh, sw = sm.shape
    sx, sy = sub.shape[1] / sw, sub.shape[0] / sh  # full px per small px
    gx = cv2.Sobel(sm, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(sm, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    # scores are relative to the window's own gradients and intensities, but never to less than
    # a share of the whole frame's intensity range (noise alone must not make a head)
    f_lo, f_hi = np.percentile(pix[::4, ::4], [5, 95])
    f_range = float(f_hi - f_lo) + 1e-6
    g_ref = max(float(np.percentile(np.hypot(gx, gy), 95)), HEAD_MIN_EDGE * f_range)
    lo, hi = np.percentile(sm, [5, 95])
    i_ref = max(float(hi - lo), HEAD_MIN_RANGE * f_range)

    def small_x(x: float) -> float:
        return (x - x0) / sx - 0.5

    def small_y(y: float) -> float:
        return y / sy - 0.5

    cxs = np.arange(small_x(xa), small_x(xb), 1.0)
    cys = np.arange(max(0.0, small_y(rule[1] - HEAD_UP * h)), small_y(rule[1] + HEAD_DOWN * h), 1.0)
    if cxs.size < 3 or cys.size < 3:
        return None
    best = -np.inf
    best_at = (0.0, 0.0, 0.0)
    for rxf in HEAD_RX:
        for aspect in HEAD_ASPECT:
            rx = rxf * w / sx
            score, contrast = _head_outline_score(sm, (gx, gy), cxs, cys, (rx, rx * aspect * sx / sy),
                                                  sign, (g_ref, i_ref))
            iy_b, ix_b = np.unravel_index(int(np.argmax(score)), score.shape)
            if score[iy_b, ix_b] > best:
                best = float(score[iy_b, ix_b])
                best_at = (float(cxs[ix_b]), float(cys[iy_b]), float(contrast[iy_b, ix_b]))
    cx, cy, contrast_b = best_at
    if best < HEAD_MIN_SCORE or contrast_b < HEAD_MIN_CONTRAST:
        return None
    # a best centre on the search window's border is no optimum (the image's top edge is no border)
    if cy >= cys[-1] - 1.5 or (cy <= cys[0] + 1.5 and cys[0] > 0.5) or not cxs[0] + 1.5 < cx < cxs[-1] - 1.5:
        return None
    # from the centre down to the process (the rule point's column): no dark gap (joint space)
    t = np.linspace(0.0, 1.0, 40)
    py = cy + t * HEAD_PATH_DOWN * h / sy
    px = cx + t * (small_x(rule[0]) - cx)
    keep = py < sh
    prof = sm[np.clip(np.rint(py[keep]).astype(int), 0, sh - 1), np.clip(np.rint(px[keep]).astype(int), 0, sw - 1)]
    if prof.size > 3:
        valley = np.minimum(np.maximum.accumulate(prof), np.maximum.accumulate(prof[::-1])[::-1]) - prof
        if float(valley.max()) / i_ref > HEAD_MAX_VALLEY:
            return None
    return (x0 + (cx + 0.5) * sx, (cy + 0.5) * sy)


def _tuberosity(occ: OcclusalSide | None, mid: float, sign: int, w: int, h: int,
                border_y: Callable[[float], float]) -> tuple[float, float]:
    """Just behind the last upper crown, at the upper alveolar crest (see the module doc)."""
    last = last_upper_crown(occ, w, mid) if occ is not None else None
    line = occ.line if occ is not None else None
    if last is None or line is None:
        xt = mid + sign * TUBER_DX * w
        return (xt, border_y(xt) - TUBER_DY * h)
    xt = mid + sign * max(last + TUBER_BEHIND, TUBER_MIN_DX) * w
    y_occ = line[0] * xt + line[1]
    return (xt, y_occ - TUBER_UP * (border_y(xt) - y_occ))


def _side_landmarks(rad: Radiograph, bx: np.ndarray, by: np.ndarray, mid: float, sign: int,
                    gon: tuple[float, float], ramus: tuple[float, float] | None,
                    ramus_h: float, occ: OcclusalSide | None) -> dict[str, tuple[float, float]]:
    h, w = rad.pixels.shape

    def border_y(x: float) -> float:
        return float(np.interp(x, bx, by))

    con = _condyle(gon, ramus, sign, ramus_h, h, w)
    con = _condyle_head(rad.pixels, con, sign) or con
    xp = mid + sign * PREMOLAR_DX * w
    pm = (xp, border_y(xp) - PREMOLAR_DY * h)
    tub = _tuberosity(occ, mid, sign, w, h, border_y)
    return {"condyle": con, "gonial_angle": gon, "premolar": pm, "maxillary_tuberosity": tub}


def propose_landmarks(rad: Radiograph, proposal: RoiProposal | None = None,
                      work: DentitionWork | None = None) -> dict[str, tuple[float, float]]:
    """Place the eight LANDMARK_NAMES on the anatomy (original pixels, patient's sides).

    Proportions are of the content frame (black margins left out, ``frame.content_bounds``),
    so padding the radiograph does not move the landmarks on the anatomy. ``work``: the
    dentition working copies the quality check made for ``rad.pixels`` (used when the content
    frame is the whole image, i.e. the same pixels)."""
    if proposal is None:
        proposal = propose_roi(rad)
    sub, dx, dy = crop_to_content(rad)
    got = _landmarks_in_frame(sub, shift_proposal(proposal, -dx, -dy), work)
    h, w = rad.pixels.shape
    return {k: (float(np.clip(x + dx, 0, w - 1)), float(np.clip(y + dy, 0, h - 1))) for k, (x, y) in got.items()}


def _landmarks_in_frame(rad: Radiograph, proposal: RoiProposal,
                        work: DentitionWork | None = None) -> dict[str, tuple[float, float]]:
    h, w = rad.pixels.shape
    bx, by = border_arrays(proposal)
    if proposal.border_right and proposal.border_left:
        mid = 0.5 * (max(p[0] for p in proposal.border_right) + min(p[0] for p in proposal.border_left))
    else:
        mid = proposal.box.x + proposal.box.w / 2.0
    if bx.size < 10:  # nothing traced: fall back to the box bottom as the border
        bx = np.array([0.0, float(w - 1)])
        by = np.array([float(proposal.box.y + proposal.box.h)] * 2)
    out: dict[str, tuple[float, float]] = {}
    gonials = {side: _gonial_angle(rad, bx, by, mid, sign) for side, sign in (("right", -1), ("left", +1))}
    ramus_h = CONDYLE_DY * h
    occ = occlusal_sides(rad.pixels, bx, by, mid, work)
    for side, sign in (("right", -1), ("left", +1)):
        gon, ramus = gonials[side]
        occ_side = occ[side] if occ is not None else None
        for k, (x, y) in _side_landmarks(rad, bx, by, mid, sign, gon, ramus, ramus_h, occ_side).items():
            out[f"{side}_{k}"] = (float(np.clip(x, 0, w - 1)), float(np.clip(y, 0, h - 1)))
    return {name: out[name] for name in LANDMARK_NAMES}


def landmark_patch_px(pixel_spacing_mm: float | None, patch_mm: float) -> float:
    """Side of a landmark patch in image pixels (unknown spacing: 0.1 mm/px), at least 4."""
    return max(4.0, patch_mm / spacing_or_default(pixel_spacing_mm))


def extract_patches(
    pixels: np.ndarray,
    landmarks: Mapping[str, Sequence[float]],
    pixel_spacing_mm: float | None,
    out_size: int = 64,
    patch_mm: float = 10.0,
) -> np.ndarray:
    """The eight landmark patches, exactly as the landmark model sees them before normalising.

    A square of ``patch_mm`` (10 mm = 100 x 100 px at the published ~0.1 mm/px scale; unknown
    spacing assumes 0.1 mm/px) centred on each landmark, in LANDMARK_NAMES order; parts
    outside the image repeat the edge pixels; resized to ``out_size`` (INTER_AREA when
    shrinking). Returns float32 (8, out_size, out_size) in the image's intensity units.
    Raises KeyError for a missing landmark and ValueError for a non-finite one.
    ``core.model_input.landmarks`` builds the model input from these.
    """
    img = as_gray(pixels)
    side = landmark_patch_px(pixel_spacing_mm, patch_mm)
    n = int(round(side))
    out = np.empty((len(LANDMARK_NAMES), out_size, out_size), dtype=np.float32)
    for i, name in enumerate(LANDMARK_NAMES):
        if name not in landmarks:
            raise KeyError(f"landmark {name!r} missing")
        cx, cy = float(landmarks[name][0]), float(landmarks[name][1])
        if not (math.isfinite(cx) and math.isfinite(cy)):
            raise ValueError(f"landmark {name!r} is not a finite point")
        x0 = int(round(cx - side / 2.0))
        y0 = int(round(cy - side / 2.0))
        out[i] = resize_area(crop_padded(img, x0, y0, x0 + n, y0 + n), out_size, out_size)
    return out
