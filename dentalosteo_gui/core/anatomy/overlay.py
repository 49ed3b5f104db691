"""Overlay image: ROI box, traced border, cortex normals, landmarks and a caption."""

from __future__ import annotations

import cv2
import numpy as np

from ..types import CortexMeasurement, Landmarks, Radiograph, RoiProposal

# RGB colours
BOX = (0, 220, 0)
BORDER_R = (255, 80, 80)  # patient's right (image left)
BORDER_L = (80, 160, 255)  # patient's left (image right)
PERI = (255, 230, 0)
ENDO = (255, 0, 255)
LANDMARK = (0, 255, 255)


def _pts(poly: list[tuple[float, float]]) -> np.ndarray:
    return np.round(np.asarray(poly, dtype=np.float64).reshape(-1, 1, 2)).astype(np.int32)


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
        for side in (cortex.right, cortex.left):
            for p0, p1 in side.normals:
                cv2.line(img, (int(p0[0]), int(p0[1])), (int(p1[0]), int(p1[1])), PERI, t, cv2.LINE_AA)
                cv2.circle(img, (int(p1[0]), int(p1[1])), t + 1, ENDO, -1)
    fs = max(0.5, h / 1000.0)
    if landmarks:
        for name, (x, y) in landmarks.items():
            c = (int(round(x)), int(round(y)))
            cv2.drawMarker(img, c, LANDMARK, cv2.MARKER_CROSS, 12 * t, t + 1)
            label = name.replace("_maxillary_tuberosity", "_tuber").replace("_gonial_angle", "_gonial")
            cv2.putText(img, label, (c[0] + 6 * t, c[1] - 6 * t), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * fs,
                        LANDMARK, t, cv2.LINE_AA)
    lines = [f"ROI confidence {proposal.confidence:.2f}"]
    if cortex is not None:
        def f(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.2f} mm"

        star = " (assumed spacing)" if cortex.assumed_spacing else ""
        lines.append(f"MCW right {f(cortex.right.mcw_mm)}, left {f(cortex.left.mcw_mm)}{star}")
        lines.append(f"Klemetti rule: {cortex.klemetti_rule or 'n/a'}")
    y = int(30 * fs) + 5
    for line in lines:
        cv2.putText(img, line, (10, y), cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0), 3 * t, cv2.LINE_AA)
        cv2.putText(img, line, (10, y), cv2.FONT_HERSHEY_SIMPLEX, fs, (255, 255, 255), t, cv2.LINE_AA)
        y += int(34 * fs) + 4
    return img
