"""PDF screening report: content via pdftotext, anonymisation, layout via pdftoppm pixels."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dentalosteo_gui.core.errors import ConfigError
from dentalosteo_gui.core.imaging.heatmap import place_in_image
from dentalosteo_gui.core.records.report import (
    DISCLAIMER,
    PHANTOM_NOTICE,
    format_dicom_date,
    format_person_name,
    local_salt,
    next_step_text,
    pseudonym,
    write_report,
)
from dentalosteo_gui.core.system.settings import Settings
from dentalosteo_gui.core.types import (
    KLEMETTI_DEFINITIONS,
    ModelInfo,
    PatientInfo,
    Radiograph,
    RoiBox,
    ScreeningResult,
    Spacing,
)

SHA = "9f2c4e1d7a3b" + "0" * 52
NAME = "Zebedee^Quintessa"
PID = "PX-4471902"


def make_radiograph(h: int = 300, w: int = 640) -> Radiograph:
    """A synthetic panoramic-like image: dark background, a bright U-shaped mandible band."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    border = 0.55 * h + 0.35 * h * ((xx - w / 2) / (w / 2)) ** 2 * -1 + 0.3 * h
    band = np.exp(-(((yy - border) / (0.05 * h)) ** 2))
    px = np.clip(0.15 + 0.6 * band + 0.05 * np.sin(xx / 7.0), 0, 1).astype(np.float32)
    return Radiograph(pixels=px, path="/data/scans/Zebedee_Quintessa_pano.png", format="PNG",
                      patient=PatientInfo(name=NAME, patient_id=PID, birth_date="19490817",
                                          sex="F", study_date="20261103"))


def make_result(rad: Radiograph, *, risk: float | None = 0.83, band: str | None = "high",
                assessable: bool = True, model: bool = True,
                warnings: list[str] | None = None, roi: RoiBox | None = RoiBox(120, 180, 120, 60),
                landmarks: dict | None = None) -> ScreeningResult:
    h, w = rad.pixels.shape
    heat = None
    if model and roi is not None:
        yy, xx = np.mgrid[0 : roi.h, 0 : roi.w]
        raw = np.exp(-(((xx - roi.w * 0.6) / 20.0) ** 2 + ((yy - roi.h * 0.7) / 10.0) ** 2))
        heat = place_in_image(raw.astype(np.float32), roi, (h, w))
    border_r = [(float(x), float(0.85 * h - 0.1 * x)) for x in range(20, w // 2, 20)]
    border_l = [(float(x), float(0.85 * h - 0.1 * (w - x))) for x in range(w // 2, w - 20, 20)]
    return ScreeningResult(
        path=rad.path, risk=risk, risk_level=band,
        operating_point={"name": "balanced", "threshold": 0.5, "sensitivity": 0.84,
                         "specificity": 0.79},
        klemetti_class="C3" if model else None,
        klemetti_probabilities={"C1": 0.05, "C2": 0.25, "C3": 0.70} if model else None,
        klemetti_rule="C2", klemetti_agree=False if model else None, klemetti_evidence={},
        mcw_left_mm=3.4, mcw_right_mm=2.6, spacing=Spacing(0.1, "assumed"),
        assessable=assessable,
        warnings=warnings if warnings is not None else ["pixel spacing assumed 0.100 mm"],
        roi=roi, roi_confidence=0.9, border_right=border_r, border_left=border_l,
        landmarks=landmarks, attention={"near_border": 0.64} if model else None,
        model=ModelInfo("vgg16-mandible", "1.2.0", SHA, "VGG16", "phantom") if model else None,
        device="CPU", timings_ms={"total": 12.0}, heatmap=heat,
    )


PHANTOM_CARD = {"training_data": {"source": "phantom"}}


def _need(tool: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(f"{tool} not installed (apt-get install poppler-utils)")
    return exe


def pdf_text(pdf: Path) -> str:
    exe = _need("pdftotext")
    out = subprocess.run([exe, "-layout", str(pdf), "-"], capture_output=True, text=True,
                         check=True, timeout=60)
    return out.stdout


def n_pages(pdf: Path) -> int:
    exe = _need("pdfinfo")
    out = subprocess.run([exe, str(pdf)], capture_output=True, text=True, check=True, timeout=60)
    m = re.search(r"^Pages:\s+(\d+)", out.stdout, re.M)
    assert m, out.stdout
    return int(m.group(1))


def render_png(pdf: Path, dpi: int = 40) -> np.ndarray:
    from PIL import Image

    exe = _need("pdftoppm")
    stem = pdf.with_suffix("")
    subprocess.run([exe, "-png", "-r", str(dpi), "-singlefile", str(pdf), str(stem)],
                   check=True, timeout=60)
    return np.asarray(Image.open(str(stem) + ".png").convert("RGB"))


def test_report_content_scores_model_and_disclaimer(tmp_path: Path) -> None:
    rad = make_radiograph()
    res = make_result(rad)
    out = write_report(res, rad, tmp_path / "r.pdf", settings=Settings(clinic_name="Harbour Dental"),
                       model_card=PHANTOM_CARD)
    assert out.is_file() and out.read_bytes().startswith(b"%PDF")
    text = pdf_text(out)
    flat = " ".join(text.split())
    assert "Harbour Dental" in flat
    assert "0.83" in flat and "HIGH" in flat
    assert "Sensitivity 84 %" in flat and "Specificity 79 %" in flat and "0.50" in flat
    assert SHA[:12] in flat and "vgg16-mandible" in flat
    assert "not a diagnosis" in flat and "DXA" in flat and "reference standard" in flat
    assert " ".join(PHANTOM_NOTICE.split()) in flat
    assert "C3" in flat and "70 %" in flat
    assert "2.6 mm" in flat and "3.4 mm" in flat and "ASSUMED" in flat
    assert "consider referring" in flat.lower()
    # patient block, identifiable (not anonymised)
    assert "Zebedee, Quintessa" in flat and PID in flat and "1949-08-17" in flat
    assert n_pages(out) == 1


def test_anonymised_report_has_no_patient_data(tmp_path: Path) -> None:
    rad = make_radiograph()
    res = make_result(rad, warnings=[f"could not read {rad.path}", "spacing assumed"])
    out = write_report(res, rad, tmp_path / "anon.pdf", anonymize=True, model_card=PHANTOM_CARD)
    text = pdf_text(out)
    case = pseudonym(PID, local_salt())
    assert case in text and case.startswith("CASE-")
    for phi in ("Zebedee", "Quintessa", PID, "1949", "2026-11-03", "Zebedee_Quintessa_pano"):
        assert phi not in text, phi
    raw = out.read_bytes()  # metadata (Info dict) must not leak either
    assert b"Zebedee" not in raw and PID.encode() not in raw
    assert "0.83" in text  # the findings themselves stay


def test_no_model_and_not_assessable_render_gracefully(tmp_path: Path) -> None:
    rad = make_radiograph()
    res = make_result(rad, risk=None, band=None, model=False)
    t = " ".join(pdf_text(write_report(res, rad, tmp_path / "nomodel.pdf",
                                       model_card=PHANTOM_CARD)).split())
    assert "not available" in t and "NO RISK SCORE" in t and "no risk model" in t.lower()
    assert "synthetic phantoms" not in t  # no model was used: no phantom notice
    assert "not a diagnosis" in t

    res2 = make_result(rad, risk=None, band=None, assessable=False,
                       warnings=["the inferior border could not be traced"])
    t2 = " ".join(pdf_text(write_report(res2, rad, tmp_path / "na.pdf")).split())
    assert "NOT ASSESSABLE" in t2
    assert "the inferior border could not be traced" in t2 and "Retake" in t2


def test_band_chip_colour_is_drawn(tmp_path: Path) -> None:
    """The band chip is a solid colour block: red for high, green for low (pixel check)."""
    rad = make_radiograph()
    counts = {}
    for band, risk in (("high", 0.9), ("low", 0.1)):
        img = render_png(write_report(make_result(rad, risk=risk, band=band), rad,
                                      tmp_path / f"{band}.pdf"), dpi=30).astype(int)
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        red = int(((r > 160) & (g < 80) & (b < 80)).sum())
        green = int(((g > 100) & (r < 80) & (b < 80)).sum())
        counts[band] = (red, green)
    assert counts["high"][0] > 600 and counts["high"][0] > 5 * counts["low"][0]
    assert counts["low"][1] > 600 and counts["low"][1] > 5 * counts["high"][1]


def test_many_warnings_continue_on_the_next_pages(tmp_path: Path) -> None:
    """No warning is ever dropped: those that do not fit continue on further pages, each with
    the patient block and the footer (disclaimer)."""
    rad = make_radiograph()
    warns = [f"warning number {i}: " + "long explanation " * 12 for i in range(40)]
    out = write_report(make_result(rad, warnings=warns), rad, tmp_path / "w.pdf")
    pages = n_pages(out)
    assert pages >= 2
    t = " ".join(pdf_text(out).split())
    assert "more on the next page" in t.lower() and "not a diagnosis" in t
    for i in range(40):
        assert f"warning number {i}:" in t
    assert t.count("not a diagnosis") == pages and t.count("Zebedee, Quintessa") == pages


def test_letter_page_size_and_landmark_mode(tmp_path: Path) -> None:
    rad = make_radiograph()
    lm = {"right_condyle": (60.0, 80.0), "left_condyle": (580.0, 80.0)}
    res = make_result(rad, roi=None, landmarks=lm)
    out = write_report(res, rad, tmp_path / "letter.pdf", settings=Settings(page_size="Letter"))
    raw = out.read_bytes()
    assert re.search(rb"/MediaBox \[\s*0 0 612 792\s*\]", raw), "not a Letter page"
    assert "Yellow: landmarks" in " ".join(pdf_text(out).split())
    a4 = write_report(make_result(rad), rad, tmp_path / "a4.pdf")
    assert re.search(rb"/MediaBox \[\s*0 0 595\.27\d* 841\.88\d*\s*\]", a4.read_bytes())


def test_clinic_logo_and_unicode_name(tmp_path: Path) -> None:
    from PIL import Image

    logo = tmp_path / "logo.png"
    Image.new("RGB", (40, 20), (10, 90, 120)).save(logo)
    rad = make_radiograph()
    rad.patient.name = "Øster^Zoë"
    s = Settings(clinic_name="Clinique Dentaire", clinic_address="1 rue X; 75001 Paris",
                 clinic_logo=str(logo))
    t = pdf_text(write_report(make_result(rad), rad, tmp_path / "u.pdf", settings=s))
    assert "Øster, Zoë" in t and "75001 Paris" in t
    # a broken logo path must not stop the report
    s.clinic_logo = str(tmp_path / "missing.png")
    assert write_report(make_result(rad), rad, tmp_path / "u2.pdf", settings=s).is_file()


def test_bad_inputs(tmp_path: Path) -> None:
    rad = make_radiograph()
    with pytest.raises(ConfigError, match="pdf"):
        write_report(make_result(rad), rad, tmp_path / "r.txt")
    # heat map of the wrong shape: drawn without overlay, no crash
    res = make_result(rad)
    res.heatmap = np.zeros((10, 10), np.float32)
    assert write_report(res, rad, tmp_path / "odd.pdf").is_file()


def test_pseudonym_is_stable_keyed_and_salt_persists(tmp_path: Path) -> None:
    a = pseudonym("12345", "salt-one")
    assert a == pseudonym(" 12345 ", "salt-one")
    assert a != pseudonym("12345", "salt-two") and a != pseudonym("12346", "salt-one")
    assert re.fullmatch(r"CASE-[0-9A-F]{10}", a)
    s1 = local_salt(tmp_path)
    assert s1 == local_salt(tmp_path) and len(s1) >= 32
    assert (tmp_path / "pseudonym_salt").stat().st_mode & 0o077 == 0


def test_plain_language_helpers() -> None:
    rad = make_radiograph()
    # a model trained on phantoms neither refers nor reassures: the measurements speak
    for band in ("high", "intermediate", "low"):
        meaning, step = next_step_text(make_result(rad, band=band))
        assert "synthetic phantoms" in meaning and "Routine" not in step
        assert "2.6 mm" in step and "DXA" in step  # MCW 2.6 mm is under 3 mm
    # a validated model: the operating point decides refer / do not refer
    real = dataclasses.replace(make_result(rad, band="intermediate"),
                               model=ModelInfo("clinic-net", "1.0", SHA, "VGG16", "real"))
    meaning, step = next_step_text(dataclasses.replace(real, referral="refer"))
    assert "at or above the referral threshold" in meaning and "DXA" in step
    meaning, step = next_step_text(dataclasses.replace(real, referral="no_referral"))
    assert "below the referral threshold" in meaning and "No referral" in step
    assert "No signs" not in meaning
    assert format_person_name("Doe^John^Q^Dr^Jr") == "Dr Doe, John Q Jr"
    assert format_person_name("Doe") == "Doe"
    assert format_dicom_date("20240131") == "2024-01-31"
    assert KLEMETTI_DEFINITIONS["C3"].startswith("C3")
    assert "not a diagnosis" in DISCLAIMER


def test_result_round_trips_through_json(tmp_path: Path) -> None:
    from dentalosteo_gui.core.records.report import result_from_dict

    rad = make_radiograph()
    res = make_result(rad)
    d = res.as_json_dict()
    d["border_right"] = [list(p) for p in res.border_right]
    back = result_from_dict(d)
    assert back.as_json_dict() == res.as_json_dict()
    assert back.border_right == res.border_right and back.heatmap is None
    with pytest.raises(ConfigError):
        result_from_dict({"risk": 0.5})


def test_cli_report_from_history_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import cv2

    from dentalosteo_gui.cli.main import main
    from dentalosteo_gui.core.records.history import History, file_sha256

    rad = make_radiograph()
    png = tmp_path / "pano.png"
    cv2.imwrite(str(png), (rad.pixels * 255).astype(np.uint8))
    rad.path = str(png)
    res = make_result(rad)
    res.path = str(png)
    with History() as h:
        sid = h.record_screening(res, rad, file_sha256=file_sha256(png))
    out = tmp_path / "again.pdf"
    assert main(["report", "--history", str(sid), "-o", str(out)]) == 0
    t = " ".join(pdf_text(out).split())
    assert "0.83" in t and SHA[:12] in t and "Attention map not available" in t
    with History() as h:
        assert [x["kind"] for x in h.get(sid)["exports"]] == ["pdf"]
    # the wrong radiograph is refused (file hash differs)
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), np.zeros((100, 200), np.uint8))
    assert main(["report", "--history", str(sid), "--image", str(other), "-o", str(out)]) == 2
    assert "not the radiograph" in capsys.readouterr().err
    # from screen --json output, anonymised
    js = tmp_path / "r.json"
    js.write_text(json.dumps(res.as_json_dict()))
    out2 = tmp_path / "fromjson.pdf"
    assert main(["report", str(js), "-o", str(out2), "--anonymize"]) == 0
    assert "CASE-" in pdf_text(out2)


def test_blackout_paints_the_pictures(tmp_path: Path) -> None:
    rad = make_radiograph()
    rad.pixels[:] = 1.0  # a white image: any black block comes from the blackout
    res = make_result(rad, model=False, risk=None, band=None, roi=RoiBox(0, 0, 640, 300))
    a = render_png(write_report(res, rad, tmp_path / "plain.pdf"), dpi=30)
    b = render_png(write_report(res, rad, tmp_path / "black.pdf",
                                blackout=[RoiBox(0, 0, 320, 150)]), dpi=30)
    dark_a = int((a.sum(axis=2) < 30).sum())  # panel background is ~63
    dark_b = int((b.sum(axis=2) < 30).sum())
    assert dark_b > dark_a + 500
    assert float(rad.pixels.min()) == 1.0  # the caller's radiograph is untouched


def test_not_assessable_next_step_fits_the_reason() -> None:
    """The PDF's next step for a child or an edentulous jaw is not 'retake the radiograph'
    (it said so for every reason); it is the GUI's advice for that reason."""
    from dentalosteo_gui.core.records.report_text import advice_for

    child = ("the dentition looks like a child's (unerupted permanent tooth crowns inside the mandible "
             "on both sides): the MCW cut-offs and Klemetti classes are defined for adults; do not screen children")
    assert "Do not screen a child" in (advice_for([child]) or "")
    assert advice_for(["no mandible found: the inferior border of the mandible could not be traced"]) is None
