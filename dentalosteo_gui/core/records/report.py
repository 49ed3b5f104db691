"""The PDF screening report (reportlab), written atomically: one page, and a second only
for warnings that do not fit on it.

Layout, top to bottom: clinic header; patient block (or pseudonymous case ID); result
banner (band colour chip, risk score bar, operating point); radiograph thumbnail with ROI /
landmarks and traced borders + the ROI with its Grad-CAM overlay and colour bar; Klemetti
hint and MCW per patient side; what it means / suggested next step; warnings; model and
app provenance; intended use and disclaimer. All text is real PDF text (pdftotext-able).

This module is the public entry point (:func:`write_report`, :func:`result_from_dict`, and
the wording re-exported from :mod:`.report_text`). The work is split by concern:
:mod:`.report_text` (what the report says), :mod:`.report_canvas` (colours, canvas wrapper,
fonts, images), :mod:`.report_layout` (the page's blocks) and :mod:`.report_images` (the
radiograph and ROI pictures).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ... import __version__
from ..errors import ConfigError
from ..system.atomic import atomic_write_bytes
from ..system.settings import Settings
from ..types import PatientInfo, Radiograph, RoiBox, ScreeningResult, Spacing
from .deidentify import local_salt, pseudonym
from .report_canvas import (  # noqa: F401 - re-exported: the report's colours
    ACCENT,
    BAND_STYLE,
    INK,
    MUTED,
    PANEL,
    RULE,
    PdfCanvas,
    register_unicode_font,
)
from .report_layout import draw_page
from .report_text import (  # noqa: F401 - re-exported: the report's wording
    DISCLAIMER,
    INTENDED_USE,
    MCW_REFERRAL_MM,
    PHANTOM_NOTICE,
    format_dicom_date,
    format_person_name,
    next_step_text,
    scrub_text,
)

log = logging.getLogger(__name__)

__all__ = ["write_report", "pseudonym", "local_salt", "next_step_text", "result_from_dict", "INTENDED_USE",
           "DISCLAIMER", "PHANTOM_NOTICE", "format_person_name", "format_dicom_date", "scrub_text"]


def result_from_dict(d: dict[str, Any]) -> ScreeningResult:
    """Rebuild a ScreeningResult from ``as_json_dict()`` output (screen --json, history).

    The Grad-CAM map is not part of that JSON: the result has ``heatmap=None``. Traced
    borders are restored when present (the history stores them).
    """
    from ..types import ModelInfo

    if not isinstance(d, dict) or "assessable" not in d:
        raise ConfigError("not a DentalOsteo screening result (no 'assessable' field)")
    k = d.get("klemetti") or {}
    mcw = d.get("mcw_mm") or {}
    roi = d.get("roi")
    model = d.get("model")
    lms = d.get("landmarks")

    def poly(v: Any) -> list[tuple[float, float]]:
        return [(float(p[0]), float(p[1])) for p in (v or [])]

    return ScreeningResult(
        path=str(d.get("path") or ""),
        risk=None if d.get("risk") is None else float(d["risk"]),
        risk_level=d.get("band"),
        operating_point=dict(d.get("operating_point") or {}),
        klemetti_class=k.get("class"),
        klemetti_probabilities=k.get("probabilities"),
        klemetti_rule=k.get("rule_class"),
        klemetti_agree=k.get("agree"),
        klemetti_evidence=dict(k.get("evidence") or {}),
        mcw_left_mm=mcw.get("left"),
        mcw_right_mm=mcw.get("right"),
        spacing=Spacing.from_json(d),
        assessable=bool(d.get("assessable")),
        warnings=[str(w) for w in d.get("warnings") or []],
        roi=RoiBox(int(roi["x"]), int(roi["y"]), int(roi["w"]), int(roi["h"])) if roi else None,
        roi_confidence=d.get("roi_confidence"),
        border_right=poly(d.get("border_right")),
        border_left=poly(d.get("border_left")),
        landmarks={str(n): (float(v[0]), float(v[1])) for n, v in lms.items()} if lms else None,
        attention=d.get("attention"),
        model=ModelInfo(str(model.get("name", "")), str(model.get("version", "")),
                        str(model.get("sha256", "")), str(model.get("arch", "")),
                        str(model.get("source", ""))) if model else None,
        device=str(d.get("device") or ""),
        timings_ms=dict(d.get("timings_ms") or {}),
        heatmap=None,
        mode=str(d.get("mode") or "roi"),
        other_reading=d.get("other_reading"),
        risk_image_model=None if d.get("risk_image_model") is None else float(d["risk_image_model"]),
        risk_basis=d.get("risk_basis"),
        **scale_free_from_dict(d),
    )


def scale_free_from_dict(d: dict[str, Any]) -> dict[str, Any]:
    """Issue 17's fields of a result dict (absent in older files: all None)."""
    from ..types import ForamenPoint

    def num(v: Any) -> float | None:
        return None if v is None else float(v)

    pmi, mpx, mcw = d.get("pmi") or {}, d.get("mcw_px") or {}, d.get("mcw_mm") or {}
    conf, src = d.get("mental_foramen_confidence") or {}, d.get("mental_foramen_source") or {}
    foramen = {s: ForamenPoint(float(p[0]), float(p[1]), num(conf.get(s)),
                               str(src.get(s) or "auto") if src.get(s) in ("auto", "user") else "auto")
               for s, p in (d.get("mental_foramen") or {}).items() if p is not None}
    dentist = {s: ((float(a[0]), float(a[1])), (float(b[0]), float(b[1])))
               for s, (a, b) in (d.get("dentist_mcw") or {}).items()}
    return {"mental_foramen": foramen or None, "pmi_left": num(pmi.get("left")),
            "pmi_right": num(pmi.get("right")), "pmi_detail": dict(d.get("pmi_detail") or {}),
            "mcw_left_px": num(mpx.get("left")), "mcw_right_px": num(mpx.get("right")),
            "mcw_dentist_left_mm": num(mcw.get("dentist_left")),
            "mcw_dentist_right_mm": num(mcw.get("dentist_right")), "dentist_mcw": dentist or None}


# --- the report ------------------------------------------------------------------------

def write_report(result: ScreeningResult, radiograph: Radiograph, out_path: Path, *,
                 settings: Settings | None = None, anonymize: bool = False,
                 model_card: dict | None = None, case_id: str | None = None,
                 patient_override: PatientInfo | None = None,
                 blackout: list[RoiBox] | None = None) -> Path:
    """Write the PDF screening report atomically; returns ``out_path``. One page; warnings
    that do not fit continue on the next.

    ``anonymize`` replaces every patient field by a pseudonymous case ID (``case_id`` or
    one derived from the patient ID / file with the installation's salt) and omits file
    names. ``patient_override`` supplies data entered by the user (PNG input).
    ``blackout`` rectangles (image pixels) are painted black in the pictures, to hide text
    burned into the radiograph.
    """
    from reportlab.lib.pagesizes import A4, LETTER
    from reportlab.pdfgen import canvas

    settings = settings or Settings()
    if settings.page_size not in ("A4", "Letter"):
        raise ConfigError(f"settings: page size must be A4 or Letter, not {settings.page_size!r}")
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".pdf":
        raise ConfigError(f"{out_path}: the report file name must end in .pdf")
    page_w, page_h = A4 if settings.page_size == "A4" else LETTER
    patient = patient_override if patient_override is not None else radiograph.patient
    if anonymize and not case_id:
        case_id = _case_id_for(patient, radiograph, result)
    if blackout:
        from dataclasses import replace

        px = np.array(radiograph.pixels, dtype=np.float32, copy=True)
        for box in blackout:
            bb = box.clipped(px.shape[1], px.shape[0])
            px[bb.y : bb.y + bb.h, bb.x : bb.x + bb.w, ...] = 0.0
        radiograph = replace(radiograph, pixels=px)

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(page_w, page_h), pageCompression=1)
    c.setTitle("DentalOsteo screening report" + (f" {case_id}" if anonymize and case_id else ""))
    c.setAuthor(settings.clinic_name if settings.clinic_name and not anonymize else "DentalOsteo")
    c.setSubject("Osteoporosis screening aid report (not a diagnosis)")
    c.setCreator(f"DentalOsteo {__version__}")
    pdf = PdfCanvas(c, page_h, register_unicode_font())
    draw_page(pdf, result, radiograph, settings=settings, anonymize=anonymize,
              model_card=model_card, case_id=case_id, patient=patient,
              page_w=page_w, page_h=page_h)
    c.showPage()
    c.save()
    atomic_write_bytes(out_path, buf.getvalue())
    log.info("report written: %s (%d bytes)", out_path.name, len(buf.getvalue()))
    return out_path


def _case_id_for(patient: PatientInfo, radiograph: Radiograph, result: ScreeningResult) -> str:
    salt = local_salt()
    if patient.patient_id.strip():
        return pseudonym(patient.patient_id, salt)
    src = Path(radiograph.path or result.path or "")
    if src.is_file():
        import hashlib

        h = hashlib.sha256()
        with open(src, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return pseudonym("file:" + h.hexdigest(), salt)
    import hashlib

    digest = hashlib.sha256(np.ascontiguousarray(radiograph.pixels).tobytes()).hexdigest()
    return pseudonym("pixels:" + digest, salt)
