"""Issue 17 review: an uncalibrated reading speaks in pixels (and PMI) everywhere it goes
(engine warning, GUI lead-in, CLI line, DICOM picture, JSON, CSVs); the calibrate CLI's
magnification; the PMI plausibility note; the PDF never drops a warning."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from dentalosteo_gui.cli.main import main as cli_main
from dentalosteo_gui.core import anatomy
from dentalosteo_gui.core.anatomy.foramen import PMI_CHECK, PMI_MAX, pmi_check
from dentalosteo_gui.core.anatomy.foramen import measure_pmi as foramen_measure_pmi
from dentalosteo_gui.core.data.phantoms import generate_phantom
from dentalosteo_gui.core.imaging.imageio import load_radiograph
from dentalosteo_gui.core.records.dicom_burn import render_result_image, result_lines
from dentalosteo_gui.core.records.history import CSV_COLUMNS, History
from dentalosteo_gui.core.records.report import write_report
from dentalosteo_gui.core.records.report_images import MAGENTA
from dentalosteo_gui.core.records.report_text import mcw_rows, pmi_text, warnings_by_importance
from dentalosteo_gui.core.screening.batch import CSV_FIELDS, flatten
from dentalosteo_gui.core.screening.stages import spacing_warning
from dentalosteo_gui.core.system.profiles import ProfileStore
from dentalosteo_gui.core.types import CortexSide, ModelInfo, ScreeningResult, Spacing
from dentalosteo_gui.gui.wording import plain_language
from dentalosteo_gui.services import reading_text, summary_line
from tests.phantom_case import phantom_radiograph, screen_phantom

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"
CAL = Spacing(0.1, "calibrated", profile="clinic-A", magnification=1.25)
# the batch CSV's columns up to this review, in order (a CSV written then may be resumed)
CSV_BEFORE_REVIEW = 44
REVIEW_CSV_FIELDS = ["mcw_px_left", "mcw_px_right", "mental_foramen_left_confidence",
                     "mental_foramen_right_confidence", "mental_foramen_left_source", "mental_foramen_right_source"]


_rad = phantom_radiograph
_screen = screen_phantom


@lru_cache(maxsize=2)
def _with_dentist(calibrated: bool) -> ScreeningResult:
    """A phantom screened with the dentist's MCW on the right (30 px) and their foramen point
    on the left (the proposed one, moved 5 px)."""
    sp = CAL if calibrated else None
    base = _screen(sp)
    x, y = base.border_right[len(base.border_right) // 2]
    left = base.foramen("left") or base.foramen("right")
    assert left is not None
    return _screen(sp, dentist_mcw={"right": ((x, y), (x, y - 30.0))},
                   mental_foramen={"left": (left.x + 5.0, left.y)})


def _pdf_text(pdf: Path, *pages: int) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    args = [exe] + (["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []) + [str(pdf), "-"]
    return " ".join(subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout.split())


# --- 1. the engine's warning and the GUI's lead-in -------------------------------------


def test_spacing_warning_says_pixels_and_how_to_calibrate() -> None:
    res = _screen(None)
    warn = next(w for w in res.warnings if w.startswith("pixel spacing unknown"))
    assert warn == spacing_warning(0.1)
    assert "MCW given in pixels and as PMI" in warn and "assumed 0.1 mm/px" in warn
    assert "dentalosteo calibrate" in warn and "Ruler" in warn
    assert "MCW in mm is approximate" not in warn
    lead = plain_language(warn)
    assert lead.startswith("<b>No calibration: MCW in pixels and as PMI.</b>") and "approximate" not in lead
    assert not any(w.startswith("pixel spacing unknown") for w in _screen(CAL).warnings)


# --- 2. the CLI's summary line ---------------------------------------------------------


def test_summary_line_in_pixels_when_uncalibrated() -> None:
    res = _with_dentist(False)
    line = summary_line(res)
    px = f"MCW right/left {res.mcw_right_px:.0f}/{res.mcw_left_px:.0f} px"
    assert px in line and "(dentist-measured right 30 px)" in line and "PMI right/left" in line
    assert " mm" not in reading_text(res)  # no millimetre in the reading itself
    assert "no calibration: 0.1 mm/px assumed, widths in px" in line


def test_summary_line_in_mm_when_calibrated() -> None:
    res = _with_dentist(True)
    line = summary_line(res)
    assert f"MCW right/left {res.mcw_right_mm:.2f}/" in line and "(dentist-measured right 3.00 mm)" in line
    assert " px" not in line and "calibrated spacing 0.1 mm/px" in line


# --- 3. the DICOM Secondary Capture's picture -------------------------------------------


def _magenta(img: np.ndarray, x: float, y: float, half: int) -> int:
    r, g, b = (int(round(255 * v)) for v in MAGENTA)
    win = img[int(y) - half : int(y) + half, int(x) - half : int(x) + half].astype(int)
    return int((np.abs(win - np.array([r, g, b])).max(axis=2) < 40).sum())


def test_dicom_picture_text_in_pixels_with_pmi_and_dentist() -> None:
    res = _with_dentist(False)
    text = "\n".join(t for t, _ in result_lines(res))
    mcw = next(t for t in text.splitlines() if t.startswith("MCW"))
    assert f"dentist-measured 30 px, automatic {res.mcw_right_px:.0f} px" in mcw
    assert f"left {res.mcw_left_px:.0f} px" in mcw and "mm" not in mcw
    assert "APPROXIMATE" not in text and "PMI right" in text and "left placed by the dentist" in text
    assert "ASSUMED" in text
    cal = "\n".join(t for t, _ in result_lines(_with_dentist(True)))
    assert "dentist-measured 3.00 mm, automatic" in cal and "calibrated: clinic-A" in cal


def test_dicom_picture_draws_the_foramen_and_the_dentist_line() -> None:
    res = _with_dentist(False)
    img = render_result_image(_rad().pixels, res)
    plain = render_result_image(_rad().pixels, dataclasses.replace(res, mental_foramen=None, dentist_mcw=None))
    for p in (res.mental_foramen or {}).values():
        assert _magenta(img, p.x, p.y, 40) > 30 and _magenta(plain, p.x, p.y, 40) == 0
    (a, b) = (res.dentist_mcw or {})["right"]
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    assert _magenta(img, *mid, 6) > 10 and _magenta(plain, *mid, 6) == 0


# --- 4. JSON ---------------------------------------------------------------------------


def test_json_mcw_px_has_the_dentist_width() -> None:
    d = _with_dentist(False).as_json_dict()
    assert d["mcw_px"]["dentist_right"] == pytest.approx(30.0) and "dentist_left" not in d["mcw_px"]
    assert {"left", "right"} <= set(d["mcw_px"]) and d["mcw_mm"]["assumed_spacing"] is True
    assert d["mcw_mm"]["dentist_right"] == pytest.approx(3.0)  # kept, flagged by assumed_spacing
    assert "dentist_left" not in _screen(None).as_json_dict()["mcw_px"]


# --- 5. batch and history CSV -------------------------------------------------------------


def test_batch_csv_appends_px_and_foramen_columns() -> None:
    # appended after the older header (issue 16 appends its own two after these)
    assert CSV_FIELDS[CSV_BEFORE_REVIEW:CSV_BEFORE_REVIEW + len(REVIEW_CSV_FIELDS)] == REVIEW_CSV_FIELDS
    assert CSV_FIELDS[CSV_BEFORE_REVIEW + len(REVIEW_CSV_FIELDS):] == ["risk_image_model", "risk_method"]
    res = _with_dentist(False)
    row = flatten(res, "a.png")
    assert row["mcw_px_right"] == round(res.mcw_right_px or 0, 2) and row["mcw_px_left"] != ""
    assert row["mental_foramen_left_source"] == "user" and row["mental_foramen_left_confidence"] == ""
    right = res.foramen("right")
    if right is not None:
        assert row["mental_foramen_right_source"] == "auto"
        assert row["mental_foramen_right_confidence"] == round(right.confidence or 0, 3)
    assert flatten(None, "b.png", "unreadable")["mental_foramen_left_source"] == ""


def test_batch_resumes_a_csv_with_the_older_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(SAMPLES / "phantom_c1.png", d / "a.png")
    out = tmp_path / "b.csv"
    assert cli_main(["batch", str(d), "--csv", str(out), "--quiet"]) == 0
    with out.open(newline="") as fh:
        rows = list(csv.reader(fh))
    old = [r[:CSV_BEFORE_REVIEW] for r in rows]  # as an earlier version wrote it
    with out.open("w", newline="") as fh:
        csv.writer(fh).writerows(old)
    shutil.copy(SAMPLES / "phantom_c1.png", d / "b.png")
    assert cli_main(["batch", str(d), "--csv", str(out), "--quiet"]) == 0
    assert "screened 1, failed 0, skipped 1" in capsys.readouterr().err
    with out.open(newline="") as fh:
        again = list(csv.reader(fh))
    assert again[0] == old[0] and all(len(r) == CSV_BEFORE_REVIEW for r in again)
    rec = dict(zip(again[0], again[2], strict=True))
    assert rec["file"].endswith("b.png") and rec["mcw_mm_dentist_left"] == "" and rec["error"] == ""
    assert rec["spacing_source"] == "assumed"  # the columns stay aligned


def test_history_csv_has_spacing_and_px_columns(tmp_path: Path) -> None:
    assert CSV_COLUMNS[-6:] == ["spacing_source", "spacing_profile", "mcw_px_left", "mcw_px_right",
                                "mcw_px_dentist_left", "mcw_px_dentist_right"]
    unc, cal = _with_dentist(False), _with_dentist(True)
    with History(tmp_path / "h.sqlite3") as h:
        h.record_screening(unc, _rad(), file_sha256="0" * 64)
        h.record_screening(cal, _rad(), file_sha256="1" * 64)
        out = h.export_csv(tmp_path / "h.csv")
    rows = {r["file_sha256"][0]: r for r in csv.DictReader(out.open())}
    assert rows["0"]["spacing_source"] == "assumed" and rows["0"]["spacing_profile"] == ""
    assert float(rows["0"]["mcw_px_dentist_right"]) == pytest.approx(30.0) and rows["0"]["mcw_px_dentist_left"] == ""
    assert float(rows["0"]["mcw_px_right"]) == pytest.approx(unc.mcw_right_px or 0, abs=0.01)
    assert rows["1"]["spacing_source"] == "calibrated" and rows["1"]["spacing_profile"] == "clinic-A"


# --- 6. calibrate --known-mm with --magnification ------------------------------------------


def _png(tmp_path: Path) -> Path:
    d = tmp_path / "clinic"
    d.mkdir(exist_ok=True)
    shutil.copy(SAMPLES / "phantom_c1.png", d / "pano.png")
    return d / "pano.png"


def test_calibrate_known_length_with_magnification_divides_it_out(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    png = _png(tmp_path)
    assert cli_main(["calibrate", str(png), "--known-mm", "25", "--points", "100,100,350,100",
                     "--magnification", "1.25", "--profile", "det"]) == 0
    out = capsys.readouterr().out
    assert "taken to lie at the detector" in out and "divided by 1.25" in out and "leave --magnification out" in out
    prof = ProfileStore().match(load_radiograph(png))
    assert prof is not None and prof.mm_per_px == pytest.approx(0.1 / 1.25) and prof.magnification == 1.25
    assert prof.method.endswith("at the detector")
    # without the factor: the object at the jaw, no note, nothing divided
    assert cli_main(["calibrate", str(png), "--known-mm", "25", "--points", "100,100,350,100",
                     "--profile", "jaw"]) == 0
    assert "detector" not in capsys.readouterr().out
    prof = ProfileStore().match(load_radiograph(png))
    assert prof is not None and prof.mm_per_px == pytest.approx(0.1) and prof.magnification is None
    # --json: stdout stays JSON, the note goes to stderr
    assert cli_main(["calibrate", str(png), "--known-mm", "25", "--points", "100,100,350,100",
                     "--magnification", "1.25", "--json"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["magnification"] == 1.25 and "at the detector" in cap.err


# --- 7. PMI plausibility ---------------------------------------------------------------------


def test_pmi_check_band() -> None:
    assert pmi_check(0.3) == {} and pmi_check(PMI_CHECK) == {}
    note = pmi_check(0.55)["check"]
    assert "0.55" in note and "check the foramen point" in note and PMI_CHECK < 0.55 < PMI_MAX


def test_a_high_pmi_is_kept_with_a_note() -> None:
    """The cortex normals near the foramen lengthened so the PMI lands between 0.5 and 0.6:
    it is given, with the note; the original (about 0.2) has none."""
    res = _screen(None)
    rad, proposal = _rad(), anatomy.propose_roi(_rad())
    pt = res.foramen("right")
    assert pt is not None
    normals = [((a[0], a[1]), (b[0], b[1])) for (a, b) in res.klemetti_evidence["normals"]]
    side = CortexSide(None, None, None, None, len(normals), normals)
    val, detail = foramen_measure_pmi(rad.pixels, proposal, "right", pt, side)
    assert val is not None and val < PMI_CHECK and "check" not in detail
    k = 0.55 / val
    longer = [(a, (a[0] + k * (b[0] - a[0]), a[1] + k * (b[1] - a[1]))) for a, b in normals]
    val2, detail2 = foramen_measure_pmi(rad.pixels, proposal, "right", pt, dataclasses.replace(side, normals=longer))
    assert val2 == pytest.approx(0.55, abs=0.01) and "check the foramen point" in detail2["check"]
    shown = dataclasses.replace(res, pmi_right=val2, pmi_detail={"right": detail2})
    assert pmi_text(shown, "right") == "PMI 0.55 - high: check the foramen point"
    assert "check the foramen point" in dict(mcw_rows(shown, rad))["Patient right"]


def test_the_dentist_width_pmi_gets_the_note_too() -> None:
    base = _screen(None)
    h = base.pmi_detail["right"]["height_px"]
    x, y = base.border_right[len(base.border_right) // 2]
    res = _screen(None, dentist_mcw={"right": ((x, y), (x, y - 0.55 * h))})
    detail = res.pmi_detail["right"]
    assert detail["pmi_dentist"] == pytest.approx(0.55, abs=0.002)
    assert "dentist's width" in detail["check"] and "check the foramen point" in detail["check"]


# --- 8. the PDF never drops a warning ---------------------------------------------------------

PHANTOM_WARNING = ("the installed model was trained on synthetic phantoms only and is not validated on "
                   "real radiographs: do not act on the risk score")


def test_warnings_ordered_by_importance() -> None:
    res = dataclasses.replace(_screen(None), assessable=False, warnings=[
        spacing_warning(0.1), "Klemetti hint: the model says C1, the rule says C2", "two readings disagree: x",
        PHANTOM_WARNING, "low ROI confidence (0.20): the traced edge is weak"])
    got = warnings_by_importance(res)
    assert got[:2] == [PHANTOM_WARNING, "low ROI confidence (0.20): the traced edge is weak"]
    assert got[2] == spacing_warning(0.1) and got[3].startswith("two readings") and got[4].startswith("Klemetti")
    ok = dataclasses.replace(res, assessable=True)
    assert warnings_by_importance(ok)[:2] == [PHANTOM_WARNING, spacing_warning(0.1)]


def test_uncalibrated_pdf_with_dentist_keeps_every_warning(tmp_path: Path) -> None:
    res = dataclasses.replace(_with_dentist(False), risk=0.4, risk_level="intermediate",
                              model=ModelInfo("m", "1", "0" * 64, "x", "phantom"))
    extra = [f"note number {i}: " + "long explanation " * 10 for i in range(30)]
    res.warnings = [*extra[:3], spacing_warning(0.1), *extra[3:], PHANTOM_WARNING]
    out = write_report(res, _rad(), tmp_path / "u.pdf")
    first, everything = _pdf_text(out, 1), _pdf_text(out)
    assert PHANTOM_WARNING in first and "more on the next page" in first.lower()  # the most important first
    spacing_at = everything.index(spacing_warning(0.1)[:60])
    assert everything.index(PHANTOM_WARNING) < spacing_at < everything.index("note number 0:")
    for w in extra:
        assert w.strip() in everything
    assert everything.count("not a diagnosis") >= 2  # the disclaimer on every page
    assert "dentist-measured 30 px" in first


def test_roi_cli_gives_pixels_without_calibration(tmp_path, capsys, monkeypatch):
    """`dentalosteo roi` on a PNG with no spacing prints MCW in px (and its JSON has mcw_px);
    with a typed spacing, mm = px x spacing (to the sampling of the normals)."""
    import cv2

    monkeypatch.setenv("DENTALOSTEO_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("DENTALOSTEO_DATA_DIR", str(tmp_path / "data"))
    case = generate_phantom(1)
    png = tmp_path / "pano.png"
    cv2.imwrite(str(png), case.image)
    assert cli_main(["roi", str(png)]) == 0
    text = capsys.readouterr().out
    assert "mcw_right_px" in text and "mcw_right_mm" not in text
    assert cli_main(["roi", str(png), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["spacing"]["assumed"] and d["mcw_px"]["right"] is not None
    assert d["warnings"][-1] == spacing_warning(d["spacing"]["mm_per_px"])
    assert cli_main(["roi", str(png), "--pixel-spacing", "0.2", "--json"]) == 0
    typed = json.loads(capsys.readouterr().out)
    # the cortex windows are set in mm, so the normals sampled differ a little with the spacing
    assert typed["mcw_mm"]["right"] == pytest.approx(d["mcw_px"]["right"] * 0.2, rel=0.05)


def test_roi_cli_places_no_landmarks_on_a_non_panoramic(tmp_path, capsys, monkeypatch):
    """A chest-like image (no mandible arch) gets no landmarks from `roi`, as `screen` gives
    no reading: points on a chest would look like anatomy that is not there."""
    monkeypatch.setenv("DENTALOSTEO_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("DENTALOSTEO_DATA_DIR", str(tmp_path / "data"))
    dicoms = sorted((Path(__file__).resolve().parents[2] / "shared" / "realdata" / "dicom").rglob("*.dcm"))
    if not dicoms:
        pytest.skip("../shared/realdata/dicom not present")
    from dentalosteo_gui.cli.roi import analyse

    seen = 0
    for f in dicoms:
        try:
            d, _ = analyse(str(f))
        except Exception:  # noqa: BLE001 - the deliberately broken files
            continue
        if any("not a dental panoramic" in w or "not a panoramic" in w for w in d["warnings"]):
            assert d["landmarks"] == {} and d["mcw_mm"]["right"] is None
            seen += 1
    assert seen >= 1
