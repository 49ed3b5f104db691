"""The one-page PDF screening report (reportlab), written atomically.

Layout, top to bottom: clinic header; patient block (or pseudonymous case ID); result
banner (band colour chip, risk score bar, operating point); radiograph thumbnail with ROI /
landmarks and traced borders + the ROI with its Grad-CAM overlay and colour bar; Klemetti
hint and MCW per patient side; what it means / suggested next step; warnings; model and
app provenance; intended use and disclaimer. All text is real PDF text (pdftotext-able).
"""

from __future__ import annotations

import io
import logging
import math
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from ... import __version__
from ..errors import ConfigError
from ..imaging.heatmap import blend, colorbar, gray_to_rgb
from ..system import paths
from ..system.atomic import atomic_write_bytes
from ..system.settings import Settings
from ..types import KLEMETTI_DEFINITIONS, PatientInfo, Radiograph, RoiBox, ScreeningResult, Spacing
from .deidentify import local_salt, pseudonym

log = logging.getLogger(__name__)

__all__ = ["write_report", "pseudonym", "local_salt", "next_step_text", "result_from_dict", "INTENDED_USE",
           "DISCLAIMER", "PHANTOM_NOTICE"]

INTENDED_USE = (
    "Intended use: DentalOsteo helps a dentist decide whether to suggest a bone density "
    "assessment, from the mandibular cortex on a dental panoramic radiograph of an adult."
)
DISCLAIMER = (
    "This is a screening aid, not a diagnosis. DXA (dual-energy X-ray absorptiometry) is the "
    "reference standard for osteoporosis. A low score does not rule out osteoporosis; "
    "clinical judgement always prevails."
)
PHANTOM_NOTICE = (
    "The bundled model was trained on synthetic phantoms and is not clinically validated: "
    "use it for demonstration and testing only."
)
MCW_REFERRAL_MM = 3.0  # METHODS.md: MCW under about 3 mm is a widely used referral threshold

# Colours (R, G, B in 0..1)
INK = (0.13, 0.15, 0.18)
MUTED = (0.42, 0.45, 0.50)
RULE = (0.80, 0.82, 0.85)
PANEL = (0.955, 0.96, 0.97)
ACCENT = (0.05, 0.33, 0.42)
BAND_STYLE: dict[str, tuple[str, tuple[float, float, float], tuple[float, float, float]]] = {
    # band: (label, chip fill, chip text colour)
    "high": ("HIGH", (0.78, 0.16, 0.16), (1, 1, 1)),
    "intermediate": ("INTERMEDIATE", (0.96, 0.66, 0.10), (0.15, 0.10, 0.0)),
    "low": ("LOW", (0.18, 0.49, 0.20), (1, 1, 1)),
    "not_assessable": ("NOT ASSESSABLE", (0.45, 0.47, 0.50), (1, 1, 1)),
    "no_model": ("NO RISK SCORE", (0.45, 0.47, 0.50), (1, 1, 1)),
}

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


# --- plain-language content ----------------------------------------------------------


def _band_key(result: ScreeningResult) -> str:
    if not result.assessable:
        return "not_assessable"
    if result.risk is None or result.risk_level not in ("low", "intermediate", "high"):
        return "no_model"
    return str(result.risk_level)


def next_step_text(result: ScreeningResult) -> tuple[str, str]:
    """(what it means, suggested next step) in plain language for the result's band."""
    key = _band_key(result)
    if key == "high":
        return (
            "The cortex of the lower jaw shows a pattern that the model associates with low "
            "bone density (score in the high band).",
            "Consider referring the patient to their physician for a bone density test (DXA), "
            "mentioning this screening result.",
        )
    if key == "intermediate":
        return (
            "The result is borderline: some features of the jaw cortex are associated with low "
            "bone density, others are not.",
            "Consider the patient's clinical risk factors (for example with FRAX: age, sex, "
            "previous fracture, parental hip fracture, glucocorticoids, smoking, alcohol, "
            "rheumatoid arthritis, low body weight) and refer for DXA if any are present.",
        )
    if key == "low":
        return (
            "No signs associated with low bone density were found on this radiograph.",
            "Routine care. A low score does not rule out osteoporosis: refer anyway if the "
            "patient has fractures or strong risk factors.",
        )
    if key == "not_assessable":
        reasons = [w for w in result.warnings if w] or ["the image quality or ROI placement "
                                                         "did not allow a reliable reading"]
        return (
            "This radiograph could not be assessed reliably: " + "; ".join(reasons[:3]) + ".",
            "Retake the radiograph (patient positioning, exposure) or adjust the ROI over the "
            "inferior border of the mandible below the premolars, then screen again.",
        )
    return (
        "No risk model was available, so only the cortical measurements are reported.",
        "Interpret the cortical width and Klemetti class with clinical judgement; an MCW under "
        f"about {MCW_REFERRAL_MM:g} mm or a C3 cortex is commonly used as a reason to refer for DXA.",
    )


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt_pct(v: Any) -> str:
    f = _finite(v)
    return "n/a" if f is None else f"{100.0 * f:.0f} %"


def _fmt_num(v: Any, digits: int = 2, unit: str = "") -> str:
    f = _finite(v)
    return "n/a" if f is None else f"{f:.{digits}f}{(' ' + unit) if unit else ''}"


def format_person_name(dicom_name: str) -> str:
    """``Family^Given^Middle^Prefix^Suffix`` -> ``Family, Given Middle``."""
    parts = [p.strip() for p in str(dicom_name).split("=")[0].split("^")]
    if len(parts) <= 1:
        return parts[0] if parts else ""
    family, given = parts[0], " ".join(p for p in parts[1:3] if p)
    prefix = parts[3] if len(parts) > 3 else ""
    suffix = parts[4] if len(parts) > 4 else ""
    name = f"{family}, {given}".strip(", ") if given else family
    return " ".join(p for p in (prefix, name, suffix) if p)


def format_dicom_date(value: str) -> str:
    """``YYYYMMDD`` -> ``YYYY-MM-DD``; anything else unchanged."""
    v = str(value).strip()
    if len(v) == 8 and v.isdigit():
        return f"{v[:4]}-{v[4:6]}-{v[6:]}"
    return v


def scrub_text(text: str, radiograph: Radiograph, patient: PatientInfo) -> str:
    """Remove file paths/names and patient fields from a message (anonymised exports)."""
    out = str(text)
    tokens: list[str] = []
    for p in (radiograph.path,):
        if p:
            tokens += [str(p), Path(p).name, Path(p).stem]
    for v in (patient.name, patient.patient_id, patient.birth_date):
        if v and v.strip():
            tokens.append(v.strip())
            tokens += [t for t in v.replace("^", " ").split() if len(t) >= 3]
    for t in sorted(set(tokens), key=len, reverse=True):
        if len(t) >= 3:
            out = out.replace(t, "[removed]")
    return out


def _model_is_phantom(result: ScreeningResult, card: dict | None) -> bool:
    sources: list[Any] = []
    if result.model is not None:
        sources.append(result.model.source)
    if card:
        sources.append(card.get("training_source"))
        sources.append(card.get("source"))
        for key in ("training_data", "training", "data"):
            sub = card.get(key)
            if isinstance(sub, dict):
                sources.append(sub.get("source"))
    return any(isinstance(s, str) and "phantom" in s.lower() for s in sources)


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
    )


# --- images --------------------------------------------------------------------------


def _thumbnail(pixels: np.ndarray, max_w: int, max_h: int) -> tuple[np.ndarray, float]:
    """Downscaled RGB uint8 image (area filter) and the scale factor used."""
    import cv2

    h, w = pixels.shape[:2]
    s = min(max_w / w, max_h / h, 1.0)
    g = np.asarray(pixels, dtype=np.float32)
    if g.ndim == 3:
        g = np.asarray(g.mean(axis=2), dtype=np.float32)
    if s < 1.0:
        g = np.asarray(cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))),
                                  interpolation=cv2.INTER_AREA), dtype=np.float32)
    return gray_to_rgb(np.clip(g, 0.0, 1.0)), s


def _image_reader(rgb: np.ndarray, jpeg: bool = False) -> Any:
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    img = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    if jpeg:  # radiograph thumbnail: JPEG keeps the PDF small
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=88)
        buf.seek(0)
        return ImageReader(buf)
    return ImageReader(img)


def _roi_for_crop(result: ScreeningResult, shape: tuple[int, int]) -> RoiBox | None:
    h, w = shape
    if result.roi is not None:
        return result.roi.clipped(w, h)
    if result.heatmap is not None and result.heatmap.shape == (h, w):
        ys, xs = np.nonzero(result.heatmap > 0)
        if ys.size:
            return RoiBox(int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                          int(ys.max() - ys.min() + 1))
    return None


# --- drawing helpers ------------------------------------------------------------------


class _Pdf:
    """Thin wrapper over a reportlab canvas with top-down coordinates."""

    def __init__(self, c: Any, page_h: float, unicode_font: str | None) -> None:
        self.c = c
        self.page_h = page_h
        self.ufont = unicode_font

    def y(self, top: float) -> float:
        return self.page_h - top

    def text(self, x: float, top: float, s: str, size: float = 9, bold: bool = False,
             color: tuple[float, float, float] = INK, align: str = "left",
             font: str | None = None) -> None:
        c = self.c
        f = font or ("Helvetica-Bold" if bold else "Helvetica")
        c.setFont(f, size)
        c.setFillColorRGB(*color)
        base = self.y(top) - size * 0.8
        if align == "right":
            c.drawRightString(x, base, s)
        elif align == "center":
            c.drawCentredString(x, base, s)
        else:
            c.drawString(x, base, s)

    def value_font(self, s: str, bold: bool = False) -> str:
        """Helvetica for Latin-1 text, DejaVu (when available) for other scripts."""
        try:
            s.encode("cp1252")
            return "Helvetica-Bold" if bold else "Helvetica"
        except UnicodeEncodeError:
            return self.ufont or ("Helvetica-Bold" if bold else "Helvetica")

    def fit(self, s: str, width: float, size: float, font: str = "Helvetica") -> str:
        from reportlab.pdfbase.pdfmetrics import stringWidth

        if stringWidth(s, font, size) <= width:
            return s
        while s and stringWidth(s + "...", font, size) > width:
            s = s[:-1]
        return s + "..."

    def para(self, x: float, top: float, width: float, markup: str, size: float = 8.5,
             leading: float | None = None, color: tuple[float, float, float] = INK,
             bold: bool = False, draw: bool = True) -> float:
        """Draw a wrapped paragraph; returns its height."""
        from reportlab.lib.colors import Color
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.platypus import Paragraph

        style = ParagraphStyle(
            "p", fontName="Helvetica-Bold" if bold else "Helvetica", fontSize=size,
            leading=leading or size * 1.28, textColor=Color(*color),
        )
        p = Paragraph(markup, style)
        _, h = p.wrap(width, 10_000)
        if draw:
            p.drawOn(self.c, x, self.y(top) - h)
        return float(h)

    def rect(self, x: float, top: float, w: float, h: float, fill: tuple[float, float, float] | None = None,
             stroke: tuple[float, float, float] | None = None, radius: float = 0.0,
             line: float = 0.6) -> None:
        c = self.c
        if fill:
            c.setFillColorRGB(*fill)
        if stroke:
            c.setStrokeColorRGB(*stroke)
            c.setLineWidth(line)
        if radius:
            c.roundRect(x, self.y(top) - h, w, h, radius, stroke=int(bool(stroke)), fill=int(bool(fill)))
        else:
            c.rect(x, self.y(top) - h, w, h, stroke=int(bool(stroke)), fill=int(bool(fill)))

    def hline(self, x0: float, x1: float, top: float, color: tuple[float, float, float] = RULE,
              width: float = 0.6) -> None:
        self.c.setStrokeColorRGB(*color)
        self.c.setLineWidth(width)
        self.c.line(x0, self.y(top), x1, self.y(top))

    def section(self, x: float, top: float, title: str) -> float:
        self.text(x, top, title.upper(), size=7.5, bold=True, color=ACCENT)
        return top + 12


def _register_unicode_font() -> str | None:
    try:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        if "DejaVuSans" in pdfmetrics.getRegisteredFontNames():
            return "DejaVuSans"
        from ..system import paths

        for font in (paths.resources_dir() / "fonts" / "DejaVuSans.ttf", _DEJAVU):
            if font.exists():  # the shipped copy first: Windows/macOS have no system DejaVu
                pdfmetrics.registerFont(TTFont("DejaVuSans", str(font)))
                return "DejaVuSans"
    except Exception:  # noqa: BLE001 - a missing/broken font only degrades non-Latin names
        log.debug("no unicode font for the report", exc_info=True)
    return None


# --- the report ------------------------------------------------------------------------


def write_report(result: ScreeningResult, radiograph: Radiograph, out_path: Path, *,
                 settings: Settings | None = None, anonymize: bool = False,
                 model_card: dict | None = None, case_id: str | None = None,
                 patient_override: PatientInfo | None = None,
                 blackout: list[RoiBox] | None = None) -> Path:
    """Write the one-page PDF screening report atomically; returns ``out_path``.

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
    pdf = _Pdf(c, page_h, _register_unicode_font())
    _draw_page(pdf, result, radiograph, settings=settings, anonymize=anonymize,
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


def _draw_page(pdf: _Pdf, result: ScreeningResult, radiograph: Radiograph, *, settings: Settings,
               anonymize: bool, model_card: dict | None, case_id: str | None,
               patient: PatientInfo, page_w: float, page_h: float) -> None:
    m = 36.0
    x0, x1 = m, page_w - m
    cw = x1 - x0
    top = m

    # ---- header ---------------------------------------------------------------------
    logo_w = 0.0
    if settings.clinic_logo:
        logo_w = _draw_logo(pdf, Path(settings.clinic_logo), x0, top, 44.0)
    elif not settings.clinic_name.strip():  # no clinic set up: the app's own mark
        icon = paths.icons_dir() / "dentalosteo_128.png"
        if icon.is_file():
            logo_w = _draw_logo(pdf, icon, x0, top, 36.0)
    hx = x0 + (logo_w + 10 if logo_w else 0)
    clinic = settings.clinic_name.strip() or "DentalOsteo"
    pdf.text(hx, top + 2, pdf.fit(clinic, cw * 0.5, 14, "Helvetica-Bold"), size=14, bold=True,
             font=pdf.value_font(clinic, bold=True))
    addr_lines = [ln.strip() for ln in settings.clinic_address.replace(";", "\n").splitlines() if ln.strip()]
    for i, ln in enumerate(addr_lines[:3]):
        pdf.text(hx, top + 20 + i * 10, pdf.fit(ln, cw * 0.5, 8.5), size=8.5, color=MUTED,
                 font=pdf.value_font(ln))
    pdf.text(x1, top + 2, "Osteoporosis screening report", size=13, bold=True, color=ACCENT,
             align="right")
    pdf.text(x1, top + 19, "Dental panoramic radiograph - mandibular cortex", size=8.5,
             color=MUTED, align="right")
    now = datetime.now().astimezone()
    tz = now.strftime("%z") or "+0000"
    pdf.text(x1, top + 30, f"Generated {now:%Y-%m-%d %H:%M} (UTC{tz[:3]}:{tz[3:]})", size=8.5,
             color=MUTED, align="right")
    top += 50
    pdf.hline(x0, x1, top, ACCENT, 1.2)
    top += 8

    # ---- patient block ----------------------------------------------------------------
    ph = 34.0
    pdf.rect(x0, top, cw, ph, fill=PANEL, radius=3)
    if anonymize:
        cells = [("Case ID (pseudonymous)", case_id or "n/a", 0.28),
                 ("Identity", "Anonymised export: name, patient ID, birth date, sex and "
                  "dates removed", 0.72)]
    else:
        cells = [
            ("Patient name", format_person_name(patient.name) or "not recorded", 0.30),
            ("Patient ID", patient.patient_id or "not recorded", 0.20),
            ("Birth date", format_dicom_date(patient.birth_date) or "n/a", 0.17),
            ("Sex", {"F": "Female", "M": "Male", "O": "Other"}.get(patient.sex.strip().upper(),
                                                                  patient.sex or "n/a"), 0.13),
            ("Study date", format_dicom_date(patient.study_date) or "n/a", 0.20),
        ]
    cx = x0 + 10
    for label, value, frac in cells:
        w = (cw - 20) * frac
        pdf.text(cx, top + 6, label.upper(), size=6.5, bold=True, color=MUTED)
        font = pdf.value_font(value, bold=True)
        pdf.text(cx, top + 17, pdf.fit(value, w - 8, 10, font), size=10, bold=True, font=font)
        cx += w
    top += ph + 12

    # ---- result banner ----------------------------------------------------------------
    key = _band_key(result)
    label, chip, chip_ink = BAND_STYLE[key]
    bh = 58.0
    chip_w = 150.0
    pdf.rect(x0, top, chip_w, bh, fill=chip, radius=5)
    pdf.text(x0 + chip_w / 2, top + 10, "RISK BAND" if key in ("low", "intermediate", "high")
             else "RESULT", size=7.5, bold=True, color=chip_ink, align="center")
    pdf.text(x0 + chip_w / 2, top + 24, label, size=16 if len(label) < 13 else 13, bold=True,
             color=chip_ink, align="center")
    rx = x0 + chip_w + 16
    rw = x1 - rx
    op = result.operating_point or {}
    if result.risk is not None and math.isfinite(float(result.risk)):
        risk = float(result.risk)
        pdf.text(rx, top + 2, "Osteoporosis risk score", size=8, bold=True, color=MUTED)
        pdf.text(rx, top + 13, f"{risk:.2f}", size=20, bold=True)
        pdf.text(rx + 52, top + 21, f"({_fmt_pct(risk)} model probability; scale 0 to 1)",
                 size=8.5, color=MUTED)
        bar_w = min(rw - 150.0, 250.0)
        _draw_score_bar(pdf, rx, top + 40, bar_w, risk, op.get("threshold"))
        ox = rx + bar_w + 20
        ow = x1 - ox
        name = str(op.get("name") or "n/a").replace("_", " ")
        pdf.text(ox, top + 2, "Operating point", size=8, bold=True, color=MUTED)
        lines = [("Name", pdf.fit(name, ow - 56, 9, "Helvetica-Bold")),
                 ("Threshold", _fmt_num(op.get("threshold"))),
                 ("Sensitivity", _fmt_pct(op.get("sensitivity"))),
                 ("Specificity", _fmt_pct(op.get("specificity")))]
        for i, (k, v) in enumerate(lines):
            pdf.text(ox, top + 13 + i * 11, k, size=8.5, color=MUTED)
            pdf.text(ox + 56, top + 13 + i * 11, v, size=9, bold=True)
    else:
        why = ("the image could not be assessed" if not result.assessable
               else "no risk model was loaded: cortical measurements only")
        pdf.text(rx, top + 2, "Osteoporosis risk score", size=8, bold=True, color=MUTED)
        pdf.text(rx, top + 14, "not available", size=16, bold=True, color=MUTED)
        pdf.text(rx, top + 36, why, size=9, color=MUTED)
    top += bh + 14

    # ---- images -----------------------------------------------------------------------
    top = _draw_images(pdf, result, radiograph, x0, top, cw, anonymize)

    # ---- findings: Klemetti + MCW -----------------------------------------------------
    col_gap = 18.0
    colw = (cw - col_gap) / 2
    lx, rx2 = x0, x0 + colw + col_gap
    t_left = pdf.section(lx, top, "Klemetti cortical index (hint)")
    probs = result.klemetti_probabilities or {}
    if result.klemetti_class:
        ptxt = ", ".join(f"{k} {_fmt_pct(v)}" for k, v in sorted(probs.items()))
        rows = [("Model", f"{result.klemetti_class}" + (f"  ({ptxt})" if ptxt else ""))]
    else:
        rows = [("Model", "n/a (no model)")]
    rows.append(("Rule-based", result.klemetti_rule or "n/a"))
    agree = ("yes" if result.klemetti_agree else "no - review the cortex visually") \
        if result.klemetti_agree is not None else "n/a"
    rows.append(("Agreement", agree))
    for i, (k, v) in enumerate(rows):
        pdf.text(lx, t_left + i * 12, k, size=8.5, color=MUTED)
        pdf.text(lx + 62, t_left + i * 12, pdf.fit(v, colw - 62, 9, "Helvetica-Bold"), size=9,
                 bold=True)
    t_left += len(rows) * 12 + 3
    shown = result.klemetti_class or result.klemetti_rule
    if shown in KLEMETTI_DEFINITIONS:
        t_left += pdf.para(lx, t_left, colw, escape(KLEMETTI_DEFINITIONS[shown]), size=7.5,
                           color=MUTED)

    t_right = pdf.section(rx2, top, "Mandibular cortical width (MCW)")
    mrows = []
    for side, mcw in (("Patient right", result.mcw_right_mm), ("Patient left", result.mcw_left_mm)):
        mtxt = _fmt_num(mcw, 1, "mm")
        if mcw is not None and mtxt != "n/a" and float(mcw) < MCW_REFERRAL_MM:
            mtxt += f"  (below {MCW_REFERRAL_MM:g} mm)"
        mrows.append((side, mtxt))
    sp = _fmt_num(result.pixel_spacing_mm, 3, "mm/pixel")
    mrows.append(("Pixel spacing", sp + ("  (ASSUMED)" if result.assumed_spacing else
                                          f"  ({radiograph.pixel_spacing_source})"
                                          if radiograph.pixel_spacing_source not in ("", "none")
                                          else "")))
    for i, (k, v) in enumerate(mrows):
        pdf.text(rx2, t_right + i * 12, k, size=8.5, color=MUTED)
        pdf.text(rx2 + 68, t_right + i * 12, pdf.fit(v, colw - 68, 9, "Helvetica-Bold"), size=9,
                 bold=True)
    t_right += len(mrows) * 12 + 3
    note = (f"Measured below the mental foramen, perpendicular to the inferior border. Widths "
            f"under about {MCW_REFERRAL_MM:g} mm are a common referral threshold.")
    if result.assumed_spacing:
        note = ("The file has no pixel-size calibration: a default spacing was assumed, so the "
                "mm values are approximate. ") + note
    t_right += pdf.para(rx2, t_right, colw, escape(note), size=7.5, color=MUTED)
    top = max(t_left, t_right) + 10

    # ---- footer (fixed at the bottom) -----------------------------------------------------
    footer_top = _draw_footer(pdf, result, model_card, x0, x1, page_h - m, draw=False)

    # ---- what it means / next step -------------------------------------------------------
    meaning, step = next_step_text(result)
    if anonymize:
        meaning = scrub_text(meaning, radiograph, patient)
    inner = cw - 24
    h1 = pdf.para(0, 0, inner, escape(meaning), size=9, draw=False)
    h2 = pdf.para(0, 0, inner, "<b>Suggested next step:</b> " + escape(step), size=9, draw=False)
    box_h = 8 + 12 + h1 + 5 + h2 + 8
    pdf.rect(x0, top, cw, box_h, fill=PANEL, radius=3)
    pdf.rect(x0, top, 4, box_h, fill=chip)
    t = pdf.section(x0 + 14, top + 8, "What it means")
    t += pdf.para(x0 + 14, t, inner, escape(meaning), size=9) + 5
    pdf.para(x0 + 14, t, inner, "<b>Suggested next step:</b> " + escape(step), size=9)
    top += box_h + 12

    # ---- warnings -----------------------------------------------------------------------
    warns = [w for w in result.warnings if w]
    if anonymize:
        warns = [scrub_text(w, radiograph, patient) for w in warns]
    if warns:
        avail = footer_top - 8 - top
        t = pdf.section(x0, top, f"Warnings ({len(warns)})")
        used = 12.0
        for i, msg in enumerate(warns):
            h = pdf.para(0, 0, cw - 10, escape(msg), size=8, draw=False)
            remaining = len(warns) - i
            if used + h + (11 if remaining > 1 else 0) > avail:
                pdf.text(x0, t, f"... and {remaining} more warning(s): see the screening history.",
                         size=8, color=MUTED)
                break
            pdf.c.setFillColorRGB(*MUTED)
            pdf.c.circle(x0 + 3, pdf.y(t) - 4.2, 1.4, stroke=0, fill=1)
            pdf.para(x0 + 10, t, cw - 10, escape(msg), size=8)
            t += h + 2
            used += h + 2

    _draw_footer(pdf, result, model_card, x0, x1, page_h - m, draw=True)


def _draw_logo(pdf: _Pdf, path: Path, x: float, top: float, size: float) -> float:
    """Draw the clinic logo inside a size x size box; returns the width used (0 if none)."""
    from reportlab.lib.utils import ImageReader

    try:
        img = ImageReader(str(path))
        iw, ih = img.getSize()
    except Exception:  # noqa: BLE001 - a broken logo must not stop the report
        log.warning("clinic logo %s unreadable; report without logo", path.name)
        return 0.0
    s = min(size / iw, size / ih)
    w, h = iw * s, ih * s
    pdf.c.drawImage(img, x, pdf.y(top) - h, w, h, mask="auto")
    return w


def _draw_score_bar(pdf: _Pdf, x: float, top: float, w: float, risk: float,
                    threshold: Any) -> None:
    """A 0..1 bar with the score marker and the operating threshold tick."""
    c = pdf.c
    n = 60
    for i in range(n):  # green -> amber -> red ramp
        t = i / (n - 1)
        r, g, b = (0.18 + 1.6 * t * 0.5, 0.62 - 0.2 * t, 0.25 - 0.1 * t) if t < 0.5 else (
            0.96 - 0.36 * (t - 0.5), 0.66 - 0.9 * (t - 0.5), 0.10 + 0.1 * (t - 0.5))
        c.setFillColorRGB(min(r, 1), max(g, 0), max(b, 0))
        c.rect(x + w * i / n, pdf.y(top) - 5, w / n + 0.3, 5, stroke=0, fill=1)
    pos = x + w * min(max(risk, 0.0), 1.0)
    c.setFillColorRGB(*INK)
    p = c.beginPath()
    p.moveTo(pos, pdf.y(top) - 6)
    p.lineTo(pos - 4, pdf.y(top) - 13)
    p.lineTo(pos + 4, pdf.y(top) - 13)
    p.close()
    c.drawPath(p, stroke=0, fill=1)
    try:
        th = float(threshold)
    except (TypeError, ValueError):
        th = float("nan")
    if math.isfinite(th) and 0.0 <= th <= 1.0:
        tx = x + w * th
        c.setStrokeColorRGB(*INK)
        c.setLineWidth(1.0)
        c.line(tx, pdf.y(top) + 2, tx, pdf.y(top) - 7)
        pdf.text(tx, top - 10, "threshold", size=6, color=MUTED, align="center")
    pdf.text(x, top + 8, "0", size=6.5, color=MUTED)
    pdf.text(x + w, top + 8, "1", size=6.5, color=MUTED, align="right")


def _draw_images(pdf: _Pdf, result: ScreeningResult, radiograph: Radiograph, x0: float,
                 top: float, cw: float, anonymize: bool = False) -> float:
    """Radiograph thumbnail with overlays (left) and ROI + Grad-CAM (right); returns new top."""
    c = pdf.c
    gap = 16.0
    left_w = cw * 0.60
    right_w = cw - left_w - gap
    box_h = 176.0
    t0 = pdf.section(x0, top, "Radiograph")
    pdf.section(x0 + left_w + gap, top, "Region of interest - model attention")
    img_top = t0

    pixels = np.asarray(radiograph.pixels)
    H, W = pixels.shape[:2]
    # radiograph thumbnail (rendered at ~2.5 px per point for print sharpness)
    scale_pts = min(left_w / W, box_h / H)
    dw, dh = W * scale_pts, H * scale_pts
    rgb, _ = _thumbnail(pixels, int(dw * 2.5), int(dh * 2.5))
    ix, iy = x0 + (left_w - dw) / 2, img_top
    pdf.rect(x0, img_top, left_w, box_h, fill=(0.08, 0.08, 0.09))
    ix = x0 + (left_w - dw) / 2
    iy = img_top + (box_h - dh) / 2
    c.drawImage(_image_reader(rgb, jpeg=True), ix, pdf.y(iy) - dh, dw, dh)

    def P(px: float, py: float) -> tuple[float, float]:
        return ix + px * scale_pts, pdf.y(iy) - py * scale_pts

    # patient side labels: patient's right is the image-left half
    pdf.text(x0 + 5, img_top + 4, "R", size=9, bold=True, color=(1, 1, 1))
    pdf.text(x0 + left_w - 5, img_top + 4, "L", size=9, bold=True, color=(1, 1, 1), align="right")
    c.setLineWidth(1.1)
    for poly, col in ((result.border_right, (0.20, 0.85, 0.95)), (result.border_left, (0.20, 0.85, 0.95))):
        if poly and len(poly) >= 2:
            c.setStrokeColorRGB(*col)
            path = c.beginPath()
            path.moveTo(*P(*poly[0]))
            for q in poly[1:]:
                path.lineTo(*P(*q))
            c.drawPath(path, stroke=1, fill=0)
    if result.roi is not None:
        b = result.roi
        bx, by = P(b.x, b.y)
        c.setStrokeColorRGB(1.0, 0.84, 0.0)
        c.setLineWidth(1.3)
        c.rect(bx, by - b.h * scale_pts, b.w * scale_pts, b.h * scale_pts, stroke=1, fill=0)
    if result.landmarks:
        c.setStrokeColorRGB(1.0, 0.84, 0.0)
        c.setFillColorRGB(1.0, 0.84, 0.0)
        for _name, (lx, ly) in result.landmarks.items():
            px, py = P(lx, ly)
            c.circle(px, py, 2.2, stroke=1, fill=1)
    cap = ("Yellow: region of interest" if result.roi is not None else
           "Yellow: landmarks" if result.landmarks else "No ROI")
    if result.border_right or result.border_left:
        cap += "; cyan: traced inferior border of the mandible"
    cap += ". R/L = patient's right/left."
    if anonymize:
        cap += " Text burned into the image itself is not removed."
    cap_h = pdf.para(x0, img_top + box_h + 3, left_w, escape(cap), size=7, color=MUTED)

    # ROI crop with Grad-CAM
    rx = x0 + left_w + gap
    pdf.rect(rx, img_top, right_w, box_h, fill=(0.08, 0.08, 0.09))
    crop_box = _roi_for_crop(result, (H, W))
    bar_w = 8.0
    avail_w = right_w - bar_w - 44
    if crop_box is None:
        pdf.text(rx + right_w / 2, img_top + box_h / 2 - 5, "no region of interest", size=9,
                 color=(0.8, 0.8, 0.8), align="center")
        caption = "No ROI was available."
    else:
        roi_b = crop_box
        # show the ROI in context: widen the view to the panel's aspect (at most 3x the ROI)
        panel_h = box_h - 16
        aspect = avail_w / panel_h
        vw, vh = float(roi_b.w), float(roi_b.h)
        if vw / vh > aspect:
            vh = min(vw / aspect, vh * 3.0)
        else:
            vw = min(vh * aspect, vw * 3.0)
        ccx, ccy = roi_b.x + roi_b.w / 2.0, roi_b.y + roi_b.h / 2.0
        b = RoiBox(int(round(ccx - vw / 2)), int(round(ccy - vh / 2)), max(1, int(round(vw))),
                   max(1, int(round(vh))))
        b = RoiBox(max(0, b.x), max(0, b.y), b.w, b.h).clipped(W, H)
        g = pixels[b.y : b.y + b.h, b.x : b.x + b.w]
        if g.ndim == 3:
            g = g.mean(axis=2)
        heat = result.heatmap
        has_heat = heat is not None and np.asarray(heat).shape[:2] == (H, W)
        if has_heat:
            hc = np.asarray(heat, dtype=np.float32)[b.y : b.y + b.h, b.x : b.x + b.w]
            rgb_crop = blend(np.asarray(g, dtype=np.float32), np.clip(hc, 0, 1), alpha=0.45)
        else:
            rgb_crop = gray_to_rgb(np.asarray(g, dtype=np.float32))
        s = min(avail_w / b.w, panel_h / b.h)
        cw_, ch_ = b.w * s, b.h * s
        small = rgb_crop
        if b.w > cw_ * 3:  # keep the embedded image near print resolution
            import cv2

            small = cv2.resize(rgb_crop, (int(cw_ * 3), int(ch_ * 3)), interpolation=cv2.INTER_AREA)
        cx_ = rx + 8 + (avail_w - cw_) / 2
        cy_ = img_top + (box_h - ch_) / 2
        c.drawImage(_image_reader(small), cx_, pdf.y(cy_) - ch_, cw_, ch_)

        def Q(px: float, py: float) -> tuple[float, float]:
            return cx_ + (px - b.x) * s, pdf.y(cy_) - (py - b.y) * s

        c.saveState()
        clip = c.beginPath()
        clip.rect(cx_, pdf.y(cy_) - ch_, cw_, ch_)
        c.clipPath(clip, stroke=0, fill=0)
        c.setLineWidth(0.9)
        c.setStrokeColorRGB(0.20, 0.85, 0.95)
        for poly in (result.border_right, result.border_left):
            inside = [q for q in poly or [] if b.x - 50 <= q[0] <= b.x + b.w + 50]
            if len(inside) >= 2:
                path = c.beginPath()
                path.moveTo(*Q(*inside[0]))
                for q in inside[1:]:
                    path.lineTo(*Q(*q))
                c.drawPath(path, stroke=1, fill=0)
        if (roi_b.w, roi_b.h) != (b.w, b.h):
            c.setStrokeColorRGB(1.0, 0.84, 0.0)
            c.setDash(3, 2)
            qx, qy = Q(roi_b.x, roi_b.y)
            c.rect(qx, qy - roi_b.h * s, roi_b.w * s, roi_b.h * s, stroke=1, fill=0)
        c.restoreState()
        # colour bar
        bx_ = rx + right_w - bar_w - 14
        bar_h = box_h - 36
        by_ = img_top + 18
        if has_heat:
            c.drawImage(_image_reader(colorbar(128, 8)), bx_, pdf.y(by_) - bar_h, bar_w, bar_h)
            pdf.text(bx_ + bar_w / 2, by_ - 11, "high", size=6.5, color=(0.85, 0.85, 0.85),
                     align="center")
            pdf.text(bx_ + bar_w / 2, by_ + bar_h + 3, "low", size=6.5, color=(0.85, 0.85, 0.85),
                     align="center")
            caption = "Colour: where the model looked (Grad-CAM); not a map of disease."
        else:
            pdf.text(bx_ + bar_w / 2, by_ + bar_h / 2, "", size=6)
            caption = ("No attention map (no model was run)." if result.model is None
                       else "Attention map not available for this report.")
        att = result.attention or {}
        if has_heat and att:
            key = next((k for k in ("near_border", "cortex", "border") if k in att), None)
            if key is not None:
                caption = (f"Colour: where the model looked (Grad-CAM), {_fmt_pct(att[key])} "
                           "of it on the cortex; not a map of disease.")
    cap_h = max(cap_h, pdf.para(rx, img_top + box_h + 3, right_w, escape(caption), size=7,
                                color=MUTED))
    return img_top + box_h + 3 + cap_h + 10


def _draw_footer(pdf: _Pdf, result: ScreeningResult, model_card: dict | None, x0: float,
                 x1: float, bottom: float, draw: bool) -> float:
    """Provenance, intended use and disclaimer, bottom-aligned; returns the footer top."""
    cw = x1 - x0
    # the phantom notice concerns the model that produced this result: none, no notice
    phantom = result.model is not None and _model_is_phantom(result, model_card)
    if result.model is not None:
        mi = result.model
        model_txt = (f"Model: {mi.name} {mi.version}".strip() + f" - sha256 {mi.sha256[:12]}"
                     + (f" - {mi.arch}" if mi.arch else ""))
    else:
        model_txt = "Model: none (no risk model loaded)"
    prov = f"{model_txt}  |  DentalOsteo {__version__}  |  device {result.device or 'n/a'}"
    legal = "<b>" + escape(INTENDED_USE) + "</b> " + escape(DISCLAIMER)
    h_legal = pdf.para(0, 0, cw, legal, size=7.5, draw=False)
    h_ph = pdf.para(0, 0, cw, escape(PHANTOM_NOTICE), size=7.5, bold=True, draw=False) if phantom else 0.0
    height = 8 + 11 + h_legal + (3 + h_ph if phantom else 0)
    top = bottom - height
    if draw:
        pdf.hline(x0, x1, top, RULE, 0.8)
        t = top + 6
        pdf.text(x0, t, pdf.fit(prov, cw, 7.5), size=7.5, color=MUTED)
        t += 11
        t += pdf.para(x0, t, cw, legal, size=7.5, color=MUTED)
        if phantom:
            pdf.para(x0, t + 3, cw, escape(PHANTOM_NOTICE), size=7.5, bold=True,
                     color=(0.70, 0.15, 0.12))
    return top
