"""The outcomes report PDF (issue 19): the clinic's referral figures against DXA, the MCW of
confirmed vs not confirmed patients (matplotlib), OST context, and the linked radiographs.

Small numbers stay small: a rate whose denominator is under ``min_n`` is printed as
"n too small (k/n)", never as a percentage. Patients appear only as pseudonymous case keys;
no dates, names or file names. reportlab and matplotlib are imported lazily.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ... import __version__
from ..system.atomic import atomic_write_bytes
from .outcomes_context import OST_NOTE, ost_band
from .outcomes_figures import (
    MCW_RULE,
    MCW_RULE_MM,
    MIN_N,
    Case,
    date_span,
    linked_cases,
    mcw_by_outcome,
    ost_table,
    wilson,
)
from .report_canvas import ACCENT, INK, MUTED, PANEL, RULE, PdfCanvas

log = logging.getLogger(__name__)

PAGE_W, PAGE_H = 595.28, 841.89  # A4 in points
MARGIN = 40.0
BIAS_NOTE = (
    "Only patients sent to DXA have an outcome, and they are mostly the referred ones "
    "(partial verification): sensitivity is biased upwards and specificity downwards. "
    "PPV, among referred patients who had their DXA, is the least affected figure.")


@dataclass
class ReportInput:
    """What the PDF shows (built by the ``outcomes report`` command or a caller)."""

    rows: list[dict[str, Any]]
    cases: list[Case]
    count_osteopenia: bool = False
    max_days: int = 365
    min_n: int = MIN_N
    clinic: str = ""


def rate_text(k: int, n: int, lo: float | None, hi: float | None, min_n: int = MIN_N) -> str:
    """``62% (41-79) 8/13`` (95 % CI in brackets); ``n too small (3/4)`` under ``min_n``;
    ``-`` without any."""
    if n == 0:
        return "-"
    if n < min_n or lo is None or hi is None:
        return f"n too small ({k}/{n})"
    return f"{100 * k / n:.0f}% ({100 * lo:.0f}-{100 * hi:.0f}) {k}/{n}"


class _Pages:
    """A top-down cursor over A4 pages."""

    def __init__(self, pdf: PdfCanvas, footer: str) -> None:
        self.pdf, self.footer, self.top, self.page = pdf, footer, MARGIN, 1

    def need(self, h: float) -> None:
        if self.top + h > PAGE_H - MARGIN - 20:
            self.finish_page()
            self.pdf.c.showPage()
            self.page += 1
            self.top = MARGIN

    def finish_page(self) -> None:
        self.pdf.hline(MARGIN, PAGE_W - MARGIN, PAGE_H - MARGIN - 12)
        self.pdf.text(MARGIN, PAGE_H - MARGIN - 8, self.footer, size=6.5, color=MUTED)
        self.pdf.text(PAGE_W - MARGIN, PAGE_H - MARGIN - 8, f"page {self.page}", size=6.5,
                      color=MUTED, align="right")

    def para(self, markup: str, size: float = 8.0, color: Any = INK) -> None:
        h = self.pdf.para(MARGIN, self.top, PAGE_W - 2 * MARGIN, markup, size=size, color=color,
                          draw=False)
        self.need(h)
        self.pdf.para(MARGIN, self.top, PAGE_W - 2 * MARGIN, markup, size=size, color=color)
        self.top += h + 4

    def section(self, title: str) -> None:
        self.need(40)
        self.top = self.pdf.section(MARGIN, self.top + 6, title)


def _table(pages: _Pages, header: list[str], body: list[list[str]], widths: list[float]) -> None:
    pdf = pages.pdf

    def row(cells: list[str], bold: bool, shade: bool) -> None:
        page = pages.page
        pages.need(13)
        if pages.page != page and not bold:  # continued on a new page: repeat the header
            row(header, True, False)
        if shade:
            pdf.rect(MARGIN, pages.top - 1, sum(widths), 12, fill=PANEL)
        x = MARGIN
        for cell, w in zip(cells, widths, strict=True):
            font = "Helvetica-Bold" if bold else "Helvetica"
            pdf.text(x + 2, pages.top + 1, pdf.fit(cell, w - 4, 7, font), size=7, bold=bold,
                     color=ACCENT if bold else INK)
            x += w
        pages.top += 12

    row(header, True, False)
    pdf.hline(MARGIN, MARGIN + sum(widths), pages.top)
    for i, cells in enumerate(body):
        row(cells, False, i % 2 == 1)
    pdf.hline(MARGIN, MARGIN + sum(widths), pages.top, color=RULE)
    pages.top += 6


FIGURE_TABLE_HEADER = ["model", "operating point", "profile", "screened", "referred", "with DXA",
                       "PPV (95% CI) k/n", "sensitivity", "specificity"]


def figure_table_rows(rows: list[dict[str, Any]], min_n: int = MIN_N) -> list[list[str]]:
    """The figures as text cells under :data:`FIGURE_TABLE_HEADER` (PDF and GUI)."""
    body = []
    for r in rows:
        if r["rule"] == MCW_RULE:
            who, op = "MCW rule", f"MCW < {MCW_RULE_MM:g} mm"
        elif r["rule"] == "no_model":
            who, op = "No model (no score)", "-"
        else:
            who = f"{r['model_name']} {r['model_version']}".strip()
            th = r.get("threshold")
            op = f"{r['operating_point'] or '?'} ({'?' if th is None else f'{th:.2f}'})"
        k, n_ref = r["n_referred_confirmed"], r["n_referred_with_outcome"]
        n_conf, n_out = r["n_confirmed"], r["n_with_outcome"]
        tn = n_out - n_conf - (n_ref - k)
        body.append([
            who, op, r["device_profile"], str(r["n_screened"]), str(r["n_referred"]),
            str(n_out),
            rate_text(k, n_ref, r["ppv_ci95_lo"], r["ppv_ci95_hi"], min_n),
            rate_text(k, n_conf, r["sensitivity_ci95_lo"], r["sensitivity_ci95_hi"], min_n),
            rate_text(tn, tn + n_ref - k, r["specificity_ci95_lo"], r["specificity_ci95_hi"],
                      min_n)])
    return body


def mcw_plot_png(confirmed: list[float], other: list[float], label: str) -> bytes:
    """Strip plot + box of measured MCW by DXA outcome, the 3 mm rule as a line (PNG)."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.2, 2.6), dpi=150)
    ax = fig.add_subplot(1, 1, 1)
    groups = [(f"{label} (n={len(confirmed)})", confirmed, "#c62828"),
              (f"not confirmed (n={len(other)})", other, "#2e7d32")]
    rng = np.random.default_rng(0)
    for i, (_, vals, colour) in enumerate(groups):
        if vals:
            ax.boxplot([vals], positions=[i], orientation="horizontal", widths=0.5, showfliers=False,
                       medianprops={"color": colour}, boxprops={"color": "#777777"},
                       whiskerprops={"color": "#777777"}, capprops={"color": "#777777"})
            ax.scatter(vals, i + rng.uniform(-0.18, 0.18, len(vals)), s=14, color=colour,
                       alpha=0.75, zorder=3)
    ax.axvline(MCW_RULE_MM, color="#444444", linestyle="--", linewidth=1)
    ax.text(MCW_RULE_MM, 1.45, f" {MCW_RULE_MM:g} mm rule", fontsize=7, color="#444444")
    ax.set_yticks([0, 1], [g[0] for g in groups], fontsize=8)
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlabel("measured mandibular cortical width (mean of sides), mm", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _mcw_section(pages: _Pages, inp: ReportInput) -> None:
    from reportlab.lib.utils import ImageReader

    label = "osteoporosis or osteopenia" if inp.count_osteopenia else "osteoporosis"
    yes, no = mcw_by_outcome(inp.cases, inp.count_osteopenia)
    pages.section("Measured MCW by DXA outcome")
    if min(len(yes), len(no)) < inp.min_n:
        pages.para(f"n too small for a comparison ({len(yes)} confirmed, {len(no)} not, "
                   f"fewer than {inp.min_n} in a group): the points are shown as they are.",
                   color=MUTED)
    w = PAGE_W - 2 * MARGIN
    h = w * 2.6 / 7.2
    pages.need(h)
    img = ImageReader(io.BytesIO(mcw_plot_png(yes, no, f"DXA {label}")))
    pages.pdf.c.drawImage(img, MARGIN, pages.pdf.y(pages.top) - h, w, h)
    pages.top += h + 4


def _ost_section(pages: _Pages, inp: ReportInput) -> None:
    table = ost_table(inp.cases, inp.count_osteopenia)
    pages.section("OST (clinical context beside the reading)")
    pages.para(OST_NOTE, color=MUTED)
    body = []
    for band, v in table.items():
        k, n = v["confirmed"], v["confirmed"] + v["not"]
        lo, hi = wilson(k, n) or (None, None)
        body.append([band, str(k), str(v["not"]), rate_text(k, n, lo, hi, inp.min_n)])
    _table(pages, ["OST band", "DXA confirmed", "not confirmed", "share confirmed"], body,
           [120, 90, 90, 215])


def _cases_section(pages: _Pages, inp: ReportInput) -> None:
    linked = linked_cases(inp.cases)
    pages.section(f"Radiographs with a DXA outcome ({len(linked)})")
    body = []
    for c in linked:
        assert c.link is not None
        ost = c.context.ost if c.context is not None else None
        body.append([
            c.key or "-", f"{c.model_name} {c.model_version}".strip() or "none",
            "-" if c.risk is None else f"{c.risk:.2f}",
            "yes" if c.referred else "no", "-" if c.mcw_mm is None else f"{c.mcw_mm:.1f}",
            f"{c.link.exam.lowest_t:+.1f}", c.link.exam.category, f"{c.link.days:+d}",
            "-" if ost is None else f"{ost} ({ost_band(ost)})"])
    _table(pages, ["case (pseudonym)", "model", "risk", "referred", "MCW mm", "lowest T", "DXA",
                   "days to DXA", "OST (context)"], body, [90, 55, 40, 45, 45, 50, 70, 55, 65])


def _draw(pdf: PdfCanvas, inp: ReportInput) -> None:
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %z")
    pages = _Pages(pdf, f"DentalOsteo {__version__}: figures of this installation's history; "
                        "a quality summary, not a validation study. DXA is the reference standard.")
    pdf.text(MARGIN, pages.top, "Closing the loop: screening referrals against DXA", size=15,
             bold=True)
    pages.top += 20
    first, last = date_span(inp.cases)
    n_rad = len({c.file_sha256 for c in inp.cases})
    n_pat = len({c.link.exam.key for c in inp.cases if c.link is not None})
    confirmed = "osteoporosis or osteopenia" if inp.count_osteopenia else "osteoporosis (T <= -2.5)"
    pages.para(f"{inp.clinic + '. ' if inp.clinic else ''}Generated {when}. Radiographs "
               f"{first or '-'} to {last or '-'}: {n_rad} radiograph(s); {n_pat} patient(s) with a "
               f"DXA outcome within {inp.max_days} days of the radiograph. <b>Confirmed</b> = DXA "
               f"{confirmed}. <b>Referred</b> = risk at or above the operating point's threshold "
               "stored with the screening (no score: not referred).", size=8.5)
    pages.section("Referrals against DXA")
    _table(pages, FIGURE_TABLE_HEADER, figure_table_rows(inp.rows, inp.min_n),
           [70, 62, 40, 36, 36, 36, 78, 78, 78])
    pages.para(f"MCW rule: the comparator, measured MCW (mean of the sides) under "
               f"{MCW_RULE_MM:g} mm, whatever the model. Rates with fewer than {inp.min_n} in the "
               f"denominator read \"n too small\". {BIAS_NOTE}", color=MUTED)
    _mcw_section(pages, inp)
    _ost_section(pages, inp)
    _cases_section(pages, inp)
    pages.finish_page()


def write_outcomes_pdf(inp: ReportInput, out: Path) -> Path:
    """Draw the report (A4, in memory) and write it atomically."""
    from reportlab.pdfgen import canvas as rl_canvas

    buf = io.BytesIO()
    c = rl_canvas.Canvas(buf, pagesize=(PAGE_W, PAGE_H), invariant=1)
    c.setTitle("DentalOsteo outcomes report")
    c.setAuthor("DentalOsteo")
    _draw(PdfCanvas(c, PAGE_H, None), inp)
    c.save()
    path = atomic_write_bytes(Path(out), buf.getvalue())
    log.info("outcomes report written (%d radiographs)", len({x.file_sha256 for x in inp.cases}))
    return path
