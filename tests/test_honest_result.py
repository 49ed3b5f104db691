"""Issue 21: no score without an assessable image, everywhere (engine, JSON, CSV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dentalosteo_gui.core.imaging.imageio import from_array, load_radiograph
from dentalosteo_gui.core.screening.batch import flatten
from dentalosteo_gui.core.screening.engine import Engine
from dentalosteo_gui.core.types import RoiBox

from .test_engine import FakeBackend, _panoramic_like

CHEST = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "dicom" / "pydicom-data" / "RG1_UNCR.dcm"


def _assert_no_reading(res) -> None:  # type: ignore[no-untyped-def]
    assert not res.assessable
    assert res.risk is None and res.risk_level is None
    assert res.klemetti_class is None and res.klemetti_probabilities is None
    assert res.heatmap is None and res.attention is None
    d = res.as_json_dict()
    assert d["risk"] is None and d["band"] is None and d["klemetti"]["class"] is None
    row = flatten(res, "x")
    assert row["risk"] == "" and row["band"] == "" and row["klemetti_p_C2"] == ""
    # nor through the cross-check: its warning quotes both scores
    assert d["other_reading"] is None
    assert not any(w.startswith("two readings disagree") for w in res.warnings), res.warnings


def test_square_image_is_not_a_panoramic_and_gets_no_reading() -> None:
    img = _panoramic_like()[:, 300:900]  # 600 x 600: a square image
    res = Engine(FakeBackend()).screen(from_array(np.ascontiguousarray(img), spacing=0.1))
    _assert_no_reading(res)
    assert res.status == "not_panoramic" and res.as_json_dict()["status"] == "not_panoramic"
    assert res.mcw_left_mm is None and res.mcw_right_mm is None and res.klemetti_rule is None
    assert res.warnings[0].startswith("not a panoramic radiograph") and "open a dental panoramic" in res.warnings[0]


def test_box_moved_off_the_border_gives_no_score() -> None:
    rad = from_array(_panoramic_like(), spacing=0.1)
    fake = FakeBackend()
    good = Engine(fake).screen(rad)
    assert good.assessable and good.risk is not None and good.status == "assessed"
    off = Engine(fake).screen(rad, roi=RoiBox(40, 0, 300, 60))  # top-left corner, off the mandible
    _assert_no_reading(off)
    assert off.status == "not_assessable" and off.warnings


def test_chest_cr_gets_no_osteoporosis_reading() -> None:
    if not CHEST.exists():
        pytest.skip(f"{CHEST} absent (development data is not shipped)")
    from dentalosteo_gui.services import make_engine

    res = make_engine().screen(load_radiograph(CHEST))
    _assert_no_reading(res)
    assert res.status == "not_panoramic" and res.mcw_left_mm is None and res.mcw_right_mm is None


class _ScaleRecordingStripModel(FakeBackend):
    """A strip model whose risk is the mm/px it was given (so any dependence shows)."""

    def __init__(self) -> None:
        super().__init__()
        self.input_kind = "cortex_strip"
        self.seen: list[float] = []

    def predict_strip(self, pixels, proposal, mm_per_px, gradcam="gradcam"):  # type: ignore[no-untyped-def]
        from dentalosteo_gui.core.screening.model_api import ModelPrediction

        self.seen.append(mm_per_px)
        return ModelPrediction(risk=min(1.0, mm_per_px), klemetti={"C1": 0.6, "C2": 0.3, "C3": 0.1})


def test_a_guessed_spacing_does_not_reach_the_model() -> None:
    rad = from_array(_panoramic_like(), spacing=None)
    model = _ScaleRecordingStripModel()
    eng = Engine(model)
    results = [eng.screen(rad, pixel_spacing_mm=s) for s in (0.1 / 1.5, 0.1, 0.15)]
    assert len(set(model.seen)) == 1  # the model saw the same scale each time
    assert {r.model_scale.source for r in results} == {"anatomy"}
    assert [r.spacing.mm_per_px for r in results] == [0.1 / 1.5, 0.1, 0.15]  # MCW uses what was stated
    assert results[0].mcw_left_mm == pytest.approx(results[1].mcw_left_mm / 1.5, rel=0.02)
    assert results[1].as_json_dict()["model_input_scale"]["source"] == "anatomy"


def test_a_measured_spacing_does_reach_the_model() -> None:
    model = _ScaleRecordingStripModel()
    eng = Engine(model)
    for s in (0.08, 0.12):
        res = eng.screen(from_array(_panoramic_like(), spacing=s))
        assert res.model_scale is not None and res.model_scale.source == "file"
    assert model.seen == [0.08, 0.12]


def test_real_radiograph_risk_holds_when_the_stated_spacing_changes() -> None:
    img = CHEST.parents[2] / "abdi_dev" / "images" / "1.png"
    if not img.exists():
        pytest.skip(f"{img} absent (development data is not shipped)")
    from dentalosteo_gui.services import make_engine

    eng = make_engine()
    rad = load_radiograph(img)
    risks = [eng.screen(rad, pixel_spacing_mm=s).risk for s in (0.1 / 1.5, 0.1, 0.15, 0.19)]
    assert all(r is not None for r in risks)
    assert max(risks) - min(risks) <= 0.05, risks  # type: ignore[operator]


def _pdf_text(pdf: Path) -> str:
    import shutil
    import subprocess

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_pdf_of_a_non_panoramic_is_a_could_not_be_screened_note(tmp_path: Path) -> None:
    from dentalosteo_gui.core.records.report import write_report

    img = np.ascontiguousarray(_panoramic_like()[:, 300:900])
    rad = from_array(img, spacing=0.1)
    res = Engine(FakeBackend()).screen(rad)
    text = _pdf_text(write_report(res, rad, tmp_path / "r.pdf", model_card=FakeBackend().card))
    assert "could not be screened" in text.lower() and "not a panoramic radiograph" in text
    for word in ("Osteoporosis risk score", "Dental panoramic radiograph - mandibular",
                 "probability", "Retake", "MANDIBULAR CORTICAL WIDTH"):
        assert word not in text, word


def test_pdf_calls_a_phantom_score_a_score_not_a_probability(tmp_path: Path) -> None:
    from dentalosteo_gui.core.records.report import write_report

    rad = from_array(_panoramic_like(), spacing=0.1)
    fake = FakeBackend()
    res = Engine(fake).screen(rad)
    card = {**fake.card, "training_data": {"source": "phantom"}}
    text = _pdf_text(write_report(res, rad, tmp_path / "r.pdf", model_card=card))
    assert "not a probability" in text and "model probability" not in text
    assert "high_specificity" not in text and "Balanced" in text
    calibrated = {**fake.card, "calibration": {"calibrated_on": "real patients"}}
    text = _pdf_text(write_report(res, rad, tmp_path / "r2.pdf", model_card=calibrated))
    assert "probability, calibrated on patients" in text


def test_roi_and_landmark_readings_that_disagree_are_both_shown() -> None:
    rad = from_array(_panoramic_like(), spacing=0.1)
    eng = Engine(FakeBackend(), lambda: FakeBackend())  # landmark reading: 0.9
    roi = eng.screen(rad, cross_check=True)
    assert roi.risk is not None and roi.risk < 0.6
    assert roi.other_reading is not None and roi.other_reading["mode"] == "landmarks"
    assert roi.other_reading["risk"] == pytest.approx(0.9)
    assert any(w.startswith("two readings disagree: the ROI reading") for w in roi.warnings)
    assert roi.as_json_dict()["other_reading"]["band"] == "high"
    lm = eng.screen(rad, mode="landmarks", cross_check=True)
    assert lm.other_reading is not None and lm.other_reading["mode"] == "roi"
    assert any("the landmark reading is 0.90" in w for w in lm.warnings)
    plain = eng.screen(rad)
    assert plain.other_reading is None and not any("disagree" in w for w in plain.warnings)


def test_referral_comes_from_the_operating_point_and_never_from_a_phantom_model() -> None:
    rad = from_array(_panoramic_like(), spacing=0.1)
    fake = FakeBackend()
    res = Engine(fake).screen(rad)
    th = res.operating_point["threshold"]
    assert res.referral == ("refer" if res.risk >= th else "no_referral")
    fake.card = {**fake.card, "training_data": {"source": "phantom"}}
    assert Engine(fake).screen(rad).referral is None


@pytest.mark.parametrize("kind", ["grey", "noise"])
def test_no_border_no_width(kind: str) -> None:
    """A panoramic-shaped image with no mandible in it (uniform grey, pure noise): not
    assessable, and no cortex width, Klemetti rule or PMI read off it (they used to be: a
    grey PNG gave MCW 17.5 / 19.5 px and rule C1, noise 27 / 72 px and PMI 0.27)."""
    rng = np.random.default_rng(3)
    px = (np.full((1200, 2800), 128 / 255, np.float32) if kind == "grey"
          else rng.integers(0, 256, (1200, 2800)).astype(np.float32) / 255)
    res = Engine(FakeBackend()).screen(from_array(px))
    _assert_no_reading(res)
    assert res.status == "not_assessable"
    assert res.mcw_left_mm is None and res.mcw_right_mm is None and res.klemetti_rule is None
    assert res.mcw_left_px is None and res.mcw_right_px is None
    assert res.pmi_left is None and res.pmi_right is None


def test_a_border_that_is_there_keeps_its_width_when_not_assessable() -> None:
    """Not assessable for a reason that leaves the border (here: a child, by the file's dates)
    keeps the measured width for the dentist to look at; only the score goes."""
    from dataclasses import replace

    from dentalosteo_gui.core.types import PatientInfo

    rad = from_array(_panoramic_like(), spacing=0.1)
    child = replace(rad, patient=PatientInfo(birth_date="20150101", study_date="20250101"))
    res = Engine(FakeBackend()).screen(child)
    _assert_no_reading(res)
    assert any("years old" in w for w in res.warnings), res.warnings
    assert res.mcw_left_mm is not None or res.mcw_right_mm is not None


def test_a_child_gets_no_klemetti_class() -> None:
    """The Klemetti classes, like the MCW cut-offs, are defined for adults: a child's image
    keeps its measured width but gets no rule class (it used to show 'rule: C2')."""
    from dataclasses import replace

    from dentalosteo_gui.core.types import PatientInfo

    rad = from_array(_panoramic_like(), spacing=0.1)
    adult = Engine(FakeBackend()).screen(rad)
    assert adult.klemetti_rule is not None
    child = Engine(FakeBackend()).screen(replace(rad, patient=PatientInfo(birth_date="20150101",
                                                                         study_date="20250101")))
    assert child.klemetti_rule is None
    rule = child.as_json_dict()["klemetti"]["evidence"]["rule"]
    assert "adults" in rule["why"] and "definition" not in rule and rule["sides_graded"] == []
    assert all(not v["graded"] for v in rule["per_side"].values())


def test_a_child_thin_cortex_is_no_referral_sign() -> None:
    """The 3 mm cut-off is an adult's: a child's thin cortex is shown, not flagged."""
    from dataclasses import replace

    from dentalosteo_gui.core.data.phantoms import generate_phantom
    from dentalosteo_gui.core.records.report_text import measured_referral_signs
    from dentalosteo_gui.core.types import PatientInfo
    from dentalosteo_gui.gui.wording import mcw_reading

    case = generate_phantom(5, klemetti="C1", mcw_right_mm=2.0, mcw_left_mm=2.0)
    rad = from_array(case.image, spacing=case.truth.pixel_spacing_mm)
    adult = Engine(FakeBackend()).screen(rad)
    assert any("under 3 mm" in s for s in measured_referral_signs(adult)), measured_referral_signs(adult)
    child = Engine(FakeBackend()).screen(replace(rad, patient=PatientInfo(birth_date="20150101",
                                                                         study_date="20250101")))
    assert child.mcw_right_mm is not None and child.mcw_right_mm < 3.0
    assert measured_referral_signs(child) == []
    assert not mcw_reading(child, "right").low and mcw_reading(adult, "right").low
