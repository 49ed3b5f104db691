"""Model packs: round trip, sha256 verification, bands, calibration, device selection."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dentalosteo_gui.core.errors import ModelError
from dentalosteo_gui.core.types import LANDMARK_NAMES, RoiBox
from dentalosteo_gui.ml.calibration import fit_temperature
from dentalosteo_gui.ml.packs import calibrate, classify_risk_level, load_pack, read_card

CARD = {"name": "tiny", "version": "9.9", "arch": "compact", "mode": "roi",
        "input": {"height": 32, "width": 96, "channels": 1},
        "calibration": {"temperature": 2.0},
        "operating_points": {"bands": {"low_max": 0.2, "high_min": 0.7}}}


def test_risk_band_edges():
    assert classify_risk_level(CARD, 0.19) == "low"
    assert classify_risk_level(CARD, 0.2) == "intermediate"
    assert classify_risk_level(CARD, 0.69) == "intermediate"
    assert classify_risk_level(CARD, 0.7) == "high"


def test_temperature_scaling_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-z / 2.5))).astype(int)  # truth: T = 2.5
    p_raw = 1 / (1 + np.exp(-z))
    t = fit_temperature(y, p_raw)
    assert t == pytest.approx(2.5, rel=0.1)
    cal = calibrate(p_raw, t)
    assert np.argsort(cal).tolist() == np.argsort(p_raw).tolist()  # ranking unchanged


def test_missing_pack_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_pack(tmp_path / "nope")
    (tmp_path / "p").mkdir()
    with pytest.raises(ModelError, match="card.json"):
        load_pack(tmp_path / "p")
    (tmp_path / "p" / "card.json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        read_card(tmp_path / "p")


@pytest.mark.ml
def test_pack_round_trip_and_tamper(tmp_path):
    pytest.importorskip("tensorflow")
    from dentalosteo_gui.ml import zoo
    from dentalosteo_gui.ml.packs import save_pack

    model = zoo.build_model("compact", (32, 96, 1), klemetti=True, mcw=True)
    out = save_pack(model, dict(CARD), tmp_path / "pack")
    card = json.loads((out / "card.json").read_text())
    assert len(card["sha256"]) == 64 and card["framework"]["keras"]
    pack = load_pack(out)
    assert (pack.name, pack.version, pack.mode) == ("tiny", "9.9", "roi")
    rng = np.random.default_rng(1)
    pixels = rng.random((300, 600)).astype(np.float32)
    x = pack.prepare_roi(pixels, RoiBox(100, 150, 400, 120))
    assert x.shape == (1, 32, 96, 1) and x.dtype == np.float32
    r = pack.predict(x)
    direct = np.asarray(model(x, training=False)["risk"])[0, 1]
    assert r["risk_raw"] == pytest.approx(float(direct), abs=1e-5)
    assert r["risk"] == pytest.approx(float(calibrate(direct, 2.0)), abs=1e-5)
    assert set(r["klemetti"]) == {"C1", "C2", "C3"}
    assert sum(r["klemetti"].values()) == pytest.approx(1.0, abs=1e-5)
    assert r["attention"] is None
    assert r["mcw_mm"] == pytest.approx(float(np.asarray(model(x, training=False)["mcw_mm"])[0, 0]), abs=1e-5)
    assert pack.keras_model() is pack.keras_model()  # cached
    outs = model(x, training=False)
    r2 = pack.predict_from_outputs([outs["mcw_mm"], outs["klemetti"], outs["risk"]])  # any order
    assert r2["risk"] == pytest.approx(r["risk"]) and r2["klemetti"] == pytest.approx(r["klemetti"])
    # through the backend with Grad-CAM off (a setting): the same risk, no map
    from dentalosteo_gui.ml.backend import KerasBackend

    plain = KerasBackend(out, device="cpu").predict_roi(pixels, RoiBox(100, 150, 400, 120), gradcam=None)
    assert plain.risk == pytest.approx(r["risk"], abs=1e-5) and plain.map_roi is None
    # tamper: one byte of the weights file changed
    data = bytearray((out / "model.keras").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (out / "model.keras").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_pack(out)


@pytest.mark.ml
def test_landmark_pack_outputs_attention(tmp_path):
    pytest.importorskip("tensorflow")
    from dentalosteo_gui.ml import zoo
    from dentalosteo_gui.ml.packs import save_pack

    model = zoo.build_model("siamese-attention", (8, 16, 16, 1))
    card = {"name": "lm", "version": "1", "arch": "siamese-attention", "mode": "landmarks",
            "input": {"height": 16, "width": 16, "channels": 1, "patch_mm": 10.0}}
    pack = load_pack(save_pack(model, card, tmp_path / "lm"))
    pixels = np.random.default_rng(0).random((400, 800)).astype(np.float32)
    lms = {n: (50.0 + 80 * i, 100.0 + 20 * i) for i, n in enumerate(LANDMARK_NAMES)}
    x = pack.prepare_landmarks(pixels, lms, 0.1)
    assert x.shape == (1, 8, 16, 16, 1)
    r = pack.predict(x)
    assert set(r["attention"]) == {"condyle", "gonial_angle", "premolar", "maxillary_tuberosity"}
    assert sum(r["attention"].values()) == pytest.approx(1.0, abs=1e-5)
    assert r["klemetti"] is None
    with pytest.raises(ModelError):
        pack.prepare_roi(pixels, RoiBox(0, 0, 10, 10))


@pytest.mark.ml
def test_select_device_never_crashes():
    pytest.importorskip("tensorflow")
    from dentalosteo_gui.ml.packs import select_device

    assert select_device("cpu") == "CPU"
    assert select_device("auto") in ("CPU", "GPU:0")
    assert select_device("gpu") in ("CPU", "GPU:0")


@pytest.mark.ml
def test_band_pack_screens_along_the_traced_border(tmp_path):
    """A cortex-band pack: input cut along the border, Grad-CAM put back on the border, through
    the backend and the engine (the app's path)."""
    pytest.importorskip("tensorflow")
    from dentalosteo_gui.core.imaging.heatmap import mass_near_polyline
    from dentalosteo_gui.core.screening.engine import Engine
    from dentalosteo_gui.core.types import Radiograph
    from dentalosteo_gui.ml import zoo
    from dentalosteo_gui.ml.backend import KerasBackend
    from dentalosteo_gui.ml.packs import save_pack
    from dentalosteo_gui.ml.pipeline import input_section
    from tests.test_anatomy_band import SPACING, H, W, _border_y, _image, _proposal

    shape = (32, 128, 1)
    model = zoo.build_model("compact-band", shape, klemetti=True)
    card = {"name": "band", "version": "1", "arch": "compact-band", "mode": "band",
            "input": input_section("band", shape, 10.0), "gradcam_layer": "last_conv",
            "calibration": {"temperature": 1.0}}
    pack = load_pack(save_pack(model, card, tmp_path / "band"))
    assert pack.band_spec.rows == 32 and pack.band_spec.width == 128
    prop = _proposal(30.0)
    img = _image(30.0)
    x, band = pack.prepare_band(img, prop, SPACING)
    assert x.shape == (1, 32, 128, 1) and np.isfinite(x).all()
    with pytest.raises(ModelError):
        pack.prepare_roi(img, prop.box)
    backend = KerasBackend(tmp_path / "band", device="cpu")
    pred = backend.predict_strip(img, prop, SPACING)
    assert 0.0 <= pred.risk <= 1.0 and set(pred.klemetti) == {"C1", "C2", "C3"}
    # Grad-CAM off (a setting): the same risk, no map
    plain = backend.predict_strip(img, prop, SPACING, gradcam=None)
    assert plain.risk == pytest.approx(pred.risk, abs=1e-5) and plain.map_image is None
    heat = pred.map_image
    assert heat.shape == (H, W) and 0.0 <= heat.min() and heat.max() <= 1.0
    b = prop.box
    assert heat[: b.y].max(initial=0.0) == 0.0 and heat[b.y + b.h:].max(initial=0.0) == 0.0
    # every bit of the map lies within the band: inside_mm above to outside_mm below the border
    xs = np.arange(b.x, b.x + b.w, 2.0)
    border = list(zip(xs.tolist(), _border_y(xs, 30.0).tolist(), strict=True))
    reach = max(pack.band_spec.inside_mm, pack.band_spec.outside_mm) / SPACING + 3
    if heat.sum() > 0:
        assert mass_near_polyline(heat, border, reach, b) > 0.99
    # the engine calls the band path with the proposal it traced itself
    res = Engine(roi_backend=backend).screen(Radiograph(pixels=img, pixel_spacing_mm=SPACING), roi=prop.box)
    assert res.risk is not None and res.heatmap is not None and res.heatmap.shape == (H, W)
