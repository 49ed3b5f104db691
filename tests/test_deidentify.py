"""DICOM de-identification (PS3.15 basic profile): no PHI tags left, UIDs consistent,
dates shifted or removed, private tags dropped, rectangles blacked out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid  # noqa: E402

from dentalosteo_gui.cli.main import main  # noqa: E402
from dentalosteo_gui.core.errors import ConfigError, RadiographError  # noqa: E402
from dentalosteo_gui.core.records.deidentify import deidentify_dicom, pseudonym  # noqa: E402
from dentalosteo_gui.core.types import RoiBox  # noqa: E402

STUDY_UID = "1.2.826.0.1.3680043.8.498.111"
SERIES_UID = "1.2.826.0.1.3680043.8.498.222"
PHI = ["Quimby^Harriet", "HQ-7781-23", "19510214", "Lakeside Dental Clinic",
       "Dr^Referrer^Zed", "Operator^Olga", "44 Sycamore Lane", "555-0199", "ACC99812",
       "PRIVATE-SECRET-123", "PANO-STATION-7", "SN-00X77", "Left jaw pain history",
       "OtherID-5512", "20240611", "Nested^Person"]


def make_dicom(path: Path, *, sop_uid: str | None = None, photometric: str = "MONOCHROME2",
               compressed: bool = False) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # DX for presentation
    sop = sop_uid or generate_uid()
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = "PANO-STATION-7"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = SERIES_UID
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality = "DX"
    ds.Manufacturer = "ACME"
    ds.PatientName = "Quimby^Harriet"
    ds.PatientID = "HQ-7781-23"
    ds.PatientBirthDate = "19510214"
    ds.PatientSex = "F"
    ds.PatientAge = "073Y"
    ds.PatientAddress = "44 Sycamore Lane"
    ds.PatientTelephoneNumbers = "555-0199"
    ds.OtherPatientIDs = "OtherID-5512"
    ds.InstitutionName = "Lakeside Dental Clinic"
    ds.ReferringPhysicianName = "Dr^Referrer^Zed"
    ds.OperatorsName = "Operator^Olga"
    ds.AccessionNumber = "ACC99812"
    ds.StationName = "PANO-STATION-7"
    ds.DeviceSerialNumber = "SN-00X77"
    ds.AdditionalPatientHistory = "Left jaw pain history"
    ds.StudyDate = "20240611"
    ds.SeriesDate = "20240611"
    ds.StudyTime = "101500"
    ds.StudyID = "S1"
    ds.BurnedInAnnotation = "YES"
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ref.ReferencedSOPInstanceUID = sop
    person = Dataset()
    person.PersonName = "Nested^Person"
    ds.SourceImageSequence = Sequence([ref])
    ds.ContentSequence = Sequence([person])
    block = ds.private_block(0x0011, "ACME PRIVATE", create=True)
    block.add_new(0x01, "LO", "PRIVATE-SECRET-123")
    rows, cols = 64, 96
    arr = (np.arange(rows * cols, dtype=np.uint16).reshape(rows, cols) % 4000 + 50).astype(np.uint16)
    ds.set_pixel_data(arr, photometric, 12, generate_instance_uid=False)
    ds.PixelSpacing = [0.1, 0.1]
    if compressed:
        ds.compress(RLELossless, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)
    return path


def all_elements(ds: Dataset) -> list:
    return list(ds.iterall()) + list(ds.file_meta)


def test_no_phi_left_and_profile_markers(tmp_path: Path) -> None:
    src = make_dicom(tmp_path / "in.dcm")
    out = tmp_path / "out.dcm"
    warnings = deidentify_dicom(src, out, salt="s" * 40)
    raw = out.read_bytes()
    for phi in PHI:
        assert phi.encode() not in raw, phi
    ds = pydicom.dcmread(out)
    for kw in ("PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "StudyDate"):
        assert kw not in ds or not ds.data_element(kw).value, kw
    for kw in ("PatientAge", "PatientAddress", "PatientTelephoneNumbers", "OtherPatientIDs",
               "InstitutionName", "StationName", "DeviceSerialNumber", "AdditionalPatientHistory",
               "ContentSequence", "ReferringPhysicianName", "OperatorsName", "StudyTime"):
        assert kw not in ds or not ds.data_element(kw).value, kw
    assert not [e for e in ds.iterall() if e.tag.is_private]
    assert all(e.VR != "PN" or not e.value or str(e.value).startswith("CASE-")
               for e in all_elements(ds))
    case = pseudonym("HQ-7781-23", "s" * 40)
    assert str(ds.PatientName) == case and ds.PatientID == case
    assert ds.PatientIdentityRemoved == "YES"
    assert "PS3.15" in ds.DeidentificationMethod
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    # instance UIDs replaced, class UIDs kept, file meta consistent
    assert ds.StudyInstanceUID != STUDY_UID and ds.StudyInstanceUID.startswith("2.25.")
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1"
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SourceImageSequence[0].ReferencedSOPClassUID == ds.SOPClassUID
    assert "SourceApplicationEntityTitle" not in ds.file_meta
    # pixels untouched without blackout; the burned-in warning is given
    np.testing.assert_array_equal(ds.pixel_array, pydicom.dcmread(src).pixel_array)
    assert any("burned-in" in w for w in warnings)
    assert ds.Manufacturer == "ACME" and ds.Modality == "DX"


def test_uids_consistent_across_files_and_dates_shifted(tmp_path: Path) -> None:
    a = make_dicom(tmp_path / "a.dcm")
    b = make_dicom(tmp_path / "b.dcm")
    deidentify_dicom(a, tmp_path / "a_out.dcm", salt="k" * 40, date_shift_days=-100)
    deidentify_dicom(b, tmp_path / "b_out.dcm", salt="k" * 40, date_shift_days=-100)
    da, db_ = pydicom.dcmread(tmp_path / "a_out.dcm"), pydicom.dcmread(tmp_path / "b_out.dcm")
    assert da.StudyInstanceUID == db_.StudyInstanceUID != STUDY_UID
    assert da.SeriesInstanceUID == db_.SeriesInstanceUID
    assert da.SOPInstanceUID != db_.SOPInstanceUID
    assert da.PatientID == db_.PatientID
    assert da.StudyDate == "20240303"  # 2024-06-11 minus 100 days
    assert da.StudyTime == "101500"
    assert not da.PatientBirthDate  # never shifted: always removed
    assert da.LongitudinalTemporalInformationModified == "MODIFIED"
    codes = [c.CodeValue for c in da.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113107"]
    # another installation (salt) gives other UIDs and case IDs
    deidentify_dicom(a, tmp_path / "a2.dcm", salt="z" * 40)
    d2 = pydicom.dcmread(tmp_path / "a2.dcm")
    assert d2.StudyInstanceUID != da.StudyInstanceUID and d2.PatientID != da.PatientID


@pytest.mark.parametrize("compressed", [False, True])
def test_blackout_rectangle(tmp_path: Path, compressed: bool) -> None:
    src = make_dicom(tmp_path / "in.dcm", compressed=compressed)
    assert pydicom.dcmread(src).file_meta.TransferSyntaxUID.is_compressed == compressed
    before = pydicom.dcmread(src).pixel_array.copy()
    out = tmp_path / "out.dcm"
    warnings = deidentify_dicom(src, out, blackout=[RoiBox(5, 10, 20, 8), RoiBox(90, 60, 50, 50)],
                                salt="s" * 40)
    ds = pydicom.dcmread(out)
    px = ds.pixel_array
    assert px.shape == before.shape
    assert (px[10:18, 5:25] == 0).all()
    assert (px[60:, 90:] == 0).all()  # clipped to the image
    mask = np.ones_like(px, bool)
    mask[10:18, 5:25] = False
    mask[60:, 90:] = False
    np.testing.assert_array_equal(px[mask], before[mask])
    assert any("blacked out 2" in w for w in warnings)
    if compressed:
        assert any("decompressed" in w for w in warnings)
        assert not ds.file_meta.TransferSyntaxUID.is_compressed


def test_blackout_monochrome1_paints_display_black(tmp_path: Path) -> None:
    src = make_dicom(tmp_path / "in.dcm", photometric="MONOCHROME1")
    out = tmp_path / "out.dcm"
    deidentify_dicom(src, out, blackout=[RoiBox(0, 0, 10, 10)], salt="s" * 40)
    px = pydicom.dcmread(out).pixel_array
    assert (px[:10, :10] == 4095).all()  # MONOCHROME1: max value displays black


def test_bad_inputs(tmp_path: Path) -> None:
    src = make_dicom(tmp_path / "in.dcm")
    with pytest.raises(ConfigError, match="differ"):
        deidentify_dicom(src, src, salt="s" * 40)
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all" * 10)
    with pytest.raises(RadiographError, match="junk.dcm"):
        deidentify_dicom(junk, tmp_path / "o.dcm", salt="s" * 40)
    with pytest.raises(RadiographError, match="not found"):
        deidentify_dicom(tmp_path / "missing.dcm", tmp_path / "o.dcm", salt="s" * 40)


def test_cli_deidentify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_dicom(tmp_path / "in.dcm")
    out = tmp_path / "out.dcm"
    assert main(["deidentify", str(src), str(out), "--blackout", "0,0,8,8",
                 "--shift-days", "-7"]) == 0
    captured = capsys.readouterr()
    assert str(out) in captured.out and "warning:" in captured.err
    ds = pydicom.dcmread(out)
    assert ds.PatientIdentityRemoved == "YES" and (ds.pixel_array[:8, :8] == 0).all()
    assert ds.StudyDate == "20240604"
    assert main(["deidentify", str(src), str(tmp_path / "x.dcm"), "--blackout", "1,2,3"]) == 2
    assert "x,y,w,h" in capsys.readouterr().err
    # the export is recorded in the history's audit trail
    assert main(["audit", "show", "--json"]) == 0
    assert "dicom_deidentified" in capsys.readouterr().out


def test_real_dicom_files_if_available(shared_dir: Path, tmp_path: Path) -> None:
    """Real-world files (JPEG 2000 compressed included) de-identify and stay readable."""
    root = shared_dir / "realdata" / "dicom"
    cands = [root / "pydicom-wheel" / "dicomdirtests_77654033_CR1_6154.dcm",
             root / "pylibjpeg-data" / "JPEGLSLossless" / "RG2_JLSL.dcm"]
    cands = [c for c in cands if c.is_file()]
    if not cands:
        pytest.skip("no real DICOM samples")
    for c in cands:
        out = tmp_path / (c.stem + "_anon.dcm")
        deidentify_dicom(c, out, salt="s" * 40)
        ds = pydicom.dcmread(out)
        orig = pydicom.dcmread(c)
        assert ds.PatientIdentityRemoved == "YES"
        assert not [e for e in ds.iterall() if e.tag.is_private]
        if orig.get("PatientName"):
            assert str(orig.PatientName).encode() not in out.read_bytes() or not str(orig.PatientName)
        assert ds.file_meta.TransferSyntaxUID == orig.file_meta.TransferSyntaxUID
    # a compressed real file with a blackout: decompressed, rectangle black, rest unchanged
    c = cands[-1]
    if not pydicom.dcmread(c, stop_before_pixels=True).file_meta.TransferSyntaxUID.is_compressed:
        return
    out = tmp_path / "blacked.dcm"
    deidentify_dicom(c, out, blackout=[RoiBox(0, 0, 200, 80)], salt="s" * 40)
    px, orig_px = pydicom.dcmread(out).pixel_array, pydicom.dcmread(c).pixel_array
    assert (px[:80, :200] == 0).all()  # MONOCHROME2 file
    np.testing.assert_array_equal(px[80:], orig_px[80:])


def test_issue22_leaks_are_removed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 22 item 1: the preamble and the attributes the probe found surviving."""
    import pydicom
    from pydicom.dataset import Dataset

    from dentalosteo_gui.core.records.deidentify import deidentify_dataset

    ds = Dataset()
    ds.preamble = b"DOE^JOHN MRN 12345 19500101".ljust(128, b" ")
    ds.PatientName, ds.PatientID = "Doe^John", "12345"
    for kw in ("ClinicalTrialSubjectID", "ClinicalTrialSubjectReadingID", "ScheduledStationAETitle",
               "PerformedStationAETitle", "ReasonForTheRequestedProcedure", "PatientTransportArrangements",
               "RequestedProcedureLocation", "OrderEntererLocation", "OrderCallbackPhoneNumber",
               "PlacerOrderNumberImagingServiceRequest", "FillerOrderNumberImagingServiceRequest",
               "PatientBirthDateInAlternativeCalendar", "PatientDeathDateInAlternativeCalendar"):
        setattr(ds, kw, "DOE12345")
    issuer = Dataset()
    issuer.UniversalEntityID = "hospital-doe"
    ds.IssuerOfPatientIDQualifiersSequence = [issuer]
    ds.add_new(0x60000022, "LO", "overlay for John Doe")
    ds.add_new(0xFFFCFFFC, "OB", b"DOE12345")
    deidentify_dataset(ds, salt="s" * 40, case_id="CASE-1")
    assert ds.preamble == b"\0" * 128
    text = repr(ds) + str(ds.preamble)
    assert "DOE" not in text.upper() and "hospital" not in text
    assert 0xFFFCFFFC not in ds and 0x60000022 not in ds
    assert not pydicom.dataset.Dataset.__contains__(ds, "IssuerOfPatientIDQualifiersSequence")
