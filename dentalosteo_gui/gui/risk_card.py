"""The risk card of the results panel: the score (only for an assessable image), the gauge,
the operating point, the referral at it, the other mode's reading and the status.

No number without an assessable image: when the result's status is not ``assessed`` the
gauge is greyed with no marker and says why; the card gives the reasons and what to do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.fusion import basis_text, card_for
from ..core.types import ScreeningResult
from . import theme, wording
from .session import Session

DEFAULT_BANDS = (0.3, 0.6)
CHIP_TEXT = {"not_panoramic": "NOT A PANORAMIC", "not_assessable": "NOT ASSESSABLE"}
GAUGE_NOTE = {"not_panoramic": "not a panoramic: no reading", "not_assessable": "not assessable: no score"}


def label(text: str = "", obj: str = "", wrap: bool = False, rich: bool = False) -> QtWidgets.QLabel:
    """A selectable label (object name ``obj`` for the style sheet)."""
    lab = QtWidgets.QLabel(text)
    if obj:
        lab.setObjectName(obj)
    lab.setWordWrap(wrap)
    if rich:
        lab.setTextFormat(QtCore.Qt.TextFormat.RichText)
    lab.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    return lab


def card_frame(title: str, frame: QtWidgets.QFrame | None = None) -> tuple[QtWidgets.QFrame, QtWidgets.QVBoxLayout]:
    """A titled card of the results panel (``frame``: style this one instead of a new one)."""
    frame = frame if frame is not None else QtWidgets.QFrame()
    frame.setObjectName("Card")
    lay = QtWidgets.QVBoxLayout(frame)
    lay.setContentsMargins(12, 10, 12, 12)
    lay.setSpacing(6)
    t = QtWidgets.QLabel(title.upper())
    t.setObjectName("CardTitle")
    lay.addWidget(t)
    return frame, lay


def card_bands(card: dict[str, Any] | None) -> tuple[float, float]:
    """The (low_max, high_min) risk level edges of a model card."""
    c = card or {}
    bands = c.get("bands") or (c.get("operating_points") or {}).get("bands") or {}
    return float(bands.get("low_max", DEFAULT_BANDS[0])), float(bands.get("high_min", DEFAULT_BANDS[1]))


class RiskGauge(QtWidgets.QWidget):
    """A horizontal gauge: band-coloured track, the operating-point threshold, the score
    marker; greyed with a note (and no marker) when there is no score to show."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(44)
        self.risk: float | None = None
        self.threshold: float | None = None
        self.bands = DEFAULT_BANDS
        self.note = ""

    def set_values(self, risk: float | None, threshold: float | None, bands: tuple[float, float],
                   note: str = "") -> None:
        self.risk, self.threshold, self.bands, self.note = risk, threshold, bands, note
        self.update()

    def paintEvent(self, ev: QtGui.QPaintEvent) -> None:  # noqa: N802
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        w = self.width() - 16
        x0, y0, h = 8, 14, 12
        lo, hi = self.bands
        dim = self.risk is None
        for a, b, level in ((0.0, lo, "low"), (lo, hi, "intermediate"), (hi, 1.0, "high")):
            col = QtGui.QColor(theme.risk_level_colour("none" if self.note else level))
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
        self._paint_text(p, w, x0, y0, h)
        p.end()

    def _paint_text(self, p: QtGui.QPainter, w: int, x0: int, y0: int, h: int) -> None:
        p.setPen(QtGui.QColor(theme.MUTED))
        f = p.font()
        f.setPointSizeF(max(6.5, f.pointSizeF() * 0.8))
        p.setFont(f)
        if self.note:  # no scale without a score: the note instead
            p.setPen(QtGui.QColor(theme.TEXT))
            p.drawText(QtCore.QRectF(x0, y0 - 2, w, h + 4), QtCore.Qt.AlignmentFlag.AlignCenter, self.note)
            return
        for v in (0.0, 0.5, 1.0):
            txt = f"{v:.1f}"
            adv = p.fontMetrics().horizontalAdvance(txt)
            p.drawText(QtCore.QPointF(x0 + v * w - adv * v, y0 + h + 14), txt)


class RiskCard(QtWidgets.QFrame):
    """The risk card; reads the session (``refresh``), holds no state."""

    def __init__(self, session: Session, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        _, cl = card_frame("Osteoporosis risk (screening aid)", self)
        row = QtWidgets.QHBoxLayout()
        self.risk_value = label("–", "BigValue")
        self.chip = QtWidgets.QLabel("")
        self.chip.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        row.addWidget(self.risk_value)
        row.addStretch(1)
        row.addWidget(self.chip)
        cl.addLayout(row)
        self.score_noun = label("", "Muted")
        self.gauge = RiskGauge()
        self.op_label = label("", "Muted", wrap=True, rich=True)
        self.referral_label = label("", wrap=True, rich=True)
        self.other_label = label("", wrap=True, rich=True)
        self.basis_label = label("", "Muted", wrap=True)  # how the score was made (fusion with MCW)
        self.status_label = label("", "Warning", wrap=True, rich=True)
        self.state_label = label("", "Muted", wrap=True)
        for w in (self.score_noun, self.gauge, self.basis_label, self.op_label, self.referral_label,
                  self.other_label, self.status_label, self.state_label):
            cl.addWidget(w)

    def refresh(self) -> None:
        s = self.session
        res = s.result
        card = s.active_card
        self.state_label.setText("  ".join(self._state_lines(res)))
        lines = (self.op_label, self.referral_label, self.other_label, self.status_label, self.score_noun,
                 self.basis_label)
        for lab in lines:
            lab.setText("")
        self.gauge.setToolTip("")
        self._refresh(res, card)
        for lab in (*lines, self.state_label):  # an empty line takes no room
            lab.setVisible(bool(lab.text()))

    def _refresh(self, res: ScreeningResult | None, card: dict[str, Any] | None) -> None:
        s = self.session
        if res is None:
            self.risk_value.setText("–")
            self._chip("", "none")
            self.gauge.set_values(None, None, DEFAULT_BANDS)
            return
        bands = card_bands(card_for(card, res.risk_basis))  # a fused score has the fusion's bands
        if res.status != "assessed":
            self.risk_value.setText("–")
            self._chip(CHIP_TEXT[res.status], "none")
            self.gauge.set_values(None, None, bands, GAUGE_NOTE[res.status])
            rad = s.radiograph
            self.status_label.setText(wording.status_html(res, tuple(rad.warnings) if rad else ()))
            return
        self._show_assessed(res, card, bands)

    def _show_assessed(self, res: ScreeningResult, card: dict[str, Any] | None, bands: tuple[float, float]) -> None:
        op = res.operating_point or {}
        self.gauge.set_values(res.risk, op.get("threshold") if res.risk is not None else None, bands)
        if res.risk is None:
            self.risk_value.setText("–")
            no_model = res.model is None and self.session.engine_state != "error"
            self._chip("NO MODEL INSTALLED" if no_model else "NO RISK SCORE", "none")
            return
        self.risk_value.setText(f"{res.risk:.2f}")
        level = res.risk_level or ""
        self._chip(theme.RISK_LEVEL_LABELS.get(level, level.upper()), level or "none")
        self.score_noun.setText(wording.score_noun(card))
        self.gauge.setToolTip(f"The {wording.score_noun(card)} on a 0-1 scale. Colours: low / intermediate / "
                              "high (model card); the white tick is the operating point's threshold.")
        self.op_label.setText(wording.operating_point_html(op))
        self.referral_label.setText(wording.referral_html(res, card))
        self.other_label.setText(wording.other_reading_html(res))
        self.basis_label.setText(basis_text(res.risk_basis))

    def _state_lines(self, res: ScreeningResult | None) -> list[str]:
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
        if (res is not None and res.status == "assessed" and res.risk is None and res.model is None
                and s.mode == "roi" and s.engine_state != "error"):
            state.append("No model installed: the risk score is not computed; the rule-based "
                         "Klemetti hint and MCW below still apply.")
        return state

    def _chip(self, text: str, level: str) -> None:
        self.chip.setText(text)
        self.chip.setVisible(bool(text))
        fg = "#0b0d0f" if level == "intermediate" else "#ffffff"
        self.chip.setStyleSheet(
            f"background: {theme.risk_level_colour(level)}; color: {fg}; border-radius: 10px; "
            "padding: 3px 10px; font-weight: bold; font-size: 9pt;")
