"""Issue 15 (part C): real radiographs made faint, tilted or covered by metal degrade to "not
assessable" with a reason, never to a box on the teeth or the hyoid; a child-sized mandible
keeps its box on the mandible.

Built from abdi_dev radiographs (skipped cleanly when ../shared is absent), with the raters'
border as the truth of where the mandible is:

- faint: gamma-flattened (grey levels compressed into 8 % of the range) with noise;
- rotated 12 degrees;
- a bright metal blob over the cortex in both measurement windows (one window: that side is
  not measured, the other is);
- child proportions: the radiograph shrunk to 70 % inside a soft-tissue-grey frame (no reason
  is given: children are not detected as such, see docs/anatomy.md; the box must still hold
  the mandible's border).

- edentulous: the two real edentulous radiographs of abdi_dev (5 and 17, checked by eye) are
  not assessable with an "edentulous" reason; the dentate ones used here are not called so.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dentalosteo_gui.core.anatomy import assess_quality, border_arrays, measure_cortex, propose_roi
from dentalosteo_gui.core.imaging.imageio import from_array, load_radiograph
from dentalosteo_gui.core.types import RoiProposal, Spacing
from tests.abdi_truth import ABDI, rater1_border

IDS = (9, 45)

pytestmark = pytest.mark.skipif(not (ABDI / "image_index.csv").exists(), reason="../shared/realdata/abdi_dev absent")


def _truth(iid: int) -> tuple[np.ndarray, np.ndarray]:
    return rater1_border(iid, ABDI)


@pytest.fixture(scope="module", params=IDS)
def case(request):
    rad = load_radiograph(ABDI / "images" / f"{request.param}.png")
    return request.param, rad.pixels.astype(np.float32), propose_roi(rad)


def _reasons(px: np.ndarray) -> tuple[list[str], RoiProposal]:
    rad = from_array(px.astype(np.float32))
    prop = propose_roi(rad)
    return assess_quality(rad, prop), prop


def _box_holds(prop: RoiProposal, xs: np.ndarray, ys: np.ndarray) -> float:
    b = prop.box
    m = (xs >= b.x) & (xs < b.x + b.w)
    return float(np.mean((ys[m] >= b.y) & (ys[m] <= b.y + b.h))) if m.any() else 0.0


def _blobs(px: np.ndarray, prop: RoiProposal, signs: tuple[int, ...]) -> np.ndarray:
    """A saturated disc (metal) over the cortex in the measurement window of each side."""
    q = px.copy()
    h, w = px.shape
    bx, by = border_arrays(prop)
    for sign in signs:
        x = int(float(prop.midline_x or w / 2) + sign * 0.165 * w)
        y = int(np.interp(x, bx, by))
        cv2.circle(q, (x, y - int(0.01 * h)), int(0.03 * w), 1.0, -1)
    return q


def test_faint_is_not_assessable(case) -> None:
    _, px, _ = case
    rng = np.random.default_rng(0)
    q = 0.35 + 0.08 * np.power(px, 2.2) + rng.normal(0.0, 0.01, px.shape)
    reasons, _ = _reasons(np.round(np.clip(q, 0, 1) * 255) / 255)
    assert any("faint" in r or "low contrast" in r for r in reasons), reasons


def test_rotated_12_degrees_is_not_assessable(case) -> None:
    _, px, _ = case
    h, w = px.shape
    q = cv2.warpAffine(px, cv2.getRotationMatrix2D((w / 2, h / 2), 12, 1.0), (w, h))
    reasons, _ = _reasons(q)
    assert any("tilted" in r or "cut off" in r or "low ROI confidence" in r for r in reasons), reasons


def test_metal_over_both_windows_is_not_assessable(case) -> None:
    _, px, prop = case
    reasons, _ = _reasons(_blobs(px, prop, (-1, 1)))
    assert any("metal" in r for r in reasons), reasons


def test_metal_over_one_window_drops_that_side_only(case) -> None:
    _, px, prop = case
    q = _blobs(px, prop, (-1,))  # image-left = the patient's right
    rad = from_array(q)
    p2 = propose_roi(rad)
    assert not any("metal" in r for r in assess_quality(rad, p2))
    cx = measure_cortex(rad, p2, Spacing(0.1, "user"))
    assert cx.right.mcw_mm is None
    assert "metal" in str(cx.evidence["rule"]["per_side"]["right"]).lower()


def test_child_proportions_keep_the_box_on_the_mandible(case) -> None:
    iid, px, _ = case
    h, w = px.shape
    f = 0.7
    small = cv2.resize(px, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)
    q = np.full_like(px, float(np.percentile(px, 20)))
    y0, x0 = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    q[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    reasons, prop = _reasons(q)
    xs, ys = _truth(iid)
    if not reasons:  # no reason (children are not detected): then the box must be on the border
        assert _box_holds(prop, xs * f + x0, ys * f + y0) >= 0.9


EDENTULOUS_IDS = (5, 17)


@pytest.mark.parametrize("iid", EDENTULOUS_IDS)
def test_real_edentulous_is_not_assessable(iid: int) -> None:
    rad = load_radiograph(ABDI / "images" / f"{iid}.png")
    reasons = assess_quality(rad, propose_roi(rad))
    assert any(r.startswith("edentulous") for r in reasons), reasons


def test_real_dentate_is_not_called_edentulous(case) -> None:
    iid, px, prop = case
    reasons = assess_quality(from_array(px), prop)
    assert not any("edentulous" in r for r in reasons), (iid, reasons)
