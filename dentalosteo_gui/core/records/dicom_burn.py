"""The picture of the Secondary Capture result object: the radiograph with the screening
burned in (OpenCV), for PACS viewers that show images but not SR or PDF.

Layout: the radiograph at its original size and geometry (so image pixels keep their
coordinates) with the Grad-CAM overlay inside the ROI, the ROI box (yellow), the traced
inferior mandibular border per side (cyan), the cortical-width measurement normals (green),
the mental foramen and the dentist's MCW (magenta, as in the report) and the patient side markers (R on the image-left half, L on the image-right half); below it
a dark text panel with the numbers, the model and "NOT A DIAGNOSIS". Text is ASCII only
(OpenCV's Hershey fonts) and holds no patient data, so the anonymised object needs no
different picture.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import __version__
from ..imaging.heatmap import blend, gray_to_rgb
from ..types import ScreeningResult
from .report_images import MAGENTA, foramen_and_dentist_marks
from .report_text import foramen_note, pmi_text, spacing_text

YELLOW = (255, 214, 0)  # ROI box (RGB)
CYAN = (51, 217, 242)  # traced border
GREEN = (80, 230, 120)  # measurement normals
WHITE = (240, 240, 240)
AMBER = (255, 176, 32)
PANEL = (22, 22, 26)
BAND_COLOURS = {"low": (90, 200, 110), "intermediate": (255, 190, 60), "high": (240, 80, 70)}

NOT_A_DIAGNOSIS = ("NOT A DIAGNOSIS: screening aid only; DXA is the reference standard; "
                   "clinical judgement prevails")


def _ascii(text: str) -> str:
    """Hershey fonts draw ASCII only."""
    table = {"\u2013": "-", "\u2014": "-", "\u00b5": "u", "\u2264": "<=", "\u2265": ">=",
             "\u00d7": "x", "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'}
    out = "".join(table.get(ch, ch) for ch in text)
    return out.encode("ascii", "replace").decode("ascii")


def _fmt(v: float | None, digits: int = 2, unit: str = "") -> str:
    return "n/a" if v is None else f"{v:.{digits}f}{unit}"


def result_lines(result: ScreeningResult) -> list[tuple[str, tuple[int, int, int]]]:
    """The text panel, one (line, RGB colour) per row."""
    lines: list[tuple[str, tuple[int, int, int]]] = [(NOT_A_DIAGNOSIS, AMBER)]
    op = result.operating_point or {}
    if result.status == "not_panoramic":
        lines.append(("Not a dental panoramic radiograph: no osteoporosis reading", WHITE))
    elif result.risk is None:
        lines.append(("Risk: not assessable (no score; see the report for the reasons)", WHITE))
    else:
        band = result.risk_level or "-"
        thr = op.get("threshold")
        where = f" at operating point {op.get('label') or op.get('name')}" if op else ""
        thr_text = f" (threshold {thr:.2f})" if isinstance(thr, int | float) else ""
        ref = {"refer": ": suggest referral", "no_referral": ": no referral suggested"}.get(
            result.referral or "", "")
        lines.append((f"Risk score {result.risk:.2f} - {band}{where}{thr_text}{ref}",
                      BAND_COLOURS.get(band, WHITE)))
    agree = ""
    if result.klemetti_class and result.klemetti_rule and result.klemetti_agree is not None:
        agree = " (agree)" if result.klemetti_agree else " (disagree)"
    lines.append((f"Klemetti hint: model {result.klemetti_class or '-'} / rule "
                  f"{result.klemetti_rule or '-'}{agree}", WHITE))
    lines += [(t, WHITE) for t in scale_lines(result)]
    m = result.model
    if m is not None:
        tail = "  trained on phantoms only: not validated" if m.source == "phantom" else ""
        lines.append((f"Model {m.name} {m.version} sha256 {m.sha256[:16]}{tail}", WHITE))
    else:
        lines.append(("No model installed: measurements only", WHITE))
    lines.append((f"DentalOsteo {__version__}   yellow: ROI   cyan: traced border   green: "
                  "MCW normals   colour: Grad-CAM attention", (170, 170, 180)))
    lines.append(("magenta ring: mental foramen (dashed: proposed, solid: placed by the dentist)   "
                  "magenta line: the dentist's MCW", (170, 170, 180)))
    return [(_ascii(t), c) for t, c in lines]


def _mcw_side(result: ScreeningResult, side: str) -> str:
    """One side's MCW as the report gives it: mm when calibrated, pixels when the spacing is
    assumed; the dentist's value first where they measured."""
    if result.spacing.assumed:
        auto, dentist = _fmt(result.mcw_px(side), 0, " px"), result.dentist_mcw_px(side)
        return auto if dentist is None else f"dentist-measured {dentist:.0f} px, automatic {auto}"
    auto = _fmt(result.mcw_left_mm if side == "left" else result.mcw_right_mm, 2, " mm")
    used, src = result.mcw_used_mm(side)
    return f"dentist-measured {used:.2f} mm, automatic {auto}" if src == "dentist" and used is not None else auto


def scale_lines(result: ScreeningResult) -> list[str]:
    """MCW per side, PMI per side (scale-free) with who placed the foramen, pixel spacing."""
    sp = result.spacing
    unit = "   (no calibration: widths in pixels)" if sp.assumed else ""
    pmi = " / ".join(f"{side} {pmi_text(result, side).removeprefix('PMI ')}" for side in ("right", "left"))
    return [f"MCW right {_mcw_side(result, 'right')} / left {_mcw_side(result, 'left')}{unit}",
            f"PMI {pmi}   ({foramen_note(result).strip().rstrip('.')})",
            f"Pixel spacing {spacing_text(sp)}"]


def _poly(img: np.ndarray, pts: Any, colour: tuple[int, int, int], t: int) -> None:
    import cv2

    if pts is None or len(pts) < 2:
        return
    arr = np.round(np.asarray(pts, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(img, [arr], False, colour, t, cv2.LINE_AA)


def render_result_image(pixels: np.ndarray, result: ScreeningResult) -> np.ndarray:
    """RGB uint8 (rows + text panel, cols, 3): the radiograph with the screening burned in."""
    import cv2

    gray = np.asarray(pixels, dtype=np.float32)
    h, w = gray.shape
    heat = result.heatmap
    if heat is not None and heat.shape == gray.shape:
        img = blend(gray, np.clip(heat, 0.0, 1.0))
    else:
        img = gray_to_rgb(gray)
    img = np.ascontiguousarray(img)
    t = max(2, int(round(min(h, w) / 300)))
    normals = (result.klemetti_evidence or {}).get("normals") or []
    for seg in normals:
        try:
            (ax, ay), (bx, by) = seg
        except (TypeError, ValueError):
            continue
        cv2.line(img, (int(round(ax)), int(round(ay))), (int(round(bx)), int(round(by))), GREEN,
                 max(1, t // 2), cv2.LINE_AA)
    _poly(img, result.border_right, CYAN, t)
    _poly(img, result.border_left, CYAN, t)
    _draw_marks(img, result, t)
    if result.roi is not None:
        r = result.roi.clipped(w, h)
        cv2.rectangle(img, (r.x, r.y), (r.x + r.w - 1, r.y + r.h - 1), YELLOW, t, cv2.LINE_AA)
    # patient side markers: the patient's right is the image-left half
    scale = max(0.6, min(h, w) / 350)
    thick = max(2, int(round(scale * 2)))
    (tw, th), _ = cv2.getTextSize("R", cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(6, th // 2)
    for text, x in (("R", pad), ("L", w - tw - pad)):
        cv2.putText(img, text, (x, th + pad), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                    thick + 3, cv2.LINE_AA)
        cv2.putText(img, text, (x, th + pad), cv2.FONT_HERSHEY_SIMPLEX, scale, WHITE, thick,
                    cv2.LINE_AA)
    return np.concatenate([img, _text_panel(result_lines(result), w)], axis=0)


def _draw_marks(img: np.ndarray, result: ScreeningResult, t: int) -> None:
    """The report's magenta marks: the mental foramen rings (dashed when proposed, solid when
    the dentist placed them) and the dentist's MCW segments."""
    import cv2

    colour = tuple(int(round(255 * v)) for v in MAGENTA)
    rings, segs = foramen_and_dentist_marks(result)
    r = max(8, int(round(min(img.shape[:2]) / 60)))
    for x, y, placed in rings:
        centre = (int(round(x)), int(round(y)))
        for start in range(0, 360, 360 if placed else 30):  # dashed: 12 arcs of 18 degrees
            cv2.ellipse(img, centre, (r, r), 0, start, start + (360 if placed else 18), colour, t, cv2.LINE_AA)
    for (ax, ay), (bx, by) in segs:
        cv2.line(img, (int(round(ax)), int(round(ay))), (int(round(bx)), int(round(by))), colour, t,
                 cv2.LINE_AA)


def _text_panel(lines: list[tuple[str, tuple[int, int, int]]], width: int) -> np.ndarray:
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    line_h = int(max(18, min(64, width / 55)))
    margin = max(6, line_h // 2)
    scale = line_h / 36.0
    thick = max(1, int(round(line_h / 18)))
    # shrink so the longest line fits the width
    widest = max(cv2.getTextSize(t, font, scale, thick)[0][0] for t, _ in lines)
    if widest > width - 2 * margin:
        scale *= (width - 2 * margin) / widest
        thick = max(1, int(round(thick * (width - 2 * margin) / widest)))
    step = max(8, int(round(line_h * max(scale * 36.0 / line_h, 0.35) * 1.25)))
    panel_h = 2 * margin + step * len(lines)
    panel = np.empty((panel_h, width, 3), np.uint8)
    panel[...] = PANEL
    y = margin + int(step * 0.8)
    for text, colour in lines:
        cv2.putText(panel, text, (margin, y), font, scale, colour, thick, cv2.LINE_AA)
        y += step
    return panel
