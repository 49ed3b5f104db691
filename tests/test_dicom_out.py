"""Issue 18: the screening result as DICOM objects (``screen/batch --dicom-out``).

Three objects per image (TID 1500 SR, RGB Secondary Capture with the screening burned in,
Encapsulated PDF of the report), filed into the source study with new series / instances
that reference the source image; a PNG gets a new study; ``--anonymize`` goes through the
de-identification of ``dentalosteo deidentify`` (same pseudonymous patient, same UID map).
Every object is checked with dicom3tools' ``dciodvfy``: no ``Error`` line (warnings are
listed in docs/dicom.md). Issue 17 in the SR: PMI ({ratio}), the mental foramen (SCOORD
POINT, proposed or placed by the dentist), the dentist-measured MCW (its own method and
group, SCOORD POLYLINE), and no millimetre at all when the spacing is assumed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
DCM = SAMPLES / "phantom_c2.dcm"
PNG = SAMPLES / "phantom_c1.png"
PHI = (b"DEMO^PATIENT", b"DEMO-0001", b"19560412")
# issue 17 on the DICOM phantom: a foramen the dentist placed on the right (the proposal's
# centre) and the dentist's two points across the right cortex under it
USER_FORAMEN = "471.4,467.6"
DENTIST_RIGHT = "458,545,458,528"
SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.33"
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"
PDF_CLASS = "1.2.840.10008.5.1.4.1.1.104.1"


def dciodvfy_problems(path: Path) -> tuple[list[str], list[str]]:
    """(Error lines, Warning lines) of dciodvfy for one file."""
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) not installed: run .ci/sysdeps.sh")
    r = subprocess.run([exe, "-new", str(path)], capture_output=True, text=True, timeout=60)
    lines = (r.stdout + r.stderr).splitlines()
    return ([ln for ln in lines if ln.startswith("Error")],
            [ln for ln in lines if ln.startswith("Warning")])


def assert_valid(path: Path) -> None:
    errors, _ = dciodvfy_problems(path)
    assert not errors, f"{path.name}:\n" + "\n".join(errors)


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from dentalosteo_gui.cli.main import main

    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _by_class(folder: Path) -> dict[str, pydicom.Dataset]:
    out = {}
    for p in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(p)
        out[str(ds.SOPClassUID)] = ds
    return out


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One ``screen --json --dicom-out`` per input (DICOM, DICOM anonymised, PNG), run in
    this process so the engine (TensorFlow) starts once; user folders isolated."""
    base = tmp_path_factory.mktemp("dicomout")
    mp = pytest.MonkeyPatch()
    mp.setenv("DENTALOSTEO_DATA_DIR", str(base / "data"))
    mp.setenv("DENTALOSTEO_CONFIG_DIR", str(base / "config"))
    from dentalosteo_gui.cli.main import main

    runs = {}
    uncal = base / "uncal_in" / PNG.name  # no labels.csv beside it: spacing assumed
    uncal.parent.mkdir()
    shutil.copy(PNG, uncal)
    try:
        for name, src, extra in (("dcm", DCM, []), ("anon", DCM, ["--anonymize"]),
                                 ("png", PNG, []), ("png2", PNG, []),
                                 ("dentist", DCM, ["--foramen-right", USER_FORAMEN,
                                                   "--dentist-mcw-right", DENTIST_RIGHT]),
                                 ("uncal", uncal, ["--foramen-right", "478,533",
                                                   "--dentist-mcw-left", "900,615,900,599"])):
            out = base / name
            import contextlib
            import io

            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                rc = main(["screen", str(src), "--json", "--dicom-out", str(out), *extra])
            assert rc == 0
            runs[name] = {"dir": out, "json": json.loads(buf.getvalue())}
        from dentalosteo_gui.core.records.deidentify import deidentify_dicom, local_salt

        deidentify_dicom(DCM, base / "deid.dcm")
        runs["deid"] = pydicom.dcmread(base / "deid.dcm", stop_before_pixels=True)
        runs["salt"] = local_salt()
    finally:
        mp.undo()
    return runs


def test_three_valid_objects_in_the_source_study(screened: dict) -> None:
    folder = screened["dcm"]["dir"]
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["phantom_c2_PDF.dcm", "phantom_c2_SC.dcm", "phantom_c2_SR.dcm"]
    for p in folder.iterdir():
        assert_valid(p)
    src = pydicom.dcmread(DCM, stop_before_pixels=True)
    objs = _by_class(folder)
    assert set(objs) == {SR_CLASS, SC_CLASS, PDF_CLASS}
    series = {str(ds.SeriesInstanceUID) for ds in objs.values()}
    assert len(series) == 3 and str(src.SeriesInstanceUID) not in series
    for ds in objs.values():
        assert ds.StudyInstanceUID == src.StudyInstanceUID
        assert ds.SOPInstanceUID != src.SOPInstanceUID
        assert str(ds.PatientName) == "DEMO^PATIENT" and ds.PatientID == "DEMO-0001"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    sr, sc, pdf = objs[SR_CLASS], objs[SC_CLASS], objs[PDF_CLASS]
    # references to the source image
    ev = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert ev.StudyInstanceUID == src.StudyInstanceUID
    assert ev.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert pdf.SourceInstanceSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert (sr.Modality, sc.Modality, pdf.Modality) == ("SR", "OT", "DOC")
    assert sr.PreliminaryFlag == "PRELIMINARY" and sr.VerificationFlag == "UNVERIFIED"


def test_sr_holds_the_measurements_with_provenance(screened: dict) -> None:
    import highdicom as hd

    res = screened["dcm"]["json"]
    sr_path = next(screened["dcm"]["dir"].glob("*_SR.dcm"))
    sr = hd.sr.srread(sr_path)
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    groups = sr.content.get_image_measurement_groups()
    assert len(groups) == 2
    cortex, model = groups
    mcw = {}
    for m in cortex.get_measurements():
        if m.name.value == "MCW":
            assert m.name.scheme_designator == "99DENTALOSTEO" and m.unit.value == "mm"
            side = m.finding_sites[0]
            assert side.value.value == "91609006"  # SCT bone structure of mandible
            lat = [c for c in side.ContentSequence if c.ConceptNameCodeSequence[0].CodeValue == "272741003"]
            mcw[lat[0].ConceptCodeSequence[0].CodeMeaning] = m.value
    assert mcw["Right"] == pytest.approx(res["mcw_mm"]["right"], abs=1e-6)
    assert mcw["Left"] == pytest.approx(res["mcw_mm"]["left"], abs=1e-6)
    quals = {q.name.value: q.value.value for q in cortex.get_qualitative_evaluations()}
    assert quals["SPACING-SOURCE"] == "SPACING-FILE"
    assert quals["KLEMETTI-RULE"] == f"KLEMETTI-{res['klemetti']['rule_class']}"
    ms = {m.name.value: m.value for m in model.get_measurements()}
    assert ms["RISK"] == pytest.approx(res["risk"], abs=1e-9)
    # the bundled pack fuses the image model's risk with the measured MCW: both are recorded
    assert res["risk_basis"]["method"] == "image model + measured MCW"
    assert ms["RISK-IMAGE-MODEL"] == pytest.approx(res["risk_image_model"], abs=1e-9)
    assert b"risk: image model + measured MCW" in sr_path.read_bytes()
    mq = {q.name.value: q.value for q in model.get_qualitative_evaluations()}
    assert mq["KLEMETTI-MODEL"].value == f"KLEMETTI-{res['klemetti']['class']}"
    assert mq["RISK-LEVEL"].scheme_designator == "SCT"
    raw = sr_path.read_bytes()
    assert res["model"]["sha256"].encode() in raw and res["model"]["name"].encode() in raw
    assert b"99DENTALOSTEO" in raw and sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99DENTALOSTEO"


def _nums(items: object) -> list[tuple[str, float, str]]:
    """Every NUM of an SR content tree: (concept code value, value, unit code value)."""
    out = []
    for it in items or []:  # type: ignore[attr-defined]
        if it.ValueType == "NUM" and "MeasuredValueSequence" in it:
            mv = it.MeasuredValueSequence[0]
            out.append((it.ConceptNameCodeSequence[0].CodeValue, float(mv.NumericValue),
                        mv.MeasurementUnitsCodeSequence[0].CodeValue))
        out.extend(_nums(it.get("ContentSequence")))
    return out


def _side(m: object) -> str:
    site = m.finding_sites[0]  # type: ignore[attr-defined]
    lat = [c for c in site.ContentSequence if c.ConceptNameCodeSequence[0].CodeValue == "272741003"]
    return str(lat[0].ConceptCodeSequence[0].CodeMeaning).lower()


def _scoord(m: object) -> tuple[str, list[float], str]:
    """(graphic type, graphic data, referenced SOP instance) of a measurement's SCOORD."""
    sc = [c for c in m[0].ContentSequence if c.ValueType == "SCOORD"][0]  # type: ignore[index]
    ref = sc.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    return str(sc.GraphicType), [float(v) for v in sc.GraphicData], str(ref)


def _foramen_groups(sr: object) -> dict[str, object]:
    groups = sr.content.get_planar_roi_measurement_groups()  # type: ignore[attr-defined]
    return {str(g.tracking_identifier).rsplit(" ", 1)[-1]: g for g in groups}


def test_sr_holds_the_proposed_foramen_and_pmi(screened: dict) -> None:
    import highdicom as hd

    res = screened["dcm"]["json"]
    sr = hd.sr.srread(next(screened["dcm"]["dir"].glob("*_SR.dcm")))
    fg = _foramen_groups(sr)
    assert set(fg) == {s for s in ("left", "right") if res["mental_foramen"][s]}
    src = pydicom.dcmread(DCM, stop_before_pixels=True)
    for side, g in fg.items():
        x, y = res["mental_foramen"][side]
        region = g.roi
        assert region.GraphicType == "POINT" and region.ContentSequence[0].ReferencedSOPSequence[0] \
            .ReferencedSOPInstanceUID == src.SOPInstanceUID
        assert [float(v) for v in region.GraphicData] == pytest.approx([x + 0.5, y + 0.5], abs=0.06)
        quals = {q.name.value: q.value.value for q in g.get_qualitative_evaluations()}
        assert quals["FORAMEN-SOURCE"] == "FORAMEN-AUTO"
        ms = {m.name.value: m for m in g.get_measurements()}
        conf = ms["FORAMEN-CONF"]
        assert conf.value == pytest.approx(res["mental_foramen_confidence"][side], abs=1e-3)
        assert conf.unit.value == "1"
        if res["pmi"][side] is None:
            assert "PMI" not in ms
        else:
            assert ms["PMI"].value == pytest.approx(res["pmi"][side], abs=1e-3)
            assert (ms["PMI"].unit.value, ms["PMI"].unit.scheme_designator) == ("{ratio}", "UCUM")
            assert ms["PMI"].method.value == "PMI-METHOD" and _side(ms["PMI"]) == side


def test_sr_holds_the_dentists_foramen_and_mcw(screened: dict) -> None:
    """Calibrated (file spacing): the dentist's MCW in mm, apart from the automatic one by
    its method and group; the foramen the dentist placed; PMI with both widths."""
    import highdicom as hd

    res = screened["dentist"]["json"]
    path = next(screened["dentist"]["dir"].glob("*_SR.dcm"))
    assert_valid(path)
    sr = hd.sr.srread(path)
    src = pydicom.dcmread(DCM, stop_before_pixels=True)
    # the foramen: a point the dentist placed (no confidence), PMI and the dentist's PMI
    g = _foramen_groups(sr)["right"]
    assert [float(v) for v in g.roi.GraphicData] == pytest.approx([471.9, 468.1], abs=0.01)
    assert {q.name.value: q.value.value for q in g.get_qualitative_evaluations()}[
        "FORAMEN-SOURCE"] == "FORAMEN-USER"
    pmi = {m.method.value: m for m in g.get_measurements() if m.name.value == "PMI"}
    assert "FORAMEN-CONF" not in {m.name.value for m in g.get_measurements()}
    assert pmi["PMI-METHOD"].value == pytest.approx(res["pmi"]["right"], abs=1e-3)
    assert pmi["PMI-DENTIST"].value == pytest.approx(res["pmi_detail"]["right"]["pmi_dentist"], abs=1e-3)
    assert all(m.unit.value == "{ratio}" for m in pmi.values())
    # the dentist's MCW: its own group, method, unit mm, the two points as a POLYLINE
    groups = {str(x.tracking_identifier): x for x in sr.content.get_image_measurement_groups()}
    dent = groups["Dentist-measured MCW"]
    (m,) = dent.get_measurements()
    assert (m.name.value, m.method.value, m.unit.value, _side(m)) == ("MCW", "MCW-DENTIST", "mm", "right")
    assert m.value == pytest.approx(res["mcw_mm"]["dentist_right"], abs=1e-3)
    kind, data, ref = _scoord(m)
    assert kind == "POLYLINE" and data == [458.5, 545.5, 458.5, 528.5] and ref == src.SOPInstanceUID
    quals = {q.name.value: q.value.value for q in dent.get_qualitative_evaluations()}
    assert quals == {"MEASURED-BY": "DENTIST", "MCW-USED": "MCW-DENTIST"}
    auto = [m for m in groups["Mandibular cortex"].get_measurements() if m.name.value == "MCW"]
    assert {(m.method.value, m.unit.value) for m in auto} == {("MCW-METHOD", "mm")}


def test_uncalibrated_sr_never_states_mcw_in_mm(screened: dict) -> None:
    """Spacing assumed: every width in {pixels}, no millimetre anywhere in the SR, the
    spacing source says assumed; PMI (scale-free) as usual."""
    import highdicom as hd

    res = screened["uncal"]["json"]
    assert res["spacing"]["source"] == "assumed"
    path = next(screened["uncal"]["dir"].glob("*_SR.dcm"))
    assert_valid(path)
    ds = pydicom.dcmread(path)
    nums = _nums(ds.ContentSequence)
    assert [u for _, _, u in nums if u == "mm"] == []
    mcw = sorted(v for c, v, u in nums if c == "MCW" and u == "{pixels}")
    assert len(mcw) == 3 == len([c for c, _, _ in nums if c == "MCW"])
    expected = [res["mcw_px"]["right"], res["mcw_px"]["left"], 16.0]  # 16: the dentist's points
    assert mcw == pytest.approx(sorted(expected), abs=0.01)
    assert not {"111026", "111066"} & {c for c, _, _ in nums}  # no pixel spacing stated
    assert ("PMI", pytest.approx(res["pmi"]["right"], abs=1e-3), "{ratio}") in nums
    sr = hd.sr.srread(path)
    cortex = sr.content.get_image_measurement_groups()[0]
    quals = {q.name.value: q.value for q in cortex.get_qualitative_evaluations()}
    assert quals["SPACING-SOURCE"].value == "SPACING-ASSUMED" and "pixels" in quals["SPACING-SOURCE"].meaning
    # the points are drawn on the sibling SC (same pixel coordinates as the PNG)
    sc = pydicom.dcmread(next(screened["uncal"]["dir"].glob("*_SC.dcm")), stop_before_pixels=True)
    g = _foramen_groups(sr)["right"]
    assert g.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == sc.SOPInstanceUID
    assert [float(v) for v in g.roi.GraphicData] == [478.5, 533.5]


@pytest.mark.parametrize("source", ["calibrated", "assumed"])
def test_sr_units_follow_the_spacing_source(screened: dict, tmp_path: Path, source: str) -> None:
    """The same reading with a calibration profile (magnification divided out): mm, spacing
    and factor stated; with the spacing assumed: pixels only (also the dentist's width)."""
    from dentalosteo_gui.core.imaging.imageio import load_radiograph
    from dentalosteo_gui.core.records.dicom_objects import build_result_objects, dataset_bytes
    from dentalosteo_gui.core.records.report import result_from_dict
    from dentalosteo_gui.core.types import Spacing

    res = result_from_dict(screened["dentist"]["json"])
    sp = (Spacing(0.1, "calibrated", "profile P", "P", 1.25) if source == "calibrated"
          else Spacing(0.1, "assumed", "configured default"))
    px = res.dentist_mcw_px("right")
    res = replace(res, spacing=sp, mcw_dentist_right_mm=px * 0.1, mcw_dentist_left_mm=None)
    objs = build_result_objects(res, load_radiograph(DCM), b"%PDF-1.4\n%%EOF\n", salt="x" * 40)
    p = tmp_path / "sr.dcm"
    p.write_bytes(dataset_bytes(objs.sr))
    assert_valid(p)
    nums = _nums(pydicom.dcmread(p).ContentSequence)
    mcw = sorted((v, u) for c, v, u in nums if c == "MCW")
    if source == "calibrated":
        assert {u for _, u in mcw} == {"mm"}
        assert (pytest.approx(px * 0.1), "mm") in mcw
        assert ("MAGNIFICATION", 1.25, "1") in nums and ("111026", 0.1, "mm") in nums
    else:
        assert {u for _, _, u in nums} <= {"{pixels}", "{ratio}", "1"}
        assert (pytest.approx(px), "{pixels}") in mcw
        assert (pytest.approx(res.mcw_right_px), "{pixels}") in mcw
        assert "MAGNIFICATION" not in {c for c, _, _ in nums}


def test_private_code_meanings_fit_dicom() -> None:
    from dentalosteo_gui.core.records.dicom_objects import PRIVATE_CODES

    assert all(0 < len(v) <= 64 for v in PRIVATE_CODES.values())  # LO, Code Meaning limit
    assert all(len(k) <= 16 for k in PRIVATE_CODES)  # SH, Code Value limit


def test_sc_has_the_screening_burned_in(screened: dict, tmp_path: Path) -> None:
    import cv2

    from dentalosteo_gui.core.imaging.imageio import load_radiograph

    res = screened["dcm"]["json"]
    sc = pydicom.dcmread(next(screened["dcm"]["dir"].glob("*_SC.dcm")))
    px = sc.pixel_array
    rad = load_radiograph(DCM)
    assert sc.PhotometricInterpretation == "RGB" and px.dtype == np.uint8
    assert px.shape[1] == rad.width and px.shape[0] > rad.height  # + the text panel
    cv2.imwrite(str(tmp_path / "sc.png"), cv2.cvtColor(px, cv2.COLOR_RGB2BGR))  # for a look
    img = px[: rad.height].astype(int)
    roi = res["roi"]
    # the ROI box is drawn in yellow on its top edge
    edge = img[roi["y"], roi["x"] + 10 : roi["x"] + roi["w"] - 10]
    assert (edge[:, 0] > 200).mean() > 0.9 and (edge[:, 2] < 80).mean() > 0.9
    # colour (overlays, Grad-CAM) only near the ROI / border; far from it the radiograph is grey
    colour = np.abs(img[..., 0] - img[..., 2]) > 30
    assert colour[roi["y"] : roi["y"] + roi["h"], roi["x"] : roi["x"] + roi["w"]].mean() > 0.01
    assert colour[rad.height // 3 : rad.height // 2, rad.width // 3 : 2 * rad.width // 3].mean() < 0.01
    # the text panel is not empty
    panel = px[rad.height :]
    assert (panel.max(axis=2) > 150).mean() > 0.01
    from dentalosteo_gui.core.records.dicom_burn import result_lines
    from dentalosteo_gui.core.records.report import result_from_dict

    text = " ".join(t for t, _ in result_lines(result_from_dict(res)))
    assert "NOT A DIAGNOSIS" in text and f"{res['risk']:.2f}" in text
    assert f"{res['mcw_mm']['right']:.2f} mm" in text and res["model"]["sha256"][:16] in text
    assert sc.ImageType[0] == "DERIVED" and sc.BurnedInAnnotation == "NO"


def test_pdf_object_holds_the_report(screened: dict) -> None:
    pdf = pydicom.dcmread(next(screened["dcm"]["dir"].glob("*_PDF.dcm")))
    doc = bytes(pdf.EncapsulatedDocument)[: int(pdf.EncapsulatedDocumentLength)]
    assert doc.startswith(b"%PDF") and doc.rstrip().endswith(b"%%EOF")
    assert pdf.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert pdf.BurnedInAnnotation == "YES"  # the report names the patient
    if shutil.which("pdftotext"):
        r = subprocess.run(["pdftotext", "-", "-"], input=doc, capture_output=True, timeout=60)
        assert b"not a diagnosis" in r.stdout


def test_anonymized_objects_match_deidentify(screened: dict) -> None:
    from dentalosteo_gui.core.records.deidentify import pseudonym

    folder = screened["anon"]["dir"]
    deid = screened["deid"]
    case = pseudonym("DEMO-0001", screened["salt"])
    assert sorted(p.name for p in folder.iterdir()) == [f"{case}_PDF.dcm", f"{case}_SC.dcm", f"{case}_SR.dcm"]
    for p in folder.iterdir():
        raw = p.read_bytes()
        for phi in PHI:
            assert phi not in raw, f"{p.name} holds {phi!r}"
        assert_valid(p)
        ds = pydicom.dcmread(p)
        assert ds.PatientID == case == deid.PatientID and str(ds.PatientName) == str(deid.PatientName)
        assert ds.StudyInstanceUID == deid.StudyInstanceUID  # the de-identified copy's study
        assert ds.PatientIdentityRemoved == "YES"
    objs = _by_class(folder)
    assert objs[SC_CLASS].SourceImageSequence[0].ReferencedSOPInstanceUID == deid.SOPInstanceUID
    pdf = objs[PDF_CLASS]
    assert pdf.BurnedInAnnotation == "NO"
    if shutil.which("pdftotext"):
        doc = bytes(pdf.EncapsulatedDocument)[: int(pdf.EncapsulatedDocumentLength)]
        r = subprocess.run(["pdftotext", "-", "-"], input=doc, capture_output=True, timeout=60)
        assert case.encode() in r.stdout and b"DEMO" not in r.stdout.replace(b"DEMO panoramic", b"")


def test_png_gets_a_new_stable_study(screened: dict) -> None:
    a, b = _by_class(screened["png"]["dir"]), _by_class(screened["png2"]["dir"])
    for p in screened["png"]["dir"].iterdir():
        assert_valid(p)
    studies = {str(ds.StudyInstanceUID) for ds in a.values()}
    assert len(studies) == 1 and studies.pop().startswith("2.25.")
    assert a[SR_CLASS].StudyInstanceUID == b[SR_CLASS].StudyInstanceUID  # same picture, same study
    assert a[SR_CLASS].SOPInstanceUID != b[SR_CLASS].SOPInstanceUID
    assert "SourceImageSequence" not in a[SC_CLASS] and "SourceInstanceSequence" not in a[PDF_CLASS]
    # the SR's evidence is its sibling SC (the only instance of that study)
    ev = a[SR_CLASS].CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert ev.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == a[SC_CLASS].SOPInstanceUID


@pytest.mark.parametrize("variant", ["not_assessable", "not_panoramic", "no_model"])
def test_results_without_a_score_are_valid_objects(screened: dict, tmp_path: Path, variant: str) -> None:
    from dentalosteo_gui.core.imaging.imageio import load_radiograph
    from dentalosteo_gui.core.records.dicom_objects import build_result_objects, dataset_bytes
    from dentalosteo_gui.core.records.report import result_from_dict

    res = result_from_dict(screened["dcm"]["json"])
    if variant == "not_assessable":
        res = replace(res, risk=None, risk_level=None, klemetti_class=None, klemetti_probabilities=None,
                      referral=None, assessable=False, mcw_left_mm=None)
    elif variant == "not_panoramic":
        res = replace(res, risk=None, risk_level=None, klemetti_class=None, klemetti_rule=None,
                      klemetti_probabilities=None, referral=None, panoramic=False, assessable=False,
                      mcw_left_mm=None, mcw_right_mm=None, roi=None, border_left=[], border_right=[])
    else:
        res = replace(res, model=None, risk=None, risk_level=None, klemetti_class=None,
                      klemetti_probabilities=None, referral=None)
    objs = build_result_objects(res, load_radiograph(DCM), b"%PDF-1.4\n%%EOF\n", salt="x" * 40)
    for kind, ds in objs.items():
        p = tmp_path / f"{kind}.dcm"
        p.write_bytes(dataset_bytes(ds))
        assert_valid(p)


def test_batch_writes_three_objects_per_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(DCM, src / "a.dcm")
    shutil.copy(PNG, src / "b.png")
    rc, _, err = _cli(["batch", str(src), "--csv", str(tmp_path / "out.csv"), "--quiet",
                       "--dicom-out", str(tmp_path / "dicom")], capsys)
    assert rc == 0, err
    names = sorted(p.name for p in (tmp_path / "dicom").iterdir())
    assert names == [f"{s}_{k}.dcm" for s in ("a", "b") for k in ("PDF", "SC", "SR")]


def test_dicom_out_is_a_file_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "taken"
    f.write_text("x")
    rc, _, err = _cli(["batch", str(PNG), "--csv", str(tmp_path / "o.csv"), "--quiet",
                       "--dicom-out", str(f)], capsys)
    assert rc == 2 and err.count("\n") == 1 and "--dicom-out" in err and "Traceback" not in err
