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


def test_depth_zoom_widens_the_cortex_about_the_border_and_is_off_by_default():
    """The MCW-consistent depth zoom: a cortex of 10 rows above the border row becomes 2z
    wider rows at z = 2 and the border row stays put; off by default, when it draws nothing, so
    the committed training recipe sees the same random stream."""
    x = np.zeros((64, 8), np.float32)
    br = data.AugmentConfig().border_frac * 63
    top = int(round(br)) - 10
    x[top:int(round(br)) + 1] = 1.0
    y = data.zoom_depth(x, 2.0, br)
    assert (y[:, 0] > 0.5).sum() == pytest.approx(2 * (x[:, 0] > 0.5).sum(), abs=2)
    assert y[int(round(br)) - 1, 0] == 1.0 and y[int(round(br)) + 3, 0] == 0.0
    from tests.test_anatomy_band import SPACING, _image, _proposal

    img, prop = _image(40.0), _proposal(40.0)
    spec = data.band_spec_for((32, 128, 1))
    _, ctx, inner = data.band_inputs(img, prop, SPACING, spec)
    ctx = ctx.astype(np.float32)
    zooms: list[float] = []
    a = data.augment_band(ctx, inner, 32, 64, np.random.default_rng(5), data.AugmentConfig(), zooms)
    b = data.augment_band(ctx, inner, 32, 64, np.random.default_rng(5), data.AugmentConfig())
    assert zooms == [1.0] and np.array_equal(a, b)
    zooms = []
    on = data.AugmentConfig(depth_zoom_p=1.0)
    for k in range(6):
        data.augment_band(ctx, inner, 32, 64, np.random.default_rng(k), on, zooms)
    assert len(zooms) == 6 and all(1.0 <= z <= 2.0 for z in zooms) and len(set(zooms)) == 6


def test_training_masks_the_risk_of_zoomed_samples_and_scales_their_mcw(monkeypatch: pytest.MonkeyPatch):
    """The loop hands the step the MCW target times the zoom and a zero risk weight for a
    zoomed sample (the label model's label belongs to the unzoomed width)."""
    from dentalosteo_gui.ml import training

    n = 6
    ds = data.ArrayDataset("band", (32, 128, 1), np.array([0, 1] * 3), np.zeros(n, np.int64),
                           np.zeros((n, 32, 128), np.float16), [np.zeros((40, 140), np.float16)] * n,
                           [(2.0, 4.0, 60.0, 32.0, 72.0, 4.0, 60.0, 32.0)] * n, [], np.full(n, 3.0))
    zs = iter([1.0, 1.5, 1.0, 2.0, 1.0, 1.25])

    def fake_batch(idx, rng, aug, zooms=None):
        for _ in idx:
            zooms.append(next(zs))
        return np.zeros((len(idx), 32, 128, 1), np.float32)

    monkeypatch.setattr(ds, "batch", fake_batch)
    seen = {}

    class Loop(training._Loop):
        def __init__(self) -> None:  # only what run_epoch's batch maker reads
            self.train, self.cfg, self.n, self.bs, self.steps = ds, training.TrainConfig(epochs=1), n, n, 1
            self.mcw_all = ds.mcw.astype(np.float32)
            self.cancel, self.progress, self.kw = None, None, 0.0

        def step(self, x, y, k, m, rw):  # type: ignore[override]
            seen["m"], seen["rw"] = m.numpy(), rw.numpy()
            return 0.0, 0.0

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        Loop().run_epoch(pool, 0)
    assert seen["rw"].tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert seen["m"].tolist() == pytest.approx([3.0, 4.5, 3.0, 6.0, 3.0, 3.75])
