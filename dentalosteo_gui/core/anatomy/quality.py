"""Is this radiograph assessable? Plain-language reasons when it is not."""

from __future__ import annotations

import logging

import numpy as np

from ..types import Radiograph, RoiProposal
from .roi import propose_roi

log = logging.getLogger(__name__)

ASPECT_RANGE = (1.6, 3.2)  # panoramic radiographs are about twice as wide as tall
LOW_CONFIDENCE = 0.5
SATURATED_FRAC = 0.25  # fraction of ROI pixels at the extremes of the range
MIN_CONTRAST = 0.08  # 5th-95th percentile spread inside the ROI (0..1 scale)

# reasons that mean "this is not a dental panoramic at all" (no osteoporosis reading is given)
NOT_PANORAMIC = "not a panoramic radiograph"
NO_MANDIBLE = "no mandible found"


def is_not_panoramic(reasons: list[str]) -> bool:
    """Whether the quality reasons say the image is not a dental panoramic radiograph."""
    return any(r.startswith((NOT_PANORAMIC, NO_MANDIBLE)) for r in reasons)


def assess_quality(rad: Radiograph, proposal: RoiProposal | None = None) -> list[str]:
    """Reasons (plain language) why the image is not assessable; empty list = assessable.

    Checks: not a panoramic (aspect ratio, no mandible found), cortex out of frame, saturated
    or very low-contrast ROI, low ROI confidence.
    """
    reasons: list[str] = []
    h, w = rad.pixels.shape
    aspect = w / max(1, h)
    if not (ASPECT_RANGE[0] <= aspect <= ASPECT_RANGE[1]):
        reasons.append(
            f"{NOT_PANORAMIC}: width/height is {aspect:.2f}, expected "
            f"{ASPECT_RANGE[0]}-{ASPECT_RANGE[1]}; open a dental panoramic (DPR)"
        )
    if proposal is None:
        proposal = propose_roi(rad)
    box = proposal.box.clipped(w, h)
    roi = rad.pixels[box.y : box.y + box.h, box.x : box.x + box.w]
    if not proposal.border_right and not proposal.border_left:
        reasons.append(f"{NO_MANDIBLE}: the inferior border of the mandible could not be traced; "
                       "open a dental panoramic (DPR) or draw the box on the lower border yourself")
    if any("cut off" in r for r in proposal.reasons):
        reasons.append("the inferior cortex is out of frame (cut off by the image edge)")
    if roi.size:
        sat = float(np.mean((roi >= 0.995) | (roi <= 0.005)))
        if sat > SATURATED_FRAC:
            reasons.append(f"the ROI is saturated: {sat:.0%} of its pixels are pure black or white")
        lo, hi = np.percentile(roi, [5, 95])
        if hi - lo < MIN_CONTRAST:
            reasons.append("very low contrast in the ROI: the cortex cannot be seen")
    if proposal.confidence < LOW_CONFIDENCE:
        detail = "; ".join(r for r in proposal.reasons if "cut off" not in r)
        reasons.append(
            f"low ROI confidence ({proposal.confidence:.2f})" + (f": {detail}" if detail else "")
            + "; check the ROI box and move it if needed"
        )
    return reasons
