"""Issue 18: the screening result as DICOM objects (``screen/batch --dicom-out``).

Three objects per image (TID 1500 SR, RGB Secondary Capture with the screening burned in,
Encapsulated PDF of the report), filed into the source study with new series / instances
that reference the source image; a PNG gets a new study; ``--anonymize`` goes through the
de-identification of ``dentalosteo deidentify`` (same pseudonymous patient, same UID map).
Every object is checked with dicom3tools' ``dciodvfy``: no ``Error`` line (warnings are
listed in docs/dicom.md).
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
    try:
        for name, src, extra in (("dcm", DCM, []), ("anon", DCM, ["--anonymize"]),
                                 ("png", PNG, []), ("png2", PNG, [])):
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
    mq = {q.name.value: q.value for q in model.get_qualitative_evaluations()}
    assert mq["KLEMETTI-MODEL"].value == f"KLEMETTI-{res['klemetti']['class']}"
    assert mq["RISK-LEVEL"].scheme_designator == "SCT"
    raw = sr_path.read_bytes()
    assert res["model"]["sha256"].encode() in raw and res["model"]["name"].encode() in raw
    assert b"99DENTALOSTEO" in raw and sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99DENTALOSTEO"


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
