"""Cortex-strip (band) model input: the inferior mandibular cortex of both sides straightened
into one strip (``core.anatomy.band``), z-scored.

:func:`strip_proposal` traces the border the strip is cut along, as the app does;
:func:`prepare_band_input` is the input of training (exact, evaluation) and inference;
:func:`band_context` is the wider training cache that augmentation shifts and scales.
Unknown pixel spacing assumes 0.1 mm/px, as for the landmark patches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..anatomy.band import BandSpec, CortexBand, extract_band
from ..imaging.sampling import spacing_or_default
from ..types import Radiograph, RoiBox, RoiProposal
from .common import batch_of_one, normalise_patch

BAND_PAD_ROWS = 10
BAND_PAD_FRAC = 0.08

PREPROCESSING_DESCRIPTION_BAND = (
    "grayscale float in [0,1]; the inferior mandibular border traced inside the ROI box "
    "(core.anatomy: propose_roi, or border_from_box for a given box); per side, the smoothed border "
    "sampled at cols_per_side equal arc-length steps between window[0] and window[1] of the box "
    "half-width from the box centre (the symphysis and the spine ghost are left out), and at each "
    "step rows samples along the normal from inside_mm into the mandible to outside_mm below the "
    "border (pixel spacing from the file or dataset, else 0.1 mm), bilinear after a Gaussian "
    "pre-blur of 0.4 x the sampling step; the image-left side then the image-right side, as in "
    "the image; z-scored and clipped to [-4, 4]; float32 (core.anatomy.band)"
)


def band_spec_for(input_shape: Sequence[int]) -> BandSpec:
    """The default band geometry with the rows / columns of ``input_shape`` (rows, 2*cols, ...)."""
    return BandSpec(rows=int(input_shape[0]), cols_per_side=int(input_shape[1]) // 2)


def band_spec_from_card(card_input: dict) -> BandSpec:
    """The band geometry a pack card records; ValueError when it disagrees with the input size."""
    spec = BandSpec.from_dict(card_input.get("band"))
    if spec.rows != int(card_input["height"]) or spec.width != int(card_input["width"]):
        raise ValueError("the card's band geometry does not match its input size")
    return spec


def strip_proposal(pixels: np.ndarray, roi: RoiBox | None, spacing_mm: float | None) -> RoiProposal:
    """The traced border a band model is fed from: inside ``roi`` when given (split at the
    midline found on the whole image), else proposed; exactly as the app does."""
    from ..anatomy import border_for_box, propose_roi

    rad = Radiograph(pixels=np.asarray(pixels, dtype=np.float32), pixel_spacing_mm=spacing_mm)
    auto = propose_roi(rad)
    return border_for_box(rad, roi, auto) if roi is not None else auto


def prepare_band_input(pixels: np.ndarray, proposal: RoiProposal, spacing_mm: float | None,
                       spec: BandSpec | None = None, channels: int = 1) -> tuple[np.ndarray, CortexBand]:
    """Model input (1, rows, 2*cols, channels) float32 for a cortex-band model, and the band
    (its sampling maps take a strip map back to the image)."""
    band = extract_band(pixels, proposal, spacing_or_default(spacing_mm), spec)
    return batch_of_one(normalise_patch(band.strip), channels), band


def band_context(pixels: np.ndarray, proposal: RoiProposal, spacing_mm: float | None,
                 spec: BandSpec | None = None) -> tuple[np.ndarray, tuple[float, ...]]:
    """Training cache: the band widened by ``BAND_PAD_ROWS`` rows above and below and
    ``BAND_PAD_FRAC`` of the half-width at both ends of each side (float16, not normalised),
    and the inner rects (x, y, w, h) of the exact band's two halves in it."""
    spec = spec or BandSpec()
    ctx = extract_band(pixels, proposal, spacing_or_default(spacing_mm), spec,
                       pad_rows=BAND_PAD_ROWS, pad_frac=BAND_PAD_FRAC).strip
    lo, hi = spec.window
    w0, w1 = max(0.02, lo - BAND_PAD_FRAC), hi + BAND_PAD_FRAC
    n = ctx.shape[1] // 2
    span = (w1 - w0) / float(n)  # window fraction per context column (approximately)
    y, h = float(BAND_PAD_ROWS), float(spec.rows)
    left_x = (w1 - hi) / span  # image-left half runs from the outer end inwards
    right_x = (lo - w0) / span
    w = (hi - lo) / span
    return ctx.astype(np.float16), (left_x, y, w, h, right_x, y, w, h)
