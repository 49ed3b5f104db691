"""A child's mandible (mixed dentition) is recognised from the pixels and is not assessable.

Synthetic: a mandible-like frame with follicle-enclosed bright crowns inside the body on both
sides is flagged; the same crowns at the occlusal level, without a follicle, or on one side
only are not. Real (skipped when ../shared is absent): abdi_dev 113, the one child in mixed
dentition, is flagged and not assessable; adults (bright root fillings and restorations,
metal, edentulous) are not. The threshold was chosen with 113 in view: no held-out child.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dentalosteo_gui.core.anatomy.maturity import FLAG_AT, mixed_dentition
from dentalosteo_gui.core.anatomy.quality import CHILD_DENTITION, assess_quality
from dentalosteo_gui.core.anatomy.roi import border_arrays, propose_roi
from dentalosteo_gui.core.imaging.imageio import load_radiograph

ROOT = Path(__file__).resolve().parents[1]
ABDI = ROOT.parent / "shared" / "realdata" / "abdi_dev" / "images"

W, H, MID = 2400, 1000, 1200.0
BX = np.arange(200.0, 2201.0, 4.0)  # the traced border spans 2000 px
BY = 900.0 - 250.0 * ((BX - MID) / 1000.0) ** 2  # a shallow U, lowest at the chin
OCC_Y = 500.0
OCCLUSAL = {"right": (0.0, OCC_Y), "left": (0.0, OCC_Y)}
GERM_AT = 0.2 * 2000.0  # premolar columns: a fifth of the span from the midline


def _mandible(germs: list[tuple[float, float]], follicle: bool = True, seed: int = 0) -> np.ndarray:
    """Soft tissue below the border, a bright cortex along it, textured bone above, and a
    crown (ellipse about 100 x 90 px) at each (x, y), with a dark follicle and a crypt wall."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W), 0.15, np.float32)
    yy = np.arange(H)[:, None]
    yb = np.interp(np.arange(W), BX, BY, left=2000.0, right=2000.0)[None, :]
    img[yy < yb] = 0.45
    img[(yy < yb) & (yy >= yb - 25)] = 0.7
    for x, y in germs:
        c = (int(x), int(y))
        if follicle:
            cv2.ellipse(img, c, (64, 58), 0, 0, 360, 0.55, -1)  # crypt wall
            cv2.ellipse(img, c, (60, 54), 0, 0, 360, 0.28, -1)  # follicle
        cv2.ellipse(img, c, (50, 44), 0, 0, 360, 0.85, -1)  # enamel crown
    texture = cv2.GaussianBlur(rng.normal(0.0, 0.08, (H, W)).astype(np.float32), (0, 0), 3.0)
    return np.clip(img + texture + rng.normal(0.0, 0.01, (H, W)).astype(np.float32), 0.0, 1.0)


def _run(img: np.ndarray):  # type: ignore[no-untyped-def]
    m = mixed_dentition(img, BX, BY, MID, occlusal=OCCLUSAL)
    assert m is not None
    return m


def _depth(x: float, t: float) -> float:
    """The y at relative depth t between the occlusal line (0) and the border (1)."""
    return OCC_Y + t * (float(np.interp(x, BX, BY)) - OCC_Y)


def test_follicle_enclosed_crowns_on_both_sides_are_flagged() -> None:
    xs = (MID - GERM_AT, MID + GERM_AT)
    m = _run(_mandible([(x, _depth(x, 0.5)) for x in xs]))
    assert m.flagged and m.score >= FLAG_AT, m
    assert {g.side for g in m.germs} == {"right", "left"}
    assert all(abs(g.offset - 0.2) < 0.02 for g in m.germs), m.germs


def test_crowns_at_the_occlusal_level_are_not_flagged() -> None:
    xs = (MID - GERM_AT, MID + GERM_AT)
    m = _run(_mandible([(x, _depth(x, 0.05)) for x in xs]))
    assert not m.flagged, m


def test_crowns_without_follicle_are_not_flagged() -> None:
    xs = (MID - GERM_AT, MID + GERM_AT)
    m = _run(_mandible([(x, _depth(x, 0.5)) for x in xs], follicle=False))
    assert not m.flagged, m


def test_a_germ_on_one_side_only_is_not_flagged() -> None:
    x = MID - GERM_AT
    m = _run(_mandible([(x, _depth(x, 0.5))]))
    assert m.right >= FLAG_AT and not m.flagged, m


def test_no_border_no_answer() -> None:
    assert mixed_dentition(np.zeros((100, 200), np.float32), np.zeros(0), np.zeros(0), 100.0) is None


def _real(name: str) -> tuple[list[str], bool]:
    if not (ABDI / f"{name}.png").is_file():
        pytest.skip(f"{ABDI} absent (development data is not shipped)")
    rad = load_radiograph(ABDI / f"{name}.png")
    p = propose_roi(rad)
    bx, by = border_arrays(p)
    assert p.midline_x is not None
    m = mixed_dentition(rad.pixels, bx, by, float(p.midline_x))
    assert m is not None
    return assess_quality(rad, p), m.flagged


@pytest.mark.realdata
def test_real_child_is_not_assessable() -> None:
    reasons, flagged = _real("113")
    assert flagged
    assert any(r.startswith(CHILD_DENTITION) for r in reasons), reasons


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["85", "29", "105", "5", "77", "13"])
def test_real_adults_are_not_called_children(name: str) -> None:
    reasons, flagged = _real(name)
    assert not flagged
    assert not any(r.startswith(CHILD_DENTITION) for r in reasons), reasons
