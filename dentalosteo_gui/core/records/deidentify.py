"""Pseudonyms and DICOM de-identification (PS3.15 Annex E, Basic Application Level
Confidentiality Profile).

What :func:`deidentify_dicom` does, recursively through sequences:

- private tags: removed; curve data (50xx) and overlay data/comments (60xx) removed;
- person names (every PN element): removed, except Patient's Name which becomes the case
  pseudonym (same as the report's anonymised case ID);
- Patient ID: the case pseudonym; other identifiers, addresses, phone numbers,
  institution/station/device identifiers, descriptions and comments (see ``_ACTIONS``):
  removed or emptied;
- dates (DA/DT): shifted by ``date_shift_days`` (Retain Longitudinal Temporal Information
  with Modified Dates option) or emptied; times emptied unless dates are shifted;
  birth date is always emptied;
- instance UIDs (every UI element that is not a well-known DICOM class / transfer-syntax
  UID): replaced by ``2.25.<n>`` where n is a keyed hash of the old UID, so the same
  study/series/instance UID maps to the same new UID in every file of this installation;
- Patient Identity Removed = YES, De-identification Method (+ code sequence 113100, and
  113107 when dates were shifted), Longitudinal Temporal Information Modified.

Burned-in text in the PIXELS cannot be found by tag rules: a warning says so, and
``blackout`` rectangles are painted black in every frame (compressed input is decompressed
first; MONOCHROME1 is painted with its maximum value, which displays black).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import hmac
import io
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import __version__
from ..errors import ConfigError, RadiographError
from ..system import paths
from ..system.atomic import atomic_write_bytes
from ..types import RoiBox

log = logging.getLogger(__name__)

SALT_FILE = "pseudonym_salt"
PSEUDONYM_PREFIX = "CASE-"
PSEUDONYM_HEX = 10  # 40 bits: collisions negligible for a clinic's lifetime of patients

# --- pseudonyms ----------------------------------------------------------------------


def pseudonym(patient_id: str, salt: str) -> str:
    """Stable pseudonymous case ID for a patient ID, e.g. ``CASE-7F3A9C21D4``.

    A keyed hash (HMAC-SHA256 with the installation's secret salt): the same patient always
    gets the same case ID on this installation, and the ID cannot be reversed without the
    salt. Leading/trailing spaces are ignored.
    """
    key = salt.encode("utf-8")
    digest = hmac.new(key, patient_id.strip().encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX].upper()


MIN_SALT_CHARS = 32


def _read_salt(path: Path) -> str | None:
    """The salt stored in ``path``; None when there is no such file.

    ConfigError when it cannot be read or is shorter than MIN_SALT_CHARS (an empty file is
    an HMAC with an empty key). Never replaced silently: a new salt changes every case ID.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the pseudonym salt: {exc.strerror} "
                          "(check the data folder permissions)") from None
    text = raw.decode("ascii", "replace").strip()
    if len(text) < MIN_SALT_CHARS or "\ufffd" in text:
        what = "not ASCII text" if "\ufffd" in text else f"{len(text)} characters long"
        raise ConfigError(f"{path}: the pseudonym salt is {what}, at least {MIN_SALT_CHARS} "
                          "needed; refusing to pseudonymise with it (restore the file from a "
                          "backup; deleting it makes a new salt and changes every case ID)")
    return text


def local_salt(data_dir: Path | None = None) -> str:
    """The installation's secret pseudonym salt; created once in the data folder (0600)."""
    folder = Path(data_dir) if data_dir is not None else paths.data_dir()
    path = folder / SALT_FILE
    existing = _read_salt(path)
    if existing is not None:
        return existing
    folder.mkdir(parents=True, exist_ok=True)
    new = secrets.token_hex(32)
    tmp = folder / f".{SALT_FILE}.{os.getpid()}.tmp"
    atomic_write_bytes(tmp, new.encode("ascii"), file_mode=0o600)
    try:
        os.link(tmp, path)  # fails if another process created it first: theirs wins
    except FileExistsError:
        pass
    except OSError:  # file systems without hard links
        if not path.exists():
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("created a new pseudonym salt in the data folder")
    created = _read_salt(path)
    if created is None:
        raise ConfigError(f"{path}: the pseudonym salt could not be created (check the data "
                          "folder)")
    return created


# --- DICOM ---------------------------------------------------------------------------

# keyword -> action: X remove, Z empty (zero length), D dummy value. PN, UI, DA, DT and TM
# elements are handled by VR as well; this table covers the rest of the Basic Profile that
# can occur in radiography objects.
_ACTIONS: dict[str, str] = {
    "AccessionNumber": "Z", "AcquisitionComments": "X", "AcquisitionDeviceProcessingDescription": "X",
    "ActualHumanPerformersSequence": "X", "AdditionalPatientHistory": "X", "AdmissionID": "X",
    "AdmittingDiagnosesCodeSequence": "X", "AdmittingDiagnosesDescription": "X",
    "Allergies": "X", "Arbitrary": "X", "AuthorObserverSequence": "X", "BranchOfService": "X",
    "CountryOfResidence": "X", "CurrentPatientLocation": "X", "CurveData": "X",
    "CustodialOrganizationSequence": "X", "DerivationDescription": "X", "DetectorID": "X",
    "DeviceSerialNumber": "X", "DeviceUID": "X", "DigitalSignaturesSequence": "X",
    "DischargeDiagnosisDescription": "X", "DistributionAddress": "X", "DistributionName": "X",
    "EthnicGroup": "X", "FrameComments": "X", "GantryID": "X", "GeneratorID": "X",
    "IconImageSequence": "X", "IdentifyingComments": "X", "ImageComments": "X",
    "ImagePresentationComments": "X", "ImagingServiceRequestComments": "X",
    "InstitutionAddress": "X", "InstitutionalDepartmentName": "X", "InstitutionCodeSequence": "X",
    "InstitutionName": "X", "InsurancePlanIdentification": "X", "IssuerOfAdmissionID": "X",
    "IssuerOfPatientID": "X", "MedicalAlerts": "X", "MedicalRecordLocator": "X",
    "MilitaryRank": "X", "ModifiedAttributesSequence": "X", "ModifiedImageDescription": "X",
    "ModifyingDeviceID": "X", "ModifyingDeviceManufacturer": "X", "NetworkID": "X",
    "Occupation": "X", "OperatorIdentificationSequence": "X", "OriginalAttributesSequence": "X",
    "OtherPatientIDs": "X", "OtherPatientIDsSequence": "X", "OtherPatientNames": "X",
    "OverlayComments": "X", "OverlayData": "X", "ParticipantSequence": "X",
    "PatientAddress": "X", "PatientAge": "X", "PatientBirthDate": "Z", "PatientBirthName": "X",
    "PatientBirthTime": "X", "PatientComments": "X", "PatientInstitutionResidence": "X",
    "PatientInsurancePlanCodeSequence": "X", "PatientMotherBirthName": "X",
    "PatientPrimaryLanguageCodeSequence": "X", "PatientReligiousPreference": "X",
    "PatientSex": "Z", "PatientSexNeutered": "X", "PatientSize": "X", "PatientState": "X",
    "PatientTelecomInformation": "X", "PatientTelephoneNumbers": "X", "PatientWeight": "X",
    "PerformedLocation": "X", "PerformedProcedureStepDescription": "X",
    "PerformedProcedureStepID": "X", "PerformingPhysicianIdentificationSequence": "X",
    "PhysiciansOfRecordIdentificationSequence": "X", "PlateID": "X", "PreMedication": "X",
    "PregnancyStatus": "X", "ReasonForStudy": "X", "ReferencedPatientAliasSequence": "X",
    "ReferencedPatientPhotoSequence": "X", "ReferencedPatientSequence": "X",
    "ReferencedStudySequence": "X", "ReferringPhysicianAddress": "X",
    "ReferringPhysicianIdentificationSequence": "X", "ReferringPhysicianTelephoneNumbers": "X",
    "RegionOfResidence": "X", "RequestAttributesSequence": "X", "RequestedProcedureDescription": "X",
    "RequestedProcedureID": "X", "RequestingService": "X", "ResponsibleOrganization": "X",
    "ResponsiblePerson": "X", "ScheduledPatientInstitutionResidence": "X",
    "ScheduledProcedureStepDescription": "X", "ScheduledProcedureStepID": "X",
    "SeriesDescription": "X", "ServiceEpisodeDescription": "X", "ServiceEpisodeID": "X",
    "SmokingStatus": "X", "SourceApplicationEntityTitle": "X", "SpecialNeeds": "X",
    "StationName": "X", "StudyComments": "X", "StudyDescription": "X", "StudyID": "Z",
    "TextComments": "X", "TextString": "X", "TopicAuthor": "X", "TopicKeywords": "X",
    "TopicSubject": "X", "TopicTitle": "X", "VerifyingObserverIdentificationCodeSequence": "X",
    "VerifyingOrganization": "X", "VisitComments": "X", "ContentSequence": "X",
    "AcquisitionContextSequence": "X", "ProtocolName": "X", "RequestedContrastAgent": "X",
    "ReferencedImageSequence": "K", "SourceImageSequence": "K",
    "SendingApplicationEntityTitle": "X", "ReceivingApplicationEntityTitle": "X",
    "ScheduledPerformingPhysicianName": "X", "NamesOfIntendedRecipientsOfResults": "X",
    "ConsultingPhysicianName": "X", "EvaluatorName": "X",
    # found surviving by the issue-22 probe
    "ClinicalTrialSubjectID": "X", "ClinicalTrialSubjectReadingID": "X",
    "ScheduledStationAETitle": "X", "PerformedStationAETitle": "X", "ScheduledStationName": "X",
    "PerformedStationName": "X", "ReasonForTheRequestedProcedure": "X",
    "PatientTransportArrangements": "X", "RequestedProcedureLocation": "X",
    "OrderEntererLocation": "X", "OrderCallbackPhoneNumber": "X",
    "PlacerOrderNumberImagingServiceRequest": "X", "FillerOrderNumberImagingServiceRequest": "X",
    "PlacerOrderNumberImagingServiceRequestRetired": "X",
    "FillerOrderNumberImagingServiceRequestRetired": "X", "IssuerOfPatientIDQualifiersSequence": "X",
    "UniversalEntityID": "X", "PatientBirthDateInAlternativeCalendar": "X",
    "PatientDeathDateInAlternativeCalendar": "X", "PatientAlternativeCalendar": "X",
    "DataSetTrailingPadding": "X",
}

_BURNED_IN_WARNING = (
    "burned-in text in the pixels (names, dates printed on the image) may remain; check the "
    "image and use --blackout x,y,w,h to black it out"
)


def _uid_replacer(salt: str) -> Any:
    from pydicom._uid_dict import UID_dictionary

    cache: dict[str, str] = {}

    def replace(uid: str) -> str:
        uid = str(uid).strip().rstrip("\x00")
        if not uid or uid in UID_dictionary:  # well-known class / transfer syntax / frame UIDs
            return uid
        if uid not in cache:
            d = hmac.new(salt.encode("utf-8"), b"uid:" + uid.encode("ascii", "replace"),
                         hashlib.sha256).digest()
            cache[uid] = "2.25." + str(int.from_bytes(d[:16], "big"))
        return cache[uid]

    return replace


def _shift_da(value: str, days: int) -> str:
    v = value.strip()
    if len(v) < 8 or not v[:8].isdigit():
        return ""
    try:
        d = _dt.date(int(v[:4]), int(v[4:6]), int(v[6:8])) + _dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return ""
    return d.strftime("%Y%m%d") + v[8:]


def _blackout_value(ds: Any) -> int:
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 8)))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    if photometric == "MONOCHROME1":
        return (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    return -(1 << (bits - 1)) if signed else 0


def _apply_blackout(ds: Any, boxes: list[RoiBox], src: Path, warnings: list[str]) -> None:
    import numpy as np

    if "PixelData" not in ds:
        warnings.append("no pixel data: --blackout ignored")
        return
    if int(ds.get("BitsAllocated", 8)) == 1:
        raise RadiographError(src, "cannot black out 1-bit pixel data")
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        try:
            ds.decompress(generate_instance_uid=False)
        except Exception as exc:  # noqa: BLE001 - any decoder failure: one clear message
            raise RadiographError(src, f"cannot decompress the pixel data to black it out ({exc})",
                                  "install pylibjpeg plugins or export uncompressed") from None
        warnings.append("pixel data was decompressed to black out the rectangle(s); "
                        "the file is larger than the original")
    ds.pixel_array_options(raw=True)
    try:
        arr = np.array(ds.pixel_array, copy=True)
    except Exception as exc:  # noqa: BLE001
        raise RadiographError(src, f"cannot read the pixel data to black it out ({exc})") from None
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    view = arr if frames > 1 else arr[None, ...]
    value = _blackout_value(ds)
    for b in boxes:
        c = b.clipped(cols, rows)
        if b.x >= cols or b.y >= rows or b.x + b.w <= 0 or b.y + b.h <= 0:
            warnings.append(f"--blackout {b.x},{b.y},{b.w},{b.h} lies outside the "
                            f"{cols}x{rows} image: ignored")
            continue
        view[:, c.y : c.y + c.h, c.x : c.x + c.w, ...] = value
    if arr.dtype in (np.uint8, np.uint16, np.int8, np.int16):
        ds.set_pixel_data(arr, str(ds.PhotometricInterpretation), int(ds.BitsStored),
                          generate_instance_uid=False)
    else:
        ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()


@dataclass(frozen=True)
class _ScrubRules:
    """What the per-element rules need: the case pseudonym, the date shift, the UID map."""

    case_id: str
    shift: int | None  # days; None: dates and times are emptied
    replace_uid: Callable[[str], str]


def _is_curve_or_overlay(tag: Any) -> bool:
    """Curve data (50xx) and overlay data, description, label and comments (60xx,3000 /
    60xx,0022 / 60xx,1500 / 60xx,4000)."""
    group = tag.group
    return (0x5000 <= group <= 0x50FF) or (
        0x6000 <= group <= 0x60FF and tag.element in (0x3000, 0x4000, 0x0022, 0x1500))


def _scrub(d: Any, rules: _ScrubRules) -> None:
    """Apply the profile to every element of the (sub)dataset ``d``, recursing into sequences."""
    from pydicom.sequence import Sequence

    for elem in list(d):
        tag = elem.tag
        if _is_curve_or_overlay(tag):
            del d[tag]
            continue
        kw = elem.keyword or ""
        action = _ACTIONS.get(kw)
        if action == "X":
            del d[tag]
        elif action == "Z":
            elem.value = None if elem.VR not in ("SQ",) else Sequence()
        elif elem.VR == "SQ":
            for item in elem.value or []:
                _scrub(item, rules)
        elif not (elem.value is None or elem.value == ""):
            _scrub_value(elem, kw, rules)


def _scrub_value(elem: Any, kw: str, rules: _ScrubRules) -> None:
    """The by-VR rules for one non-empty element: names, IDs, UIDs, dates, times, free text."""
    vr = elem.VR
    if vr == "PN":
        elem.value = rules.case_id if kw == "PatientName" else None
    elif kw == "PatientID":
        elem.value = rules.case_id
    elif vr == "UI":
        if elem.VM > 1:
            elem.value = [rules.replace_uid(v) for v in elem.value]
        else:
            elem.value = rules.replace_uid(str(elem.value))
    elif vr in ("DA", "DT"):
        shift = rules.shift
        if shift is None:
            elem.value = None
        elif elem.VM > 1:
            elem.value = [_shift_da(str(v), shift) for v in elem.value]
        else:
            elem.value = _shift_da(str(elem.value), shift)
    elif vr == "TM":
        if rules.shift is None:
            elem.value = None
    elif vr in ("LO", "SH", "LT", "ST", "UT") and any(
            w in kw for w in ("Address", "Telephone", "Comment", "Name")) and kw not in (
            "Manufacturer", "ManufacturerModelName", "CodeMeaning", "CodingSchemeName"):
        elem.value = None


def _clean_file_meta(ds: Any) -> None:
    """Point the file meta at the new SOP instance UID and drop its identifying fields."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for kw in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
               "ReceivingApplicationEntityTitle", "PrivateInformationCreatorUID",
               "PrivateInformation"):
        if kw in meta:
            delattr(meta, kw)


def _mark_deidentified(ds: Any, shift: int | None) -> None:
    """Patient Identity Removed, De-identification Method (+ codes), Longitudinal Temporal
    Information Modified."""
    from pydicom.dataset import Dataset

    ds.PatientIdentityRemoved = "YES"
    method = f"DentalOsteo {__version__}: PS3.15 Basic Profile"  # LO: at most 64 characters
    codes = [("113100", "Basic Application Confidentiality Profile")]
    if shift is not None:
        method += " + Modified Dates Option"
        codes.append(("113107", "Retain Longitudinal Temporal Information Modified Dates Option"))
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"
    ds.DeidentificationMethod = method[:64]
    seq = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        seq.append(item)
    ds.DeidentificationMethodCodeSequence = seq


def _burned_in_warning(ds: Any) -> str:
    burned = str(ds.get("BurnedInAnnotation", "")).strip().upper()
    if burned == "YES":
        return ("the file says it has burned-in annotation (BurnedInAnnotation=YES); "
                + _BURNED_IN_WARNING)
    return _BURNED_IN_WARNING


def deidentify_dataset(ds: Any, *, salt: str, case_id: str,
                       date_shift_days: int | None = None) -> list[str]:
    """De-identify a pydicom Dataset in place (see module docstring); returns warnings."""
    rules = _ScrubRules(case_id=case_id, shift=date_shift_days, replace_uid=_uid_replacer(salt))
    if getattr(ds, "preamble", None) is not None:
        ds.preamble = b"\0" * 128  # the preamble is free bytes: a name or MRN can hide there
    ds.remove_private_tags()
    _scrub(ds, rules)
    _clean_file_meta(ds)
    _mark_deidentified(ds, date_shift_days)
    return [_burned_in_warning(ds)]


def deidentify_dicom(src: Path, dst: Path, *, blackout: list[RoiBox] | None = None,
                     date_shift_days: int | None = None, salt: str | None = None) -> list[str]:
    """De-identify the DICOM file ``src`` into ``dst`` (written atomically); returns warnings.

    ``salt`` defaults to the installation's pseudonym salt, so case IDs and UIDs match the
    anonymised reports of this installation.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise ConfigError(f"{dst}: the output must differ from the input (refusing to overwrite "
                          "the original)")
    try:
        ds = pydicom.dcmread(src, force=False)
    except FileNotFoundError:
        raise RadiographError(src, "file not found") from None
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise RadiographError(src, f"not a readable DICOM file ({exc})") from None
    if date_shift_days is not None and abs(int(date_shift_days)) > 365 * 200:
        raise ConfigError(f"--shift-days {date_shift_days} is out of range")
    salt = salt if salt is not None else local_salt()
    pid = str(ds.get("PatientID", "") or "").strip()
    if pid:
        case_id = pseudonym(pid, salt)
    else:
        case_id = pseudonym("file:" + hashlib.sha256(src.read_bytes()).hexdigest(), salt)
    warnings: list[str] = []
    if blackout:
        _apply_blackout(ds, list(blackout), src, warnings)
    warnings = deidentify_dataset(ds, salt=salt, case_id=case_id,
                                  date_shift_days=date_shift_days) + warnings
    if blackout:
        warnings = [w for w in warnings if w != _BURNED_IN_WARNING]
        warnings.append(f"blacked out {len(blackout)} rectangle(s); check that no other "
                        "burned-in text remains")
    buf = io.BytesIO()
    try:
        ds.save_as(buf, enforce_file_format=True)
    except Exception as exc:  # noqa: BLE001 - pydicom raises several types on odd input
        with contextlib.suppress(Exception):
            buf = io.BytesIO()
            ds.save_as(buf)
        if not buf.getvalue():
            raise RadiographError(src, f"cannot write the de-identified file ({exc})") from None
    atomic_write_bytes(dst, buf.getvalue())
    log.info("de-identified %s -> %s", src.name, dst.name)
    return warnings
