"""The results panel: risk (see :mod:`.risk_card`), Klemetti hint, MCW and PMI (see
:mod:`.mcw_card`), warnings, heatmap controls, landmark patches, model.

Reads everything from the session (the pixel spacing too: the one the engine uses, with its
source; the model: the one that produced the result); the only outputs are session display
calls and three signals (``spacing_changed``, ``model_card_requested``,
``reset_roi_requested``) the window wires to the controller. Its spin box and slider ignore
the mouse wheel unless focused (the wheel scrolls the panel).
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.model_input.landmarks import crop_landmark_patches
from ..core.types import (
    KLEMETTI_CLASSES,
    KLEMETTI_DEFINITIONS,
    LANDMARK_NAMES,
    ScreeningResult,
)
from . import theme, wording
from .canvas import ColorBar, attention_for, short_name
from .mcw_card import MCW_NOTES, SPACING_UNKNOWN, McwCard
from .risk_card import RiskCard, card_frame, label
from .session import Session
from .widgets import WheelGuard, guard_wheel
from .wording import plain_language

__all__ = ["MCW_NOTES", "SPACING_UNKNOWN", "ResultsPanel", "landmark_patches", "plain_language"]

log = logging.getLogger(__name__)

PATCH_DEFAULTS = (64, 10.0)  # (out_size px, patch_mm) without a landmark model card


def _patch_cell(name: str) -> tuple[QtWidgets.QLabel, QtWidgets.QLabel, QtWidgets.QVBoxLayout]:
    """One landmark's patch image and caption (image, caption, their layout)."""
    img = QtWidgets.QLabel()
    img.setFixedSize(64, 64)
    img.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
    img.setStyleSheet(f"background: {theme.BG}; border: 1px solid {theme.BORDER};")
    img.setToolTip(name.replace("_", " "))
    cap = label(short_name(name), "Muted", wrap=True)
    cap.setFixedWidth(70)
    cap.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
    f = cap.font()
    f.setPointSizeF(f.pointSizeF() * 0.8)
    cap.setFont(f)
    box = QtWidgets.QVBoxLayout()
    box.addWidget(img, 0, QtCore.Qt.AlignmentFlag.AlignHCenter)
    box.addWidget(cap)
    return img, cap, box


class ResultsPanel(QtWidgets.QScrollArea):
    """Right-hand panel, driven by the session."""

    spacing_changed = QtCore.Signal(object)  # float mm/px, or None to use the file's/default
    model_card_requested = QtCore.Signal()
    reset_roi_requested = QtCore.Signal()

    def __init__(self, session: Session, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(372)
        self.setMaximumWidth(420)
        body = QtWidgets.QWidget()
        self.setWidget(body)
        lay = QtWidgets.QVBoxLayout(body)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(10)
        for build in (self._build_risk, self._build_klemetti, self._build_mcw, self._build_warnings,
                      self._build_heatmap, self._build_model):
            lay.addWidget(build())
        lay.insertWidget(1, self._build_patches())  # right under the risk: what the model saw
        lay.addStretch(1)
        self.wheel_guard = WheelGuard(self)
        guard_wheel(self.wheel_guard, self.spacing_box, self.opacity_slider)

        ev = session.events
        for sig in (ev.result, ev.busy, ev.engine_status, ev.mode, ev.image):
            sig.connect(self.refresh)
        ev.roi_override.connect(self._refresh_reset_button)
        session.display.events.connect(self._sync_display)
        self.refresh()
        self._sync_display()

    # ------------------------------------------------------------------ cards
    def _build_risk(self) -> QtWidgets.QFrame:
        self.risk_card = RiskCard(self.session)
        rc = self.risk_card  # its parts, by the names the window and tests use
        self.risk_value, self.risk_level_chip, self.gauge = rc.risk_value, rc.chip, rc.gauge
        self.op_label, self.referral_label, self.other_label = rc.op_label, rc.referral_label, rc.other_label
        self.status_label, self.state_label = rc.status_label, rc.state_label
        return rc

    def _build_klemetti(self) -> QtWidgets.QFrame:
        card, cl = card_frame("Klemetti index hint")
        self.klemetti_label = label("", wrap=True)
        self.klemetti_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        cl.addWidget(self.klemetti_label)
        self.klemetti_agree = label("", wrap=True)
        cl.addWidget(self.klemetti_agree)
        defs = "<br>".join(escape(KLEMETTI_DEFINITIONS[c]) for c in KLEMETTI_CLASSES)
        card.setToolTip(f"<b>Klemetti classes</b><br>{defs}")
        return card

    def _build_mcw(self) -> QtWidgets.QFrame:
        self.mcw_card = McwCard(self.session)
        mc = self.mcw_card  # its parts, by the names the window and tests use
        self.mcw_right, self.mcw_left, self.mcw_note = mc.values["right"], mc.values["left"], mc.mcw_note
        self.pmi_right, self.pmi_left = mc.pmi["right"], mc.pmi["left"]
        self.mcw_detail_right, self.mcw_detail_left = mc.details["right"], mc.details["left"]
        self.spacing_box, self.spacing_apply = mc.spacing_box, mc.spacing_apply
        self.spacing_source, self.spacing_warning = mc.spacing_source, mc.spacing_warning
        mc.spacing_changed.connect(self.spacing_changed.emit)
        return mc

    def _build_warnings(self) -> QtWidgets.QFrame:
        self.warn_card, cl = card_frame("Check before you rely on it")
        self.warn_label = label("", "Warning", wrap=True)
        self.warn_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        cl.addWidget(self.warn_label)
        return self.warn_card

    def _build_heatmap(self) -> QtWidgets.QFrame:
        s = self.session
        card, cl = card_frame("Where the model looked (Grad-CAM)")
        self.heat_check = QtWidgets.QCheckBox("Show heatmap  (Space)")
        self.heat_check.toggled.connect(s.set_heatmap_visible)
        cl.addWidget(self.heat_check)
        orow = QtWidgets.QHBoxLayout()
        orow.addWidget(label("Opacity", "Muted"))
        self.opacity_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.valueChanged.connect(lambda v: s.set_heatmap_opacity(v / 100.0))
        orow.addWidget(self.opacity_slider, 1)
        cl.addLayout(orow)
        self.colorbar = ColorBar()
        cl.addWidget(self.colorbar)
        self.borders_check = QtWidgets.QCheckBox("Traced inferior borders")
        self.borders_check.toggled.connect(lambda on: s.set_overlays(borders=on))
        self.normals_check = QtWidgets.QCheckBox("MCW measurement normals")
        self.normals_check.toggled.connect(lambda on: s.set_overlays(normals=on))
        cl.addWidget(self.borders_check)
        cl.addWidget(self.normals_check)
        self.reset_roi_button = QtWidgets.QPushButton("Reset box to proposal")
        self.reset_roi_button.clicked.connect(self.reset_roi_requested.emit)
        cl.addWidget(self.reset_roi_button)
        return card

    def _build_patches(self) -> QtWidgets.QFrame:
        self.patch_card, cl = card_frame("Landmark patches and attention")
        self.patch_grid = QtWidgets.QGridLayout()
        self.patch_grid.setSpacing(4)
        self.patch_labels: dict[str, tuple[QtWidgets.QLabel, QtWidgets.QLabel]] = {}
        for i, name in enumerate(LANDMARK_NAMES):
            img, cap, box = _patch_cell(name)
            self.patch_grid.addLayout(box, i // 4, i % 4)
            self.patch_labels[name] = (img, cap)
        cl.addLayout(self.patch_grid)
        self.patch_note = label("", "Muted", wrap=True)
        cl.addWidget(self.patch_note)
        return self.patch_card

    def _build_model(self) -> QtWidgets.QFrame:
        card, cl = card_frame("Model")
        self.model_label = label("", wrap=True)
        cl.addWidget(self.model_label)
        self.card_button = QtWidgets.QPushButton("Model card…")
        self.card_button.clicked.connect(self.model_card_requested.emit)
        cl.addWidget(self.card_button)
        return card

    # ------------------------------------------------------------------ session -> widgets
    def _sync_display(self) -> None:
        d = self.session.display
        for w, v in ((self.heat_check, d.heatmap_visible), (self.borders_check, d.show_borders),
                     (self.normals_check, d.show_normals)):
            w.blockSignals(True)
            w.setChecked(v)
            w.blockSignals(False)
        self.opacity_slider.blockSignals(True)
        self.opacity_slider.setValue(int(round(d.heatmap_opacity * 100)))
        self.opacity_slider.blockSignals(False)

    def refresh(self) -> None:
        s = self.session
        res = s.result
        self.risk_card.refresh()
        self._refresh_klemetti(res)
        self._refresh_mcw(res)
        self._refresh_warnings(res)
        self._refresh_model(res)
        self._refresh_patches(res)
        self._refresh_reset_button()

    def _refresh_reset_button(self) -> None:
        s = self.session
        self.reset_roi_button.setEnabled(s.mode == "roi" and s.roi_override is not None)

    def _refresh_klemetti(self, res: ScreeningResult | None) -> None:
        if res is None or res.status == "not_panoramic":
            text = "–" if res is None else "No reading: not a dental panoramic radiograph."
            self.klemetti_label.setText(f"<span style='color:{theme.MUTED}'>{text}</span>")
            self.klemetti_agree.setText("")
            return
        lines = []
        if res.klemetti_class:
            probs = res.klemetti_probabilities or {}
            ptxt = " ".join(f"{c} {probs.get(c, 0.0):.2f}" for c in KLEMETTI_CLASSES if c in probs)
            lines.append(f"Model: <b style='font-size:14pt'>{res.klemetti_class}</b> "
                         f"<span style='color:{theme.MUTED}'>({ptxt})</span>")
        else:
            lines.append(f"Model: <span style='color:{theme.MUTED}'>not computed</span>")
        rule = res.klemetti_rule
        lines.append(f"Cortex measurement rule: <b style='font-size:14pt'>{rule or '–'}</b>")
        why_not = ((res.klemetti_evidence or {}).get("rule") or {}).get("abstain_reason")
        if rule is None and why_not:  # the rule abstains only with its reason shown
            lines.append(f"<span style='color:{theme.MUTED}'>{escape(str(why_not))}</span>")
        shown = res.klemetti_class or rule
        if shown:
            lines.append(f"<span style='color:{theme.MUTED}'>{escape(KLEMETTI_DEFINITIONS.get(shown, ''))}</span>")
        if not res.assessable:
            lines.insert(0, f"<span style='color:{theme.WARN}'>Not assessable: treat with caution.</span>")
        self.klemetti_label.setText("<br>".join(lines))
        if res.klemetti_agree is True:
            self.klemetti_agree.setText("✓ Model and cortex measurement agree.")
            self.klemetti_agree.setStyleSheet(f"color: {theme.risk_level_colour('low')};")
        elif res.klemetti_agree is False:
            self.klemetti_agree.setText("✗ Model and cortex measurement disagree: look at the cortex yourself.")
            self.klemetti_agree.setStyleSheet(f"color: {theme.WARN};")
        else:
            self.klemetti_agree.setText("")

    def _refresh_mcw(self, res: ScreeningResult | None) -> None:
        self.mcw_card.refresh(res)

    def _refresh_warnings(self, res: ScreeningResult | None) -> None:
        warns = list(res.warnings) if res else []
        if res is not None and not res.assessable and not warns:
            warns = ["not assessable"]
        self.warn_card.setVisible(bool(warns))
        items = "".join(f"<li>{plain_language(w)}</li>" for w in warns)
        title = {"not_assessable": "<b>Not assessable.</b>",
                 "not_panoramic": "<b>Not a dental panoramic.</b>"}.get(res.status if res else "", "")
        self.warn_label.setText(f"{title}<ul style='margin-left:-20px'>{items}</ul>")

    def _refresh_model(self, res: ScreeningResult | None) -> None:
        """The model that produced the result (the landmark model's in landmark mode)."""
        s = self.session
        card = s.active_card
        if res is not None and res.model is not None:
            m = res.model
            src = " · trained on synthetic phantoms" if m.source == "phantom" else ""
            kind = "Landmark model" if res.mode == "landmarks" else "ROI model"
            self.model_label.setText(f"{kind} <b>{escape(m.name)}</b> {escape(m.version)}{src}<br>"
                                     f"<span style='color:{theme.MUTED}'>sha256 {escape(m.sha256[:16])}… · "
                                     f"ran on {escape(res.device)}</span>")
        elif res is None and card is not None:
            self.model_label.setText(f"ROI model <b>{escape(wording.model_name(card=card))}</b>")
        elif res is not None and res.mode == "landmarks" and s.engine_state in ("ready", "no_model"):
            self.model_label.setText("No landmark model installed: no risk score in landmark mode.")
        elif s.engine_state == "loading":
            self.model_label.setText("Loading model…")
        elif s.engine_state == "error":
            self.model_label.setText(f"Model failed to load: {escape(s.engine_message)}<br>"
                                     "Rule-based measurements only.")
        elif s.engine_state == "no_model" or (res is not None and res.model is None):
            self.model_label.setText("No model installed: rule-based measurements only.")
        else:
            self.model_label.setText("")
        self.card_button.setEnabled(card is not None)
        self.card_button.setText(f"Model card: {wording.model_name(card=card)}…" if card else "Model card…")

    def _refresh_patches(self, res: ScreeningResult | None) -> None:
        show = self.session.mode == "landmarks"
        self.patch_card.setVisible(show)
        if not show:
            return
        rad = self.session.radiograph
        lms = (res.landmarks if res else None) or self.session.landmarks_override
        if rad is None or not lms:
            for img, _cap in self.patch_labels.values():
                img.clear()
            self.patch_note.setText("Landmarks appear after the screening.")
            return
        scale = (res.model_scale or res.spacing) if res else self.session.spacing
        patches, note = landmark_patches(rad.pixels, lms, scale.mm_per_px if scale else None,
                                         self.session.result_card if res else None)
        attention = (res.attention if res else None) or {}
        for name, (img, cap) in self.patch_labels.items():
            w = attention_for(name, attention)
            cap.setText(short_name(name) + ("" if w is None else f"  {w:.2f}"))
            if name in patches:
                img.setPixmap(_gray_pixmap(patches[name]).scaled(
                    62, 62, QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                    QtCore.Qt.TransformationMode.SmoothTransformation))
            else:
                img.clear()
        self.patch_note.setText(note)


def landmark_input(card: dict[str, Any] | None) -> tuple[int, float] | None:
    """(out_size, patch_mm) of a landmark model's card; None for another card or none."""
    inp = (card or {}).get("input") or {}
    if (card or {}).get("mode") != "landmarks" or "patch_mm" not in inp or "height" not in inp:
        return None
    return int(inp["height"]), float(inp["patch_mm"])


def landmark_patches(pixels: np.ndarray, landmarks: dict[str, tuple[float, float]],
                     spacing_mm: float | None, card: dict[str, Any] | None = None,
                     ) -> tuple[dict[str, np.ndarray], str]:
    """The patches the landmark model sees (``crop_landmark_patches`` with its card's input
    size and patch side, at the model's input scale ``spacing_mm``) by landmark name."""
    if any(n not in landmarks for n in LANDMARK_NAMES):
        return {}, "Patches appear when all eight landmarks are placed."
    size = landmark_input(card)
    out_size, patch_mm = size or PATCH_DEFAULTS
    arr = np.asarray(crop_landmark_patches(pixels, landmarks, spacing_mm, out_size=out_size, patch_mm=patch_mm))
    if size is None:
        note = (f"No landmark model: {patch_mm:g} mm squares around each point at {out_size} x {out_size} "
                "px (the default input), for orientation.")
    else:
        note = (f"What the landmark model sees: {patch_mm:g} mm patches at {out_size} x {out_size} px; "
                "numbers are attention weights.")
    return {n: arr[i] for i, n in enumerate(LANDMARK_NAMES)}, note


def _gray_pixmap(a: np.ndarray) -> QtGui.QPixmap:
    g = np.ascontiguousarray(np.clip(np.asarray(a, dtype=np.float32) * 255 + 0.5, 0, 255).astype(np.uint8))
    h, w = g.shape[:2]
    img = QtGui.QImage(g.data, w, h, w, QtGui.QImage.Format.Format_Grayscale8)
    return QtGui.QPixmap.fromImage(img.copy())
