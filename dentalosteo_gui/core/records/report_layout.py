"""Layout of the PDF report, top to bottom: clinic header; patient block; result
banner; the pictures (:mod:`.report_images`); Klemetti and MCW findings; what it means /
suggested next step; warnings; footer (provenance, intended use, disclaimer). One page;
warnings that do not fit continue on the next (patient block, warnings, footer).

Each block is one function that draws at ``top`` (points from the top of the page) and
returns the ``top`` below it; the wording comes from :mod:`.report_text`.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from ..cards import operating_point_label, score_is_probability
from ..fusion import basis_text
from ..system import paths
from ..system.settings import Settings
from ..types import KLEMETTI_DEFINITIONS, PatientInfo, Radiograph, ScreeningResult
from .report_canvas import ACCENT, BAND_STYLE, INK, MUTED, PANEL, RULE, PdfCanvas, Rgb, draw_logo
from .report_images import draw_images
from .report_text import (
    DISCLAIMER,
    INTENDED_USE,
    PHANTOM_NOTICE,
    RISK_BANDS,
    band_key,
    fmt_pct,
    klemetti_rows,
    mcw_note,
    mcw_rows,
    model_is_phantom,
    next_step_text,
    no_risk_reason,
    operating_point_rows,
    patient_cells,
    provenance_text,
    scrub_text,
    warnings_by_importance,
)

MARGIN = 36.0  # page margin (points)


def draw_page(pdf: PdfCanvas, result: ScreeningResult, radiograph: Radiograph, *, settings: Settings,
              anonymize: bool, model_card: dict | None, case_id: str | None,
              patient: PatientInfo, page_w: float, page_h: float) -> None:
    """Every block of the report, top to bottom; the footer is measured first so that the
    warnings stop above it."""
    m = MARGIN
    x0, x1 = m, page_w - m
    cw = x1 - x0
    screened = result.status != "not_panoramic"
    top = _draw_header(pdf, settings, x0, x1, m, screened)
    top = _draw_patient_block(pdf, patient_cells(patient, anonymize, case_id), x0, cw, top)
    if not screened:  # no osteoporosis report for an image that is not a dental panoramic
        _draw_not_screened(pdf, result, radiograph, patient, anonymize, x0, cw, top)
        _draw_footer(pdf, result, model_card, x0, x1, page_h - m, draw=True)
        return
    top = _draw_result_banner(pdf, result, model_card, x0, x1, top)
    top = draw_images(pdf, result, radiograph, x0, top, cw, anonymize)
    top = _draw_findings(pdf, result, radiograph, x0, cw, top)
    footer_top = _draw_footer(pdf, result, model_card, x0, x1, page_h - m, draw=False)
    meaning, step = next_step_text(result)
    warns = warnings_by_importance(result)
    if anonymize:
        meaning = scrub_text(meaning, radiograph, patient)
        warns = [scrub_text(w, radiograph, patient) for w in warns]
    top = _draw_next_step(pdf, meaning, step, BAND_STYLE[band_key(result)][1], x0, cw, top)
    rest = _draw_warnings(pdf, warns, x0, cw, top, footer_top - 8 - top) if warns else []
    _draw_footer(pdf, result, model_card, x0, x1, page_h - m, draw=True)
    page = 1
    while rest:  # no warning is ever dropped: the rest continue on the next page(s)
        page += 1
        pdf.c.showPage()
        pdf.text(x0, m, "Osteoporosis screening report (continued)", size=11, bold=True, color=ACCENT)
        pdf.text(x1, m + 2, f"page {page}", size=8.5, color=MUTED, align="right")
        pdf.hline(x0, x1, m + 18, ACCENT, 1.2)
        top = _draw_patient_block(pdf, patient_cells(patient, anonymize, case_id), x0, cw, m + 26)
        footer_top = _draw_footer(pdf, result, model_card, x0, x1, page_h - m, draw=True)
        rest = _draw_warnings(pdf, rest, x0, cw, top, footer_top - 8 - top, first=False)


# --- header and patient ---------------------------------------------------------------


def _draw_not_screened(pdf: PdfCanvas, result: ScreeningResult, radiograph: Radiograph,
                       patient: PatientInfo, anonymize: bool, x0: float, cw: float, top: float) -> None:
    """The one-page note for an image that is not a dental panoramic: why, and what to do."""
    reasons = [w for w in result.warnings if w][:4] or ["the image is not a dental panoramic radiograph"]
    if anonymize:
        reasons = [scrub_text(w, radiograph, patient) for w in reasons]
    pdf.text(x0, top + 4, "This image could not be screened", size=16, bold=True)
    top += 30
    text = ("DentalOsteo reads the inferior cortex of the mandible on dental panoramic "
            "radiographs. This image is not one, so no risk score, cortical width or Klemetti "
            "class is given for it.")
    top += pdf.para(x0, top, cw, escape(text), size=10) + 10
    pdf.text(x0, top, "Why", size=9, bold=True, color=MUTED)
    top += 14
    for r in reasons:
        top += pdf.para(x0 + 10, top, cw - 10, escape("- " + r), size=9.5) + 4
    top += 10
    pdf.text(x0, top, "What to do", size=9, bold=True, color=MUTED)
    pdf.para(x0 + 10, top + 14, cw - 10, escape(
        "Open the patient's dental panoramic radiograph (DPR) and screen that image."), size=9.5)


def _draw_header(pdf: PdfCanvas, settings: Settings, x0: float, x1: float, top: float,
                 screened: bool = True) -> float:
    """Clinic (left), report title and generation time (right), and a rule below."""
    _draw_clinic(pdf, settings, x0, x1 - x0, top)
    _draw_title(pdf, x1, top, screened)
    top += 50
    pdf.hline(x0, x1, top, ACCENT, 1.2)
    return top + 8


def _draw_clinic(pdf: PdfCanvas, settings: Settings, x0: float, cw: float, top: float) -> None:
    """Clinic logo (or the app's own mark when no clinic is set up), name and address."""
    logo_w = 0.0
    if settings.clinic_logo:
        logo_w = draw_logo(pdf, Path(settings.clinic_logo), x0, top, 44.0)
    elif not settings.clinic_name.strip():  # no clinic set up: the app's own mark
        icon = paths.icons_dir() / "dentalosteo_128.png"
        if icon.is_file():
            logo_w = draw_logo(pdf, icon, x0, top, 36.0)
    hx = x0 + (logo_w + 10 if logo_w else 0)
    clinic = settings.clinic_name.strip() or "DentalOsteo"
    pdf.text(hx, top + 2, pdf.fit(clinic, cw * 0.5, 14, "Helvetica-Bold"), size=14, bold=True,
             font=pdf.value_font(clinic, bold=True))
    addr_lines = [ln.strip() for ln in settings.clinic_address.replace(";", "\n").splitlines() if ln.strip()]
    for i, ln in enumerate(addr_lines[:3]):
        pdf.text(hx, top + 20 + i * 10, pdf.fit(ln, cw * 0.5, 8.5), size=8.5, color=MUTED,
                 font=pdf.value_font(ln))


def _draw_title(pdf: PdfCanvas, x1: float, top: float, screened: bool = True) -> None:
    """Report title, subject and local generation time, right-aligned at ``x1``."""
    title, subject = (("Osteoporosis screening report", "Dental panoramic radiograph - mandibular cortex")
                      if screened else ("Could not be screened", "Not a dental panoramic radiograph"))
    pdf.text(x1, top + 2, title, size=13, bold=True, color=ACCENT, align="right")
    pdf.text(x1, top + 19, subject, size=8.5, color=MUTED, align="right")
    now = datetime.now().astimezone()
    tz = now.strftime("%z") or "+0000"
    pdf.text(x1, top + 30, f"Generated {now:%Y-%m-%d %H:%M} (UTC{tz[:3]}:{tz[3:]})", size=8.5,
             color=MUTED, align="right")


def _draw_patient_block(pdf: PdfCanvas, cells: list[tuple[str, str, float]], x0: float, cw: float,
                        top: float) -> float:
    """A shaded row of (label, value, width fraction) cells."""
    ph = 34.0
    pdf.rect(x0, top, cw, ph, fill=PANEL, radius=3)
    cx = x0 + 10
    for label, value, frac in cells:
        w = (cw - 20) * frac
        pdf.text(cx, top + 6, label.upper(), size=6.5, bold=True, color=MUTED)
        font = pdf.value_font(value, bold=True)
        pdf.text(cx, top + 17, pdf.fit(value, w - 8, 10, font), size=10, bold=True, font=font)
        cx += w
    return top + (ph + 12)


# --- result banner --------------------------------------------------------------------


def _draw_result_banner(pdf: PdfCanvas, result: ScreeningResult, model_card: dict | None,
                        x0: float, x1: float, top: float) -> float:
    """Band colour chip, then the risk score with its bar and operating point (or why none)."""
    bh = 58.0
    chip_w = 150.0
    _draw_band_chip(pdf, band_key(result), x0, top, chip_w, bh)
    rx = x0 + chip_w + 16
    if result.risk is not None and math.isfinite(float(result.risk)):
        _draw_risk_score(pdf, float(result.risk), result.operating_point or {}, rx, x1, top,
                         score_is_probability(model_card))
        # how the score was made (the image model alone, or fused with the measured MCW), under
        # the bar and left of the operating point
        width = min(x1 - rx - 150.0, 250.0) + 12
        for i, line in enumerate(basis_text(result.risk_basis, short=True).splitlines()):
            pdf.text(rx + 8, top + 54 + i * 8, pdf.fit(line, width, 6.5), size=6.5, color=MUTED)
    else:
        pdf.text(rx, top + 2, "Osteoporosis risk score", size=8, bold=True, color=MUTED)
        pdf.text(rx, top + 14, "not available", size=16, bold=True, color=MUTED)
        pdf.text(rx, top + 36, no_risk_reason(result), size=9, color=MUTED)
    return top + (bh + 14)


def _draw_band_chip(pdf: PdfCanvas, key: str, x0: float, top: float, chip_w: float,
                    bh: float) -> None:
    label, chip, chip_ink = BAND_STYLE[key]
    pdf.rect(x0, top, chip_w, bh, fill=chip, radius=5)
    pdf.text(x0 + chip_w / 2, top + 10, "RISK BAND" if key in RISK_BANDS
             else "RESULT", size=7.5, bold=True, color=chip_ink, align="center")
    pdf.text(x0 + chip_w / 2, top + 24, label, size=16 if len(label) < 13 else 13, bold=True,
             color=chip_ink, align="center")


def _draw_risk_score(pdf: PdfCanvas, risk: float, op: dict[str, Any], rx: float, x1: float,
                     top: float, is_probability: bool = False) -> None:
    """The score in figures and on a 0..1 bar, and the operating point beside it."""
    rw = x1 - rx
    pdf.text(rx, top + 2, "Osteoporosis risk score", size=8, bold=True, color=MUTED)
    pdf.text(rx, top + 13, f"{risk:.2f}", size=20, bold=True)
    what = (f"{fmt_pct(risk)} probability, calibrated on patients" if is_probability
            else "model score 0 to 1, not a probability")
    pdf.text(rx + 52, top + 21, f"({what})", size=8.5, color=MUTED)
    bar_w = min(rw - 150.0, 250.0)
    _draw_score_bar(pdf, rx, top + 40, bar_w, risk, op.get("threshold"))
    _draw_operating_point(pdf, op, rx + bar_w + 20, x1, top)


def _draw_operating_point(pdf: PdfCanvas, op: dict[str, Any], ox: float, x1: float,
                          top: float) -> None:
    ow = x1 - ox
    name = str(op.get("label") or operating_point_label(str(op.get("name") or "n/a")))
    pdf.text(ox, top + 2, "Operating point", size=8, bold=True, color=MUTED)
    lines = [("Name", pdf.fit(name, ow - 56, 9, "Helvetica-Bold"))] + operating_point_rows(op)
    for i, (k, v) in enumerate(lines):
        pdf.text(ox, top + 13 + i * 11, k, size=8.5, color=MUTED)
        # a long value ("held-out phantoms") steps down to a smaller size before it is cut
        size = 9.0 if pdf.fit(v, ow - 56, 9, "Helvetica-Bold") == v else 7.5
        pdf.text(ox + 56, top + 13 + i * 11, pdf.fit(v, ow - 56, size, "Helvetica-Bold"), size=size, bold=True)


def _draw_score_bar(pdf: PdfCanvas, x: float, top: float, w: float, risk: float,
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


# --- findings, next step, warnings ----------------------------------------------------


def _draw_findings(pdf: PdfCanvas, result: ScreeningResult, radiograph: Radiograph, x0: float,
                   cw: float, top: float) -> float:
    """Klemetti hint (left column) and MCW per patient side (right column)."""
    col_gap = 18.0
    colw = (cw - col_gap) / 2
    lx, rx2 = x0, x0 + colw + col_gap
    t_left = pdf.section(lx, top, "Klemetti cortical index (hint)")
    t_left = _draw_rows(pdf, lx, t_left, klemetti_rows(result), 62, colw)
    shown = result.klemetti_class or result.klemetti_rule
    if shown in KLEMETTI_DEFINITIONS:
        t_left += pdf.para(lx, t_left, colw, escape(KLEMETTI_DEFINITIONS[shown]), size=7.5,
                           color=MUTED)
    t_right = pdf.section(rx2, top, "Mandibular cortical width (MCW)")
    t_right = _draw_wrapped_rows(pdf, rx2, t_right, mcw_rows(result, radiograph), 68, colw)
    t_right += pdf.para(rx2, t_right, colw, escape(mcw_note(result)), size=7.5, color=MUTED)
    return max(t_left, t_right) + 10


def _draw_rows(pdf: PdfCanvas, x: float, top: float, rows: list[tuple[str, str]], key_w: int,
               width: float) -> float:
    """Muted labels with bold values ``key_w`` to their right, 12 pt apart."""
    for i, (k, v) in enumerate(rows):
        pdf.text(x, top + i * 12, k, size=8.5, color=MUTED)
        pdf.text(x + key_w, top + i * 12, pdf.fit(v, width - key_w, 9, "Helvetica-Bold"), size=9,
                 bold=True)
    return top + (len(rows) * 12 + 3)


def _draw_wrapped_rows(pdf: PdfCanvas, x: float, top: float, rows: list[tuple[str, str]], key_w: int,
                       width: float) -> float:
    """As :func:`_draw_rows`, but a value too long for its line wraps onto the next ones
    (the MCW block: "dentist-measured 2.8 mm; automatic 2.6 mm; PMI 0.31")."""
    t = top
    for k, v in rows:
        pdf.text(x, t, k, size=8.5, color=MUTED)
        h = pdf.para(x + key_w, t - 2, width - key_w, escape(v).replace("\n", "<br/>"), size=9, leading=11,
                     bold=True)
        t += max(12.0, h + 1)
    return t + 3


def _draw_next_step(pdf: PdfCanvas, meaning: str, step: str, chip: Rgb, x0: float, cw: float,
                    top: float) -> float:
    """Shaded box with a band-coloured edge: what it means, suggested next step."""
    inner = cw - 24
    step_markup = "<b>Suggested next step:</b> " + escape(step)
    h1 = pdf.para(0, 0, inner, escape(meaning), size=9, draw=False)
    h2 = pdf.para(0, 0, inner, step_markup, size=9, draw=False)
    box_h = 8 + 12 + h1 + 5 + h2 + 8
    pdf.rect(x0, top, cw, box_h, fill=PANEL, radius=3)
    pdf.rect(x0, top, 4, box_h, fill=chip)
    t = pdf.section(x0 + 14, top + 8, "What it means")
    t += pdf.para(x0 + 14, t, inner, escape(meaning), size=9) + 5
    pdf.para(x0 + 14, t, inner, step_markup, size=9)
    return top + (box_h + 12)


def _draw_warnings(pdf: PdfCanvas, warns: list[str], x0: float, cw: float, top: float,
                   avail: float, first: bool = True) -> list[str]:
    """Bulleted warnings in ``avail`` points; returns those that did not fit (the heading says
    they continue on the next page). A continuation page takes at least one."""
    heights = [pdf.para(0, 0, cw - 10, escape(msg), size=8, draw=False) for msg in warns]
    used, n = 12.0, 0
    while n < len(warns) and (used + heights[n] <= avail or (not first and n == 0)):
        used += heights[n] + 2
        n += 1
    title = f"Warnings ({len(warns)})" if first else "Warnings (continued)"
    if n < len(warns):
        title += f" - {len(warns) - n} more on the next page"
    t = pdf.section(x0, top, title)
    for msg, h in zip(warns[:n], heights, strict=False):
        pdf.c.setFillColorRGB(*MUTED)
        pdf.c.circle(x0 + 3, pdf.y(t) - 4.2, 1.4, stroke=0, fill=1)
        pdf.para(x0 + 10, t, cw - 10, escape(msg), size=8)
        t += h + 2
    return warns[n:]


def _draw_footer(pdf: PdfCanvas, result: ScreeningResult, model_card: dict | None, x0: float,
                 x1: float, bottom: float, draw: bool) -> float:
    """Provenance, intended use and disclaimer, bottom-aligned; returns the footer top."""
    cw = x1 - x0
    # the phantom notice concerns the model that produced this result: none, no notice
    phantom = result.model is not None and model_is_phantom(result, model_card)
    prov = provenance_text(result)
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
