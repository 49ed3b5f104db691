"""Is this radiograph assessable? Plain-language reasons when it is not.

Beyond the frame checks (aspect ratio, mandible found, cortex cut off, saturation, contrast,
ROI confidence), the anatomy-level checks a reading depends on:

- faint: the step from bone to soft tissue across the traced border, against the image's
  own pixel noise (a contrast-to-noise ratio, so the device's grey scale does not matter);
- tilted: the border's heights at mirror positions either side of the midline (a head tilt
  or a rotated image projects the two sides differently);
- metal: saturated pixels (implants, plates, crowns) over the cortex in both measurement
  windows;
- not the lower border: a traced edge high in the image lies among the teeth or on the
  occlusal plane, not at the lower border of the mandible (cropped or child programmes);
- no teeth (edentulous): on either side, no tooth-by-tooth rhythm along the arch above the
  border (``dentition.tooth_rhythm``: crowns and roots side by side with dark interdental
  spaces; a toothless ridge, the maxilla and the palate run smoothly), or no tooth crown
  brighter than bone above the border. The mental-foramen window and the published ROI
  assume a dentate mandible, so an edentulous jaw is not assessable (issue 15);
- a child's dentition: unerupted permanent crowns (tooth germs, each in a dark follicle) inside
  the mandibular body on both sides (``maturity.mixed_dentition``): the cortical signs are
  defined for adults, and a plain PNG carries no birth date.

All thresholds are ratios or fractions of the content frame, never grey levels of one device.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import cv2
import numpy as np

from ..types import CortexMeasurement, Radiograph, RoiProposal
from .dentition import MIN_RHYTHM, DentitionWork, dentition_work, tooth_rhythm
from .frame import content_bounds, content_view
from .maturity import mixed_dentition
from .roi import MEASURE_WINDOW, border_arrays, propose_roi

log = logging.getLogger(__name__)

ADULT_AGE = 18.0  # years: the published MCW cut-offs and Klemetti classes are for adults
ASPECT_RANGE = (1.6, 3.2)  # panoramic radiographs are about twice as wide as tall
LOW_CONFIDENCE = 0.5
SATURATED_FRAC = 0.25  # fraction of ROI pixels at the extremes of the range
MIN_CONTRAST = 0.08  # 5th-95th percentile spread inside the ROI (0..1 scale)
MIN_BORDER_CNR = 4.0  # bone-to-soft-tissue step across the border / pixel noise
STEP_BAND = (0.004, 0.02)  # the step is measured this far (fraction of the height) each side
MAX_TILT_DEG = 6.0  # height difference of the border at mirror positions, as an angle
TILT_AT = 0.22  # mirror positions this far (fraction of the width) from the midline
WINDOW = MEASURE_WINDOW  # the cortex measurement windows
METAL_LEVEL = 0.97  # saturated: at least this grey level (metal saturates the detector)
METAL_FRAC = 0.02  # a window is covered by metal above this fraction of its pixels
METAL_DEPTH = 0.08  # the window region reaches this far (fraction of the height) above the border
MAX_BORDER_TOP = 0.75  # the border at the chin lies in the lowest quarter of a panoramic frame
CROWN_RATIO = 1.1  # tooth crowns: brighter than the cortex by this ratio of (cortex - soft tissue)

# reasons that mean "this is not a dental panoramic at all" (no osteoporosis reading is given)
NOT_PANORAMIC = "not a panoramic radiograph"
NO_MANDIBLE = "no mandible found"
# the reason given when the pixels show a child's mixed dentition (tests and the GUI match on it)
CHILD_DENTITION = "the dentition looks like a child's"
# reasons that leave no border to measure from: the cortex widths are withheld with the score
OUT_OF_FRAME = "the inferior cortex is out of frame"
SATURATED_ROI = "the ROI is saturated"
LOW_CONTRAST_ROI = "very low contrast in the ROI"
AMONG_TEETH = "the traced edge lies high in the image, among the teeth"
FAINT_BORDER = "the lower border of the mandible is too faint"
LOW_ROI_CONFIDENCE = "low ROI confidence"
CHILD_BY_AGE = "the patient is"  # ... N years old at the study (``age_reason``)
NOT_ADULT = (CHILD_BY_AGE, CHILD_DENTITION)  # the Klemetti classes are not given to a child
NO_BORDER = (NOT_PANORAMIC, NO_MANDIBLE, OUT_OF_FRAME, SATURATED_ROI, LOW_CONTRAST_ROI, AMONG_TEETH,
             FAINT_BORDER, LOW_ROI_CONFIDENCE)


def has_no_border(reasons: list[str]) -> bool:
    """Whether a reason says the lower border was not found where a width could be measured
    from it (not a panoramic, out of frame, saturated, too faint, low confidence ...): then a
    cortex width would be a number read off noise. Tilt, metal, no teeth or a child's
    dentition leave the border and keep the measurement (shown, never scored), unless the ROI
    confidence is low too (it also falls for a strongly asymmetric or not U-shaped trace)."""
    return any(r.startswith(NO_BORDER) for r in reasons)


def is_child(reasons: list[str]) -> bool:
    """Whether a reason says the patient is a child (by the file's dates or the dentition):
    the Klemetti classes, like the MCW cut-offs, are defined for adults."""
    return any(r.startswith(NOT_ADULT) for r in reasons)


def reportable_cortex(cortex: CortexMeasurement | None, reasons: list[str]) -> CortexMeasurement | None:
    """What of a cortex measurement may be shown given the not-assessable ``reasons``: nothing
    without a usable border (:func:`has_no_border`), no Klemetti class for a child
    (:func:`is_child`; the width stays and the rule's evidence says why), else all of it."""
    if cortex is None or has_no_border(reasons):
        return None
    if is_child(reasons):
        # the grade goes with everything that says which class it was; the measured evidence
        # (roughness, porosity, residues per side) stays
        why = "not graded: the Klemetti classes are defined for adults"
        old = cortex.evidence.get("rule", {})
        per_side = {s: {**v, "graded": False} for s, v in old.get("per_side", {}).items()}
        rule = {k: v for k, v in old.items() if k not in ("definition", "sides_graded", "per_side")}
        rule.update(why=why, abstain_reason=why, sides_graded=[], per_side=per_side)
        return replace(cortex, klemetti_rule=None, evidence={**cortex.evidence, "rule": rule})
    return cortex


def is_not_panoramic(reasons: list[str]) -> bool:
    """Whether the quality reasons say the image is not a dental panoramic radiograph."""
    return any(r.startswith((NOT_PANORAMIC, NO_MANDIBLE)) for r in reasons)


def _noise(roi: np.ndarray) -> float:
    """Pixel noise: robust SD of the image minus its 3 x 3 mean (x 1.06 for white noise)."""
    # every other pixel: the same robust SD, 4x cheaper (and only those pixels subtracted)
    hp = roi[::2, ::2] - cv2.blur(roi, (3, 3))[::2, ::2]
    return 1.4826 * 1.06 * float(np.median(np.abs(hp - np.median(hp)))) + 1e-6


def border_cnr(pix: np.ndarray, bx: np.ndarray, by: np.ndarray, x0: float, x1: float) -> float | None:
    """Median over columns in [x0, x1) of (bone just above - soft tissue just below the
    border), divided by the pixel noise of the region: the border's contrast-to-noise."""
    h, w = pix.shape
    a, b = (max(1, int(round(f * h))) for f in STEP_BAND)
    xs = np.arange(int(max(0, x0)), int(min(w, x1)), 2)
    xs = xs[(xs >= bx.min()) & (xs <= bx.max())] if bx.size else xs[:0]
    if xs.size < 10:
        return None
    ys = np.round(np.interp(xs, bx, by)).astype(np.int64)
    offs = np.arange(a, b + 1)
    up = np.clip(ys[:, None] - offs[None, :], 0, h - 1)
    dn = np.clip(ys[:, None] + offs[None, :], 0, h - 1)
    step = pix[up, xs[:, None]].mean(axis=1) - pix[dn, xs[:, None]].mean(axis=1)
    y0, y1 = int(max(0, ys.min() - b)), int(min(h, ys.max() + b + 1))
    noise = _noise(pix[y0:y1, int(xs[0]) : int(xs[-1]) + 1].astype(np.float32))
    return float(np.median(step)) / noise


def tilt_deg(bx: np.ndarray, by: np.ndarray, mid: float, width: int) -> float | None:
    """Angle (degrees) of the line through the border at mid -/+ TILT_AT of the width."""
    xa, xb = mid - TILT_AT * width, mid + TILT_AT * width
    if bx.size < 10 or xa < bx.min() or xb > bx.max():
        return None
    dy = float(np.interp(xb, bx, by) - np.interp(xa, bx, by))
    return math.degrees(math.atan2(abs(dy), xb - xa))


def metal_fractions(pix: np.ndarray, bx: np.ndarray, by: np.ndarray, mid: float,
                    width: int) -> list[float]:
    """Fraction of saturated pixels over the cortex in each measurement window (right, left)."""
    h, w = pix.shape
    out = []
    for sign in (-1, 1):
        xa, xb = sorted((mid + sign * WINDOW[0] * width, mid + sign * WINDOW[1] * width))
        xs = np.arange(int(max(0, xa)), int(min(w, xb)))
        if xs.size == 0 or bx.size < 2:
            out.append(0.0)
            continue
        ys = np.interp(xs, bx, by)
        y0, y1 = int(max(0, ys.min() - METAL_DEPTH * h)), int(min(h, ys.max() + 2))
        out.append(float(np.mean(pix[y0:y1, xs[0] : xs[-1] + 1] >= METAL_LEVEL)))
    return out


def _column_means(pix: np.ndarray, xs: np.ndarray, y0: np.ndarray, y1: np.ndarray) -> np.ndarray:
    """Mean of ``pix[y0[i]:y1[i], xs[i]]`` per column (cumulative sums: one pass)."""
    lo, hi = int(min(y0.min(), y1.min())), int(max(y0.max(), y1.max()))
    cols = pix[lo:hi, xs]
    # a zero row, then the running sums in float64 (the same sums as of ``cols`` cast to
    # float64 first), written in place: no float64 copy of the columns, no stacking copy
    csum = np.empty((cols.shape[0] + 1, cols.shape[1]), dtype=np.float64)
    csum[0] = 0.0
    np.cumsum(cols, axis=0, dtype=np.float64, out=csum[1:])
    idx = np.arange(xs.size)
    n = np.maximum(y1 - y0, 1)
    return (csum[y1 - lo, idx] - csum[y0 - lo, idx]) / n


def has_crowns(pix: np.ndarray, bx: np.ndarray, by: np.ndarray, mid: float, width: int) -> bool | None:
    """Whether something brighter than the cortex (tooth crowns) lies above the border,
    between it and the upper half of the image; None when the border is too short."""
    h, w = pix.shape
    if bx.size < 10:
        return None
    xs = np.arange(int(max(0, mid - 0.3 * width)), int(min(w, mid + 0.3 * width)), 2)
    xs = xs[(xs >= bx.min()) & (xs <= bx.max())]
    if xs.size < 10:
        return None
    ys = np.interp(xs, bx, by)
    a, b = (max(1, int(round(f * h))) for f in STEP_BAND)
    cortex = float(np.median(_column_means(pix, xs, np.maximum(0, (ys - b).astype(int)),
                                           np.maximum(1, (ys - a).astype(int)))))
    soft = float(np.median(_column_means(pix, xs, np.minimum(h - 1, (ys + a).astype(int)),
                                         np.minimum(h, (ys + b).astype(int)))))
    top = int(max(0, 0.3 * h))
    band = pix[top : int(max(top + 1, ys.min() - 0.1 * h)), int(xs[0]) : int(xs[-1]) + 1]
    if band.size == 0 or cortex - soft <= 1e-6:
        return None
    # the 99.5th percentile on every other pixel (crowns are large bright regions)
    return bool((float(np.percentile(band[::2, ::2], 99.5)) - soft) / (cortex - soft) >= CROWN_RATIO)


def _frame_reasons(rad: Radiograph, proposal: RoiProposal) -> list[str]:
    reasons: list[str] = []
    h, w = rad.pixels.shape
    aspect = w / max(1, h)
    if not (ASPECT_RANGE[0] <= aspect <= ASPECT_RANGE[1]):
        reasons.append(
            f"{NOT_PANORAMIC}: width/height is {aspect:.2f}, expected "
            f"{ASPECT_RANGE[0]}-{ASPECT_RANGE[1]}; open a dental panoramic (DPR)"
        )
    box = proposal.box.clipped(w, h)
    roi = rad.pixels[box.y : box.y + box.h, box.x : box.x + box.w]
    if not proposal.border_right and not proposal.border_left:
        reasons.append(f"{NO_MANDIBLE}: the inferior border of the mandible could not be traced; "
                       "open a dental panoramic (DPR) or draw the box on the lower border yourself")
    if any("cut off" in r for r in proposal.reasons):
        reasons.append(f"{OUT_OF_FRAME} (cut off by the image edge)")
    if roi.size:
        # the fraction counted (the mean of the booleans: the same count over the same size)
        sat = float(np.count_nonzero((roi >= 0.995) | (roi <= 0.005)) / roi.size)
        if sat > SATURATED_FRAC:
            reasons.append(f"{SATURATED_ROI}: {sat:.0%} of its pixels are pure black or white")
        lo, hi = np.percentile(roi, [5, 95])
        if hi - lo < MIN_CONTRAST:
            reasons.append(f"{LOW_CONTRAST_ROI}: the cortex cannot be seen")
    return reasons


def anatomy_reasons(rad: Radiograph, proposal: RoiProposal, work: DentitionWork | None = None) -> list[str]:
    """Faint border, tilt, metal over both windows, border among the teeth, no teeth, a
    child's mixed dentition. ``work``: the image's dentition working copies, to be shared with
    later stages (the landmarks); made here when not given."""
    bx, by = border_arrays(proposal)
    if bx.size < 10:
        return []
    x0, y0, x1, y1 = content_bounds(rad.pixels)
    cw, ch = x1 - x0, y1 - y0
    pix = rad.pixels
    mid = float(proposal.midline_x) if proposal.midline_x is not None else proposal.box.x + proposal.box.w / 2
    reasons: list[str] = []
    if (float(by.max()) - y0) / max(1, ch) < MAX_BORDER_TOP:
        reasons.append(f"{AMONG_TEETH}, not at the lower border "
                       "of the mandible (is the lower border outside the image?)")
        return reasons
    b = proposal.box
    cnr = border_cnr(pix, bx, by, b.x, b.x + b.w)
    if cnr is not None and cnr < MIN_BORDER_CNR:
        reasons.append(f"{FAINT_BORDER}: its contrast is {cnr:.1f} times the "
                       f"image noise (needs {MIN_BORDER_CNR:g}); under-exposed or very soft image")
    tilt = tilt_deg(bx, by, mid, cw)
    if tilt is not None and tilt > MAX_TILT_DEG:
        reasons.append(f"the head is tilted or the image rotated: the two sides of the lower border differ "
                       f"by {tilt:.0f} degrees (at most {MAX_TILT_DEG:g}); the sides are projected differently")
    metal = metal_fractions(pix, bx, by, mid, cw)
    if min(metal) >= METAL_FRAC:
        reasons.append(f"metal (implant, plate or restoration) over the cortex on both sides "
                       f"({metal[0]:.0%} / {metal[1]:.0%} of the measurement windows saturated)")
    work = dentition_work(pix, work)
    # without black margins the content frame is the image itself: the edentulous check then
    # reads the very working copy the child check reads (``DentitionWork``), made once
    frame = content_view(pix, (x0, y0, x1, y1))
    edentulous = _edentulous_reason(frame, bx - x0, by - y0, mid - x0, work)
    if edentulous is None and has_crowns(pix, bx, by, mid, cw) is False:
        edentulous = ("no tooth crowns found above the lower border (edentulous jaw?): the measurement "
                      "window and ROI assume a dentate mandible; measure the cortex by eye")
    if edentulous is not None:
        reasons.append(edentulous)
    else:
        child = child_dentition_reason(pix, bx, by, mid, work)
        if child is not None:
            reasons.append(child)
    return reasons


def child_dentition_reason(pix: np.ndarray, bx: np.ndarray, by: np.ndarray, mid: float,
                           work: DentitionWork | None = None) -> str | None:
    """The reason when the mandible shows a child's mixed dentition, else None."""
    mixed = mixed_dentition(pix, bx, by, mid, work=work)
    if mixed is None or not mixed.flagged:
        return None
    return (f"{CHILD_DENTITION} (unerupted permanent tooth crowns inside the mandible on both sides): "
            "the MCW cut-offs and Klemetti classes are defined for adults; do not screen children")


def _edentulous_reason(frame: np.ndarray, bx: np.ndarray, by: np.ndarray, mid: float,
                       work: DentitionWork | None = None) -> str | None:
    """The reason when a side of the mandible shows no row of teeth (in the content frame)."""
    rhythm = tooth_rhythm(frame, bx, by, mid, work)
    if rhythm is None or min(rhythm) >= MIN_RHYTHM:
        return None
    side = "either side" if max(rhythm) < MIN_RHYTHM else ("the right side" if rhythm[0] < rhythm[1] else "the left side")
    return (f"edentulous jaw: no row of teeth above the lower border on {side} (tooth-by-tooth contrast "
            f"{min(rhythm):.3f}, a dentate side shows at least {MIN_RHYTHM:g}); the measurement window and ROI "
            "assume a dentate mandible; measure the cortex by eye")


def age_reason(age: float | None) -> str | None:
    """Why the reading does not apply to a patient of ``age`` years, or None (adult or age
    unknown). The cortical signs (MCW cut-offs, Klemetti classes) were defined on adults; a
    child's or adolescent's mandible is still growing, its cortex still thickening."""
    if age is None or age >= ADULT_AGE:
        return None
    return (f"{CHILD_BY_AGE} {age:g} years old at the study (from the file's birth and study dates): "
            f"the cortical signs are defined for adults ({ADULT_AGE:g} and over): no score for a growing "
            "mandible")


def assess_quality(rad: Radiograph, proposal: RoiProposal | None = None,
                   work: DentitionWork | None = None) -> list[str]:
    """Reasons (plain language) why the image is not assessable; empty list = assessable.

    Checks: not a panoramic (aspect ratio, no mandible found), a patient under ``ADULT_AGE``
    by the file's dates, cortex out of frame, saturated or very low-contrast ROI, low ROI
    confidence, and the anatomy checks (faint border, tilt, metal over both windows, border
    among the teeth, no teeth, a child's mixed dentition seen in the pixels). ``work``: a
    ``dentition.DentitionWork`` for ``rad.pixels`` that later stages reuse (the landmarks).
    """
    if proposal is None:
        proposal = propose_roi(rad)
    reasons = _frame_reasons(rad, proposal)
    child = age_reason(rad.patient.age_years())
    if child is not None:
        reasons.append(child)
    if not is_not_panoramic(reasons):
        reasons += anatomy_reasons(rad, proposal, work)
    if proposal.confidence < LOW_CONFIDENCE:
        detail = "; ".join(r for r in proposal.reasons if "cut off" not in r)
        reasons.append(
            f"{LOW_ROI_CONFIDENCE} ({proposal.confidence:.2f})" + (f": {detail}" if detail else "")
            + "; check the ROI box and move it if needed"
        )
    return reasons
