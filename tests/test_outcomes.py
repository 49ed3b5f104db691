"""Issue 19, closing the loop: DXA outcomes (entry, validation, linking, audit), the clinic's
figures on a synthetic history with answers worked out by hand, the outcomes PDF, OST, priors,
and the de-identified export, through `train` and `evaluate` (marked ml)."""

from __future__ import annotations

import csv
import json
import math
import shutil
import sqlite3
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dentalosteo_gui.cli.main import main
from dentalosteo_gui.core.records.deidentify import local_salt, pseudonym
from dentalosteo_gui.core.records.history import _V1, History
from dentalosteo_gui.core.records.history_verify import verify_history
from dentalosteo_gui.core.records.outcomes import (
    DxaReading,
    OutcomeError,
    add_outcome,
    parse_dxa_date,
    parse_t_score,
    patient_outcomes,
    who_category,
)
from dentalosteo_gui.core.records.outcomes_context import (
    MCW_REPEATABILITY_MM,
    ClinicalContext,
    context_from_dicom,
    mcw_changes,
    mcw_over_time,
    ost_band,
    ost_index,
    validate_context,
)
from dentalosteo_gui.core.records.outcomes_figures import compute_figures, load_cases, wilson
from dentalosteo_gui.core.types import (
    ModelInfo,
    PatientInfo,
    Radiograph,
    RoiBox,
    ScreeningResult,
    Spacing,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DCM = ROOT / "resources" / "samples" / "phantom_c2.dcm"
RAD_DAY = date.today() - timedelta(days=500)  # every radiograph of the synthetic clinic


def screening(pid: str, risk: float | None, *, threshold: float = 0.5, version: str = "1",
              model: bool = True, mcw: tuple[float | None, float | None] = (3.5, 3.5),
              profile: str = "", study: date | None = RAD_DAY, path: str = "/scans/x.png",
              assumed: bool = False) -> tuple[ScreeningResult, Radiograph]:
    rad = Radiograph(pixels=np.zeros((40, 80), np.float32), path=path, format="PNG",
                     patient=PatientInfo(name="Doe^Jane", patient_id=pid,
                                         study_date=study.strftime("%Y%m%d") if study else ""))
    res = ScreeningResult(
        path=path, risk=risk, risk_level=None if risk is None else "high",
        operating_point={"name": "balanced", "threshold": threshold} if model else {},
        klemetti_class=None, klemetti_probabilities=None, klemetti_rule="C2", klemetti_agree=None,
        klemetti_evidence={}, mcw_right_mm=mcw[0], mcw_left_mm=mcw[1],
        spacing=Spacing(0.1, "assumed" if assumed else ("calibrated" if profile else "file"),
                        profile=profile),
        assessable=risk is not None or not model, warnings=[], roi=RoiBox(40, 80, 240, 60),
        roi_confidence=0.9, border_right=[], border_left=[], landmarks=None, attention=None,
        model=ModelInfo("m", version, "ab" * 32) if model else None, device="CPU", timings_ms={})
    return res, rad


def record(h: History, pid: str, risk: float | None, sha: str, **kw: Any) -> int:
    anonymize = bool(kw.pop("anonymize", False))
    return h.record_screening(*screening(pid, risk, **kw), file_sha256=sha, anonymize=anonymize)


def dxa(h: History, pid: str, t: float, days: int = 31, site: str = "femoral_neck", **kw: Any) -> list[int]:
    return add_outcome(h, pid, (RAD_DAY + timedelta(days=days)).isoformat(),
                       [DxaReading(site, t)], **kw)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    io_ = capsys.readouterr()
    return rc, io_.out, io_.err


# ------------------------------------------------------------------ entry and validation


def test_who_category_and_field_validation() -> None:
    assert [who_category(t) for t in (-2.5, -2.49, -1.01, -1.0, 0.5)] == [
        "osteoporosis", "osteopenia", "osteopenia", "normal", "normal"]
    assert parse_t_score("-2,7") == -2.7
    for bad in ("abc", "-6.1", "4.01", "nan"):
        with pytest.raises(OutcomeError):
            parse_t_score(bad)
    assert parse_dxa_date("2020-02-29") == date(2020, 2, 29)
    for bad, why in (("1899-12-31", "before 1900"), ("2020-02-30", "YYYY-MM-DD"),
                     ((date.today() + timedelta(days=1)).isoformat(), "future"), ("01.02.2020", "YYYY")):
        with pytest.raises(OutcomeError, match=why):
            parse_dxa_date(bad)


def test_cli_add_list_and_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with History() as h:
        record(h, "P-7", 0.7, "1" * 64)
    d = (RAD_DAY + timedelta(days=45)).isoformat()
    rc, out, _ = cli(capsys, "outcome", "add", "--patient", "P-7", "--dxa-date", d,
                     "--site", "femoral_neck", "--t-score", "-2.7", "--site", "lumbar_spine",
                     "--t-score", "-1.9", "--fracture", "vertebral")
    assert rc == 0
    assert "osteoporosis (femoral_neck -2.7, lumbar_spine -1.9)" in out
    assert "screening #1: DXA 45 days after the radiograph" in out
    bad = [
        (["--patient", "P-7", "--dxa-date", d, "--site", "femoral_neck", "--t-score", "-2"], "already recorded"),
        (["--patient", "NOBODY", "--dxa-date", d, "--t-score", "-2"], "no screening of patient 'NOBODY'"),
        (["--patient", "P-7", "--dxa-date", d, "--t-score", "-9"], "outside -6..+4"),
        (["--patient", "P-7", "--dxa-date", "2999-01-01", "--t-score", "-1"], "future"),
        (["--patient", "P-7", "--dxa-date", "1850-01-01", "--t-score", "-1"], "before 1900"),
        (["--patient", "P-7", "--dxa-date", d, "--t-score", "-3", "--site", "total_hip",
          "--category", "normal"], "contradicts"),
        (["--patient", "P-7", "--dxa-date", d, "--t-score", "-1", "--site", "knee"], "site 'knee'"),
        (["--patient", "P-7", "--dxa-date", d, "--t-score", "-1", "--category", "bad"], "category 'bad'"),
        (["--patient", "P-7", "--dxa-date", d], "--t-score is required"),
        (["--patient", "P-7", "--dxa-date", d, "--t-score", "-1", "--t-score", "-2"], "one --site per"),
    ]
    for args, why in bad:
        rc, out, err = cli(capsys, "outcome", "add", *args)
        assert rc == 2, args
        assert len(err.strip().splitlines()) == 1 and why in err, (args, err)
    # a more severe category than the T-score (another site, a fracture) is kept
    assert cli(capsys, "outcome", "add", "--patient", "P-7", "--dxa-date", d, "--site", "total_hip",
               "--t-score", "-1.5", "--category", "osteoporosis")[0] == 0
    rc, out, _ = cli(capsys, "outcome", "list", "--patient", "P-7", "--json")
    [exam] = json.loads(out)
    assert exam["sites"] == {"femoral_neck": -2.7, "lumbar_spine": -1.9, "total_hip": -1.5}
    assert exam["category"] == "osteoporosis" and exam["fractures"] == ["vertebral"]
    assert exam["screenings"] == [{"screening_id": 1, "days": 45}]


def test_pseudonymous_linking_and_audit(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    with History(db) as h:
        a = record(h, "A-1", 0.8, "a" * 64, anonymize=True)  # stored as its pseudonym only
        b1 = record(h, "B-2", 0.6, "b" * 64)
        b2 = record(h, "B-2", 0.2, "c" * 64, anonymize=True, study=None)
        # the plain ID finds the anonymised screening; it kept no study date, so its
        # radiograph date is the day it was screened (today): this DXA is 20 days before
        ids = dxa(h, "A-1", -3.0, days=480)
        key = pseudonym("A-1", local_salt())
        rows = h.query("SELECT patient_id, pseudonymised FROM outcomes WHERE id=?", (ids[0],))
        assert rows == [{"patient_id": key, "pseudonymised": 1}]  # never the plain ID
        with pytest.raises(OutcomeError, match="already recorded"):
            dxa(h, key, -2.0, days=480)  # the CASE- key is the same patient
        dxa(h, key, -2.0, days=480, site="lumbar_spine")  # ... and can add a site
        dxa(h, "B-2", -1.5)
        [ex_a] = patient_outcomes(h, "A-1")
        assert ex_a["screenings"] == [{"screening_id": a, "days": -20}]
        assert ex_a["sites"] == {"femoral_neck": -3.0, "lumbar_spine": -2.0}
        [ex_b] = patient_outcomes(h, "B-2")
        # plain and anonymised screenings of B-2 both link (the anonymised one is dated
        # today: 469 days after the DXA, so only with a longer window)
        assert {s["screening_id"] for s in ex_b["screenings"]} == {b1}
        assert patient_outcomes(h, "B-2", max_days=600)[0]["screenings"] == [
            {"screening_id": b1, "days": 31}, {"screening_id": b2, "days": -469}]
        assert ex_b["category"] == "osteopenia"
        assert [r["event"] for r in h.audit.rows(limit=3)] == ["outcome"] * 3
    assert b"A-1" not in db.read_bytes()
    ok, msg = verify_history(db)
    assert ok and "3 DXA outcome(s)" in msg
    con = sqlite3.connect(db)
    con.execute("UPDATE outcomes SET t_score=-0.5 WHERE id=1")
    con.commit()
    con.close()
    ok, msg = verify_history(db)
    assert not ok and "outcome #1 was changed" in msg


def test_v1_database_migrates_and_reads(tmp_path: Path) -> None:
    """A v1 history (before issue 19) is read as is, and upgraded in one transaction."""
    from dentalosteo_gui.core.records.audit import create_audit_schema, script_statements

    db = tmp_path / "old.sqlite3"
    con = sqlite3.connect(db)
    for stmt in script_statements(_V1):
        con.execute(stmt)
    create_audit_schema(con)
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    with History(db, read_only=True) as h:
        assert h.list() == [] and not h.has_table("outcomes")
        assert load_cases(h) == []
    assert verify_history(db)[0]
    with History(db) as h:
        assert h.schema_version == 2 and h.has_table("outcomes") and h.has_table("clinical")
        record(h, "X", 0.1, "d" * 64)
    assert verify_history(db)[0]


# ------------------------------------------------------------------ figures


def _clinic(h: History) -> None:
    """16 radiographs, model m v1 at threshold 0.5; see test_figures_by_hand."""
    risk = {"P01": 0.9, "P02": 0.8, "P03": 0.7, "P04": 0.6, "P05": 0.55, "P06": 0.5, "P07": 0.95,
            "P08": 0.65, "P09": 0.1, "P10": 0.2, "P11": 0.3, "P12": 0.35, "P13": 0.4, "P14": 0.45,
            "P15": None}
    mcw = {"P01": (2.5, 2.5), "P02": (2.6, 3.0), "P03": (3.5, 3.5), "P04": (2.9, 2.9),
           "P05": (3.2, 3.2), "P06": (None, None), "P09": (2.7, 2.7), "P10": (4.0, 4.0),
           "P11": (3.1, 3.1), "P14": (3.0, 3.0), "P15": (2.6, None)}
    record(h, "P01", 0.3, "01" * 32, mcw=(2.5, 2.5), profile="CranexD")  # re-screened below
    for i, (pid, r) in enumerate(risk.items()):
        record(h, pid, r, f"{i + 1:02d}" * 32, mcw=mcw.get(pid, (3.5, 3.5)),
               profile="CranexD" if pid in ("P01", "P02", "P03") else "")
    record(h, "P16", None, "16" * 32, model=False)  # no model at all
    for pid in ("P01", "P02", "P03", "P04"):  # a second model version on four radiographs
        n = int(pid[1:])
        record(h, pid, 0.45, f"{n:02d}" * 32, version="2", threshold=0.4, mcw=mcw[pid],
               profile="CranexD" if n <= 3 else "")
    for pid, t in (("P01", -3.0), ("P02", -2.5), ("P03", -2.8), ("P04", -2.0), ("P05", -0.5),
                   ("P06", -2.6), ("P09", -2.7), ("P10", 0.3), ("P11", -1.8), ("P14", -0.2),
                   ("P15", -3.1)):
        dxa(h, pid, t)
    dxa(h, "P08", -3.3, days=400)  # outside the 365-day window: no outcome


def _row(rows: list[dict[str, Any]], rule: str, version: str = "", profile: str = "all") -> dict[str, Any]:
    [r] = [r for r in rows if r["rule"] == rule and r["model_version"] == version
           and r["device_profile"] == profile]
    return r


def test_figures_by_hand() -> None:
    """Model v1 (threshold 0.5; the latest screening of P01 counts, risk 0.9):
    referred P01-P08 (P06 at exactly 0.5); with a DXA within 365 days P01-P06, P09-P11, P14,
    P15 (11; P08's is 400 days away). Confirmed (osteoporosis, T <= -2.5): P01, P02 (-2.5),
    P03, P06, P09, P15 (6). TP P01 P02 P03 P06 = 4, FP P04 P05 = 2, FN P09 P15 = 2 (P15 has
    no score: not referred), TN P10 P11 P14 = 3. PPV 4/6, sens 4/6, spec 3/5.
    With osteopenia counted, P04 and P11 are confirmed: TP 5, FP 1, FN 3, TN 2.
    MCW rule (mean of measured sides < 3 mm): P01 2.5, P02 2.8, P04 2.9, P09 2.7, P15 2.6
    (one side) refer; P14 at 3.0 and P06 (not measured) do not. TP P01 P02 P09 P15 = 4,
    FP P04 = 1, FN P03 P06 = 2, TN P05 P10 P11 P14 = 4."""
    with History() as h:
        _clinic(h)
        cases = load_cases(h)
    rows = compute_figures(cases)
    v1 = _row(rows, "model", "1")
    assert {k: v1[k] for k in ("n_screened", "n_referred", "n_with_outcome", "n_referred_with_outcome",
                               "n_referred_confirmed", "n_confirmed")} == {
        "n_screened": 15, "n_referred": 8, "n_with_outcome": 11, "n_referred_with_outcome": 6,
        "n_referred_confirmed": 4, "n_confirmed": 6}
    assert v1["ppv"] == pytest.approx(4 / 6) and v1["sensitivity"] == pytest.approx(4 / 6)
    assert v1["specificity"] == pytest.approx(3 / 5)
    # Wilson 95 % for 4/6, by hand: centre (p + z^2/2n) / (1 + z^2/n), half-width
    # z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n); = 0.3000 .. 0.9032 (published tables)
    z, p, n = 1.959964, 4 / 6, 6
    den = 1 + z * z / n
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    centre = (p + z * z / (2 * n)) / den
    assert (v1["ppv_ci95_lo"], v1["ppv_ci95_hi"]) == pytest.approx((centre - half, centre + half))
    assert (round(v1["ppv_ci95_lo"], 4), round(v1["ppv_ci95_hi"], 4)) == (0.3000, 0.9032)
    assert v1["small_n"] == "ppv n<10;sensitivity n<10;specificity n<10"
    # per device profile
    cranex = _row(rows, "model", "1", "CranexD")
    assert (cranex["n_screened"], cranex["n_referred_confirmed"]) == (3, 3)
    assert _row(rows, "model", "1", "unprofiled")["n_screened"] == 12
    # model v2 (threshold 0.4, all four at 0.45 referred): P01-P03 confirmed, P04 not
    v2 = _row(rows, "model", "2")
    assert (v2["n_screened"], v2["n_referred"], v2["n_referred_confirmed"], v2["ppv"]) == (4, 4, 3, 0.75)
    assert v2["specificity"] == 0.0 and v2["sensitivity"] == 1.0
    # no model: counted, never referred, rates not estimable
    nm = _row(rows, "no_model")
    assert (nm["n_screened"], nm["n_referred"], nm["ppv"], nm["sensitivity"]) == (1, 0, None, None)
    mcw = _row(rows, "mcw_lt_3mm")
    assert (mcw["n_screened"], mcw["n_referred"], mcw["n_with_outcome"]) == (16, 5, 11)
    assert (mcw["ppv"], mcw["sensitivity"], mcw["specificity"]) == pytest.approx((4 / 5, 4 / 6, 4 / 5))
    o = _row(compute_figures(cases, count_osteopenia=True), "model", "1")
    assert (o["n_referred_confirmed"], o["n_confirmed"]) == (5, 8)
    assert (o["ppv"], o["sensitivity"], o["specificity"]) == pytest.approx((5 / 6, 5 / 8, 2 / 3))
    assert o["confirmed_means"] == "osteoporosis or osteopenia"
    assert wilson(0, 0) is None and wilson(0, 5)[0] == 0.0


def test_report_csv_and_pdf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with History() as h:
        _clinic(h)
        h.record_screening(*screening("P01", 0.9, mcw=(2.5, 2.5)), file_sha256="01" * 32)
        rid = h.list("P10")[0]["id"]
    assert cli(capsys, "outcome", "context", "--screening", str(rid), "--age", "72",
               "--weight", "50", "--sex", "F")[0] == 0
    out_csv, out_pdf = tmp_path / "fig.csv", tmp_path / "out.pdf"
    rc, _, err = cli(capsys, "outcomes", "report", "--csv", str(out_csv), "--pdf", str(out_pdf))
    assert rc == 0, err
    rows = list(csv.DictReader(out_csv.open()))
    v1 = [r for r in rows if r["model_version"] == "1" and r["device_profile"] == "all"][0]
    assert (v1["ppv"], v1["ppv_ci95_lo"], v1["ppv_ci95_hi"]) == ("0.6667", "0.3000", "0.9032")
    nm = [r for r in rows if r["rule"] == "no_model"][0]
    assert nm["ppv"] == "" and nm["sensitivity"] == "" and nm["specificity"] == ""
    text = subprocess.run(["pdftotext", "-layout", str(out_pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "n too small (4/6)" in text and "Closing the loop" in text
    assert "MEASURED MCW BY DXA OUTCOME" in text and "-4 (moderate)" in text  # OST of P10
    assert "postmenopausal Asian women" in text
    table = text.split("REFERRALS AGAINST DXA")[1].split("Rates with")[0]
    assert "%" not in table.replace("PPV (95% CI)", "")  # every denominator is small here
    for pid in ("P01", "P10", "Doe", "x.png"):
        assert pid not in text
    rc, _, err = cli(capsys, "outcomes", "report", "--csv", str(out_csv), "--min-n", "x")
    assert rc == 2 and "--min-n must be a whole number" in err


# ------------------------------------------------------------------ OST and context


@pytest.mark.parametrize("weight, age, ost, band", [
    (50, 72, -4, "moderate"),   # -4.4 truncated toward zero
    (47, 72, -5, "high"),       # -5.0 exactly
    (45, 70, -5, "high"),
    (52, 72, -4, "moderate"),   # -4.0 exactly: the band edge
    (65, 70, -1, "moderate"),   # -1.0 exactly
    (62.5, 70, -1, "moderate"),  # -1.5
    (70, 74, 0, "low"),         # -0.8 truncates to 0
    (70, 60, 2, "low"),
    (58.1, 73.1, -3, "moderate"),  # -3.0 in exact arithmetic (0.2 x -15.0)
])
def test_ost(weight: float, age: float, ost: int, band: str) -> None:
    assert ost_index(weight, age) == ost and ost_band(ost) == band
    assert ClinicalContext(age, "F", weight).ost == ost


def test_context_validation_and_dicom(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pydicom

    for args, why in (((150, "F", 60), "age 150"), ((60, "X", 60), "sex 'X'"),
                      ((60, "F", 5), "weight 5"), ((None, None, None), "at least one")):
        with pytest.raises(OutcomeError, match=why):
            validate_context(*args)
    ds = pydicom.dcmread(SAMPLE_DCM)
    ds.PatientAge, ds.PatientWeight, ds.PatientSex = "068Y", 52, "F"
    a = tmp_path / "a.dcm"
    ds.save_as(a)
    assert context_from_dicom(a) == (68.0, "F", 52.0)
    del ds.PatientAge
    ds.PatientBirthDate, ds.StudyDate = "19560315", "20260314"
    ds.save_as(tmp_path / "b.dcm")
    assert context_from_dicom(tmp_path / "b.dcm") == (70.0, "F", 52.0)
    assert context_from_dicom(ROOT / "resources" / "samples" / "phantom_c1.png") == (None, None, None)
    with History() as h:
        sid = record(h, "Q", 0.5, "e" * 64, path=str(a))
    rc, out, _ = cli(capsys, "outcome", "context", "--screening", str(sid))
    assert rc == 0 and "(dicom); OST -3 (moderate)" in out  # 0.2 x (52 - 68) = -3.2
    rc, _, err = cli(capsys, "outcome", "context", "--screening", "99", "--age", "60")
    assert rc == 2 and "no screening #99" in err


# ------------------------------------------------------------------ priors


def test_priors_flag_only_changes_beyond_repeatability(capsys: pytest.CaptureFixture[str]) -> None:
    with History() as h:
        d0 = date(2022, 3, 1)
        record(h, "R", 0.3, "1" * 64, mcw=(3.5, 3.2), study=d0)
        record(h, "R", 0.3, "2" * 64, mcw=(3.4, 3.3), study=d0 + timedelta(days=400))
        record(h, "R", 0.6, "3" * 64, mcw=(2.2, 3.25), study=d0 + timedelta(days=800))
        # anonymised: stored under the pseudonym, dated the day it was screened (today)
        record(h, "R", 0.6, "4" * 64, mcw=(1.0, None), anonymize=True, assumed=True)
        pts = mcw_over_time(h, "R")
    assert [p.mcw_right_mm for p in pts] == [3.5, 3.4, 2.2, 1.0]  # plain and pseudonymised
    assert MCW_REPEATABILITY_MM == 1.0  # docs/outcomes.md
    ch = mcw_changes(pts)
    assert [(c.side, c.from_id, c.to_id, c.delta_mm, c.comparable) for c in ch] == [
        ("right", 2, 3, -1.2, True), ("right", 3, 4, -1.2, False)]
    assert len(mcw_changes(pts, 0.09)) == 4 and mcw_changes(pts, 1.3) == []
    rc, out, _ = cli(capsys, "outcomes", "priors", "--patient", "R")
    assert rc == 0 and "right: -1.20 mm from #2 to #3" in out and "not comparable" in out


# ------------------------------------------------------------------ export


def _image(path: Path, label: int, rng: np.random.Generator) -> Path:
    import cv2

    img = rng.normal(0.35, 0.05, (160, 320))
    img[110:110 + (6 if label else 16), 40:280] += 0.4
    cv2.imwrite(str(path), (np.clip(img, 0, 1) * 255).astype(np.uint8))
    return path


def make_practice(folder: Path, n: int = 20) -> History:
    """n patients, one radiograph each, a DXA for each (alternating osteoporosis / normal);
    plus one anonymised screening (path not kept) and one whose file was deleted."""
    from dentalosteo_gui.core.records.history import file_sha256

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    h = History()
    for i in range(n + 2):
        f = _image(folder / f"Patient_{i:02d}_Surname.png", i % 2, rng)
        res, rad = screening(f"PID{i:03d}", 0.5, path=str(f), mcw=(1.6, 1.7) if i % 2 else (3.2, 3.1))
        h.record_screening(res, rad, file_sha256=file_sha256(f), anonymize=i == n)
        # the anonymised screening kept no study date: it is dated today, 20 days after this DXA
        dxa(h, f"PID{i:03d}", -3.0 if i % 2 else -0.5, days=480 if i == n else 31)
    (folder / f"Patient_{n + 1:02d}_Surname.png").unlink()
    return h


def test_export_is_deidentified_and_reads_as_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dentalosteo_gui.core.data.dataset import read_dataset

    make_practice(tmp_path / "scans", 6).close()
    out = tmp_path / "export"
    rc, text, err = cli(capsys, "outcomes", "export", str(out), "--anonymize")
    assert rc == 0, err
    assert "wrote 6 image(s) of 6 patient(s)" in text
    assert "skipped screening #7: file path not kept (anonymised screening)" in text
    assert "skipped screening #8: the original file is gone" in text
    rows = read_dataset(out)
    assert [r.label for r in rows] == [0, 1, 0, 1, 0, 1]
    assert rows[1].t_score == -3.0 and rows[1].klemetti == "C2" and rows[1].mcw_right_mm == 1.6
    assert rows[0].roi == RoiBox(40, 80, 240, 60) and rows[0].pixel_spacing_mm == 0.1
    assert rows[0].extra["patient_id"] == "S0001" and rows[0].extra["who_category"] == "normal"
    blob = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    names = " ".join(p.name for p in out.rglob("*"))
    for needle in ("PID0", "Patient_", "Surname", "scans"):
        assert needle.encode() not in blob and needle not in names
    # the anonymised screening is found again by its sha256
    rc, text, _ = cli(capsys, "outcomes", "export", str(tmp_path / "e2"), "--images-from",
                      str(tmp_path / "scans"))
    assert rc == 0 and "wrote 7 image(s)" in text
    rc, _, err = cli(capsys, "outcomes", "export", str(out))
    assert rc == 2 and "not an empty folder" in err


def test_export_keeps_dicom_deidentified(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pydicom

    from dentalosteo_gui.core.records.history import file_sha256

    ds = pydicom.dcmread(SAMPLE_DCM)
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "SECRET^NAME", "ZZ-99", "19400101"
    src = tmp_path / "ZZ-99.dcm"
    ds.save_as(src)
    with History() as h:
        res, rad = screening("ZZ-99", 0.7, path=str(src))
        h.record_screening(res, rad, file_sha256=file_sha256(src))
        dxa(h, "ZZ-99", -2.9)
    rc, _, err = cli(capsys, "outcomes", "export", str(tmp_path / "out"), "--dicom")
    assert rc == 0, err
    [img] = (tmp_path / "out" / "images").iterdir()
    assert img.name == "img_00001.dcm"
    blob = img.read_bytes()
    assert b"SECRET" not in blob and b"ZZ-99" not in blob and b"19400101" not in blob
    assert str(pydicom.dcmread(img).PatientID) == "S0001"


@pytest.mark.ml
def test_export_round_trip_through_train_and_evaluate(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    make_practice(tmp_path / "scans", 20).close()
    data, pack = tmp_path / "data", tmp_path / "pack"
    assert main(["outcomes", "export", str(data)]) == 0
    assert main(["train", str(data), "--arch", "compact", "--protocol", "split-50-25-25",
                 "--out", str(pack), "--epochs", "2", "--input", "16x64", "--batch-size", "8",
                 "--seed", "1"]) == 0
    assert json.loads((pack / "card.json").read_text())["training_data"]["n"] == 20
    out = tmp_path / "ev.json"
    assert main(["evaluate", str(data), "--model", str(pack), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["n"] == 20 and res["auc"] is not None
    shutil.rmtree(pack.parent / "pack.work", ignore_errors=True)
