"""Drawing primitives of the PDF report: colours, a top-down wrapper over the reportlab
canvas, fonts, and images turned into something reportlab can embed.

reportlab and Pillow are imported lazily (only when a report is written).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..imaging.heatmap import gray_to_rgb

log = logging.getLogger(__name__)

Rgb = tuple[float, float, float]

# Colours (R, G, B in 0..1)
INK = (0.13, 0.15, 0.18)
MUTED = (0.42, 0.45, 0.50)
RULE = (0.80, 0.82, 0.85)
PANEL = (0.955, 0.96, 0.97)
ACCENT = (0.05, 0.33, 0.42)
BAND_STYLE: dict[str, tuple[str, Rgb, Rgb]] = {
    # band: (label, chip fill, chip text colour)
    "high": ("HIGH", (0.78, 0.16, 0.16), (1, 1, 1)),
    "intermediate": ("INTERMEDIATE", (0.96, 0.66, 0.10), (0.15, 0.10, 0.0)),
    "low": ("LOW", (0.18, 0.49, 0.20), (1, 1, 1)),
    "not_assessable": ("NOT ASSESSABLE", (0.45, 0.47, 0.50), (1, 1, 1)),
    "no_model": ("NO RISK SCORE", (0.45, 0.47, 0.50), (1, 1, 1)),
}

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


# --- canvas ----------------------------------------------------------------------------


class PdfCanvas:
    """Thin wrapper over a reportlab canvas with top-down coordinates."""

    def __init__(self, c: Any, page_h: float, unicode_font: str | None) -> None:
        self.c = c
        self.page_h = page_h
        self.ufont = unicode_font

    def y(self, top: float) -> float:
        return self.page_h - top

    def text(self, x: float, top: float, s: str, size: float = 9, bold: bool = False,
             color: Rgb = INK, align: str = "left",
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
             leading: float | None = None, color: Rgb = INK,
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

    def rect(self, x: float, top: float, w: float, h: float, fill: Rgb | None = None,
             stroke: Rgb | None = None, radius: float = 0.0,
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

    def hline(self, x0: float, x1: float, top: float, color: Rgb = RULE,
              width: float = 0.6) -> None:
        self.c.setStrokeColorRGB(*color)
        self.c.setLineWidth(width)
        self.c.line(x0, self.y(top), x1, self.y(top))

    def section(self, x: float, top: float, title: str) -> float:
        self.text(x, top, title.upper(), size=7.5, bold=True, color=ACCENT)
        return top + 12


def register_unicode_font() -> str | None:
    """Register DejaVu Sans for non-Latin names; returns its font name, or None."""
    try:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        if "DejaVuSans" in pdfmetrics.getRegisteredFontNames():
            return "DejaVuSans"
        from ..system import paths

        for font in (paths.resources_dir() / "fonts" / "DejaVuSans.ttf", DEJAVU):
            if font.exists():  # the shipped copy first: Windows/macOS have no system DejaVu
                pdfmetrics.registerFont(TTFont("DejaVuSans", str(font)))
                return "DejaVuSans"
    except Exception:  # noqa: BLE001 - a missing/broken font only degrades non-Latin names
        log.debug("no unicode font for the report", exc_info=True)
    return None


# --- images ----------------------------------------------------------------------------


def thumbnail(pixels: np.ndarray, max_w: int, max_h: int) -> tuple[np.ndarray, float]:
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


def image_reader(rgb: np.ndarray, jpeg: bool = False) -> Any:
    """An RGB uint8 array as a reportlab ImageReader (JPEG-compressed when ``jpeg``)."""
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    img = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    if jpeg:  # radiograph thumbnail: JPEG keeps the PDF small
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=88)
        buf.seek(0)
        return ImageReader(buf)
    return ImageReader(img)


def draw_logo(pdf: PdfCanvas, path: Path, x: float, top: float, size: float) -> float:
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

