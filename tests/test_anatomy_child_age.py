"""Issue 15: a child's radiograph degrades to "not assessable" with a reason. From the pixels a
child is not recognised (docs/anatomy.md); from the file's birth and study dates it is."""

from __future__ import annotations

import pytest

from dentalosteo_gui.core.anatomy import assess_quality, propose_roi
from dentalosteo_gui.core.anatomy.quality import ADULT_AGE, age_reason
from dentalosteo_gui.core.data.phantoms import generate_phantom
from dentalosteo_gui.core.imaging.imageio import from_array
from dentalosteo_gui.core.types import PatientInfo, years_between


@pytest.mark.parametrize(("born", "on", "age"), [
    ("20100615", "20261201", 16.5), ("19600101", "20260101", 66.0), ("20080601", "20260601", 18.0),
    ("", "20261201", None), ("2010-06-15", "20261201", None), ("20261202", "20261201", None),
    ("20100615", "", None),
])
def test_years_between(born, on, age) -> None:
    assert years_between(born, on) == age


def test_age_reason_only_under_adult_age() -> None:
    assert age_reason(None) is None and age_reason(ADULT_AGE) is None and age_reason(70.2) is None
    text = age_reason(9.4)
    assert text is not None and "9.4 years old" in text and "adults" in text


@pytest.fixture(scope="module")
def phantom_rad():
    case = generate_phantom(3)
    return from_array(case.image, spacing=float(case.truth.pixel_spacing_mm))


def test_child_by_dates_is_not_assessable(phantom_rad) -> None:
    prop = propose_roi(phantom_rad)
    assert not assess_quality(phantom_rad, prop)  # an ordinary phantom passes
    phantom_rad.patient = PatientInfo(birth_date="20150301", study_date="20261110")
    reasons = assess_quality(phantom_rad, prop)
    assert any("11.7 years old" in r for r in reasons), reasons
    phantom_rad.patient = PatientInfo(birth_date="19550301", study_date="20261110")
    assert not assess_quality(phantom_rad, prop)


def test_child_dicom_gets_no_reading(tmp_path) -> None:
    """Through the loader and the engine: the birth date in the DICOM header makes the screening
    not assessable (no risk, no Klemetti), with the reason; the same file for an adult is read."""
    from pathlib import Path

    import pydicom

    from dentalosteo_gui.core.imaging.imageio import load_radiograph
    from dentalosteo_gui.services import make_engine

    sample = Path(__file__).resolve().parents[1] / "resources" / "samples" / "phantom_c2.dcm"
    engine = make_engine()
    for born, young in (("20140505", True), ("19580505", False)):
        ds = pydicom.dcmread(sample)
        ds.PatientBirthDate, ds.StudyDate = born, "20261110"
        path = tmp_path / f"{born}.dcm"
        ds.save_as(path)
        res = engine.screen(load_radiograph(path))
        assert res.assessable is not young, res.warnings
        if young:
            assert res.risk is None and res.status == "not_assessable"
            assert any("12.5 years old" in w for w in res.warnings), res.warnings
            # the other mode's reading is withheld with it (its warning used to quote both scores)
            assert res.other_reading is None
            assert not any(w.startswith("two readings disagree") for w in res.warnings), res.warnings
