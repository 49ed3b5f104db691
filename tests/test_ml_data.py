"""Preprocessing (core.preprocess) and the augmentation / cache of ml.data (no TensorFlow)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dentalosteo_gui.core.model_input import preprocess as pp
from dentalosteo_gui.core.types import LANDMARK_NAMES, RoiBox
from dentalosteo_gui.ml import data


def _image(h: int = 400, w: int = 900) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((xx / w) * 0.6 + (yy / h) * 0.3).astype(np.float32)


def test_reference_frame_and_box_mapping():
    img = _image(1260, 2400)
    ref = pp.to_reference_frame(img)
    assert ref.shape == (630, 1200)
    box = RoiBox(500, 800, 1400, 280)
    rb = pp.box_to_reference(box, img.shape)
    assert rb == RoiBox(250, 400, 700, 140)  # the published 700 x 140 box
    assert pp.box_from_reference(rb, img.shape) == box


def test_crop_padded_repeats_edges():
    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    c = pp.crop_padded(img, -1, -1, 2, 2)
    assert c.shape == (3, 3)
    assert c[0, 0] == img[0, 0] and c[2, 2] == img[1, 1]


def test_prepare_roi_input_shape_and_normalisation():
    img = _image()
    x = pp.prepare_roi_input(img, RoiBox(100, 200, 600, 150), 24, 120, 3)
    assert x.shape == (1, 24, 120, 3) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-3 and float(x.std()) == pytest.approx(1.0, abs=0.02)
    assert np.array_equal(x[..., 0], x[..., 2])
    # contrast / brightness changes do not change the model input
    y = pp.prepare_roi_input(img * 0.5 + 0.2, RoiBox(100, 200, 600, 150), 24, 120, 3)
    np.testing.assert_allclose(x, y, atol=1e-3)
    # a box partly outside the image still works
    z = pp.prepare_roi_input(img, RoiBox(800, 350, 300, 100), 24, 120, 1)
    assert np.isfinite(z).all()


def test_landmark_patches_follow_the_points():
    img = np.zeros((500, 1000), np.float32)
    lms = {n: (100.0 + 100 * i, 250.0) for i, n in enumerate(LANDMARK_NAMES)}
    img[240:260, 290:310] = 1.0  # a bright square at landmark 2 (right premolar)
    p = pp.crop_landmark_patches(img, lms, 0.1, out_size=20, patch_mm=5.0)  # 50 px side
    assert p.shape == (8, 20, 20)
    assert p[2].max() == pytest.approx(1.0) and p[2][10, 10] == pytest.approx(1.0)
    assert p[0].max() == 0.0
    x = pp.normalise_landmark_patches(p)
    assert x.shape == (1, 8, 20, 20, 1)


def test_centre_crop_of_the_cache_matches_inference_input():
    rng = np.random.default_rng(0)
    img = pp.resize_area(rng.random((100, 225)).astype(np.float32), 400, 900)
    box = RoiBox(150, 180, 600, 120)
    exact, ctx, inner = data.encode_image(img, "roi", (32, 160, 1), box, None, 0.1)
    c = data.centre_roi(ctx.astype(np.float32), inner, 32, 160)
    assert np.corrcoef(c.ravel(), exact.astype(np.float32).ravel())[0, 1] > 0.97


def test_augmentation_is_random_but_reproducible():
    img = _image() + np.random.default_rng(1).normal(0, 0.05, (400, 900)).astype(np.float32)
    exact, ctx, inner = data.encode_image(img, "roi", (32, 160, 1), RoiBox(100, 200, 600, 120), None, 0.1)
    cfg = data.AugmentConfig()
    a = data.augment_roi(ctx.astype(np.float32), inner, 32, 160, np.random.default_rng(5), cfg)
    b = data.augment_roi(ctx.astype(np.float32), inner, 32, 160, np.random.default_rng(5), cfg)
    c = data.augment_roi(ctx.astype(np.float32), inner, 32, 160, np.random.default_rng(6), cfg)
    assert a.shape == (32, 160) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert abs(float(a.mean())) < 0.05  # normalised like inference


def test_array_dataset_batches():
    img = _image()
    rows = []
    for i in range(4):
        rows.append(type("R", (), {"file": f"f{i}", "label": i % 2, "klemetti": ["C1", None, "C3", "C2"][i],
                                   "roi": RoiBox(100, 200, 600, 120), "landmarks": None,
                                   "pixel_spacing_mm": 0.1, "mcw_mean_mm": 3.0, "extra": {}})())
    ds = data.dataset_from_rows(rows, "roi", (16, 80, 3), load=lambda r: img)
    assert ds.klemetti.tolist() == [0, -1, 2, 1]
    x = ds.batch([0, 1, 2], np.random.default_rng(0), data.AugmentConfig())
    assert x.shape == (3, 16, 80, 3)
    e = ds.batch([0, 1], None, None)
    assert e.shape == (2, 16, 80, 3)
    sub = ds.subset([3, 1])
    assert sub.labels.tolist() == [1, 1] and len(sub) == 2


def test_importing_ml_data_does_not_import_tensorflow():
    import subprocess

    code = ("import sys; import dentalosteo_gui.ml.data, dentalosteo_gui.ml.packs, dentalosteo_gui.ml.zoo, "
            "dentalosteo_gui.ml.pipeline, dentalosteo_gui.ml.evaluation; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_band_context_and_augmentation_stay_on_the_cortex():
    """The band's context crop holds the exact band; mild augmentation stays close to it,
    full augmentation still gives a finite, normalised band of the model's shape."""
    from tests.test_anatomy_band import SPACING, _image, _proposal

    img, prop = _image(40.0), _proposal(40.0)
    spec = data.band_spec_for((32, 128, 1))
    exact, ctx, inner = data.band_inputs(img, prop, SPACING, spec)
    assert exact.shape == (32, 128) and ctx.shape[0] == 32 + 2 * data.BAND_PAD_ROWS
    assert len(inner) == 8 and ctx.shape[1] > 128
    calm = data.AugmentConfig(band_shift=0.0, band_scale=0.0, flip=False, gamma=(1.0, 1.0),
                              contrast=(1.0, 1.0), blur_p=0.0, sharpen_p=0.0, noise_p=0.0,
                              haze_p=0.0, field_p=0.0)
    rng = np.random.default_rng(3)
    for _ in range(5):
        a = data.augment_band(ctx.astype(np.float32), inner, 32, 64, rng, calm)
        assert a.shape == (32, 128)
        assert np.corrcoef(a.ravel(), exact.astype(np.float32).ravel())[0, 1] > 0.9
    for _ in range(5):
        a = data.augment_band(ctx.astype(np.float32), inner, 32, 64, rng, data.AugmentConfig())
        assert a.shape == (32, 128) and np.isfinite(a).all()
        assert abs(float(a.mean())) < 0.2 and np.abs(a).max() <= pp.Z_CLIP + 1e-6
