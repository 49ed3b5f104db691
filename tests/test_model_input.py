"""One model-input builder per kind (core.model_input), the same for training and inference;
one calibration path; one patient-group rule (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dentalosteo_gui.core.model_input import landmarks as mi_landmarks
from dentalosteo_gui.core.model_input import preprocess as pp
from dentalosteo_gui.core.model_input import roi as mi_roi
from dentalosteo_gui.core.model_input import strip as mi_strip
from dentalosteo_gui.core.types import LANDMARK_NAMES, RoiBox
from dentalosteo_gui.ml import calibration, data, packs
from dentalosteo_gui.ml.pipeline import input_section


def _pack(mode: str, shape: tuple[int, ...], patch_mm: float = 10.0) -> packs.ModelPack:
    """A pack as inference sees it (the card only: preparing inputs never loads the model)."""
    card = {"name": "t", "version": "0", "arch": "x", "mode": mode, "sha256": "0",
            "input": input_section(mode, shape, patch_mm)}
    return packs.ModelPack(Path("unused"), card, "0")


def _image(h: int = 400, w: int = 900) -> np.ndarray:
    rng = np.random.default_rng(0)
    return pp.resize_area(rng.random((h // 4, w // 4)).astype(np.float32), h, w)


def test_roi_training_input_is_the_inference_input() -> None:
    img, box = _image(), RoiBox(150, 180, 600, 120)
    shape = (32, 160, 1)
    exact, _, _ = data.encode_image(img, "roi", shape, box, None, 0.1)
    x = _pack("roi", shape).prepare_roi(img, box)
    assert x.shape == (1, *shape)
    np.testing.assert_array_equal(exact, x[0, ..., 0].astype(np.float16))
    np.testing.assert_array_equal(x, mi_roi.prepare_roi_input(img, box, 32, 160, 1))


def test_landmark_training_input_is_the_inference_input() -> None:
    img = _image()
    lms = {n: (60.0 + 100 * i, 200.0) for i, n in enumerate(LANDMARK_NAMES)}
    shape = (8, 16, 16, 1)
    exact, ctx, _ = data.encode_image(img, "landmarks", shape, None, lms, 0.12, 5.0)
    x = _pack("landmarks", shape, 5.0).prepare_landmarks(img, lms, 0.12)
    assert x.shape == (1, *shape)
    np.testing.assert_array_equal(exact, x[0, ..., 0].astype(np.float16))
    assert ctx.shape == (8, 22, 22)  # 1.4 x the side, for augmentation


def test_band_training_input_is_the_inference_input() -> None:
    from tests.test_anatomy_band import SPACING, _proposal
    from tests.test_anatomy_band import _image as band_image

    img, prop = band_image(40.0), _proposal(40.0)
    shape = (32, 128, 1)
    exact, _, inner = data.encode_image(img, "band", shape, None, None, SPACING, proposal=prop)
    x, band = _pack("band", shape).prepare_band(img, prop, SPACING)
    assert x.shape == (1, *shape) and band.strip.shape == (32, 128)
    np.testing.assert_array_equal(exact, x[0, ..., 0].astype(np.float16))
    assert len(inner) == 8
    # unknown spacing: the assumed 0.1 mm/px, for training and inference alike
    x0, _ = mi_strip.prepare_band_input(img, prop, None, mi_strip.band_spec_for(shape))
    x1, _ = mi_strip.prepare_band_input(img, prop, 0.1, mi_strip.band_spec_for(shape))
    np.testing.assert_array_equal(x0, x1)


def test_exact_only_dataset_matches_the_cached_one() -> None:
    img = _image()
    rows = [SimpleNamespace(file=f"f{i}", label=i % 2, klemetti=None, roi=RoiBox(100 + 10 * i, 200, 600, 120),
                            landmarks=None, pixel_spacing_mm=0.1, mcw_mean_mm=None, extra={})
            for i in range(3)]
    a = data.dataset_from_rows(rows, "roi", (16, 80, 1), load=lambda r: img, exact_only=True)
    b = data.dataset_from_rows(rows, "roi", (16, 80, 1), load=lambda r: img)
    np.testing.assert_array_equal(a.exact, b.exact)


def test_band_card_geometry_is_checked() -> None:
    card_input = input_section("band", (32, 128, 1), 10.0)
    assert mi_strip.band_spec_from_card(card_input) == mi_strip.band_spec_for((32, 128, 1))
    with pytest.raises(ValueError):
        mi_strip.band_spec_from_card({**card_input, "height": 64})


def test_one_calibration_path() -> None:
    assert packs.calibrate is calibration.calibrate
    p = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(calibration.calibrate(p, 1.0), p, atol=1e-12)
    np.testing.assert_allclose(calibration.calibrate(p, 2.0),
                               1 / (1 + np.sqrt((1 - p) / p)), atol=1e-12)  # sigmoid(logit / 2)


def test_one_group_rule() -> None:
    rows = [SimpleNamespace(extra={data.GROUP_COLUMN: "P1"}), SimpleNamespace(extra={}),
            SimpleNamespace(extra=None)]
    assert data.row_groups(rows) == ["P1", "", ""]
    assert data.row_groups([SimpleNamespace(extra={})]) is None
    assert packs.ATTENTION_GROUPS == mi_landmarks.LANDMARK_GROUPS == (
        "condyle", "gonial_angle", "premolar", "maxillary_tuberosity")


def test_historical_names_still_import() -> None:
    assert pp.prepare_roi_input is mi_roi.prepare_roi_input
    assert pp.prepare_band_input is mi_strip.prepare_band_input
    assert pp.crop_landmark_patches is mi_landmarks.crop_landmark_patches
    assert data.roi_context_crop is mi_roi.roi_context_crop
    assert data.band_proposal is mi_strip.strip_proposal
    assert set(pp.PREPROCESSING_DESCRIPTIONS) == {"roi", "band", "landmarks"}
