"""Pseudonyms and DICOM de-identification (PS3.15 Annex E, Basic Application Level
Confidentiality Profile).

:func:`deidentify_dataset` applies the WHOLE of PS3.15 Table E.1-1 to every element at
every nesting level. The table is generated from the standard's data (see
:mod:`.deid_table`: edition ``PROFILE_EDITION``, source and generator recorded there) -- it is
not a hand-typed list. On top of the table:

- compound actions (X/Z, X/D, Z/D, X/Z/D) are resolved as PS3.15 E.1.1 says: D where the
  attribute is type 1 in the IODs DentalOsteo reads and writes, Z where type 2, else X
  (``_IOD_TYPE``); X/Z/U* sequences are kept with their UIDs replaced; C is treated as Z;
- ``_OVERRIDES`` / ``_PATTERN_OVERRIDES``: where the product deliberately differs from the
  table, each with its reason (Patient's Name and ID become the case pseudonym -- the same
  as the report's anonymised case ID; birth date never shifted; overlay groups dropped ...);
- attributes the table does not list: a by-VR safety net (person names removed, UIDs
  replaced, dates shifted or emptied, names/addresses/comments emptied); public attributes
  unknown to the DICOM dictionary and group lengths are removed; private tags removed;
- dates (DA/DT) of attributes the table does not remove: shifted by ``date_shift_days``
  (Retain Longitudinal Temporal Information with Modified Dates option; times kept) or
  emptied / dummied;
- UIDs (U, and every UI element that is not a well-known DICOM class / transfer-syntax UID):
  ``2.25.<n>`` where n is a keyed hash of the old UID, so the same study/series/instance UID
  maps to the same new UID in every file of this installation;
- the 128-byte preamble is zeroed, the file meta keeps only its encoding elements,
  DataSetTrailingPadding goes (table X);
- Patient Identity Removed = YES, De-identification Method (naming the table's edition, +
  code sequence 113100, and 113107 when dates were shifted), Longitudinal Temporal
  Information Modified.

``mode="allowlist"`` keeps only what screening needs (``_ALLOWLIST``: pixel module, spacing
and magnification, Manufacturer / model, Modality, SOP class, photometric, windowing,
rescale, VOI/modality LUT, presentation LUT shape, new UIDs, the pseudonym, the
de-identification markers) and drops everything else before the profile runs.

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
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import __version__
from ..errors import ConfigError, RadiographError
from ..system import paths
from ..system.atomic import atomic_write_bytes
from ..types import RoiBox
from .deid_table import MASKED, PROFILE_EDITION, TAGS

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
    # one temporary name per process AND thread: two threads creating the first salt at once
    # (the GUI and a screening worker) must not write, link and remove each other's file
    tmp = folder / f".{SALT_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
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

MODES = ("basic", "allowlist")

# Where DentalOsteo deliberately differs from Table E.1-1 (or covers what it does not list),
# by keyword. P: the case pseudonym.
_OVERRIDES: dict[str, str] = {
    "PatientName": "P",  # table Z: the case pseudonym links the file to its anonymised report
    "PatientID": "P",  # table Z/D: the same case pseudonym (the dummy the table allows)
    "PatientBirthDate": "Z",  # table Z, but never shifted by the date-shift option either
    "ContentSequence": "X",  # table D: an SR tree in an image header is free text we never need
    "IssuerOfPatientIDQualifiersSequence": "X",  # not in the table: its items name the hospital
    "UniversalEntityID": "X",  # not in the table: a hospital's identity (issue 22 probe)
    "PatientBirthDateInAlternativeCalendar": "X",  # not in the table: a birth date (issue 22)
    "PatientDeathDateInAlternativeCalendar": "X",  # not in the table: a death date (issue 22)
    "PatientAlternativeCalendar": "X",  # not in the table: belongs to the two dates above
    "PlacerOrderNumberImagingServiceRequestRetired": "X",  # retired twin of a table Z entry
    "FillerOrderNumberImagingServiceRequestRetired": "X",  # retired twin of a table Z entry
    "ModifyingDeviceManufacturer": "X",  # not in the table: names the clinic's vendor
}

# (group, element, group mask, element mask, action), checked before the table's patterns:
# the whole 60xx overlay group goes (the table removes only 60xx,3000 / 60xx,4000; the issue 22
# probe found a name in the Overlay Description 60xx,0022, and an overlay without its data
# is broken anyway)
_PATTERN_OVERRIDES: tuple[tuple[int, int, int, int, str], ...] = (
    (0x6000, 0x0000, 0xFF00, 0x0000, "X"),
)

# The type of attributes with a compound action in the IODs DentalOsteo reads and writes
# (DX, IO, CR and SC images, TID 1500 SR, Encapsulated PDF): 1 -> D, 2 -> Z, absent -> X.
_IOD_TYPE: dict[str, str] = {
    "ContentDate": "1",  # type 1 in the SR Document General module (2C in images)
    "ContentTime": "1",  # type 1 in the SR Document General module (2C in images)
    "AcquisitionDateTime": "2",  # type 2 in the Encapsulated Document module
    "AcquisitionContextSequence": "2",  # type 2 in the Acquisition Context module (DX, IO)
    "ContrastBolusAgent": "2",  # type 2 in the Contrast/Bolus module
}

_NEVER_SHIFTED = frozenset({"PatientBirthDate"})
_DUMMY_TEXT = "ANONYMOUS"
_DUMMY_BY_VR: dict[str, Any] = {
    "DA": "19000101", "DT": "19000101000000", "TM": "000000", "AS": "000Y", "DS": "0",
    "IS": "0", "US": 0, "SS": 0, "UL": 0, "SL": 0, "UV": 0, "SV": 0, "FL": 0.0, "FD": 0.0,
    "AT": 0, "OB": b"\0" * 8, "OW": b"\0" * 8, "OD": b"\0" * 8, "OF": b"\0" * 8,
    "OL": b"\0" * 8, "OV": b"\0" * 8, "UN": b"\0" * 8,
}

# allow-list mode: the only top-level attributes kept (then de-identified as usual)
_ALLOWLIST = frozenset({
    # Image Pixel module (+ frames, encapsulation tables, lossy-compression flags)
    "SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns", "BitsAllocated",
    "BitsStored", "HighBit", "PixelRepresentation", "PlanarConfiguration", "PixelAspectRatio",
    "SmallestImagePixelValue", "LargestImagePixelValue", "PixelPaddingValue",
    "PixelPaddingRangeLimit", "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor", "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData", "PixelData", "FloatPixelData", "DoubleFloatPixelData",
    "NumberOfFrames", "ExtendedOffsetTable", "ExtendedOffsetTableLengths",
    "LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod",
    # calibration: the mm per pixel
    "PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing",
    "EstimatedRadiographicMagnificationFactor", "PixelSpacingCalibrationType",
    # what the device profiles key on, and what the image is
    "Manufacturer", "ManufacturerModelName", "Modality", "SOPClassUID",
    "PresentationIntentType", "BurnedInAnnotation", "SpecificCharacterSet",
    # grey levels: rescale, windowing, LUTs
    "RescaleIntercept", "RescaleSlope", "RescaleType", "ModalityLUTSequence", "WindowCenter",
    "WindowWidth", "VOILUTFunction", "VOILUTSequence", "PresentationLUTShape",
    "PixelIntensityRelationship", "PixelIntensityRelationshipSign",
    # new UIDs, the pseudonym, the de-identification markers
    "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientName", "PatientID",
    "PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
    "LongitudinalTemporalInformationModified",
})
_ALLOWED_IN_ITEMS = frozenset({"LUTDescriptor", "LUTData", "ModalityLUTType"})

# the file meta keeps only what says how the file is encoded (both modes)
_FILE_META_KEEP = frozenset({
    "FileMetaInformationGroupLength", "FileMetaInformationVersion", "MediaStorageSOPClassUID",
    "MediaStorageSOPInstanceUID", "TransferSyntaxUID", "ImplementationClassUID",
    "ImplementationVersionName",
})

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


def table_action(tag: Any, keyword: str = "") -> str | None:
    """The action for one tag: our override, else Table E.1-1's (exact tag, then its
    patterns such as 50xx,xxxx); None when neither lists it."""
    if keyword in _OVERRIDES:
        return _OVERRIDES[keyword]
    group, element = tag >> 16, tag & 0xFFFF
    for g, e, gm, em, action in _PATTERN_OVERRIDES:
        if group & gm == g and element & em == e:
            return action
    exact = TAGS.get((group, element))
    if exact is not None:
        return exact
    for g, e, gm, em, pattern_action in MASKED:
        if group & gm == g and element & em == e:
            return pattern_action
    return None


def resolve_action(action: str, keyword: str, vr: str) -> str:
    """One of X, Z, D, U, K, P for a table action. Compound ones per PS3.15 E.1.1: D where a
    dummy is needed (type 1 in our IODs), Z where an empty value is (type 2), else X; X/Z/U*
    keeps a UI or sequence with its UIDs replaced; C (clean) is treated as Z."""
    if "/" not in action:
        return "Z" if action == "C" else action
    options = action.split("/")
    if "U*" in options and vr in ("UI", "SQ"):
        return "U"
    kind = _IOD_TYPE.get(keyword)
    if kind == "1" and "D" in options:
        return "D"
    if kind in ("1", "2") and "Z" in options:
        return "Z"
    return "X" if "X" in options else options[0]


def _dummy(vr: str) -> Any:
    return _DUMMY_BY_VR.get(vr.split(" or ")[0], _DUMMY_TEXT)


def _scrub(d: Any, rules: _ScrubRules) -> None:
    """Apply the profile to every element of the (sub)dataset ``d``, recursing into sequences."""
    for elem in list(d):
        kw = elem.keyword or ""
        action = table_action(int(elem.tag), kw)
        if action is not None:
            _apply(d, elem, resolve_action(action, kw, elem.VR), rules)
        elif not kw or elem.tag.element == 0:
            del d[elem.tag]  # a public attribute the dictionary does not know, a group length
        elif elem.VR == "SQ":
            for item in elem.value or []:
                _scrub(item, rules)
        elif not (elem.value is None or elem.value == ""):
            _scrub_value(elem, kw, rules)


def _apply(d: Any, elem: Any, action: str, rules: _ScrubRules) -> None:
    """Carry out one resolved table action on ``elem`` (a member of ``d``)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    vr = elem.VR
    if action == "X":
        del d[elem.tag]
    elif action == "P":
        elem.value = rules.case_id
    elif action == "K":
        for item in (elem.value or []) if vr == "SQ" else []:
            _scrub(item, rules)
    elif vr == "SQ":
        if action == "Z":
            elem.value = Sequence()
        elif action == "D":  # a non-empty value holding nothing: one empty item
            elem.value = Sequence([Dataset()])
        else:  # U (X/Z/U*): the items stay, their UIDs replaced, themselves de-identified
            for item in elem.value or []:
                _scrub(item, rules)
    elif (vr in ("DA", "DT", "TM") and rules.shift is not None
          and elem.keyword not in _NEVER_SHIFTED):
        if vr != "TM" and elem.value not in (None, ""):  # times stay: whole days shifted
            _shift_dates(elem, rules.shift)
        elif action == "D" and elem.value in (None, ""):
            elem.value = _dummy(vr)
    elif vr == "UI" and action in ("U", "D"):
        if elem.value not in (None, ""):
            _replace_uids(elem, rules)
        elif action == "D":
            elem.value = rules.replace_uid("dummy")
    elif action == "D":
        elem.value = _dummy(vr)
    else:  # Z, and U on an element that is not a UID
        elem.value = None


def _replace_uids(elem: Any, rules: _ScrubRules) -> None:
    if elem.VM > 1:
        elem.value = [rules.replace_uid(v) for v in elem.value]
    else:
        elem.value = rules.replace_uid(str(elem.value))


def _shift_dates(elem: Any, shift: int) -> None:
    if elem.VM > 1:
        elem.value = [_shift_da(str(v), shift) for v in elem.value]
    else:
        elem.value = _shift_da(str(elem.value), shift)


def _scrub_value(elem: Any, kw: str, rules: _ScrubRules) -> None:
    """The by-VR safety net for a non-empty element the table does not list: names, UIDs,
    dates, times, free text."""
    vr = elem.VR
    if vr == "PN":
        elem.value = None
    elif vr == "UI":
        _replace_uids(elem, rules)
    elif vr in ("DA", "DT"):
        if rules.shift is None:
            elem.value = None
        else:
            _shift_dates(elem, rules.shift)
    elif vr == "TM":
        if rules.shift is None:
            elem.value = None
    elif vr in ("LO", "SH", "LT", "ST", "UT", "UC") and any(
            w in kw for w in ("Address", "Telephone", "Comment", "Name")) and kw not in (
            "Manufacturer", "ManufacturerModelName", "CodeMeaning", "CodingSchemeName"):
        elem.value = None


def _keep_only_allowed(ds: Any) -> None:
    """Allow-list mode: drop every top-level attribute screening does not need, and every
    item attribute of the kept LUT sequences but the LUT itself."""
    for elem in list(ds):
        if elem.keyword not in _ALLOWLIST:
            del ds[elem.tag]
        elif elem.VR == "SQ":
            for item in elem.value or []:
                for sub in list(item):
                    if sub.keyword not in _ALLOWED_IN_ITEMS:
                        del item[sub.tag]


def _clean_file_meta(ds: Any, rules: _ScrubRules) -> None:
    """Keep only the file meta elements that say how the file is encoded; point it at the
    new SOP instance UID."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return
    for elem in list(meta):
        if elem.keyword not in _FILE_META_KEEP:
            del meta[elem.tag]
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    elif "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = rules.replace_uid(str(meta.MediaStorageSOPInstanceUID))


def method_text(shifted: bool, mode: str = "basic") -> str:
    """The De-identification Method (LO, 64 characters): app, table edition, options."""
    text = f"DentalOsteo {__version__}: PS3.15 {PROFILE_EDITION} Basic Profile"
    if shifted:
        text += " +dates"
    if mode == "allowlist":
        text += " +allowlist"
    return text[:64]


def _mark_deidentified(ds: Any, shift: int | None, mode: str) -> None:
    """Patient Identity Removed, De-identification Method (+ codes), Longitudinal Temporal
    Information Modified."""
    from pydicom.dataset import Dataset

    ds.PatientIdentityRemoved = "YES"
    codes = [("113100", "Basic Application Confidentiality Profile")]
    if shift is not None:
        codes.append(("113107", "Retain Longitudinal Temporal Information Modified Dates Option"))
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"
    ds.DeidentificationMethod = method_text(shift is not None, mode)
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
                       date_shift_days: int | None = None, mode: str = "basic") -> list[str]:
    """De-identify a pydicom Dataset in place (see module docstring); returns warnings.

    ``mode``: "basic" (the whole Table E.1-1 plus our overrides) or "allowlist" (only what
    screening needs, then the same).
    """
    if mode not in MODES:
        raise ConfigError(f"de-identification mode {mode!r} is unknown: use basic or allowlist")
    rules = _ScrubRules(case_id=case_id, shift=date_shift_days, replace_uid=_uid_replacer(salt))
    if getattr(ds, "preamble", None) is not None:
        ds.preamble = b"\0" * 128  # the preamble is free bytes: a name or MRN can hide there
    ds.remove_private_tags()
    if mode == "allowlist":
        _keep_only_allowed(ds)
        ds.PatientName = ds.PatientID = case_id
    _scrub(ds, rules)
    _clean_file_meta(ds, rules)
    _mark_deidentified(ds, date_shift_days, mode)
    return [_burned_in_warning(ds)]


def deidentify_dicom(src: Path, dst: Path, *, blackout: list[RoiBox] | None = None,
                     date_shift_days: int | None = None, salt: str | None = None,
                     mode: str = "basic") -> list[str]:
    """De-identify the DICOM file ``src`` into ``dst`` (written atomically); returns warnings.

    ``salt`` defaults to the installation's pseudonym salt, so case IDs and UIDs match the
    anonymised reports of this installation. ``mode``: "basic" or "allowlist".
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    src, dst = Path(src), Path(dst)
    if mode not in MODES:
        raise ConfigError(f"de-identification mode {mode!r} is unknown: use basic or allowlist")
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
                                  date_shift_days=date_shift_days, mode=mode) + warnings
    if blackout:
        warnings = [w for w in warnings if w != _BURNED_IN_WARNING]
        warnings.append(f"blacked out {len(blackout)} rectangle(s); check that no other "
                        "burned-in text remains")
    atomic_write_bytes(dst, _file_bytes(ds, src))
    log.info("de-identified %s -> %s", src.name, dst.name)
    return warnings


def _file_bytes(ds: Any, src: Path) -> bytes:
    buf = io.BytesIO()
    try:
        ds.save_as(buf, enforce_file_format=True)
    except Exception as exc:  # noqa: BLE001 - pydicom raises several types on odd input
        with contextlib.suppress(Exception):
            buf = io.BytesIO()
            ds.save_as(buf)
        if not buf.getvalue():
            raise RadiographError(src, f"cannot write the de-identified file ({exc})") from None
    return buf.getvalue()
