"""The dentist's own MCW and the scale-free reading everywhere a result goes (issue 17):
JSON, batch CSV, history, report text and PDF, the rule's evidence, the CLI flags."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dentalosteo_gui.cli.main import main as cli_main
from dentalosteo_gui.core.records.history import History
from dentalosteo_gui.core.records.report import next_step_text, result_from_dict, write_report
from dentalosteo_gui.core.records.report_text import mcw_rows, measured_referral_signs
from dentalosteo_gui.core.screening.batch import CSV_FIELDS, flatten
from dentalosteo_gui.core.types import ModelInfo, ScreeningResult, Spacing
from tests.phantom_case import phantom_radiograph, screen_phantom

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"
# the batch CSV's columns before issue 17, in order: they must stay exactly so
OLD_CSV_FIELDS = [
    "file", "risk", "band", "assessable", "klemetti_class", "klemetti_rule", "klemetti_agree",
    "klemetti_p_C1", "klemetti_p_C2", "klemetti_p_C3", "mcw_left_mm", "mcw_right_mm",
    "assumed_spacing", "pixel_spacing_mm", "spacing_mm_per_px", "spacing_source", "spacing_assumed",
    "roi_x", "roi_y", "roi_w", "roi_h", "roi_confidence", "operating_point", "op_threshold",
    "op_sensitivity", "op_specificity", "mode", "model_name", "model_version", "model_sha256",
    "device", "time_total_ms", "warnings", "error",
]
NEW_CSV_FIELDS = [
    "spacing_profile", "spacing_magnification", "pmi_left", "pmi_right", "mental_foramen_left_x",
    "mental_foramen_left_y", "mental_foramen_right_x", "mental_foramen_right_y",
    "mcw_mm_dentist_left", "mcw_mm_dentist_right",
]


_rad = phantom_radiograph
_screen = screen_phantom


def _dentist_pair(res: ScreeningResult, side: str, width_px: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Two points ``width_px`` apart across the cortex below the foramen's column."""
    poly = res.border_right if side == "right" else res.border_left
    x, y = poly[len(poly) // 2]
    return (x, y), (x, y - width_px)


def _pdf_text(pdf: Path) -> str:
    """The PDF's words in reading order (no -layout: the two finding columns would interleave)."""
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    out = subprocess.run([exe, str(pdf), "-"], capture_output=True, text=True, check=True, timeout=60)
    return " ".join(out.stdout.split())


def test_dentist_mcw_in_json_and_rule_evidence() -> None:
    base = _screen(0.1)
    pair = _dentist_pair(base, "right", 28.0)
    res = _screen(0.1, dentist_mcw={"right": pair})
    assert res.mcw_dentist_right_mm == pytest.approx(2.8) and res.mcw_dentist_left_mm is None
    assert res.mcw_used_mm("right") == (pytest.approx(2.8), "dentist")
    assert res.mcw_used_mm("left") == (res.mcw_left_mm, "automatic")
    d = res.as_json_dict()
    assert d["mcw_mm"]["dentist_right"] == pytest.approx(2.8) and "dentist_left" not in d["mcw_mm"]
    assert d["mcw_mm"]["right"] == pytest.approx(base.mcw_right_mm)  # the automatic one stays
    assert d["dentist_mcw"] == {"right": [[round(pair[0][0], 1), round(pair[0][1], 1)],
                                          [round(pair[1][0], 1), round(pair[1][1], 1)]]}
    used = d["klemetti"]["evidence"]["mcw_used"]
    assert used["right"] == {"mm": 2.8, "source": "dentist", "automatic_mm": round(base.mcw_right_mm or 0, 3)}
    assert used["left"]["source"] == "automatic"
    # without a dentist measurement: no dentist keys, no mcw_used
    d0 = base.as_json_dict()
    assert not {"dentist_left", "dentist_right"} & set(d0["mcw_mm"]) and "mcw_used" not in d0["klemetti"]["evidence"]
    assert set(d0["pmi"]) == {"left", "right"} and set(d0["mental_foramen"]) == {"left", "right"}
    assert d0["mcw_px"]["right"] == pytest.approx((base.mcw_right_mm or 0) / 0.1, abs=0.01)


def test_dentist_mcw_follows_the_spacing_and_gives_its_own_pmi() -> None:
    base = _screen(0.2)
    res = _screen(0.2, dentist_mcw={"right": _dentist_pair(base, "right", 20.0)})
    assert res.mcw_dentist_right_mm == pytest.approx(4.0)
    if res.pmi_right is not None:
        h = res.pmi_detail["right"]["height_px"]
        assert res.pmi_detail["right"]["pmi_dentist"] == pytest.approx(20.0 / h, abs=1e-3)


def _phantom_model_result(auto_mm: float, dentist_mm: float | None, spacing: Spacing) -> ScreeningResult:
    res = _screen(spacing)
    return dataclasses.replace(res, risk=0.7, risk_level="high", klemetti_rule="C1",
                               model=ModelInfo("m", "1", "0" * 64, "x", "phantom"),
                               mcw_right_mm=auto_mm, mcw_left_mm=4.0, mcw_dentist_right_mm=dentist_mm,
                               mcw_dentist_left_mm=None, mcw_right_px=auto_mm / spacing.mm_per_px)


def test_referral_text_uses_the_dentist_value_and_shows_both() -> None:
    cal = Spacing(0.1, "calibrated", profile="clinic-A", magnification=1.25)
    res = _phantom_model_result(3.4, 2.6, cal)
    _, step = next_step_text(res)
    assert "dentist-measured 2.6 mm; automatic 3.4 mm" in step and "DXA" in step
    rows = dict(mcw_rows(res, _rad()))
    assert rows["Patient right"].startswith("dentist-measured 2.6 mm (below 3 mm);\nautomatic 3.4 mm\nPMI")
    # the dentist's wider cortex overrides a thin automatic one: no MCW sign
    res2 = _phantom_model_result(2.6, 3.4, cal)
    assert measured_referral_signs(res2) == []
    assert "(below" not in dict(mcw_rows(res2, _rad()))["Patient right"]


def test_batch_csv_columns_appended_and_filled() -> None:
    assert CSV_FIELDS[: len(OLD_CSV_FIELDS)] == OLD_CSV_FIELDS
    n = len(OLD_CSV_FIELDS)
    assert CSV_FIELDS[n : n + len(NEW_CSV_FIELDS)] == NEW_CSV_FIELDS  # later columns come after these
    base = _screen(Spacing(0.1, "calibrated", profile="clinic-A", magnification=1.25))
    res = _screen(Spacing(0.1, "calibrated", profile="clinic-A", magnification=1.25),
                  dentist_mcw={"left": _dentist_pair(base, "left", 31.0)},
                  mental_foramen={"right": (900.0, 900.0)})
    row = flatten(res, "a.png")
    assert row["spacing_profile"] == "clinic-A" and row["spacing_magnification"] == 1.25
    assert row["mcw_mm_dentist_left"] == pytest.approx(3.1) and row["mcw_mm_dentist_right"] == ""
    assert (row["mental_foramen_right_x"], row["mental_foramen_right_y"]) == (900.0, 900.0)
    assert row["pmi_right"] == ("" if res.pmi_right is None else round(res.pmi_right, 3))
    assert flatten(None, "b.png", "unreadable")["pmi_left"] == ""


def test_history_keeps_the_dentist_value_and_pmi(tmp_path: Path) -> None:
    base = _screen(0.1)
    res = _screen(0.1, dentist_mcw={"right": _dentist_pair(base, "right", 27.0)})
    with History(tmp_path / "h.sqlite3") as h:
        sid = h.record_screening(res, _rad(), file_sha256="0" * 64)
        stored = h.get(sid)["result"]
        out = h.export_csv(tmp_path / "h.csv")
    assert stored["mcw_mm"]["dentist_right"] == pytest.approx(2.7)
    assert stored["pmi"] == res.as_json_dict()["pmi"] and stored["dentist_mcw"]
    again = result_from_dict(stored)
    assert again.mcw_dentist_right_mm == pytest.approx(2.7)
    assert again.dentist_mcw == {s: tuple((round(x, 1), round(y, 1)) for x, y in pts)
                                 for s, pts in (res.dentist_mcw or {}).items()}
    assert again.mental_foramen == {s: dataclasses.replace(p, x=round(p.x, 1), y=round(p.y, 1))
                                    for s, p in (res.mental_foramen or {}).items()}
    assert again.pmi_right == (None if res.pmi_right is None else pytest.approx(res.pmi_right, abs=1e-3))
    row = next(csv.DictReader(out.open()))
    assert float(row["mcw_mm_dentist_right"]) == pytest.approx(2.7) and row["mcw_mm_dentist_left"] == ""
    assert row["pmi_right"] == ("" if res.pmi_right is None else str(round(res.pmi_right, 3)))


def test_uncalibrated_pdf_shows_pixels_and_pmi(tmp_path: Path) -> None:
    res = _screen(None, dentist_mcw={"right": _dentist_pair(_screen(None), "right", 30.0)})
    assert res.spacing.assumed and res.pmi_right is not None
    text = _pdf_text(write_report(res, _rad(), tmp_path / "u.pdf"))
    px = f"{res.mcw_left_px:.0f} px"
    assert px in text and "dentist-measured 30 px" in text and f"PMI {res.pmi_right:.2f}" in text
    assert "No calibration exists for this image" in text and "ASSUMED" in text
    assert "approximate" in text  # any mm shown says it is assumed


def test_calibrated_pdf_shows_mm_profile_and_pmi(tmp_path: Path) -> None:
    sp = Spacing(0.1, "calibrated", profile="clinic-A", magnification=1.25)
    res = _screen(sp, dentist_mcw={"right": _dentist_pair(_screen(sp), "right", 28.0)})
    text = _pdf_text(write_report(res, _rad(), tmp_path / "c.pdf"))
    assert "0.100 mm/pixel (calibrated: clinic-A, magnification 1.25 divided out)" in text
    assert f"dentist-measured 2.8 mm (below 3 mm); automatic {res.mcw_right_mm:.1f} mm" in text
    assert "PMI" in text and "No calibration" not in text and " px" not in text


def test_cli_flags_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    src = SAMPLES / "phantom_c1.png"
    assert cli_main(["screen", str(src), "--json", "--foramen-left", "950,480",
                     "--dentist-mcw-right", "400,560,402,575"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["mental_foramen"]["left"] == [950.0, 480.0] and d["mental_foramen_source"]["left"] == "user"
    assert d["dentist_mcw"] == {"right": [[400.0, 560.0], [402.0, 575.0]]}
    want = float(np.hypot(2.0, 15.0)) * d["spacing"]["mm_per_px"]
    assert d["mcw_mm"]["dentist_right"] == pytest.approx(want, abs=1e-3) and "dentist_left" not in d["mcw_mm"]


@pytest.mark.parametrize("flag,value,shape", [
    ("--foramen-left", "19x", "X,Y"),
    ("--foramen-right", "1,2,3", "X,Y"),
    ("--dentist-mcw-left", "1,2,3", "X1,Y1,X2,Y2"),
    ("--dentist-mcw-right", "1,2,3,nan", "X1,Y1,X2,Y2"),
])
def test_cli_flag_parse_errors(flag: str, value: str, shape: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["screen", str(SAMPLES / "phantom_c1.png"), flag, value]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag in err and shape in err and repr(value) in err


def test_cli_point_outside_the_image(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["screen", str(SAMPLES / "phantom_c1.png"), "--foramen-right", "99999,5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "outside" in err
