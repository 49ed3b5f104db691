"""A pixel scale from the anatomy, for model input when the stated spacing is a guess.

A risk must not hinge on a number nobody measured (issue 21): on a PNG export without
calibration, the spacing is an assumed default or a value the user typed. The model's input
(cortex strip depth, landmark patch size) is then scaled from the traced inferior border:
the horizontal span of both sides, taken as ``REFERENCE_BORDER_SPAN_MM``. The MCW in mm still
uses the stated spacing (and says so); only what the model sees is decoupled from it.

Development figures (synthetic phantoms of known spacing, seeds 300-329): the traced span is
253 mm median with a coefficient of variation of 0.125, so the estimate is within about 12 %
(1 SD) of the true spacing. Since issue 15 the trace stops at the gonial angles (and ignores
black margins), so the span is the mandible's, gonial angle to gonial angle: 0.84 of the
image width on phantoms and on the 29 abdi_dev radiographs alike (0.80-0.88, 10th-90th
percentile), and a padded or wider field of view no longer changes it. It is an estimate,
recorded as such (source ``anatomy``); the constant was 263 mm for the earlier trace that
ran to 6 % / 94 % of the width.
"""

from __future__ import annotations

from ..types import RoiProposal

REFERENCE_BORDER_SPAN_MM = 253.0
MIN_SPAN_PX = 64.0


def border_span_px(proposal: RoiProposal | None) -> float | None:
    """Horizontal extent (px) of the traced inferior border over both sides, or None."""
    if proposal is None:
        return None
    xs = [x for x, _ in proposal.border_right] + [x for x, _ in proposal.border_left]
    if not proposal.border_right or not proposal.border_left:
        return None
    span = max(xs) - min(xs)
    return float(span) if span >= MIN_SPAN_PX else None


def anatomical_mm_per_px(proposal: RoiProposal | None) -> float | None:
    """mm per pixel estimated from the traced border's span; None when it cannot be."""
    span = border_span_px(proposal)
    return None if span is None else REFERENCE_BORDER_SPAN_MM / span
