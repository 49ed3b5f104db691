"""ROI proposal: the inferior mandibular border per side and the published 700 x 140 box.

The border is traced by ``trace.trace_border`` (no learned weights, so it transfers to
radiographs we never saw). Here:

1. Everything is done on the content frame (``frame.crop_to_content``): a black margin
   added around a radiograph moves nothing relative to the anatomy.
2. The trace stops at each gonial angle (where the border turns up into the ramus, or the
   path loses its edge behind the molars; no ramus is kept): a wider field of view
   (cervical spine at both edges) does not pull it off the mandible.
3. The box is the published 700 x 140 box on the image resized to 1200 x 630, centred on
   the midline and placed so the traced border in its columns lies inside it; it is never
   wider than ``BOX_SPAN_MAX`` of the traced border's span (gonial angle to gonial angle).

Everything is returned in original-image pixels.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..errors import AnatomyError
from ..types import Polyline, Radiograph, RoiBox, RoiProposal
from .frame import crop_to_content, shift_box, shift_proposal
from .trace import BorderTrace, dp_path, trace_border

__all__ = ["propose_roi", "border_from_box", "border_for_box", "border_arrays", "box_size",
           "trace_border", "dp_path", "BorderTrace"]

log = logging.getLogger(__name__)

# The published pipeline (METHODS.md section 1): resize to 1200 x 630, crop 700 x 140.
REF_W, REF_H = 1200, 630
BOX_W_REF, BOX_H_REF = 700, 140

POLY_STEP = 4  # original-pixel spacing of the returned polyline points
GONIAL_FROM = 0.2  # the turn into the ramus is searched beyond this fraction of the width
GONIAL_SLOPE = 1.0  # the border rises faster than 45 degrees going outward: the angle
GONIAL_SMOOTH = 0.005  # Gaussian sigma (fraction of the width) of the border for that slope
FLAT_RUN = 0.05  # ... or when it has not risen over this fraction of the width (left sideways)
FLAT_RISE = 0.0  # "not risen": mean outward rise per column over that run at most this
RAMUS_STUB = 0.0  # fraction of the width kept past the turn: none (the ramus is not the inferior
# border, and one y per column cannot represent a border steeper than 45 degrees)
WEAK_EDGE = 0.05  # mean path edge strength below this is "no edge at all" (a twentieth of a clear edge)
WEAK_RUN = 0.01  # ... over this fraction of the width: the path has left the cortex
WEAK_FROM = 0.3  # ... looked for behind the molars only (gonial angles lie at 35-45 % of the
# width from the midline; a faint stretch of the body must not end the border)
BOX_SPAN_MAX = 0.8  # the box is at most this fraction of the traced border's span
MEASURE_WINDOW = (0.13, 0.20)  # the cortex is measured this far (fraction of the content width)
# either side of the midline (premolar to first molar: cortex, quality and here read it)
BOTTOM_MARGIN = 0.006  # a border this close (fraction of the height) to the bottom edge touches it
TURN_PEAK = 0.5  # a path whose outward rise reached this (about 27 degrees) ...
TURN_BACK = 0.5  # ... and then fell below this fraction of it, never to reach it again, has
# lost the angle: past the antegonial notch the real border only steepens into the ramus, so
# a path that flattens out for good runs on along soft tissue or a detector step


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


# --------------------------------------------------------------------------- box + proposal


def box_size(width: int, height: int) -> tuple[int, int]:
    """The published 700 x 140 box (on a 1200 x 630 image) in this image's pixels."""
    return int(round(BOX_W_REF / REF_W * width)), int(round(BOX_H_REF / REF_H * height))


def _first_run(values: np.ndarray, ok: np.ndarray, run: int, below: float) -> int | None:
    """First index where ``ok`` holds and the mean of ``values`` over the next ``run``
    entries is at most ``below``; None if there is none."""
    if values.size < run:
        return None
    mean = np.convolve(values, np.ones(run) / run, mode="valid")
    hit = np.flatnonzero(ok[: mean.size] & (mean <= below))
    return int(hit[0]) if hit.size else None


def _turned_back(rise: np.ndarray, beyond: np.ndarray) -> int | None:
    """First index (columns sorted outward) where the border, having risen by at least
    ``TURN_PEAK`` per column beyond the body, falls below ``TURN_BACK`` of that peak and
    never reaches the peak again; None if it does not. An antegonial notch dips and then
    rises steeper than before, so it is not a turn back."""
    idx = np.flatnonzero(beyond)
    if idx.size < 3:
        return None
    r = rise[idx]
    peak = np.maximum.accumulate(r)
    later_max = np.maximum.accumulate(r[::-1])[::-1]  # the highest rise from here outward
    low = (peak >= TURN_PEAK) & (r < TURN_BACK * peak)
    # never reached again: nothing after this column rises as much as the peak before it
    after = np.append(later_max[1:], -np.inf)
    hit = np.flatnonzero(low & (after < peak))
    return int(idx[hit[0]]) if hit.size else None


def _outward_end(out: np.ndarray, rise: np.ndarray, width: int,
                 strength: np.ndarray | None = None) -> int | None:
    """Index (into columns sorted outward) where one side of the border ends, whichever of
    these comes first:

    - the first column beyond ``GONIAL_FROM`` of the width where it turns up faster than
      ``GONIAL_SLOPE`` (the ramus); without such a turn, where it does not rise on average
      over ``FLAT_RUN`` of the width (it left the mandible sideways, e.g. along a vertebra
      of a wide field of view; with a turn, a flat stretch before it is the antegonial notch);
    - where it turns back (``_turned_back``): it rose, then flattened out for good;
    - beyond ``WEAK_FROM``, where a run of ``WEAK_RUN`` of the width has no bone edge under
      it (mean ``strength`` below ``WEAK_EDGE``: the path left the cortex for soft tissue or
      the airway).
    """
    beyond = out > GONIAL_FROM * width
    ends = []
    steep = np.flatnonzero(beyond & (rise > GONIAL_SLOPE))
    if steep.size:
        ends.append(int(steep[0]))
    else:
        flat = _first_run(rise, beyond, max(2, int(round(FLAT_RUN * width))), FLAT_RISE)
        if flat is not None:
            ends.append(flat)
    back = _turned_back(rise, beyond)
    if back is not None:
        ends.append(back)
    if strength is not None:
        weak = _first_run(strength, out > WEAK_FROM * width, max(2, int(round(WEAK_RUN * width))),
                          WEAK_EDGE)
        if weak is not None:
            ends.append(weak)
    return min(ends) if ends else None


def _stop_at_gonial_angles(trace: BorderTrace, width: int) -> BorderTrace:
    """The trace cut at each gonial angle: going outward from the midline, where the border
    turns up into the ramus, stops rising or loses its edge (``_outward_end``)."""
    xs = np.arange(trace.x0, trace.x1)
    if xs.size < 10:
        return trace
    slope = np.gradient(gaussian_filter1d(trace.y, max(1.0, GONIAL_SMOOTH * width), mode="nearest"))
    lo, hi = trace.x0, trace.x1
    for sign in (-1, 1):
        order = np.flatnonzero((xs - trace.midline_x) * sign > 0)[:: sign]  # outward
        if order.size < 10:
            continue
        k = _outward_end((xs[order] - trace.midline_x) * sign, -sign * slope[order], width,
                         trace.strength[order])
        if k is None:
            continue
        cut = int(round(xs[order[k]] + sign * RAMUS_STUB * width))
        lo, hi = (max(lo, cut), hi) if sign < 0 else (lo, min(hi, cut + 1))
    if hi - lo < 10 or (lo, hi) == (trace.x0, trace.x1):
        return trace
    i0, i1 = lo - trace.x0, hi - trace.x0
    return BorderTrace(x0=lo, x1=hi, y=trace.y[i0:i1], strength=trace.strength[i0:i1],
                       midline_x=trace.midline_x)


def _place_box(trace: BorderTrace, width: int, height: int) -> RoiBox:
    bw, bh = box_size(width, height)
    cap = BOX_SPAN_MAX * (trace.x1 - trace.x0)
    if bw > cap > 0:  # a wide field of view: the box follows the mandible, not the frame
        f = cap / bw
        bw, bh = int(round(bw * f)), max(1, int(round(bh * f)))
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
    # Touching the bottom edge: in a measurement window the cortex there cannot be read (cut
    # off); only at the chin, the reading holds and the dentist is told where it touches.
    bottom = ys > height - 1 - BOTTOM_MARGIN * height
    dist = np.abs(cols - trace.midline_x) / max(1, width)
    in_win = (dist >= MEASURE_WINDOW[0]) & (dist <= MEASURE_WINDOW[1])
    at_bottom_win = float(np.mean(bottom[in_win])) if in_win.any() else 0.0
    at_bottom = float(np.mean(bottom))
    if at_bottom_win > 0.05:
        conf -= 0.5 * min(1.0, max(at_bottom, at_bottom_win) / 0.3)
        reasons.append("the inferior cortex is cut off by the bottom of the image")
    elif at_bottom > 0.05:
        conf -= 0.1
        reasons.append("the lower border touches the bottom of the image near the chin, outside the "
                       "measurement windows")
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
    when confidence is low. Computed on the content frame (black margins left out).
    """
    sub, dx, dy = crop_to_content(rad)
    return shift_proposal(_propose_in_frame(sub), dx, dy)


def _propose_in_frame(rad: Radiograph) -> RoiProposal:
    h, w = rad.pixels.shape
    try:
        trace = trace_border(rad.pixels)
    except AnatomyError as exc:  # degenerate image (e.g. a thin strip): no border, no crash
        bw, bh = box_size(w, h)
        box = RoiBox((w - bw) // 2, h - bh, bw, bh).clipped(w, h)
        return RoiProposal(box=box, border_right=[], border_left=[], confidence=0.0, reasons=[str(exc)])
    trace = _stop_at_gonial_angles(trace, w)
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
    sub, dx, dy = crop_to_content(rad)
    inner = shift_box(b, -dx, -dy).clipped(sub.width, sub.height)
    mid = None if midline_x is None else float(midline_x) - dx
    got = _retrace_in_box(sub, inner, mid)
    out = shift_proposal(got, dx, dy)
    out.box = b
    return out


def _retrace_in_box(rad: Radiograph, b: RoiBox, midline_x: float | None) -> RoiProposal:
    h, w = rad.pixels.shape
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
