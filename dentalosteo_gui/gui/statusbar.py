"""The status bar's permanent part: busy bar, cursor readout (px and mm with the spacing's
source), zoom, the spacing in force with its provenance (calibration profile, file, assumed),
device, the model actually used, the last screening's time.

Reads the session and the canvas; holds no state.
"""

from __future__ import annotations

from PySide6 import QtWidgets

from . import theme
from .canvas import Canvas
from .session import Session
from .wording import model_name, spacing_status


class StatusWidgets:
    """Builds the permanent status bar widgets and keeps them in step with the session."""

    def __init__(self, bar: QtWidgets.QStatusBar, session: Session, canvas: Canvas) -> None:
        self.session = session
        self.canvas = canvas
        self.busy_bar = QtWidgets.QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setMaximumHeight(12)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.hide()
        self.cursor_label = QtWidgets.QLabel("")
        self.cursor_label.setToolTip("Position under the cursor: image pixels, and millimetres with the "
                                     "pixel spacing in use (its source in brackets)")
        self.zoom_label = QtWidgets.QLabel("")
        self.zoom_label.setToolTip("Zoom: 100 % is one image pixel per screen pixel (key 1); 0 or F fits")
        self.device_label = QtWidgets.QLabel("device: –")
        self.model_label = QtWidgets.QLabel("model: loading…")
        self.timing_label = QtWidgets.QLabel("")
        self.spacing_label = QtWidgets.QLabel("")
        for w in (self.busy_bar, self.cursor_label, self.zoom_label, self.spacing_label, self.device_label,
                  self.model_label, self.timing_label):
            bar.addPermanentWidget(w)
        ev = session.events
        for sig in (ev.result, ev.engine_status, ev.mode):
            sig.connect(self.refresh_model)
        ev.busy.connect(self.refresh_busy)
        ev.engine_status.connect(self.refresh_busy)
        ev.image.connect(lambda: self.show_cursor(None))
        ev.spacing.connect(self.refresh_spacing)
        ev.image.connect(self.refresh_spacing)
        canvas.cursor_moved.connect(self.show_cursor)
        canvas.zoom_changed.connect(self.show_zoom)
        self.refresh_model()

    def refresh_busy(self) -> None:
        self.busy_bar.setVisible(self.session.busy or self.session.engine_state == "loading")

    def refresh_model(self) -> None:
        """Device, the model that produced the result (before one: the mode's model), time."""
        s = self.session
        res = s.result
        if s.engine_state == "loading":
            text, device = "model: loading…", "–"
        elif s.engine_state == "error":
            text, device = "model: failed to load", "–"
        else:
            name = model_name(res.model if res else None, s.active_card)
            kind = "landmark model" if s.mode == "landmarks" else "model"
            text = f"{kind}: {name}" if name else f"{kind}: none installed"
            device = (res.device if res is not None and res.model is not None else s.device) or "–"
        self.model_label.setText(text)
        self.device_label.setText(f"device: {'–' if device == 'none' else device}")
        t = res.timings_ms.get("total") if res is not None else None
        self.timing_label.setText(f"last: {t:.0f} ms" if t is not None else "")

    def refresh_spacing(self) -> None:
        """The spacing in force with its provenance ("calibrated: profile NAME, 0.104 mm/px,
        set 2026-12-01", "… from file", "assumed 0.1 mm/px — calibrate (Tools ▸ Ruler)")."""
        sp = self.session.spacing if self.session.radiograph is not None else None
        self.spacing_label.setText(spacing_status(sp))
        self.spacing_label.setToolTip("" if sp is None else "Pixel spacing in use: " + sp.describe())
        warn = sp is not None and sp.assumed
        self.spacing_label.setStyleSheet(f"color: {theme.WARN};" if warn else "")

    def show_cursor(self, pos: tuple[float, float] | None) -> None:
        sp = self.session.spacing
        if pos is None or self.session.radiograph is None:
            self.cursor_label.setText("")
            return
        x, y = pos
        text = f"x {x:.0f}  y {y:.0f} px"
        if sp is not None:
            text += f" · {x * sp.mm_per_px:.1f}, {y * sp.mm_per_px:.1f} mm ({sp.source})"
        self.cursor_label.setText(text)

    def show_zoom(self, factor: float | None) -> None:
        self.zoom_label.setText("" if factor is None else f"zoom {factor * 100:.0f} %")
