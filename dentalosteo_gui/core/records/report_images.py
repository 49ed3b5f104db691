"""The pictures of the PDF report: the radiograph thumbnail with its overlays (left panel)
and the region of interest in context with the Grad-CAM overlay and colour bar (right panel).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from ..imaging.heatmap import blend, colorbar, gray_to_rgb
from ..types import Radiograph, RoiBox, ScreeningResult
from .report_canvas import MUTED, PdfCanvas, image_reader, thumbnail
from .report_text import attention_caption, radiograph_caption

BOX_H = 176.0  # height of both picture panels (points)
GAP = 16.0  # between the panels
BAR_W = 8.0  # width of the colour bar
DARK = (0.08, 0.08, 0.09)  # panel background
CYAN = (0.20, 0.85, 0.95)  # traced borders
MAGENTA = (0.95, 0.25, 0.85)  # the mental foramen and the dentist's MCW
YELLOW = (1.0, 0.84, 0.0)  # ROI box and landmarks

ToPage = Callable[[float, float], tuple[float, float]]  # image pixels -> page points


def draw_images(pdf: PdfCanvas, result: ScreeningResult, radiograph: Radiograph, x0: float,
                top: float, cw: float, anonymize: bool = False) -> float:
    """Radiograph thumbnail with overlays (left) and ROI + Grad-CAM (right); returns new top."""
    pixels = np.asarray(radiograph.pixels)
    left_w = cw * 0.60
    right_w = cw - left_w - GAP
    rx = x0 + left_w + GAP
    img_top = pdf.section(x0, top, "Radiograph")
    pdf.section(rx, top, "Region of interest - model attention")
    cap_h = _draw_radiograph_panel(pdf, result, pixels, x0, img_top, left_w, anonymize)
    caption = _draw_roi_panel(pdf, result, pixels, rx, img_top, right_w)
    cap_h = max(cap_h, pdf.para(rx, img_top + BOX_H + 3, right_w, escape(caption), size=7,
                                color=MUTED))
    return img_top + BOX_H + 3 + cap_h + 10


def roi_for_crop(result: ScreeningResult, shape: tuple[int, int]) -> RoiBox | None:
    """The region to show in the right panel: the ROI, else the extent of the heat map."""
    h, w = shape
    if result.roi is not None:
        return result.roi.clipped(w, h)
    if result.heatmap is not None and result.heatmap.shape == (h, w):
        ys, xs = np.nonzero(result.heatmap > 0)
        if ys.size:
            return RoiBox(int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                          int(ys.max() - ys.min() + 1))
    return None


def _stroke_path(c: Any, pts: list[tuple[float, float]], to_page: ToPage) -> None:
    """Stroke the polyline ``pts`` (image pixels) with the canvas's current pen."""
    path = c.beginPath()
    path.moveTo(*to_page(*pts[0]))
    for q in pts[1:]:
        path.lineTo(*to_page(*q))
    c.drawPath(path, stroke=1, fill=0)


# --- left panel: the radiograph ------------------------------------------------------


def _draw_radiograph_panel(pdf: PdfCanvas, result: ScreeningResult, pixels: np.ndarray, x0: float,
                           img_top: float, left_w: float, anonymize: bool) -> float:
    """Thumbnail, side labels, overlays and caption; returns the caption's height."""
    to_page, scale_pts = _draw_thumbnail(pdf, pixels, x0, img_top, left_w)
    # patient side labels: patient's right is the image-left half
    pdf.text(x0 + 5, img_top + 4, "R", size=9, bold=True, color=(1, 1, 1))
    pdf.text(x0 + left_w - 5, img_top + 4, "L", size=9, bold=True, color=(1, 1, 1), align="right")
    _draw_overlays(pdf, result, to_page, scale_pts)
    cap = radiograph_caption(result, anonymize)
    return pdf.para(x0, img_top + BOX_H + 3, left_w, escape(cap), size=7, color=MUTED)


def _draw_thumbnail(pdf: PdfCanvas, pixels: np.ndarray, x0: float, img_top: float,
                    left_w: float) -> tuple[ToPage, float]:
    """The radiograph centred in its panel; returns the pixel -> page mapping and its scale."""
    H, W = pixels.shape[:2]
    # radiograph thumbnail (rendered at ~2.5 px per point for print sharpness)
    scale_pts = min(left_w / W, BOX_H / H)
    dw, dh = W * scale_pts, H * scale_pts
    rgb, _ = thumbnail(pixels, int(dw * 2.5), int(dh * 2.5))
    pdf.rect(x0, img_top, left_w, BOX_H, fill=DARK)
    ix = x0 + (left_w - dw) / 2
    iy = img_top + (BOX_H - dh) / 2
    pdf.c.drawImage(image_reader(rgb, jpeg=True), ix, pdf.y(iy) - dh, dw, dh)

    def to_page(px: float, py: float) -> tuple[float, float]:
        return ix + px * scale_pts, pdf.y(iy) - py * scale_pts

    return to_page, scale_pts


def _draw_overlays(pdf: PdfCanvas, result: ScreeningResult, to_page: ToPage,
                   scale_pts: float) -> None:
    """Traced borders (cyan), the ROI box and the landmarks (yellow) on the thumbnail."""
    c = pdf.c
    c.setLineWidth(1.1)
    for poly in (result.border_right, result.border_left):
        if poly and len(poly) >= 2:
            c.setStrokeColorRGB(*CYAN)
            _stroke_path(c, poly, to_page)
    if result.roi is not None:
        b = result.roi
        bx, by = to_page(b.x, b.y)
        c.setStrokeColorRGB(*YELLOW)
        c.setLineWidth(1.3)
        c.rect(bx, by - b.h * scale_pts, b.w * scale_pts, b.h * scale_pts, stroke=1, fill=0)
    if result.landmarks:
        c.setStrokeColorRGB(*YELLOW)
        c.setFillColorRGB(*YELLOW)
        for _name, (lx, ly) in result.landmarks.items():
            px, py = to_page(lx, ly)
            c.circle(px, py, 2.2, stroke=1, fill=1)
    draw_foramen_and_dentist(c, result, to_page)


Ring = tuple[float, float, bool]  # a foramen centre (image px) and whether the dentist placed it
Segment = tuple[tuple[float, float], tuple[float, float]]


def foramen_and_dentist_marks(result: ScreeningResult) -> tuple[list[Ring], list[Segment]]:
    """What every picture of a result draws in magenta, in image pixels: the mental foramen
    per side (x, y, placed by the dentist?) and the dentist's MCW segments. The report draws
    them with reportlab (:func:`draw_foramen_and_dentist`), the DICOM picture with OpenCV."""
    rings = [(float(p.x), float(p.y), p.source == "user") for p in (result.mental_foramen or {}).values()]
    segs = [((float(a[0]), float(a[1])), (float(b[0]), float(b[1])))
            for a, b in (result.dentist_mcw or {}).values()]
    return rings, segs


def draw_foramen_and_dentist(c: Any, result: ScreeningResult, to_page: ToPage) -> None:
    """The mental foramen per side (magenta ring; dashed when proposed, solid when the dentist
    placed it) and the dentist's MCW segment (magenta line)."""
    rings, segs = foramen_and_dentist_marks(result)
    c.saveState()
    c.setStrokeColorRGB(*MAGENTA)
    c.setLineWidth(1.0)
    for x, y, placed in rings:
        if not placed:
            c.setDash(2, 1.5)
        px, py = to_page(x, y)
        c.circle(px, py, 3.2, stroke=1, fill=0)
        c.setDash()
    c.setLineWidth(1.4)
    for a, b in segs:
        (ax, ay), (bx, by) = to_page(*a), to_page(*b)
        c.line(ax, ay, bx, by)
    c.restoreState()


# --- right panel: the region of interest ---------------------------------------------


def _draw_roi_panel(pdf: PdfCanvas, result: ScreeningResult, pixels: np.ndarray, rx: float,
                    img_top: float, right_w: float) -> str:
    """The ROI in context with the Grad-CAM overlay and colour bar; returns its caption."""
    H, W = pixels.shape[:2]
    pdf.rect(rx, img_top, right_w, BOX_H, fill=DARK)
    crop_box = roi_for_crop(result, (H, W))
    avail_w = right_w - BAR_W - 44
    if crop_box is None:
        pdf.text(rx + right_w / 2, img_top + BOX_H / 2 - 5, "no region of interest", size=9,
                 color=(0.8, 0.8, 0.8), align="center")
        return "No ROI was available."
    has_heat = _draw_crop(pdf, result, pixels, crop_box, rx + 8, img_top, avail_w)
    _draw_colour_bar(pdf, rx + right_w - BAR_W - 14, img_top + 18, has_heat)
    return attention_caption(result, has_heat)


def _context_box(roi_b: RoiBox, aspect: float, W: int, H: int) -> RoiBox:
    """The ROI widened to the panel's ``aspect`` (at most 3x the ROI), inside the image."""
    vw, vh = float(roi_b.w), float(roi_b.h)
    if vw / vh > aspect:
        vh = min(vw / aspect, vh * 3.0)
    else:
        vw = min(vh * aspect, vw * 3.0)
    ccx, ccy = roi_b.x + roi_b.w / 2.0, roi_b.y + roi_b.h / 2.0
    b = RoiBox(int(round(ccx - vw / 2)), int(round(ccy - vh / 2)), max(1, int(round(vw))),
               max(1, int(round(vh))))
    return RoiBox(max(0, b.x), max(0, b.y), b.w, b.h).clipped(W, H)


def _crop_rgb(pixels: np.ndarray, heat: np.ndarray | None, b: RoiBox) -> tuple[np.ndarray, bool]:
    """The box ``b`` as RGB, blended with the Grad-CAM map when there is one for this image."""
    g = pixels[b.y : b.y + b.h, b.x : b.x + b.w]
    if g.ndim == 3:
        g = g.mean(axis=2)
    has_heat = heat is not None and np.asarray(heat).shape[:2] == pixels.shape[:2]
    if has_heat:
        hc = np.asarray(heat, dtype=np.float32)[b.y : b.y + b.h, b.x : b.x + b.w]
        return blend(np.asarray(g, dtype=np.float32), np.clip(hc, 0, 1), alpha=0.45), True
    return gray_to_rgb(np.asarray(g, dtype=np.float32)), False


def _draw_crop(pdf: PdfCanvas, result: ScreeningResult, pixels: np.ndarray, roi_b: RoiBox,
               x: float, img_top: float, avail_w: float) -> bool:
    """The ROI in context, centred in ``avail_w`` from ``x``, with the traced borders and a
    dashed ROI outline clipped to it; returns whether a Grad-CAM map was blended in."""
    c = pdf.c
    H, W = pixels.shape[:2]
    panel_h = BOX_H - 16
    b = _context_box(roi_b, avail_w / panel_h, W, H)
    rgb_crop, has_heat = _crop_rgb(pixels, result.heatmap, b)
    s = min(avail_w / b.w, panel_h / b.h)
    cw_, ch_ = b.w * s, b.h * s
    small = rgb_crop
    if b.w > cw_ * 3:  # keep the embedded image near print resolution
        import cv2

        small = cv2.resize(rgb_crop, (int(cw_ * 3), int(ch_ * 3)), interpolation=cv2.INTER_AREA)
    cx_ = x + (avail_w - cw_) / 2
    cy_ = img_top + (BOX_H - ch_) / 2
    c.drawImage(image_reader(small), cx_, pdf.y(cy_) - ch_, cw_, ch_)

    def to_page(px: float, py: float) -> tuple[float, float]:
        return cx_ + (px - b.x) * s, pdf.y(cy_) - (py - b.y) * s

    c.saveState()
    clip = c.beginPath()
    clip.rect(cx_, pdf.y(cy_) - ch_, cw_, ch_)
    c.clipPath(clip, stroke=0, fill=0)
    _draw_crop_overlays(c, result, roi_b, b, to_page, s)
    c.restoreState()
    return has_heat


def _draw_crop_overlays(c: Any, result: ScreeningResult, roi_b: RoiBox, b: RoiBox,
                        to_page: ToPage, s: float) -> None:
    """Traced borders near the view ``b`` and, when the view is wider, the ROI (dashed)."""
    c.setLineWidth(0.9)
    c.setStrokeColorRGB(*CYAN)
    for poly in (result.border_right, result.border_left):
        inside = [q for q in poly or [] if b.x - 50 <= q[0] <= b.x + b.w + 50]
        if len(inside) >= 2:
            _stroke_path(c, inside, to_page)
    if (roi_b.w, roi_b.h) != (b.w, b.h):
        c.setStrokeColorRGB(*YELLOW)
        c.setDash(3, 2)
        qx, qy = to_page(roi_b.x, roi_b.y)
        c.rect(qx, qy - roi_b.h * s, roi_b.w * s, roi_b.h * s, stroke=1, fill=0)
        c.setDash()
    draw_foramen_and_dentist(c, result, to_page)


def _draw_colour_bar(pdf: PdfCanvas, bx: float, by: float, has_heat: bool) -> None:
    """The Grad-CAM colour bar with its high/low labels (only when a map was drawn)."""
    bar_h = BOX_H - 36
    if has_heat:
        pdf.c.drawImage(image_reader(colorbar(128, 8)), bx, pdf.y(by) - bar_h, BAR_W, bar_h)
        pdf.text(bx + BAR_W / 2, by - 11, "high", size=6.5, color=(0.85, 0.85, 0.85),
                 align="center")
        pdf.text(bx + BAR_W / 2, by + bar_h + 3, "low", size=6.5, color=(0.85, 0.85, 0.85),
                 align="center")
    else:
        pdf.text(bx + BAR_W / 2, by + bar_h / 2, "", size=6)
