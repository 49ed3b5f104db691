"""Landmarks and patch extraction."""

from __future__ import annotations

import numpy as np
import pytest

from dentalosteo_gui.core.anatomy import extract_patches, propose_landmarks, propose_roi
from dentalosteo_gui.core.data.phantoms import generate_phantom
from dentalosteo_gui.core.imaging.imageio import from_array
from dentalosteo_gui.core.types import LANDMARK_NAMES


@pytest.fixture(scope="module")
def cases():
    out = []
    for seed in (301, 302, 303, 304):
        c = generate_phantom(seed)
        rad = from_array(c.image, spacing=c.truth.pixel_spacing_mm)
        out.append((rad, c.truth, propose_landmarks(rad, propose_roi(rad))))
    return out


def test_names_order_and_bounds(cases) -> None:
    for rad, _, lm in cases:
        assert tuple(lm) == LANDMARK_NAMES
        for x, y in lm.values():
            assert 0 <= x < rad.width and 0 <= y < rad.height
        # patient's right = image left
        for part in ("condyle", "gonial_angle", "premolar", "maxillary_tuberosity"):
            assert lm[f"right_{part}"][0] < lm[f"left_{part}"][0]
        # anatomical order top to bottom on each side
        for side in ("right", "left"):
            assert lm[f"{side}_condyle"][1] < lm[f"{side}_maxillary_tuberosity"][1] < lm[f"{side}_premolar"][1]
            assert lm[f"{side}_condyle"][1] < lm[f"{side}_gonial_angle"][1]


def test_landmark_error_on_phantoms(cases) -> None:
    errs = {k: [] for k in LANDMARK_NAMES}
    for _, truth, lm in cases:
        for k in LANDMARK_NAMES:
            d = np.hypot(lm[k][0] - truth.landmarks[k][0], lm[k][1] - truth.landmarks[k][1])
            errs[k].append(d * truth.pixel_spacing_mm)
    med = {k: float(np.median(v)) for k, v in errs.items()}
    for k in ("right_gonial_angle", "left_gonial_angle"):
        assert med[k] < 5.0, med
    for k in ("right_condyle", "left_condyle", "right_premolar", "left_premolar"):
        assert med[k] < 8.0, med
    for k in ("right_maxillary_tuberosity", "left_maxillary_tuberosity"):
        assert med[k] < 6.0, med  # behind the last upper crown found (issue 15; ~10 mm before)


def test_tuberosity_follows_the_last_upper_crown() -> None:
    """Issue 15: the tuberosity sits just behind the last upper crown, which moves with the
    dentition (third molars present or not); a fixed proportion was ~10 mm off on v1."""
    errs = []
    for seed in range(3):
        case = generate_phantom(seed)
        rad = from_array(case.image, spacing=case.truth.pixel_spacing_mm)
        lm = propose_landmarks(rad)
        for k in ("right_maxillary_tuberosity", "left_maxillary_tuberosity"):
            t = case.truth.landmarks[k]
            errs.append(float(np.hypot(lm[k][0] - t[0], lm[k][1] - t[1])) * case.truth.pixel_spacing_mm)
    assert float(np.median(errs)) < 4.0, errs


def test_landmarks_without_proposal(cases) -> None:
    rad, _, lm = cases[0]
    assert propose_landmarks(rad) == lm


def test_extract_patches_scale_and_content() -> None:
    img = np.zeros((400, 600), np.float32)
    img[150:250, 250:350] = 1.0  # a 100 x 100 bright square centred at (300, 200)
    lms = {n: (300.0, 200.0) for n in LANDMARK_NAMES}
    p = extract_patches(img, lms, pixel_spacing_mm=0.1, out_size=32, patch_mm=10.0)
    assert p.shape == (8, 32, 32) and p.dtype == np.float32
    assert p.min() > 0.9  # 10 mm at 0.1 mm/px = exactly the square
    p2 = extract_patches(img, lms, pixel_spacing_mm=0.05, out_size=32)  # 200 px side
    assert 0.2 < p2[0].mean() < 0.3  # the square fills a quarter
    p3 = extract_patches(img, lms, pixel_spacing_mm=None, out_size=32)  # assumes 0.1
    np.testing.assert_allclose(p3, p)


def test_extract_patches_outside_repeats_the_edge() -> None:
    img = np.zeros((300, 500), np.float32)
    img[:, :50] = 1.0
    img[0, 0] = 0.5
    lms = {n: (0.0, 0.0) for n in LANDMARK_NAMES}
    p = extract_patches(img, lms, 0.1, out_size=20)  # 100 px side: 50 px outside on the top and left
    assert p[0, :8, :8].min() == p[0, :8, :8].max() == 0.5  # the corner pixel, repeated
    assert p[0, 12:, 12:].min() == 1.0


def test_extract_patches_is_the_model_input_extractor() -> None:
    """One patch extractor: the GUI preview (core.anatomy) shows what the model is fed."""
    from dentalosteo_gui.core.model_input import landmarks as mi
    from dentalosteo_gui.core.model_input import preprocess as pp

    assert extract_patches is mi.crop_landmark_patches is pp.crop_landmark_patches
    img = np.random.default_rng(0).random((300, 500)).astype(np.float32)
    lms = {n: (40.0 + 50 * i, 150.0) for i, n in enumerate(LANDMARK_NAMES)}
    x = mi.prepare_landmark_input(img, lms, 0.1, out_size=16, patch_mm=5.0)
    np.testing.assert_array_equal(x, mi.normalise_landmark_patches(extract_patches(img, lms, 0.1, 16, 5.0)))
    with pytest.raises(KeyError):
        extract_patches(img, {n: lms[n] for n in LANDMARK_NAMES[1:]}, 0.1)
    with pytest.raises(ValueError):
        extract_patches(img, {**lms, LANDMARK_NAMES[0]: (float("nan"), 1.0)}, 0.1)


def _side_with_edges(spans: list[tuple[float, float, float]], w: int = 1000, mid: float = 500.0):
    """A left-side OcclusalSide whose crown edge is ``v`` over each (start, end, v) fraction of
    the width from the midline, a faint 0.05 elsewhere."""
    from dentalosteo_gui.core.anatomy.dentition import OcclusalSide

    d = np.arange(0.06, 0.40, 0.002)
    ce = np.full(d.size, 0.05)
    for a, b, v in spans:
        ce[(d >= a) & (d <= b)] = v
    xs = mid + d * w
    z = np.zeros(d.size)
    return OcclusalSide(xs=xs, ys=z + 300.0, gap=z, upper=z, line=(0.0, 300.0), crown_edge=ce), w, mid


def test_last_upper_crown_passes_over_faint_edges_behind_the_dentition() -> None:
    """v2 tuberosity outliers (25-35 mm): a faint edge behind the last upper crown (the ramus,
    the soft palate) passed the column threshold and was taken for a further crown."""
    from dentalosteo_gui.core.anatomy.dentition import last_upper_crown

    occ, w, mid = _side_with_edges([(0.12, 0.24, 1.0), (0.30, 0.325, 0.55)])
    assert last_upper_crown(occ, w, mid) == pytest.approx(0.24, abs=0.005)


def test_last_upper_crown_bridges_lost_premolars() -> None:
    """Premolars and the first molar lost: the molars behind the gap still end the dentition."""
    from dentalosteo_gui.core.anatomy.dentition import last_upper_crown

    occ, w, mid = _side_with_edges([(0.12, 0.13, 1.0), (0.25, 0.29, 1.0)])
    assert last_upper_crown(occ, w, mid) == pytest.approx(0.29, abs=0.005)


@pytest.mark.parametrize(("seed", "side"), [(502, "right"), (507, "left"), (525, "left")])
def test_v2_tuberosity_not_on_the_ramus(seed: int, side: str) -> None:
    """v2 phantoms whose tuberosity was put 24-35 mm too far back (on the ramus)."""
    case = generate_phantom(seed, style="v2")
    rad = from_array(case.image, spacing=case.truth.pixel_spacing_mm)
    k = f"{side}_maxillary_tuberosity"
    got, t = propose_landmarks(rad)[k], case.truth.landmarks[k]
    assert float(np.hypot(got[0] - t[0], got[1] - t[1])) * case.truth.pixel_spacing_mm < 8.0
