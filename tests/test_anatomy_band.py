"""The cortex band: straightening along the traced border, and maps back into the image."""

from __future__ import annotations

import numpy as np
import pytest

from dentalosteo_gui.core.anatomy.band import BandSpec, band_to_image, extract_band
from dentalosteo_gui.core.errors import AnatomyError
from dentalosteo_gui.core.imaging.heatmap import mass_near_polyline
from dentalosteo_gui.core.types import RoiBox, RoiProposal

H, W = 500, 1400
SPACING = 0.1  # mm / px
CORTEX_MM = 3.0


def _border_y(x: np.ndarray, curve: float) -> np.ndarray:
    """A lower mandibular border: a parabola (``curve`` px of rise at the box ends)."""
    return 400.0 - curve * ((x - W / 2) / (W * 0.3)) ** 2


def _image(curve: float, cortex_mm: float = CORTEX_MM) -> np.ndarray:
    """Soft tissue (0.1) below the border, a bright cortex (0.9) of ``cortex_mm`` above it, bone (0.5),
    and a row of tooth crowns (1.0) far above the cortex."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    by = _border_y(xx, curve)
    img = np.full((H, W), 0.5, np.float32)
    img[yy > by] = 0.1
    img[(yy <= by) & (yy > by - cortex_mm / SPACING)] = 0.9
    # tooth crowns well above the band (a dentate jaw, as the quality check expects)
    img[150:200][:, (np.abs(xx[0] - W / 2) < 0.3 * W) & ((xx[0] // 40) % 2 == 0)] = 1.0
    return img


def _proposal(curve: float) -> RoiProposal:
    box = RoiBox(int(W * 0.2), 250, int(W * 0.6), 200)
    xs = np.arange(box.x, box.x + box.w, 4.0)
    ys = _border_y(xs, curve)
    pts = list(zip(xs.tolist(), ys.tolist(), strict=True))
    mid = W / 2
    return RoiProposal(box=box, border_right=[p for p in pts if p[0] < mid],
                       border_left=[p for p in pts if p[0] >= mid], confidence=1.0, reasons=[])


@pytest.mark.parametrize("curve", [0.0, 60.0])
def test_band_straightens_the_cortex_at_a_known_depth(curve: float) -> None:
    spec = BandSpec()
    band = extract_band(_image(curve), _proposal(curve), SPACING, spec)
    assert band.strip.shape == (spec.rows, spec.width)
    step = (spec.inside_mm + spec.outside_mm) / (spec.rows - 1)
    border_row = spec.inside_mm / step  # row of depth 0 (the traced border)
    cortex = band.strip > 0.7
    # in every column the bright cortex occupies the rows from the border up CORTEX_MM
    rows_per_col = cortex.sum(axis=0)
    assert np.median(rows_per_col) == pytest.approx(CORTEX_MM / step, abs=1.5)
    assert rows_per_col.min() >= CORTEX_MM / step - 2.5  # straight even where the border curves
    lowest = np.array([np.flatnonzero(c).max() for c in cortex.T])
    assert np.all(np.abs(lowest - border_row) <= 2.5)  # within 0.5 mm, also where it curves
    assert np.median(np.abs(lowest - border_row)) <= 1.5
    # below the border: soft tissue; deep inside: bone
    assert float(band.strip[-1].mean()) == pytest.approx(0.1, abs=0.05)
    assert float(band.strip[0].mean()) == pytest.approx(0.5, abs=0.05)


def test_band_leaves_out_the_midline_and_stays_in_the_box() -> None:
    prop = _proposal(40.0)
    band = extract_band(_image(40.0), prop, SPACING)
    half = prop.box.w / 2
    spec = BandSpec()
    border_row = int(round(spec.inside_mm / ((spec.inside_mm + spec.outside_mm) / (spec.rows - 1))))
    dist = np.abs(band.map_x[border_row] - W / 2) / half  # along the border itself
    assert dist.min() >= BandSpec().window[0] - 0.02
    assert dist.max() <= BandSpec().window[1] + 0.02
    # the image-left half first (x ascending), then the image-right half
    n = band.map_x.shape[1] // 2
    assert band.map_x[:, :n].max() < W / 2 < band.map_x[:, n:].min()


def test_band_map_goes_back_onto_the_border() -> None:
    curve = 50.0
    prop = _proposal(curve)
    band = extract_band(_image(curve), prop, SPACING)
    spec = BandSpec()
    step = (spec.inside_mm + spec.outside_mm) / (spec.rows - 1)
    border_row = int(round(spec.inside_mm / step))
    m = np.zeros(band.strip.shape, np.float32)
    m[border_row - 5: border_row + 6, :] = 1.0  # +-1 mm around the border in the strip
    heat = band_to_image(m, band.map_x, band.map_y, (H, W), prop.box)
    assert heat.shape == (H, W) and heat.dtype == np.float32
    b = prop.box
    outside = np.ones((H, W), bool)
    outside[b.y:b.y + b.h, b.x:b.x + b.w] = False
    assert float(heat[outside].max(initial=0.0)) == 0.0
    xs = np.arange(b.x, b.x + b.w, 2.0)
    border = list(zip(xs.tolist(), _border_y(xs, curve).tolist(), strict=True))
    assert mass_near_polyline(heat, border, 1.6 / SPACING, b) > 0.97
    # the band covers the strip area without holes: a flat map fills a solid region
    flat = band_to_image(np.ones((8, 48), np.float32), band.map_x, band.map_y, (H, W), b)
    yy, xx = np.nonzero(flat)
    col = int(np.median(xx[xx < W / 2]))
    filled = np.flatnonzero(flat[:, col] > 0)
    assert filled.size >= 0.9 * (filled.max() - filled.min() + 1)


def test_band_without_a_border_is_an_anatomy_error() -> None:
    prop = RoiProposal(box=RoiBox(100, 100, 800, 200), border_right=[], border_left=[], confidence=0.0,
                       reasons=["no border"])
    with pytest.raises(AnatomyError, match="border"):
        extract_band(_image(0.0), prop, SPACING)
    with pytest.raises(AnatomyError, match="spacing"):
        extract_band(_image(0.0), _proposal(0.0), 0.0)


def test_band_spec_round_trips_through_a_card() -> None:
    spec = BandSpec(rows=48, cols_per_side=100, window=(0.4, 0.9))
    assert BandSpec.from_dict(spec.as_dict()) == spec
    assert BandSpec.from_dict(None) == BandSpec()
