"""The dentition checks share their working copies (``dentition.DentitionWork``) without
changing a reading: the edentulous check, the child check and the landmarks give, with one
shared work object, exactly what each gives on its own; the child check's peak search over
a cropped region finds exactly the peaks of the whole-image search."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dentalosteo_gui.core.anatomy import maturity
from dentalosteo_gui.core.anatomy.dentition import (
    DentitionWork,
    dentition_work,
    occlusal_sides,
    tooth_rhythm,
)
from dentalosteo_gui.core.anatomy.landmarks import propose_landmarks
from dentalosteo_gui.core.anatomy.quality import assess_quality
from dentalosteo_gui.core.anatomy.roi import border_arrays, propose_roi
from dentalosteo_gui.core.types import Radiograph, RoiProposal

from .phantom_case import phantom_radiograph


@pytest.fixture(scope="module")
def case() -> tuple[Radiograph, RoiProposal, np.ndarray, np.ndarray, float]:
    rad = phantom_radiograph()
    prop = propose_roi(rad)
    bx, by = border_arrays(prop)
    assert bx.size >= 10 and prop.midline_x is not None
    return rad, prop, bx, by, float(prop.midline_x)


def _same_sides(a: object, b: object) -> None:
    assert isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
    for k in a:
        for f in ("xs", "ys", "gap", "upper", "crown_edge"):
            np.testing.assert_array_equal(getattr(a[k], f), getattr(b[k], f))
        assert a[k].line == b[k].line


def test_shared_work_gives_the_same_readings(case) -> None:  # type: ignore[no-untyped-def]
    rad, prop, bx, by, mid = case
    pix = rad.pixels
    work = DentitionWork(pix)
    assert tooth_rhythm(pix, bx, by, mid, work) == tooth_rhythm(pix, bx, by, mid)
    shared = occlusal_sides(pix, bx, by, mid, work)
    _same_sides(shared, occlusal_sides(pix, bx, by, mid))
    assert occlusal_sides(pix, bx.copy(), by.copy(), mid, work) is shared  # an exact repeat: computed once
    _same_sides(occlusal_sides(pix, bx, by, mid + 7.0, work), occlusal_sides(pix, bx, by, mid + 7.0))
    assert maturity.mixed_dentition(pix, bx, by, mid, work=work) == maturity.mixed_dentition(pix, bx, by, mid)
    assert assess_quality(rad, prop, DentitionWork(pix)) == assess_quality(rad, prop)
    assert propose_landmarks(rad, prop, work) == propose_landmarks(rad, prop)


def test_work_for_other_pixels_is_not_used(case) -> None:  # type: ignore[no-untyped-def]
    rad, _, bx, by, mid = case
    other = DentitionWork(np.ascontiguousarray(rad.pixels[::-1]))
    assert dentition_work(rad.pixels, other) is not other
    assert dentition_work(rad.pixels, None).pixels is rad.pixels
    _same_sides(occlusal_sides(rad.pixels, bx, by, mid, other), occlusal_sides(rad.pixels, bx, by, mid))


@pytest.mark.parametrize("x_lo", [0, 3, 300, 580])
def test_cropped_peak_search_finds_the_whole_image_peaks(x_lo: int) -> None:
    rng = np.random.default_rng(x_lo)
    hs, ws = 240, 640
    dog = cv2.GaussianBlur(rng.normal(0.0, 1.0, (hs, ws)).astype(np.float32), (0, 0), 4.0)
    xs = np.arange(x_lo, min(ws, x_lo + 60))
    rows = np.arange(hs)[:, None]
    top = rng.uniform(-20, 120, xs.size)
    inside = (rows >= top[None, :]) & (rows < (top + rng.uniform(40, 200, xs.size))[None, :])
    k = int(2 * maturity.GERM_RADIUS * maturity.WORK_SPAN) | 1
    mask = np.zeros(dog.shape, bool)
    mask[:, xs] = inside
    ref = np.nonzero((dog >= cv2.dilate(dog, np.ones((k, k), np.uint8))) & mask & (dog > 0))
    py, px = maturity._peaks(dog, xs, inside)
    np.testing.assert_array_equal(py, ref[0])
    np.testing.assert_array_equal(px, ref[1])
