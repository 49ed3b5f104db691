"""The screening engine with a fake model backend (no TensorFlow needed) and the batch loop."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from dentalosteo_gui.core.cards import referral_decision, score_is_probability
from dentalosteo_gui.core.imaging.imageio import from_array
from dentalosteo_gui.core.screening.batch import (
    CSV_FIELDS,
    collect_files,
    flatten,
    iter_batch,
    read_done,
)
from dentalosteo_gui.core.screening.engine import (
    Cancelled,
    Engine,
    EngineOptions,
    classify_risk_level,
    operating_point,
)
from dentalosteo_gui.core.screening.model_api import ModelPrediction
from dentalosteo_gui.core.types import LANDMARK_NAMES, ModelInfo, RoiBox

CARD = {
    "name": "fake", "version": "0", "mode": "roi",
    "operating_points": {
        "balanced": {"threshold": 0.5, "sensitivity": 0.8, "specificity": 0.7},
        "high_sensitivity": {"threshold": 0.3, "sensitivity": 0.95, "specificity": 0.5},
    },
    "bands": {"low_max": 0.3, "high_min": 0.6},
}


class FakeBackend:
    """Risk = mean intensity inside the box; the map is bright along the box's lower third."""

    def __init__(self) -> None:
        self.info = ModelInfo("fake", "0", "0" * 64)
        self.card = CARD
        self.input_kind = "roi_box"
        self.device = "CPU"
        self.calls: list[RoiBox] = []

    def warm(self) -> float:
        return 0.0

    def predict_roi(self, pixels: np.ndarray, box: RoiBox, gradcam: str | None = "gradcam") -> ModelPrediction:
        self.calls.append(box)
        crop = pixels[box.y : box.y + box.h, box.x : box.x + box.w]
        m = np.zeros((10, 50), np.float32)
        m[7:, :] = 1.0
        return ModelPrediction(risk=float(crop.mean()), risk_raw=float(crop.mean()),
                               klemetti={"C1": 0.2, "C2": 0.7, "C3": 0.1}, map_roi=m, timings_ms={"x": 1.0})

    def predict_landmarks(self, pixels, landmarks, spacing):  # type: ignore[no-untyped-def]
        return ModelPrediction(risk=0.9, attention={"condyle": 0.1, "gonial_angle": 0.4,
                                                    "premolar": 0.4, "maxillary_tuberosity": 0.1})


def _panoramic_like(seed: int = 0) -> np.ndarray:
    """A crude panoramic: dark background, bright U-shaped mandible with a brighter lower cortex
    and tooth crowns above it."""
    rng = np.random.default_rng(seed)
    h, w = 600, 1300
    img = 0.15 + 0.05 * rng.standard_normal((h, w))
    xs = np.arange(w)
    centre = w / 2
    lower = 470 + 60 * (1 - ((xs - centre) / (w * 0.42)) ** 2).clip(0, 1) ** 0.5 - 40
    for x in range(120, w - 120):
        yb = int(lower[x])
        img[yb - 160 : yb, x] += 0.35
        img[yb - 18 : yb, x] += 0.3  # cortex
        if abs(x - centre) < 0.3 * w and (x // 40) % 2 == 0:
            img[yb - 215 : yb - 165, x] += 0.7  # tooth crowns (a dentate jaw)
    return np.clip(img, 0, 1).astype(np.float32)


def test_band_and_operating_point_from_card() -> None:
    assert classify_risk_level(CARD, 0.1) == "low" and classify_risk_level(CARD, 0.45) == "intermediate"
    assert classify_risk_level(CARD, 0.6) == "high"
    op = operating_point(CARD, "high_sensitivity")
    assert op == {"name": "high_sensitivity", "label": "High sensitivity (misses fewer, refers more)",
                  "threshold": 0.3, "sensitivity": 0.95, "specificity": 0.5}
    assert operating_point(CARD, "missing")["name"] == "balanced"
    phantom = {**CARD, "training_data": {"source": "phantom"}}
    assert "phantoms" in operating_point(phantom, "balanced")["measured_on"]
    assert referral_decision(op, 0.31) == "refer" and referral_decision(op, 0.29) == "no_referral"
    assert referral_decision(op, None) is None and referral_decision({}, 0.9) is None
    assert not score_is_probability(phantom) and not score_is_probability(CARD)
    assert score_is_probability({**CARD, "calibration": {"calibrated_on": "real patients"}})


def test_screen_with_fake_backend_maps_heatmap_into_image() -> None:
    rad = from_array(_panoramic_like(), path="synthetic.png")
    backend = FakeBackend()
    eng = Engine(backend, None, EngineOptions())
    box = RoiBox(300, 350, 700, 150)
    res = eng.screen(rad, roi=box)
    assert backend.calls and backend.calls[0] == box
    assert res.roi == box and res.risk is not None
    assert res.klemetti_class == "C2"
    assert res.heatmap is not None and res.heatmap.shape == rad.pixels.shape
    assert res.heatmap.dtype == np.float32 and res.heatmap.max() == pytest.approx(1.0)
    outside = res.heatmap.copy()
    outside[box.y : box.y + box.h, box.x : box.x + box.w] = 0
    assert outside.max() == 0.0
    assert res.assumed_spacing and res.pixel_spacing_mm == 0.1
    assert any("assumed" in w for w in res.warnings)
    assert res.model is not None and res.device == "CPU"
    d = res.as_json_dict()
    for key in ("risk", "band", "klemetti", "mcw_mm", "assessable", "warnings", "roi", "landmarks",
                "model", "device", "timings_ms"):
        assert key in d
    assert set(d["klemetti"]) >= {"class", "probabilities", "rule_class", "agree"}
    assert set(d["mcw_mm"]) == {"left", "right", "assumed_spacing"}


def test_explicit_spacing_is_not_assumed() -> None:
    rad = from_array(_panoramic_like(), path="s.png")
    res = Engine(FakeBackend()).screen(rad, roi=RoiBox(300, 350, 700, 150), pixel_spacing_mm=0.12)
    assert not res.assumed_spacing and res.pixel_spacing_mm == 0.12


def test_no_model_gives_rule_based_only() -> None:
    rad = from_array(_panoramic_like(), path="s.png")
    res = Engine(None).screen(rad, roi=RoiBox(300, 350, 700, 150))
    assert res.risk is None and res.risk_level is None and res.model is None
    assert any("no model" in w for w in res.warnings)


def test_landmark_mode_uses_landmark_backend() -> None:
    rad = from_array(_panoramic_like(), path="s.png")
    lm = {n: (100.0 + 10 * i, 200.0) for i, n in enumerate(LANDMARK_NAMES)}
    eng = Engine(FakeBackend(), lambda: FakeBackend())
    res = eng.screen(rad, landmarks=lm)
    assert res.mode == "landmarks" and res.landmarks == lm
    assert res.attention and abs(sum(res.attention.values()) - 1.0) < 1e-6


def test_cancel_before_start() -> None:
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        Engine(FakeBackend()).screen(from_array(_panoramic_like()), cancel=ev)


def test_batch_records_bad_files_and_continues(tmp_path: Path) -> None:
    from PIL import Image

    good = tmp_path / "a.png"
    Image.fromarray((_panoramic_like() * 255).astype(np.uint8)).save(good)
    bad = tmp_path / "b.png"
    bad.write_bytes(b"not an image")
    files = collect_files([tmp_path])
    assert [f.name for f in files] == ["a.png", "b.png"]
    eng = Engine(FakeBackend())
    items = list(iter_batch(lambda r, sp: eng.screen(r, roi=RoiBox(300, 350, 700, 150)), files, workers=2))
    assert len(items) == 2
    assert items[0].error == "" and items[0].result is not None
    assert "b.png" in items[1].error
    row = flatten(items[0].result, "a.png")
    assert set(row) == set(CSV_FIELDS) and row["risk"] != ""


def test_batch_cancel_stops_between_files(tmp_path: Path) -> None:
    from PIL import Image

    for i in range(4):
        Image.fromarray((_panoramic_like(i) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    ev = threading.Event()
    eng = Engine(FakeBackend())
    got = []
    for item in iter_batch(lambda r, sp: eng.screen(r, roi=RoiBox(300, 350, 700, 150)),
                           collect_files([tmp_path]), cancel=ev):
        got.append(item)
        ev.set()
    assert len(got) == 1


def test_read_done_for_resume(tmp_path: Path) -> None:
    p = tmp_path / "out.csv"
    p.write_text("file,risk\na.png,0.1\nb.png,\n")
    assert read_done(p) == {"a.png", "b.png"}
    assert read_done(tmp_path / "none.csv") == set()


def test_operating_point_prefers_held_out_figures() -> None:
    card = {"operating_points": {"balanced": {"threshold": 0.4, "sensitivity": 0.9, "specificity": 0.8,
                                              "held_out": {"sensitivity": 0.7, "specificity": 0.6}}}}
    op = operating_point(card, "balanced")
    assert op["threshold"] == 0.4 and op["sensitivity"] == 0.7 and op["specificity"] == 0.6
    assert op["measured_on"] == "held-out test set"


@pytest.mark.parametrize("rho, words", [(0.26, "did not follow the cortical width"),
                                        (-0.34, "no DXA-labelled radiograph has checked it")])
def test_phantom_model_warning_says_what_was_seen_on_real_images(rho, words) -> None:
    fake = FakeBackend()
    fake.info = ModelInfo("fake", "0", "0" * 64, source="phantom")
    fake.card = {**CARD, "behaviour_on_unlabelled_real_radiographs": {"spearman_risk_vs_rule_mean_mcw": rho}}
    res = Engine(roi_backend=fake).screen(from_array(_panoramic_like(), spacing=0.1))
    msg = [w for w in res.warnings if "synthetic phantoms" in w]
    assert len(msg) == 1 and words in msg[0] and "do not act on the risk score" in msg[0]


def test_quality_check_beside_the_model_gives_the_sequential_reasons() -> None:
    """The quality check runs in a thread beside the model (stages.QualityJob): the result has
    the reasons and dentition copies the check gives when run alone, in both modes."""
    from dentalosteo_gui.core import anatomy
    from dentalosteo_gui.core.anatomy.dentition import DentitionWork

    def image() -> np.ndarray:  # bright parts saturated: metal and no crowns, two reasons
        a = _panoramic_like(3)
        return np.where(a > 0.6, 1.0, a).astype(np.float32)

    rad = from_array(image(), path="synthetic.png")
    alone = list(anatomy.assess_quality(rad, anatomy.propose_roi(rad), DentitionWork(rad.pixels)))
    assert len(alone) >= 2
    eng = Engine(FakeBackend(), FakeBackend(), EngineOptions())
    for mode in ("roi", "landmarks"):
        res = eng.screen(from_array(image(), path="synthetic.png"), mode=mode)
        assert res.warnings[: len(alone)] == alone  # the quality reasons lead the warnings
        assert "quality" in res.timings_ms


def test_an_error_in_the_quality_thread_reaches_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected error in the quality check is raised by screen() (not lost in its thread,
    no hang), in both modes."""
    from dentalosteo_gui.core import anatomy

    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("quality exploded")

    monkeypatch.setattr(anatomy, "assess_quality", boom)
    eng = Engine(FakeBackend(), FakeBackend(), EngineOptions())
    for mode in ("roi", "landmarks"):
        with pytest.raises(RuntimeError, match="quality exploded"):
            eng.screen(from_array(_panoramic_like(), path="synthetic.png"), mode=mode)


def test_a_cancelled_screening_leaves_no_stage_thread_running() -> None:
    """Cancelled right after the cortex and quality threads start: screen() waits for them, so
    nothing of the cancelled screening runs on beside the next one."""
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) >= 3  # the check just before the model: both threads are running

    eng = Engine(FakeBackend(), None, EngineOptions())
    with pytest.raises(Cancelled):
        eng.screen(from_array(_panoramic_like(), path="synthetic.png"), cancel=cancel)
    assert len(calls) == 3
    assert not [t.name for t in threading.enumerate() if t.name in ("quality", "cortex")]


def test_a_read_only_model_map_is_clipped_into_a_copy() -> None:
    """A backend may return a read-only map: the heatmap is its clipped copy (no crash)."""

    class ReadOnlyMap(FakeBackend):
        def predict_roi(self, pixels, box, gradcam="gradcam"):  # type: ignore[no-untyped-def]
            pred = super().predict_roi(pixels, box, gradcam)
            m = np.zeros(pixels.shape, np.float32)
            m[box.y : box.y + box.h, box.x : box.x + box.w] = 1.5
            m.setflags(write=False)
            pred.map_image, pred.map_roi = m, None
            return pred

    res = Engine(ReadOnlyMap(), None, EngineOptions()).screen(
        from_array(_panoramic_like(), path="synthetic.png"), roi=RoiBox(300, 350, 700, 150))
    assert res.heatmap is not None and res.heatmap.flags.writeable and float(res.heatmap.max()) == 1.0
