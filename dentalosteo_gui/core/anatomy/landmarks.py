"""Eight trabecular landmarks (condyle, gonial angle, premolar region, maxillary tuberosity per
side) placed on the traced anatomy, and the 10 mm (100 x 100 px) patches around them: the one
patch extractor of the product (the landmark model's input and the GUI's preview).

- Gonial angle: the posterior border of the ramus is traced per row (the strongest outward
  edge, dynamic programming for a smooth path) and a line is fitted to it; a second line is
  fitted to the posterior part of the traced inferior border. The landmark is the point of the
  mandible nearest to their intersection, moved a little into the bone along the bisector
  (the angle's trabecular bone, not the air next to it).
- Condyle: on the ramus line, 58 % of the content frame's height above the gonial angle
  (the ramus height of an adult on a standard panoramic frame), moved inward by the
  condyle's radius, kept inside the content frame.
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
from .dentition import OcclusalSide, last_upper_crown, occlusal_sides
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
    xp = mid + sign * PREMOLAR_DX * w
    pm = (xp, border_y(xp) - PREMOLAR_DY * h)
    tub = _tuberosity(occ, mid, sign, w, h, border_y)
    return {"condyle": con, "gonial_angle": gon, "premolar": pm, "maxillary_tuberosity": tub}


def propose_landmarks(rad: Radiograph, proposal: RoiProposal | None = None) -> dict[str, tuple[float, float]]:
    """Place the eight LANDMARK_NAMES on the anatomy (original pixels, patient's sides).

    Proportions are of the content frame (black margins left out, ``frame.content_bounds``),
    so padding the radiograph does not move the landmarks on the anatomy."""
    if proposal is None:
        proposal = propose_roi(rad)
    sub, dx, dy = crop_to_content(rad)
    got = _landmarks_in_frame(sub, shift_proposal(proposal, -dx, -dy))
    h, w = rad.pixels.shape
    return {k: (float(np.clip(x + dx, 0, w - 1)), float(np.clip(y + dy, 0, h - 1))) for k, (x, y) in got.items()}


def _landmarks_in_frame(rad: Radiograph, proposal: RoiProposal) -> dict[str, tuple[float, float]]:
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
    occ = occlusal_sides(rad.pixels, bx, by, mid)
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
