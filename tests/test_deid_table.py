"""Issue 22 item 1: the whole PS3.15 Table E.1-1, generated from the standard's data.

A hostile dataset is built FROM the generated table: every table attribute that pydicom's
dictionary knows gets a planted value of its VR (text markers ``ZQX...``, the date
19370503, UIDs under 1.2.826.0.1.3680043.9.7777, binary ``ZQXBIN..``, the number 4242), at
the top level and again nested in sequence items. After de-identification none of the
planted values may remain (scanned in the written bytes and compared element by element),
D attributes are present with dummies, and the table's edition is recorded.

The hand-typed ``_ACTIONS`` dict this replaced (153 keywords) left 190 of the 624 planted
top-level attributes with their planted value, and as many in the nested copy
(docs/reliability.md): every test here that de-identifies the hostile file fails on it; the
table tests fail on it because there was no generated table.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from pydicom import datadict  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402

from dentalosteo_gui.core.records import deid_table  # noqa: E402
from dentalosteo_gui.core.records.deidentify import (  # noqa: E402
    _ALLOWLIST,
    _OVERRIDES,
    deidentify_dataset,
    deidentify_dicom,
    pseudonym,
    resolve_action,
    table_action,
)

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "packaging" / "deid" / "generate_table.py"
SAMPLE = ROOT / "resources" / "samples" / "phantom_c2.dcm"
SALT = "t" * 40
UID_ROOT = "1.2.826.0.1.3680043.9.7777."
DATE = "19370503"
NUMBER = 4242
BYTE_MARKERS = (b"ZQX", UID_ROOT.encode(), DATE.encode(), b"235959.4242")
TEXT_VRS = ("AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR")
BINARY_VRS = ("OB", "OW", "OD", "OF", "OL", "OV", "UN")
NESTING = "AnatomicRegionSequence"  # not in the table: kept, its items de-identified


def _vr(tag: int) -> str:
    return datadict.dictionary_VR(tag).split(" or ")[0]


def _planted(tag: int, vr: str, i: int) -> Any:
    """A value of ``vr`` that can be found again (a marker, or a number / bytes)."""
    if vr in TEXT_VRS:
        return f"ZQX{i:04X}^ZQX" if vr == "PN" else f"ZQX{i:04X}"
    if vr in BINARY_VRS:
        return b"ZQXBIN42"
    if vr == "SQ":
        item = Dataset()
        item.ReferencedSOPInstanceUID = f"{UID_ROOT}9{i}"
        item.PatientComments = f"ZQX{i:04X}"
        return Sequence([item])
    return {"DA": DATE, "DT": DATE + "235959", "TM": "235959.4242", "UI": f"{UID_ROOT}{i}",
            "AS": "042Y", "AT": 0x00104242}.get(vr, NUMBER)


def table_tags() -> list[int]:
    """The table's exact tags that pydicom's dictionary knows, outside the command and
    file meta groups."""
    out = []
    for group, element in sorted(deid_table.TAGS):
        tag = (group << 16) | element
        if group not in (0x0000, 0x0002) and tag in datadict.DicomDictionary:
            out.append(tag)
    return out


def _fill(ds: Dataset, tags: list[int]) -> dict[int, Any]:
    planted = {}
    for i, tag in enumerate(tags):
        vr = _vr(tag)
        value = _planted(tag, vr, i)
        ds.add_new(tag, vr, value)
        planted[tag] = value
    # the table's patterns: curve data, overlay data / comments, and the overlay description
    for tag, vr in ((0x50000010, "US"), (0x50003000, "OB"), (0x60003000, "OW"),
                    (0x60004000, "LT"), (0x60000022, "LO")):
        ds.add_new(tag, vr, _planted(tag, vr, tag & 0xFFFF))
    return planted


def hostile(base: Dataset | None = None) -> tuple[Dataset, dict[int, Any]]:
    """``base`` (or an empty file dataset) carrying every table attribute, twice nested too."""
    ds = base if base is not None else Dataset()
    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = UID_ROOT + "1"
    ds.file_meta.SourceApplicationEntityTitle = "ZQXAE"
    ds.preamble = b"ZQX DOE^JOHN MRN 12345".ljust(128, b" ")
    tags = table_tags()
    planted = _fill(ds, tags)
    item = Dataset()
    _fill(item, tags)
    ds.add_new(datadict.tag_for_keyword(NESTING), "SQ", Sequence([item]))
    deeper = Dataset()
    _fill(deeper, tags)
    ds.SourceImageSequence[0].add_new(datadict.tag_for_keyword(NESTING), "SQ", Sequence([deeper]))
    return ds, planted


def survivors(ds: Dataset, planted: dict[int, Any]) -> list[str]:
    """Top-level planted attributes still holding their planted value."""
    out = []
    for tag, value in planted.items():
        if tag in ds and ds[tag].VR != "SQ" and ds[tag].value == value:
            out.append(datadict.keyword_for_tag(tag) or hex(tag))
        elif tag in ds and ds[tag].VR == "SQ" and any(
                str(item.get("PatientComments", "")).startswith("ZQX")
                or str(item.get("ReferencedSOPInstanceUID", "")).startswith(UID_ROOT)
                for item in ds[tag].value or []):
            out.append(datadict.keyword_for_tag(tag) or hex(tag))
    return out


def _write(ds: Dataset) -> bytes:
    import io

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


def _plain(raw: bytes) -> bytes:
    """A deflated file re-encoded uncompressed (a byte scan of deflated data finds nothing)."""
    import io

    ds = pydicom.dcmread(io.BytesIO(raw), force=True)
    if ds.file_meta.get("TransferSyntaxUID") != pydicom.uid.DeflatedExplicitVRLittleEndian:
        return raw
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    return _write(ds)


def _leaks(raw: bytes) -> list[bytes]:
    plain = _plain(raw) if raw[128:132] == b"DICM" else raw
    return [m for m in BYTE_MARKERS if m in raw or m in plain]


def _sample(**kw: Any) -> Dataset:
    """The deflated demo file, uncompressed (so the written bytes can be scanned as well)."""
    ds = pydicom.dcmread(SAMPLE, **kw)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    return ds


def _every_element(ds: Dataset) -> list[Any]:
    return list(ds.iterall())


# --- the generated table -------------------------------------------------------------

def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("deid_generate_table", GENERATOR)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_generated_module_is_what_the_generator_makes_from_the_stored_source() -> None:
    gen = _generator()
    if not gen.SOURCE.is_file():
        pytest.skip("the source extract is not stored")
    text = gen.build(generated=deid_table.GENERATED)
    committed = (ROOT / "dentalosteo_gui" / "core" / "records" / "deid_table.py").read_text()
    assert text == committed, "deid_table.py is out of date: run packaging/deid/generate_table.py"
    assert "do not edit" in committed and "DICOM edition: 2026c" in committed
    assert gen.main(["--check"]) == 0


def test_table_is_the_whole_profile_with_its_edition() -> None:
    assert deid_table.PROFILE_EDITION == "2026c"
    assert deid_table.SOURCE_SHA256 in deid_table.__doc__
    assert len(deid_table.TAGS) + len(deid_table.MASKED) == 655
    actions = set(deid_table.TAGS.values())
    assert actions == {"X", "Z", "D", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}
    # the attributes the issue-22 probe found surviving, now from the table itself
    for kw, want in (("ScheduledStationAETitle", "X"), ("ClinicalTrialSubjectID", "D"),
                     ("ReasonForTheRequestedProcedure", "X"), ("OrderCallbackPhoneNumber", "X"),
                     ("DataSetTrailingPadding", "X"), ("PerformedStationAETitle", "X")):
        tag = datadict.tag_for_keyword(kw)
        assert deid_table.TAGS[(tag >> 16, tag & 0xFFFF)] == want, kw
    assert table_action(0x50123000) == "X" and table_action(0x60024000) == "X"  # patterns
    assert table_action(0x60000022) == "X"  # our override: the whole overlay group


def test_compound_actions_resolve_per_the_standard() -> None:
    assert resolve_action("X/Z", "AcquisitionContextSequence", "SQ") == "Z"  # type 2
    assert resolve_action("X/Z", "RequestedProcedureDescription", "LO") == "X"
    assert resolve_action("Z/D", "ContentDate", "DA") == "D"  # type 1 in SR
    assert resolve_action("Z/D", "ContentCreatorName", "PN") == "Z"
    assert resolve_action("X/Z/D", "InstitutionName", "LO") == "X"
    assert resolve_action("X/Z/U*", "SourceImageSequence", "SQ") == "U"
    assert resolve_action("C", "Anything", "LO") == "Z"


def test_overrides_name_real_attributes() -> None:
    for kw in _OVERRIDES:
        assert datadict.tag_for_keyword(kw) is not None, kw
    for kw in _ALLOWLIST:
        assert datadict.tag_for_keyword(kw) is not None, kw


# --- the hostile dataset -------------------------------------------------------------

def test_hostile_dataset_leaves_no_planted_value() -> None:
    ds, planted = hostile()
    assert len(planted) == 624
    assert len(survivors(ds, planted)) == len(planted)  # control: the planted values are found
    assert all(m in _write(ds) for m in BYTE_MARKERS)
    deidentify_dataset(ds, salt=SALT, case_id="CASE-0000000001")
    assert survivors(ds, planted) == []
    raw = _write(ds)
    assert _leaks(raw) == [], [raw[raw.find(m) - 40: raw.find(m) + 40] for m in _leaks(raw)]
    assert ds.preamble == b"\0" * 128
    assert list(ds.file_meta.keys()) and "SourceApplicationEntityTitle" not in ds.file_meta
    # nested values too, element by element (numbers and bytes cannot be found by a scan)
    for elem in _every_element(ds):
        assert elem.value != NUMBER and elem.value != b"ZQXBIN42", elem
    assert not [e for e in _every_element(ds) if (e.tag >> 16) in range(0x5000, 0x6100, 2)
                and (e.tag >> 16) & 0xFF00 in (0x5000, 0x6000)]


def test_d_attributes_get_dummy_values_and_the_edition_is_recorded() -> None:
    ds, planted = hostile()
    deidentify_dataset(ds, salt=SALT, case_id="CASE-0000000001")
    dummies = 0
    for tag in planted:
        kw = datadict.keyword_for_tag(tag)
        action = table_action(tag, kw)
        assert action is not None
        if resolve_action(action, kw, _vr(tag)) != "D":
            continue
        assert tag in ds, f"{kw}: a D attribute must stay, with a dummy value"
        value = ds[tag].value
        assert value not in (None, "", b"") and value != planted[tag], kw
        if ds[tag].VR == "SQ":
            assert len(value) == 1 and len(value[0]) == 0, kw  # one empty item
        dummies += 1
    assert dummies >= 90
    assert deid_table.PROFILE_EDITION in ds.DeidentificationMethod
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"


def test_hostile_file_through_the_cli_with_date_shift(tmp_path: Path) -> None:
    from dentalosteo_gui.cli.main import main

    ds, _ = hostile(_sample())
    ds.PatientID = "ZQX-PID-1"
    src, out = tmp_path / "hostile.dcm", tmp_path / "out.dcm"
    ds.save_as(src, enforce_file_format=True)
    assert main(["deidentify", str(src), str(out), "--shift-days", "-30"]) == 0
    raw = out.read_bytes()
    # under the Modified Dates option the times of day stay (whole days are shifted)
    assert _leaks(raw) == [b"235959.4242"]
    assert DATE.encode() not in raw  # shifted, never kept
    back = pydicom.dcmread(out)
    assert back.LongitudinalTemporalInformationModified == "MODIFIED"
    assert back.ContentDate == "19370403"  # Z/D, type 1: shifted under the option


# --- allow-list mode -----------------------------------------------------------------

def _screen(path: Path) -> Any:
    from dentalosteo_gui.core.imaging.imageio import load_radiograph
    from dentalosteo_gui.core.screening.engine import Engine

    rad = load_radiograph(path)
    return rad, Engine(None, None).screen(rad)


def test_allowlist_keeps_only_what_screening_needs_and_screens_the_same(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dentalosteo_gui.cli.main import main

    ds, _ = hostile(_sample())
    src, out = tmp_path / "hostile.dcm", tmp_path / "allow.dcm"
    ds.save_as(src, enforce_file_format=True)
    assert len(_leaks(src.read_bytes())) == len(BYTE_MARKERS)  # control
    assert main(["deidentify", str(src), str(out), "--allowlist"]) == 0
    assert str(out) in capsys.readouterr().out
    raw = out.read_bytes()
    assert _leaks(raw) == []
    back = pydicom.dcmread(out)
    kept = {e.keyword for e in back}
    assert kept <= _ALLOWLIST, kept - _ALLOWLIST
    assert {"PixelData", "Rows", "Columns", "Modality", "SOPClassUID", "PatientIdentityRemoved"} <= kept
    assert "+allowlist" in back.DeidentificationMethod
    orig = pydicom.dcmread(SAMPLE)
    assert str(back.PatientName) == back.PatientID == pseudonym(str(ds.PatientID), _salt())
    assert back.Manufacturer == orig.Manufacturer
    np.testing.assert_array_equal(back.pixel_array, orig.pixel_array)
    rad_a, res_a = _screen(SAMPLE)
    rad_b, res_b = _screen(out)
    assert rad_b.pixel_spacing_mm == rad_a.pixel_spacing_mm
    assert res_b.mcw_left_mm == res_a.mcw_left_mm and res_b.mcw_right_mm == res_a.mcw_right_mm
    assert res_a.mcw_left_mm is not None


def _salt() -> str:
    from dentalosteo_gui.core.records.deidentify import local_salt

    return local_salt()


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    from dentalosteo_gui.core.errors import ConfigError

    with pytest.raises(ConfigError, match="basic or allowlist"):
        deidentify_dicom(SAMPLE, tmp_path / "x.dcm", salt=SALT, mode="strict")


# --- item 3: every anonymised DICOM output goes through the same path ----------------

def test_result_objects_from_a_hostile_header_hold_no_planted_value() -> None:
    """``screen/batch/listen --dicom-out --anonymize`` (and PACS forwarding) build the SR,
    SC and PDF objects on the header de-identified by deidentify_dataset."""
    pytest.importorskip("highdicom")
    from dentalosteo_gui.core.records.dicom_files import dataset_bytes
    from dentalosteo_gui.core.records.dicom_objects import build_result_objects

    rad, result = _screen(SAMPLE)
    header, _ = hostile(_sample(stop_before_pixels=True))
    header.PatientName, header.PatientID = "ZQXNAME^HOSTILE", "ZQX-PID-2"
    objs = build_result_objects(result, rad, b"%PDF-1.4\n%%EOF\n", anonymize=True, salt=SALT,
                                header=header)
    case = pseudonym("ZQX-PID-2", SALT)
    for kind, ds in objs.items():
        raw = dataset_bytes(ds)
        assert _leaks(raw) == [], kind
        assert ds.PatientID == case and ds.PatientIdentityRemoved == "YES"
        assert deid_table.PROFILE_EDITION in ds.DeidentificationMethod


def test_outcomes_export_dicom_copy_of_a_hostile_file(tmp_path: Path) -> None:
    from dentalosteo_gui.core.records.outcomes_export import _dicom

    ds, _ = hostile(_sample())
    ds.PatientName, ds.PatientID = "ZQXNAME^HOSTILE", "ZQX-PID-3"
    src = tmp_path / "h.dcm"
    ds.save_as(src, enforce_file_format=True)
    assert len(_leaks(src.read_bytes())) == len(BYTE_MARKERS)  # control
    raw = _dicom(src, "S0001")
    assert raw is not None and _leaks(raw) == []
    assert pydicom.dcmread(__import__("io").BytesIO(raw)).PatientID == "S0001"
