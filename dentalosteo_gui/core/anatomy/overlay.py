"""Overlay image: ROI box, traced border, measured cortex margins and normals, landmarks,
a caption, and a magnified inset of each side's measurement window (where the width was
taken, at a scale a dentist can check)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..types import CortexMeasurement, Landmarks, Radiograph, RoiProposal

# RGB colours
BOX = (0, 220, 0)
BORDER_R = (255, 80, 80)  # patient's right (image left)
BORDER_L = (80, 160, 255)  # patient's left (image right)
PERI = (255, 230, 0)
ENDO = (255, 0, 255)
NORMAL = (255, 230, 0)
LANDMARK = (0, 255, 255)
INSET_FRAC = 0.24  # inset width as a fraction of the image width
INSET_PAD_MM = 3.0  # context around the measured window in the inset


def _pts(poly: Any, scale: float = 1.0, off: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    a = (np.asarray(poly, dtype=np.float64).reshape(-1, 2) - np.asarray(off)) * scale
    return np.round(a.reshape(-1, 1, 2)).astype(np.int32)


def _draw_side(img: np.ndarray, side_ev: dict[str, Any], normals: list[Any], t: int,
               scale: float = 1.0, off: tuple[float, float] = (0.0, 0.0)) -> None:
    """Normals (periosteal -> endosteal), the periosteal margin and the confident endosteal
    margin of one side, in a frame magnified by ``scale`` from origin ``off``."""
    for p0, p1 in normals:
        a, b = _pts([p0, p1], scale, off).reshape(2, 2)
        cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), NORMAL, t, cv2.LINE_AA)
    margins = side_ev.get("margins_px") or {}
    if len(margins.get("periosteal", [])) >= 2:
        cv2.polylines(img, [_pts(margins["periosteal"], scale, off)], False, PERI, t, cv2.LINE_AA)
    for run in margins.get("endosteal", []):
        cv2.polylines(img, [_pts(run, scale, off)], False, ENDO, t + 1, cv2.LINE_AA)


def _inset(gray: np.ndarray, side_ev: dict[str, Any], normals: list[Any], mm: float,
           width: int) -> tuple[np.ndarray, float] | None:
    """A magnified crop around one side's measured window with its margins redrawn thin."""
    margins = side_ev.get("margins_px") or {}
    pts = list(margins.get("periosteal", [])) + [p for r in margins.get("endosteal", []) for p in r]
    if len(pts) < 2:
        return None
    arr = np.asarray(pts, dtype=np.float64)
    pad = INSET_PAD_MM / mm
    h, w = gray.shape
    x0, y0 = int(max(0, arr[:, 0].min() - pad)), int(max(0, arr[:, 1].min() - 2 * pad))
    x1, y1 = int(min(w, arr[:, 0].max() + pad)), int(min(h, arr[:, 1].max() + pad))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    crop = gray[y0:y1, x0:x1].astype(np.float32)
    lo, hi = np.percentile(crop, [1, 99.5])
    crop = np.clip((crop - lo) / max(hi - lo, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    scale = width / float(x1 - x0)
    big = cv2.resize(crop, (width, max(1, int(round((y1 - y0) * scale)))), interpolation=cv2.INTER_CUBIC)
    rgb = np.ascontiguousarray(np.repeat(big[:, :, None], 3, axis=2))
    _draw_side(rgb, side_ev, normals, 1, scale, (float(x0), float(y0)))
    return rgb, scale


def _place_insets(img: np.ndarray, rad: Radiograph, cortex: CortexMeasurement, y: int) -> None:
    h, w = img.shape[:2]
    iw = int(INSET_FRAC * w)
    for side, name, x in ((cortex.right, "right", 4), (cortex.left, "left", w - iw - 4)):
        got = _inset(rad.pixels * 255.0, cortex.evidence.get(name, {}), side.normals,
                     cortex.pixel_spacing_mm, iw)
        if got is None:
            continue
        ins, zoom = got
        ih = min(ins.shape[0], h - y - 4)
        if ih < 8:
            continue
        img[y : y + ih, x : x + iw] = ins[:ih]
        cv2.rectangle(img, (x, y), (x + iw - 1, y + ih - 1), (255, 255, 255), 1)
        cv2.putText(img, f"patient {name}, MCW window, x{zoom:.1f}",
                    (x + 4, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)


def _caption(proposal: RoiProposal, cortex: CortexMeasurement | None) -> list[str]:
    lines = [f"ROI confidence {proposal.confidence:.2f}"]
    if cortex is None:
        return lines

    def f(v: float | None, name: str) -> str:
        ff = cortex.evidence.get(name, {}).get("found_fraction")
        seen = f" (margin seen on {ff:.0%})" if isinstance(ff, (int, float)) else ""
        return ("n/a" if v is None else f"{v:.2f} mm") + seen

    star = " [assumed spacing]" if cortex.assumed_spacing else ""
    lines.append(f"MCW right {f(cortex.right.mcw_mm, 'right')}, left {f(cortex.left.mcw_mm, 'left')}{star}")
    rule = cortex.evidence.get("rule", {})
    why = rule.get("abstain_reason") if cortex.klemetti_rule is None else rule.get("why")
    text = f"Klemetti rule: {cortex.klemetti_rule or 'no grade'}" + (f" - {why}" if why else "")
    lines.append(text if len(text) <= 110 else text[:107] + "...")
    return lines


def draw_overlay(
    rad: Radiograph,
    proposal: RoiProposal,
    landmarks: Landmarks | None,
    cortex: CortexMeasurement | None,
) -> np.ndarray:
    """uint8 RGB image (same size as the radiograph) with the anatomy drawn on it."""
    h, w = rad.pixels.shape
    gray = np.clip(rad.pixels * 255.0 + 0.5, 0, 255).astype(np.uint8)
    img = np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    t = max(1, int(round(h / 400)))  # line thickness scales with the image
    b = proposal.box
    cv2.rectangle(img, (int(b.x), int(b.y)), (int(b.x + b.w), int(b.y + b.h)), BOX, t + 1)
    for poly, col in ((proposal.border_right, BORDER_R), (proposal.border_left, BORDER_L)):
        if len(poly) >= 2:
            cv2.polylines(img, [_pts(poly)], False, col, t, cv2.LINE_AA)
    if cortex is not None:
        for side, name in ((cortex.right, "right"), (cortex.left, "left")):
            _draw_side(img, cortex.evidence.get(name, {}), side.normals, max(1, t - 1))
    fs = max(0.5, h / 1000.0)
    if landmarks:
        for name, (x, y) in landmarks.items():
            c = (int(round(x)), int(round(y)))
            cv2.drawMarker(img, c, LANDMARK, cv2.MARKER_CROSS, 12 * t, t + 1)
            label = name.replace("_maxillary_tuberosity", "_tuber").replace("_gonial_angle", "_gonial")
            cv2.putText(img, label, (c[0] + 6 * t, c[1] - 6 * t), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * fs,
                        LANDMARK, t, cv2.LINE_AA)
    y = int(30 * fs) + 5
    for line in _caption(proposal, cortex):
        cv2.putText(img, line, (10, y), cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0), 3 * t, cv2.LINE_AA)
        cv2.putText(img, line, (10, y), cv2.FONT_HERSHEY_SIMPLEX, fs, (255, 255, 255), t, cv2.LINE_AA)
        y += int(34 * fs) + 4
    if cortex is not None:
        _place_insets(img, rad, cortex, y)
    return img
