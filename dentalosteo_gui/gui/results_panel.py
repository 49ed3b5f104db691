"""The results panel: risk gauge, Klemetti hint, MCW, warnings, heatmap controls, model.

Reads everything from the session (the pixel spacing too: the one the engine uses, with its
source); the only outputs are session display calls and three signals (``spacing_changed``,
``model_card_requested``, ``reset_roi_requested``) the window wires to the controller.
Its spin box and slider ignore the mouse wheel unless focused (the wheel scrolls the panel).
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.types import (
    KLEMETTI_CLASSES,
    KLEMETTI_DEFINITIONS,
    LANDMARK_NAMES,
    ScreeningResult,
)
from . import theme
from .canvas import ColorBar, short_name
from .session import Session
from .widgets import WheelGuard, guard_wheel

log = logging.getLogger(__name__)

MCW_REFERRAL_MM = 3.0  # METHODS.md: MCW under about 3 mm is a widely used referral threshold
SPACING_UNKNOWN = 0.01  # the spacing box's minimum, shown as "–": the spacing is not known yet

_PLAIN: list[tuple[str, str]] = [
    # engine phrase (lower case) -> a short plain-language lead-in (first match wins)
    ("not a panoramic", "Not a dental panoramic radiograph?"),
    ("confidence", "The box may be off the lower mandibular border: check it, move it if needed."),
    ("out of frame", "The lower mandibular border is cut off."),
    ("saturated", "Over- or under-exposed image."),
    ("contrast", "Too little contrast to judge the cortex."),
    ("pixel spacing", "MCW in mm is approximate."),
    ("no model installed", "No risk score."),
    ("disagree", "Look at the cortex yourself."),
    ("the model says", "Look at the cortex yourself."),
]


def plain_language(warning: str) -> str:
    """HTML: a bold plain-language lead-in (when one is known), then the engine's words."""
    low = warning.lower()
    body = escape(warning[:1].upper() + warning[1:])
    for key, text in _PLAIN:
        if key in low:
            return f"<b>{escape(text)}</b> {body}"
    return body


def _card(title: str) -> tuple[QtWidgets.QFrame, QtWidgets.QVBoxLayout]:
    frame = QtWidgets.QFrame()
    frame.setObjectName("Card")
    lay = QtWidgets.QVBoxLayout(frame)
    lay.setContentsMargins(12, 10, 12, 12)
    lay.setSpacing(6)
    t = QtWidgets.QLabel(title.upper())
    t.setObjectName("CardTitle")
    lay.addWidget(t)
    return frame, lay


def _label(text: str = "", obj: str = "", wrap: bool = False) -> QtWidgets.QLabel:
    lab = QtWidgets.QLabel(text)
    if obj:
        lab.setObjectName(obj)
    lab.setWordWrap(wrap)
    lab.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    return lab


def _patch_cell(name: str) -> tuple[QtWidgets.QLabel, QtWidgets.QLabel, QtWidgets.QVBoxLayout]:
    """One landmark's patch image and caption (image, caption, their layout)."""
    img = QtWidgets.QLabel()
    img.setFixedSize(64, 64)
    img.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
    img.setStyleSheet(f"background: {theme.BG}; border: 1px solid {theme.BORDER};")
    img.setToolTip(name.replace("_", " "))
    cap = _label(short_name(name), "Muted", wrap=True)
    cap.setFixedWidth(70)
    cap.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
    f = cap.font()
    f.setPointSizeF(f.pointSizeF() * 0.8)
    cap.setFont(f)
    box = QtWidgets.QVBoxLayout()
    box.addWidget(img, 0, QtCore.Qt.AlignmentFlag.AlignHCenter)
    box.addWidget(cap)
    return img, cap, box


class RiskGauge(QtWidgets.QWidget):
    """A horizontal gauge: band-coloured track, the operating-point threshold, the risk marker."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(44)
        self.risk: float | None = None
        self.threshold: float | None = None
        self.bands = (0.3, 0.6)
        self.setToolTip("Risk probability. Colours: low / intermediate / high band (model card); "
                        "the white tick is the operating point's threshold.")

    def set_values(self, risk: float | None, threshold: float | None, bands: tuple[float, float]) -> None:
        self.risk, self.threshold, self.bands = risk, threshold, bands
        self.update()

    def paintEvent(self, ev: QtGui.QPaintEvent) -> None:  # noqa: N802
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        w = self.width() - 16
        x0, y0, h = 8, 14, 12
        lo, hi = self.bands
        segs = [(0.0, lo, "low"), (lo, hi, "intermediate"), (hi, 1.0, "high")]
        dim = self.risk is None
        for a, b, level in segs:
            col = QtGui.QColor(theme.risk_level_colour(level))
            if dim:
                col.setAlpha(70)
            p.setPen(QtCore.Qt.PenStyle.NoPen)
            p.setBrush(col)
            p.drawRect(QtCore.QRectF(x0 + a * w, y0, (b - a) * w, h))
        if self.threshold is not None:
            tx = x0 + float(self.threshold) * w
            p.setPen(QtGui.QPen(QtGui.QColor("#ffffff"), 2))
            p.drawLine(QtCore.QPointF(tx, y0 - 3), QtCore.QPointF(tx, y0 + h + 3))
        if self.risk is not None:
            rx = x0 + float(np.clip(self.risk, 0, 1)) * w
            tri = QtGui.QPolygonF([QtCore.QPointF(rx, y0 - 1), QtCore.QPointF(rx - 7, y0 - 12),
                                   QtCore.QPointF(rx + 7, y0 - 12)])
            p.setPen(QtGui.QPen(QtGui.QColor("#0b0d0f"), 1))
            p.setBrush(QtGui.QColor(theme.TEXT))
            p.drawPolygon(tri)
        p.setPen(QtGui.QColor(theme.MUTED))
        f = p.font()
        f.setPointSizeF(max(6.5, f.pointSizeF() * 0.8))
        p.setFont(f)
        for v in (0.0, 0.5, 1.0):
            txt = f"{v:.1f}"
            adv = p.fontMetrics().horizontalAdvance(txt)
            p.drawText(QtCore.QPointF(x0 + v * w - adv * v, y0 + h + 14), txt)
        p.end()


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
        ev.spacing.connect(self._refresh_spacing)
        ev.roi_override.connect(self._refresh_reset_button)
        session.display.events.connect(self._sync_display)
        self.refresh()
        self._sync_display()

    # ------------------------------------------------------------------ cards
    def _build_risk(self) -> QtWidgets.QFrame:
        card, cl = _card("Osteoporosis risk (screening aid)")
        row = QtWidgets.QHBoxLayout()
        self.risk_value = _label("–", "BigValue")
        self.risk_level_chip = QtWidgets.QLabel("")
        self.risk_level_chip.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        row.addWidget(self.risk_value)
        row.addStretch(1)
        row.addWidget(self.risk_level_chip)
        cl.addLayout(row)
        self.gauge = RiskGauge()
        cl.addWidget(self.gauge)
        self.op_label = _label("", "Muted", wrap=True)
        cl.addWidget(self.op_label)
        self.state_label = _label("", "Muted", wrap=True)
        cl.addWidget(self.state_label)
        return card

    def _build_klemetti(self) -> QtWidgets.QFrame:
        card, cl = _card("Klemetti index hint")
        self.klemetti_label = _label("", wrap=True)
        self.klemetti_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        cl.addWidget(self.klemetti_label)
        self.klemetti_agree = _label("", wrap=True)
        cl.addWidget(self.klemetti_agree)
        defs = "<br>".join(escape(KLEMETTI_DEFINITIONS[c]) for c in KLEMETTI_CLASSES)
        card.setToolTip(f"<b>Klemetti classes</b><br>{defs}")
        return card

    def _build_mcw(self) -> QtWidgets.QFrame:
        card, cl = _card("Mandibular cortical width")
        grid = QtWidgets.QGridLayout()
        grid.addWidget(_label("Patient's right", "Muted"), 0, 0)
        grid.addWidget(_label("Patient's left", "Muted"), 0, 1)
        self.mcw_right = _label("–", "MidValue")
        self.mcw_left = _label("–", "MidValue")
        grid.addWidget(self.mcw_right, 1, 0)
        grid.addWidget(self.mcw_left, 1, 1)
        cl.addLayout(grid)
        self.mcw_note = _label(f"MCW under about {MCW_REFERRAL_MM:g} mm is a common referral threshold.",
                               "Muted", wrap=True)
        cl.addWidget(self.mcw_note)
        srow = QtWidgets.QHBoxLayout()
        srow.addWidget(_label("Pixel spacing", "Muted"))
        self.spacing_box = QtWidgets.QDoubleSpinBox()
        self.spacing_box.setDecimals(4)
        self.spacing_box.setRange(SPACING_UNKNOWN, 1.0)
        self.spacing_box.setSpecialValueText("–")  # shown at the minimum: not known yet
        self.spacing_box.setSingleStep(0.005)
        self.spacing_box.setSuffix(" mm/px")
        self.spacing_box.setKeyboardTracking(False)
        self.spacing_box.setToolTip("Detector pixel spacing at the mandible. Change it and press "
                                    "Apply to re-measure (the risk score does not depend on it).")
        srow.addWidget(self.spacing_box, 1)
        self.spacing_apply = QtWidgets.QPushButton("Apply")
        self.spacing_apply.clicked.connect(self._apply_spacing)
        srow.addWidget(self.spacing_apply)
        cl.addLayout(srow)
        self.spacing_source = _label("", "Muted", wrap=True)
        cl.addWidget(self.spacing_source)
        self.spacing_warning = _label("", "Warning", wrap=True)
        cl.addWidget(self.spacing_warning)
        return card

    def _build_warnings(self) -> QtWidgets.QFrame:
        self.warn_card, cl = _card("Check before you rely on it")
        self.warn_label = _label("", "Warning", wrap=True)
        self.warn_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        cl.addWidget(self.warn_label)
        return self.warn_card

    def _build_heatmap(self) -> QtWidgets.QFrame:
        s = self.session
        card, cl = _card("Where the model looked (Grad-CAM)")
        self.heat_check = QtWidgets.QCheckBox("Show heatmap  (Space)")
        self.heat_check.toggled.connect(s.set_heatmap_visible)
        cl.addWidget(self.heat_check)
        orow = QtWidgets.QHBoxLayout()
        orow.addWidget(_label("Opacity", "Muted"))
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
        self.patch_card, cl = _card("Landmark patches and attention")
        self.patch_grid = QtWidgets.QGridLayout()
        self.patch_grid.setSpacing(4)
        self.patch_labels: dict[str, tuple[QtWidgets.QLabel, QtWidgets.QLabel]] = {}
        for i, name in enumerate(LANDMARK_NAMES):
            img, cap, box = _patch_cell(name)
            self.patch_grid.addLayout(box, i // 4, i % 4)
            self.patch_labels[name] = (img, cap)
        cl.addLayout(self.patch_grid)
        self.patch_note = _label("", "Muted", wrap=True)
        cl.addWidget(self.patch_note)
        return self.patch_card

    def _build_model(self) -> QtWidgets.QFrame:
        card, cl = _card("Model")
        self.model_label = _label("", wrap=True)
        cl.addWidget(self.model_label)
        self.card_button = QtWidgets.QPushButton("Model card…")
        self.card_button.clicked.connect(self.model_card_requested.emit)
        cl.addWidget(self.card_button)
        return card

    # ------------------------------------------------------------------ actions
    def _apply_spacing(self) -> None:
        value = float(self.spacing_box.value())
        if value > SPACING_UNKNOWN:  # "–": nothing entered
            self.spacing_changed.emit(value)

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
        self._refresh_risk(res)
        self._refresh_klemetti(res)
        self._refresh_mcw(res)
        self._refresh_warnings(res)
        self._refresh_model(res)
        self._refresh_patches(res)
        self._refresh_reset_button()

    def _refresh_reset_button(self) -> None:
        s = self.session
        self.reset_roi_button.setEnabled(s.mode == "roi" and s.roi_override is not None)

    def _refresh_risk(self, res: ScreeningResult | None) -> None:
        s = self.session
        state = []
        if s.engine_state == "loading":
            state.append("Loading model…")
        elif s.engine_state == "error":
            state.append(f"Model failed to load: {s.engine_message}")
        if s.busy:
            state.append("Screening…")
        if s.radiograph is None:
            state.append("Open a panoramic radiograph (Ctrl+O) or drop one on the window.")
        if res is None:
            self.risk_value.setText("–")
            self._chip("", "none")
            self.gauge.set_values(None, None, (0.3, 0.6))
            self.op_label.setText("")
            self.state_label.setText("  ".join(state))
            return
        op = res.operating_point or {}
        card = self._card() or {}
        bands = (card.get("bands") or (card.get("operating_points") or {}).get("bands") or {})
        band_edges = (float(bands.get("low_max", 0.3)), float(bands.get("high_min", 0.6)))
        self.risk_value.setText("–" if res.risk is None else f"{res.risk:.2f}")
        if not res.assessable:
            self._chip("NOT ASSESSABLE", "none")
            state.append("Not assessable: do not rely on the values below (see the checks).")
        elif res.risk is None:
            no_model = res.model is None and s.engine_state != "error"
            self._chip("NO MODEL INSTALLED" if no_model else "NO RISK SCORE", "none")
        else:
            level = res.risk_level or ""
            self._chip(theme.RISK_LEVEL_LABELS.get(level, level.upper()), level or "none")
        if res.risk is None and res.model is None and s.mode == "roi" and s.engine_state != "error":
            state.append("No model installed: the risk score is not computed; the rule-based "
                         "Klemetti hint and MCW below still apply.")
        self.gauge.set_values(res.risk, op.get("threshold"), band_edges)
        if op:
            parts = [f"Operating point <b>{escape(str(op.get('name', '')))}</b>"]
            if op.get("threshold") is not None:
                parts.append(f"threshold {float(op['threshold']):.2f}")
            if op.get("sensitivity") is not None:
                parts.append(f"sensitivity {float(op['sensitivity']) * 100:.0f}%")
            if op.get("specificity") is not None:
                parts.append(f"specificity {float(op['specificity']) * 100:.0f}%")
            self.op_label.setText(" · ".join(parts))
        else:
            self.op_label.setText("")
        self.state_label.setText("  ".join(state))

    def _chip(self, text: str, level: str) -> None:
        self.risk_level_chip.setText(text)
        self.risk_level_chip.setVisible(bool(text))
        fg = "#0b0d0f" if level == "intermediate" else "#ffffff"
        self.risk_level_chip.setStyleSheet(
            f"background: {theme.risk_level_colour(level)}; color: {fg}; border-radius: 10px; "
            "padding: 3px 10px; font-weight: bold; font-size: 9pt;")

    def _refresh_klemetti(self, res: ScreeningResult | None) -> None:
        if res is None:
            self.klemetti_label.setText(f"<span style='color:{theme.MUTED}'>–</span>")
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
        for lab, v in ((self.mcw_right, res.mcw_right_mm if res else None),
                       (self.mcw_left, res.mcw_left_mm if res else None)):
            lab.setText("–" if v is None else f"{v:.2f} mm")
            low = v is not None and v < MCW_REFERRAL_MM
            dim = res is not None and not res.assessable
            lab.setStyleSheet(f"color: {theme.MUTED};" if dim else f"color: {theme.WARN};" if low else "")
        self._refresh_spacing()

    def _refresh_spacing(self) -> None:
        """The spacing in use (the result's, or the engine's answer before a result) and its
        source; never worked out here."""
        s = self.session
        sp = s.spacing
        self.spacing_box.blockSignals(True)
        self.spacing_box.setValue(SPACING_UNKNOWN if sp is None else sp.mm_per_px)
        self.spacing_box.blockSignals(False)
        has_image = s.radiograph is not None
        self.spacing_box.setEnabled(has_image)
        self.spacing_apply.setEnabled(has_image)
        where = "" if sp is None else sp.source + (f" ({sp.detail})" if sp.detail else "")
        self.spacing_source.setText(f"Source: {where}" if where else "")
        self.spacing_source.setToolTip("" if sp is None else sp.describe())
        if sp is not None and sp.assumed:
            self.spacing_warning.setText(
                f"⚠ Assumed spacing: the file does not say how large a pixel is, so "
                f"{sp.mm_per_px:g} mm/px is assumed and MCW in mm is approximate. "
                "Enter the detector's spacing if you know it.")
        elif sp is not None and sp.source == "user":
            self.spacing_warning.setText("Spacing entered by you.")
        else:
            self.spacing_warning.setText("")

    def _refresh_warnings(self, res: ScreeningResult | None) -> None:
        warns = list(res.warnings) if res else []
        if res is not None and not res.assessable and not warns:
            warns = ["not assessable"]
        self.warn_card.setVisible(bool(warns))
        items = "".join(f"<li>{plain_language(w)}</li>" for w in warns)
        title = "" if res is None or res.assessable else "<b>Not assessable.</b>"
        self.warn_label.setText(f"{title}<ul style='margin-left:-20px'>{items}</ul>")

    def _card(self) -> dict[str, Any] | None:
        return self.session.model_card

    def _refresh_model(self, res: ScreeningResult | None) -> None:
        s = self.session
        if res is not None and res.model is not None:
            m = res.model
            src = " · trained on synthetic phantoms" if m.source == "phantom" else ""
            self.model_label.setText(f"<b>{escape(m.name)}</b> {escape(m.version)}{src}<br>"
                                     f"<span style='color:{theme.MUTED}'>sha256 {escape(m.sha256[:16])}… · "
                                     f"ran on {escape(res.device)}</span>")
        elif s.engine_state == "loading":
            self.model_label.setText("Loading model…")
        elif s.engine_state == "error":
            self.model_label.setText(f"Model failed to load: {escape(s.engine_message)}<br>"
                                     "Rule-based measurements only.")
        elif s.engine_state == "no_model" or (res is not None and res.model is None):
            self.model_label.setText("No model installed: rule-based measurements only.")
        else:
            self.model_label.setText("")
        self.card_button.setEnabled(self._card() is not None)

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
        patches, note = landmark_patches(rad.pixels, lms, res.spacing.mm_per_px if res else None)
        attention = (res.attention if res else None) or {}
        from .canvas import _attention_for

        for name, (img, cap) in self.patch_labels.items():
            w = _attention_for(name, attention)
            cap.setText(short_name(name) + ("" if w is None else f"  {w:.2f}"))
            if name in patches:
                img.setPixmap(_gray_pixmap(patches[name]).scaled(
                    62, 62, QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                    QtCore.Qt.TransformationMode.SmoothTransformation))
            else:
                img.clear()
        self.patch_note.setText(note)


def landmark_patches(pixels: np.ndarray, landmarks: dict[str, tuple[float, float]],
                     spacing_mm: float | None) -> tuple[dict[str, np.ndarray], str]:
    """The patches the landmark model sees (core anatomy.extract_patches) by landmark name."""
    extract: Any = None
    try:
        from ..core.anatomy import extract_patches as extract
    except ImportError:
        pass
    names = [n for n in LANDMARK_NAMES if n in landmarks]
    if extract is not None and len(names) == len(LANDMARK_NAMES):
        try:
            arr = np.asarray(extract(pixels, landmarks, spacing_mm, out_size=64))
            return {n: arr[i] for i, n in enumerate(LANDMARK_NAMES)}, \
                "The 64 x 64 patches the landmark model sees; numbers are attention weights."
        except Exception as exc:  # noqa: BLE001 - a preview must never break the panel
            log.warning("patch preview failed: %s", exc)
    # Preview only: a plain square crop around each point (the model's own patches differ).
    half = int(round(5.0 / (spacing_mm or 0.1)))
    out = {}
    h, w = pixels.shape
    for n in names:
        x, y = landmarks[n]
        x0, y0 = max(0, int(x) - half), max(0, int(y) - half)
        crop = pixels[y0 : min(h, int(y) + half), x0 : min(w, int(x) + half)]
        if crop.size:
            out[n] = crop
    return out, "Preview: 10 mm squares around each point (the model's patch extractor is not installed)."


def _gray_pixmap(a: np.ndarray) -> QtGui.QPixmap:
    g = np.ascontiguousarray(np.clip(np.asarray(a, dtype=np.float32) * 255 + 0.5, 0, 255).astype(np.uint8))
    h, w = g.shape[:2]
    img = QtGui.QImage(g.data, w, h, w, QtGui.QImage.Format.Format_Grayscale8)
    return QtGui.QPixmap.fromImage(img.copy())
