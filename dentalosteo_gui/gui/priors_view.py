"""The patient's MCW over time (issue 19): one line per patient side, the 3 mm referral line,
and changes beyond the measurement's repeatability marked. Standalone widget: the main window
adds it where it wants and calls :meth:`PriorsView.load` when a patient is open."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from ..core.records.outcomes_context import (
    MCW_REPEATABILITY_MM,
    MCW_REPEATABILITY_SOURCE,
    McwChange,
    McwPoint,
    mcw_changes,
    mcw_over_time,
)
from . import theme

SIDE_COLOURS = {"right": "#4fd1c5", "left": "#63b3ed"}  # as the canvas draws the borders
FLAG_COLOUR = "#d2473d"


def _ts(d: date) -> float:
    return datetime.combine(d, time(12), tzinfo=UTC).timestamp()


class PriorsView(QtWidgets.QWidget):
    """MCW per side over time; ``screening_clicked(int)`` when a point is clicked."""

    screening_clicked = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[McwPoint] = []
        self.changes: list[McwChange] = []
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.title = QtWidgets.QLabel("Earlier screenings: mandibular cortical width")
        self.title.setStyleSheet("font-weight: 600;")
        lay.addWidget(self.title)
        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self.plot.setBackground(theme.PANEL)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("left", "MCW", units="mm")
        self.plot.addLegend(offset=(10, 10), brush=pg.mkBrush(30, 34, 39, 210))
        self.plot.setMinimumHeight(220)
        lay.addWidget(self.plot, 1)
        self.caption = QtWidgets.QLabel()
        self.caption.setWordWrap(True)
        self.caption.setObjectName("Muted")
        lay.addWidget(self.caption)
        self.set_points([], [], MCW_REPEATABILITY_MM)

    def load(self, store: Any, patient_id: str) -> None:
        """Read the patient's screenings (ID or pseudonym) from the history and show them."""
        pts = mcw_over_time(store, patient_id) if store is not None and patient_id else []
        self.set_points(pts, mcw_changes(pts), MCW_REPEATABILITY_MM)

    def set_points(self, points: list[McwPoint], changes: list[McwChange],
                   repeatability_mm: float) -> None:
        self.points, self.changes = list(points), list(changes)
        self.plot.clear()
        self.plot.addLine(y=3.0, pen=pg.mkPen(theme.MUTED, width=1, style=QtCore.Qt.PenStyle.DashLine),
                          label="3 mm", labelOpts={"color": theme.MUTED, "position": 0.05})
        for side in ("right", "left"):
            xs, ys, ids = self._series(side)
            if xs:
                item = self.plot.plot(xs, ys, pen=pg.mkPen(SIDE_COLOURS[side], width=2),
                                      symbol="o", symbolSize=8, symbolBrush=SIDE_COLOURS[side],
                                      name=f"patient's {side}")
                item.scatter.setData(x=xs, y=ys, data=ids, symbol="o", size=8,
                                     brush=SIDE_COLOURS[side])
                item.scatter.sigClicked.connect(self._clicked)
        self._mark_changes()
        self.caption.setText(self._caption(repeatability_mm))

    def _series(self, side: str) -> tuple[list[float], list[float], list[int]]:
        xs, ys, ids = [], [], []
        for p in self.points:
            v = getattr(p, f"mcw_{side}_mm")
            if v is not None:
                xs.append(_ts(p.when))
                ys.append(float(v))
                ids.append(p.screening_id)
        return xs, ys, ids

    def _mark_changes(self) -> None:
        for c in self.changes:
            p = next(p for p in self.points if p.screening_id == c.to_id)
            y = float(getattr(p, f"mcw_{c.side}_mm"))
            ring = pg.ScatterPlotItem([_ts(c.to_date)], [y], size=18, brush=None,
                                      pen=pg.mkPen(FLAG_COLOUR, width=2))
            self.plot.addItem(ring)
            label = pg.TextItem(f"{c.delta_mm:+.1f} mm{'' if c.comparable else ' (?)'}",
                                color=FLAG_COLOUR, anchor=(0.5, 1.6))
            label.setPos(_ts(c.to_date), y)
            self.plot.addItem(label)

    def _caption(self, rc: float) -> str:
        if not self.points:
            return "No screenings of this patient in the history."
        if len(self.points) == 1:
            return "One screening so far: nothing to compare with."
        flagged = (f"{len(self.changes)} change(s) beyond {rc:g} mm (red rings)" if self.changes
                   else f"no change beyond {rc:g} mm")
        assumed = any(not c.comparable for c in self.changes)
        return (f"{len(self.points)} radiographs; {flagged}. A change is flagged only when it "
                f"exceeds the {MCW_REPEATABILITY_SOURCE}, {rc:g} mm."
                + (" (?) = a pixel spacing was assumed: mm approximate." if assumed else ""))

    def _clicked(self, _item: Any, spots: Any, *_: Any) -> None:
        if len(spots):
            self.screening_clicked.emit(int(spots[0].data()))
