"""The screening result as three DICOM objects, written into the source study.

- **SR** (Comprehensive SR, TID 1500 Measurement Report, built with highdicom): the
  mandibular cortical width (MCW) per patient side (mm with a measured spacing, pixels
  without a calibration), the pixel spacing used and its source, the Klemetti hint of the
  model and of the rule, the risk score / level / referral with the model's name, version
  and SHA-256 (TID 4019 algorithm identification), the mental foramen per side (SCOORD
  POINT) with its PMI, and the dentist-measured MCW (:mod:`.dicom_sr_items`).
- **SC** (Secondary Capture, highdicom ``SCImage``, RGB): the radiograph with the ROI, the
  traced border, the measurement normals and the Grad-CAM overlay burned in, plus the
  numbers and "NOT A DIAGNOSIS" (:mod:`.dicom_burn`).
- **PDF** (Encapsulated PDF, built with pydicom): the one-page report of :mod:`.report`.

Each object gets a new Series and SOP Instance UID in the source's study (Study Instance UID
and Patient module copied from the source DICOM, read again with ``stop_before_pixels``) and
references the source image (SR: source image of each measurement group + evidence; SC:
Source Image Sequence; PDF: Source Instance Sequence). A PNG/JPEG/TIFF/BMP input has no
study: a new one is made (its UID a keyed hash of the file content, so the same picture
always lands in the same study on this installation) with empty patient fields, or the
given ``patient_override``.

``anonymize``: the source header goes through :func:`.deidentify.deidentify_dataset` first
(the pseudonymous patient is ``pseudonym(PatientID)``, UIDs mapped exactly as ``dentalosteo
deidentify`` maps them, so the objects fall into the de-identified copy of the study), and
the PDF is the anonymised report with the same case ID.

Codes: DCM, SCT and UCUM where a code exists; the rest use the private coding scheme
``99DENTALOSTEO`` declared in each SR's Coding Scheme Identification Sequence
(documented in docs/dicom.md).

highdicom is imported lazily (the package imports it at use, like reportlab for the PDF).
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import hmac
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ... import __version__
from ..errors import ConfigError, RadiographError
from ..fusion import FUSED
from ..system.atomic import atomic_write_bytes
from ..system.settings import Settings
from ..types import PatientInfo, Radiograph, ScreeningResult
from .deidentify import deidentify_dataset, local_salt, pseudonym
from .dicom_burn import render_result_image
from .dicom_files import dataset_bytes
from .dicom_sr_items import (  # noqa: F401  (PRIVATE_CODES: re-exported, docs/dicom.md)
    PRIVATE_CODES,
    PRIVATE_SCHEME,
    PRIVATE_SCHEME_NAME,
    algorithm,
    cortex_group,
    dentist_group,
    foramen_groups,
    private_code,
)

log = logging.getLogger(__name__)
# highdicom logs instance UIDs at INFO while it copies modules: keep our log to our own lines
logging.getLogger("highdicom").setLevel(logging.WARNING)

MANUFACTURER = "DentalOsteo"
#: series numbers of the three result series (high, so they sort after the acquisition)
SERIES_NUMBER = {"sr": 9901, "sc": 9902, "pdf": 9903}
SERIES_DESCRIPTION = {
    "sr": "DentalOsteo measurements (not a diagnosis)",
    "sc": "DentalOsteo overlay (not a diagnosis)",
    "pdf": "DentalOsteo report (not a diagnosis)",
}
ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
#: the file name suffix of each object in ``--dicom-out``
FILE_SUFFIX = {"sr": "_SR.dcm", "sc": "_SC.dcm", "pdf": "_PDF.dcm"}

# --- codes (the private scheme and the cortex / foramen / dentist groups: .dicom_sr_items) --

def _risk_level_code(level: str) -> Any:
    from pydicom.sr.codedict import codes

    return {"low": codes.SCT.LowRisk, "intermediate": codes.SCT.ModerateRisk,
            "high": codes.SCT.HighRisk}.get(level)


# --- the source study ----------------------------------------------------------------

# type 2 attributes of the Patient and General Study modules: present (maybe empty) in every
# header we build on, because highdicom reads them as attributes
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
          "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")


def source_header(path: str | Path) -> Any | None:
    """The source DICOM's header (no pixels), or None when the file is not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return None
    if head[128:132] != b"DICM":
        return None
    try:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError) as exc:
        raise RadiographError(p, f"cannot read the DICOM header again for the result objects "
                              f"({type(exc).__name__})") from None
    if "StudyInstanceUID" not in ds or "SOPInstanceUID" not in ds:
        return None  # not a composite instance we can file results into: new study
    return ds


def _file_digest(rad: Radiograph) -> str:
    p = Path(rad.path or "")
    if p.is_file():
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return "file:" + h.hexdigest()
    return "pixels:" + hashlib.sha256(np.ascontiguousarray(rad.pixels).tobytes()).hexdigest()


def _keyed_uid(salt: str, text: str) -> str:
    d = hmac.new(salt.encode("utf-8"), b"study:" + text.encode("utf-8"), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(d[:16], "big"))


def case_id_for(rad: Radiograph, header: Any | None, salt: str) -> str:
    """The pseudonymous case ID: the same as the anonymised report's and ``deidentify``'s."""
    pid = ""
    if header is not None:
        pid = str(header.get("PatientID", "") or "").strip()
    pid = pid or rad.patient.patient_id.strip()
    return pseudonym(pid, salt) if pid else pseudonym(_file_digest(rad), salt)


def _new_study_header(rad: Radiograph, patient: PatientInfo, salt: str, anonymize: bool,
                      case_id: str | None) -> Any:
    """A header for a radiograph without DICOM: a new study (patient details optional)."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    for kw in _TYPE2:
        setattr(ds, kw, "")
    ds.StudyInstanceUID = _keyed_uid(salt, _file_digest(rad))
    if anonymize:
        ds.PatientName = ds.PatientID = case_id or ""
        ds.PatientIdentityRemoved = "YES"
    else:
        ds.PatientName = patient.name
        ds.PatientID = patient.patient_id
        ds.PatientBirthDate = patient.birth_date
        ds.PatientSex = patient.sex if patient.sex in ("M", "F", "O") else ""
        ds.StudyDate = patient.study_date
    ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


@dataclass
class StudyContext:
    """Where the result objects go: the (possibly de-identified) source header or a new
    study, and the source image they reference (None for a non-DICOM input)."""

    header: Any
    source: Any | None  # the (de-identified) source header; None: no DICOM source
    case_id: str | None
    anonymized: bool
    warnings: list[str] = field(default_factory=list)


def study_context(rad: Radiograph, *, anonymize: bool = False, salt: str | None = None,
                  case_id: str | None = None, patient_override: PatientInfo | None = None,
                  header: Any | None = None) -> StudyContext:
    """The study the objects are filed into (see the module docstring)."""
    hdr = header if header is not None else source_header(rad.path) if rad.path else None
    salt = salt if salt is not None else local_salt()
    if anonymize and not case_id:
        case_id = case_id_for(rad, hdr, salt)
    if hdr is None:
        ds = _new_study_header(rad, patient_override or rad.patient, salt, anonymize, case_id)
        return StudyContext(ds, None, case_id, anonymize)
    src = copy.deepcopy(hdr)
    warnings: list[str] = []
    if anonymize:
        # through the one de-identification path: pseudonymous patient, UIDs mapped as
        # `dentalosteo deidentify` maps them, dates emptied
        warnings = deidentify_dataset(src, salt=salt, case_id=str(case_id))
    for kw in _TYPE2:
        if kw not in src or src[kw].value is None:
            setattr(src, kw, "")
    return StudyContext(src, src, case_id, anonymize, warnings)


# --- the three objects ---------------------------------------------------------------

@dataclass
class ResultObjects:
    sr: Any
    sc: Any
    pdf: Any
    case_id: str | None
    study_instance_uid: str

    def items(self) -> list[tuple[str, Any]]:
        return [("sr", self.sr), ("sc", self.sc), ("pdf", self.pdf)]


def _now() -> tuple[str, str]:
    now = _dt.datetime.now()
    return now.strftime("%Y%m%d"), now.strftime("%H%M%S")


def _content_now(ds: Any) -> None:
    ds.ContentDate, ds.ContentTime = _now()


def _common(ds: Any, ctx: StudyContext, kind: str) -> None:
    """Equipment, description and de-identification marks shared by the three objects."""
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = "DentalOsteo"
    ds.SoftwareVersions = __version__
    ds.SeriesDescription = SERIES_DESCRIPTION[kind]
    if ctx.anonymized:
        ds.PatientIdentityRemoved = "YES"
        src = ctx.source
        if src is not None and "DeidentificationMethod" in src:
            ds.DeidentificationMethod = src.DeidentificationMethod
            ds.DeidentificationMethodCodeSequence = copy.deepcopy(
                src.DeidentificationMethodCodeSequence)
            ds.LongitudinalTemporalInformationModified = src.get(
                "LongitudinalTemporalInformationModified", "REMOVED")
        else:
            ds.DeidentificationMethod = f"DentalOsteo {__version__}: pseudonymous case ID"


def _ref_item(source: Any, purpose: bool = False) -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    if purpose:
        code = Dataset()
        code.CodeValue = "121322"
        code.CodingSchemeDesignator = "DCM"
        code.CodeMeaning = "Source image for image processing operation"
        item.PurposeOfReferenceCodeSequence = [code]
    return item


def build_sc(result: ScreeningResult, rad: Radiograph, ctx: StudyContext) -> Any:
    """The Secondary Capture: the radiograph with the screening burned in (RGB)."""
    import highdicom as hd
    from pydicom.uid import ExplicitVRLittleEndian

    pixels = render_result_image(rad.pixels, result)
    orientation = ("L", "F")  # image-left is the patient's right on a panoramic
    src = ctx.source
    if src is not None and len(src.get("PatientOrientation", []) or []) == 2:
        orientation = tuple(str(v) for v in src.PatientOrientation)  # type: ignore[assignment]
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=ctx.header,
        pixel_array=pixels,
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER["sc"],
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        patient_orientation=orientation,
        transfer_syntax_uid=ExplicitVRLittleEndian,
    )
    _common(sc, ctx, "sc")
    # the jaw is an unpaired body part, so no (Series) Laterality is needed
    body = str(src.get("BodyPartExamined", "") or "").strip() if src is not None else ""
    sc.BodyPartExamined = body or "JAW"
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.DerivationDescription = ("DentalOsteo screening overlay: ROI, traced border, MCW "
                                "normals, Grad-CAM; result text burned in (not a diagnosis)")
    sc.BurnedInAnnotation = str(src.get("BurnedInAnnotation", "NO") or "NO") if src is not None else "NO"
    if src is not None:
        sc.SourceImageSequence = [_ref_item(src, purpose=True)]
    _content_now(sc)
    return sc


def _patient_study_kwargs(h: Any) -> dict[str, Any]:
    return {"patient_id": h.PatientID, "patient_name": h.PatientName,
            "patient_birth_date": h.PatientBirthDate, "patient_sex": h.PatientSex,
            "accession_number": h.AccessionNumber, "study_id": h.StudyID,
            "study_date": h.StudyDate, "study_time": h.StudyTime,
            "referring_physician_name": h.ReferringPhysicianName}


def build_pdf(pdf_bytes: bytes, ctx: StudyContext) -> Any:
    """The Encapsulated PDF object (Encapsulated PDF IOD, PS3.3 A.45.1)."""
    import highdicom as hd
    from pydicom.uid import ExplicitVRLittleEndian

    if not pdf_bytes.startswith(b"%PDF"):
        raise ConfigError("the screening report is not a PDF (cannot encapsulate it)")
    date, time = _now()
    ds = hd.base.SOPClass(
        study_instance_uid=ctx.header.StudyInstanceUID,
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER["pdf"],
        sop_instance_uid=hd.UID(),
        sop_class_uid=ENCAPSULATED_PDF_STORAGE,
        instance_number=1,
        modality="DOC",
        manufacturer=MANUFACTURER,
        transfer_syntax_uid=ExplicitVRLittleEndian,
        specific_character_set=ctx.header.get("SpecificCharacterSet"),
        **_patient_study_kwargs(ctx.header),
    )
    if ctx.source is not None:  # the whole Patient and Study modules of the source
        ds.copy_patient_and_study_information(ctx.source)
    _common(ds, ctx, "pdf")
    # SC Equipment module
    ds.ConversionType = "WSD"
    # Encapsulated Document module
    ds.InstanceNumber = 1
    _content_now(ds)
    ds.AcquisitionDateTime = date + time
    ds.BurnedInAnnotation = "NO" if ctx.anonymized else "YES"  # the report names the patient
    ds.RecognizableVisualFeatures = "NO"
    ds.DocumentTitle = "DentalOsteo screening report (not a diagnosis)"
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf_bytes)
    ds.EncapsulatedDocument = pdf_bytes + (b"\x00" if len(pdf_bytes) % 2 else b"")
    if ctx.source is not None:
        # Source Instance Sequence: the image the report was made from
        ds.SourceInstanceSequence = [_ref_item(ctx.source)]
    return ds


def build_sr(result: ScreeningResult, ctx: StudyContext, evidence: list[Any]) -> Any:
    """The TID 1500 Measurement Report (Comprehensive SR): the cortex group, a model group
    when a model gave a reading, a mental-foramen group per side with a point (PMI), and
    the dentist's MCW when measured (see :mod:`.dicom_sr_items`)."""
    import highdicom as hd

    src = ctx.source
    sources = ([hd.sr.SourceImageForMeasurementGroup(src.SOPClassUID, src.SOPInstanceUID)]
               if src is not None else None)
    # SCOORDs are drawn on the source image, else on the SC (same pixel coordinates)
    drawn_on = src if src is not None else evidence[0]
    image = (str(drawn_on.SOPClassUID), str(drawn_on.SOPInstanceUID))
    groups = [cortex_group(result, sources)]
    model_group = _sr_model_group(result, sources)
    if model_group is not None:
        groups.append(model_group)
    dentist = dentist_group(result, image, sources)
    if dentist is not None:
        groups.append(dentist)
    groups.extend(foramen_groups(result, image))
    sr = _sr_document(groups, evidence)
    _common(sr, ctx, "sr")
    return sr


def _sr_model_group(result: ScreeningResult, sources: list[Any] | None) -> Any | None:
    """The model's reading (risk, level, referral, Klemetti hint) with its identity."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    unity = codes.UCUM.NoUnits
    model_m: list[Any] = []
    model_q: list[Any] = []
    if result.risk is not None:
        model_m.append(hd.sr.Measurement(name=private_code("RISK"), value=float(result.risk),
                                         unit=unity))
        if result.risk_image_model is not None and result.risk_image_model != result.risk:
            model_m.append(hd.sr.Measurement(name=private_code("RISK-IMAGE-MODEL"),
                                             value=float(result.risk_image_model), unit=unity))
    for cls, p in sorted((result.klemetti_probabilities or {}).items()):
        if cls in ("C1", "C2", "C3") and p is not None:
            model_m.append(hd.sr.Measurement(name=private_code(f"KLEMETTI-P-{cls}"),
                                             value=float(p), unit=unity))
    level = _risk_level_code(result.risk_level or "")
    if level is not None and result.risk is not None:
        model_q.append(hd.sr.QualitativeEvaluation(private_code("RISK-LEVEL"), level))
    if result.referral in ("refer", "no_referral"):
        model_q.append(hd.sr.QualitativeEvaluation(
            private_code("REFERRAL"), private_code("REFER" if result.referral == "refer" else "NO-REFERRAL")))
    if result.klemetti_class in ("C1", "C2", "C3"):
        model_q.append(hd.sr.QualitativeEvaluation(
            private_code("KLEMETTI-MODEL"), private_code(f"KLEMETTI-{result.klemetti_class}")))
    m = result.model
    if m is None or not (model_m or model_q):
        return None
    op = result.operating_point or {}
    params = [f"sha256 {m.sha256}"]
    if op.get("name"):
        thr = op.get("threshold")
        params.append(f"operating point {op['name']}"
                      + (f" threshold {thr:.4f}" if isinstance(thr, int | float) else ""))
    if m.source:
        params.append(f"trained on {m.source} data")
    basis = result.risk_basis or {}
    if basis.get("method") == FUSED and result.risk is not None:
        params.append(f"risk: {FUSED} ({float(basis['mcw_mm_at_model_scale']):.2f} mm at the model's scale, "
                      f"{basis.get('mcw_source', 'automatic')})")
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="Screening model"),
        finding_type=private_code("MODEL-GROUP"),
        algorithm_id=algorithm(m.name, m.version, params),
        finding_sites=[hd.sr.FindingSite(codes.SCT.BoneStructureOfMandible)],
        measurements=model_m or None, qualitative_evaluations=model_q or None,
        source_images=sources)


def _sr_document(groups: list[Any], evidence: list[Any]) -> Any:
    """The Comprehensive SR around the measurement groups (observer: this device)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    observer = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=_keyed_uid("dentalosteo-device", "DentalOsteo"), name="DentalOsteo",
            manufacturer_name=MANUFACTURER, model_name=f"DentalOsteo {__version__}")))
    report = hd.sr.MeasurementReport(
        observation_context=observer,
        procedure_reported=[codes.SCT.DentalRadiography],
        imaging_measurements=groups,
    )
    scheme = hd.coding_schemes.CodingSchemeIdentificationItem(
        designator=PRIVATE_SCHEME, name=PRIVATE_SCHEME_NAME, responsible_organization=MANUFACTURER)
    sr = hd.sr.ComprehensiveSR(
        evidence=evidence,
        content=report,
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER["sr"],
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,  # a screening aid: never the definitive report
        is_verified=False,
        coding_schemes=[scheme],
    )
    return sr


def build_result_objects(result: ScreeningResult, rad: Radiograph, pdf_bytes: bytes, *,
                         anonymize: bool = False, case_id: str | None = None,
                         salt: str | None = None, patient_override: PatientInfo | None = None,
                         header: Any | None = None) -> ResultObjects:
    """The SR, SC and Encapsulated PDF datasets for one screening (not written)."""
    import warnings

    ctx = study_context(rad, anonymize=anonymize, salt=salt, case_id=case_id,
                        patient_override=patient_override, header=header)
    with warnings.catch_warnings():
        # highdicom warns about one-component person names: the pseudonym is one on purpose
        # (the same Patient's Name `dentalosteo deidentify` writes)
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name.*")
        sc = build_sc(result, rad, ctx)
        pdf = build_pdf(pdf_bytes, ctx)
        evidence = [ctx.source] if ctx.source is not None else [sc]
        sr = build_sr(result, ctx, evidence)
    return ResultObjects(sr, sc, pdf, ctx.case_id, str(ctx.header.StudyInstanceUID))


def report_pdf_bytes(result: ScreeningResult, rad: Radiograph, *, settings: Settings | None,
                     anonymize: bool, model_card: dict | None, case_id: str | None) -> bytes:
    """The one-page report, as written by ``--pdf``, in memory."""
    from .report import write_report

    with tempfile.TemporaryDirectory(prefix="dentalosteo-pdf-") as tmp:
        p = write_report(result, rad, Path(tmp) / "report.pdf", settings=settings,
                         anonymize=anonymize, model_card=model_card,
                         case_id=case_id if anonymize else None)
        return p.read_bytes()


def write_result_objects(result: ScreeningResult, rad: Radiograph, out_dir: str | Path, *,
                         stem: str | None = None, settings: Settings | None = None,
                         anonymize: bool = False, model_card: dict | None = None,
                         case_id: str | None = None) -> list[Path]:
    """Write ``<stem>_SR.dcm``, ``<stem>_SC.dcm`` and ``<stem>_PDF.dcm`` into ``out_dir``
    (each atomically); returns the three paths. ``stem`` defaults to the input file's stem,
    or the case ID when anonymising (file names may hold patient names)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: is a file; give --dicom-out a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from ..system.atomic import WriteError, explain_os_error

        reason, hint = explain_os_error(exc)
        raise WriteError(out, reason, hint) from None
    salt = local_salt()
    header = source_header(rad.path) if rad.path else None
    if anonymize and not case_id:
        case_id = case_id_for(rad, header, salt)
    pdf = report_pdf_bytes(result, rad, settings=settings, anonymize=anonymize,
                           model_card=model_card, case_id=case_id)
    objs = build_result_objects(result, rad, pdf, anonymize=anonymize, case_id=case_id,
                                salt=salt, header=header)
    if stem is None:
        stem = str(objs.case_id) if anonymize else (Path(rad.path).stem if rad.path else "result")
    written = []
    for kind, ds in objs.items():
        written.append(atomic_write_bytes(out / f"{stem}{FILE_SUFFIX[kind]}", dataset_bytes(ds)))
    log.info("DICOM result objects written (%d files)", len(written))
    return written
