"""Canvas overlay items and helpers: the heat colour table, landmark points, the R/L side
marks and the heatmap colour bar."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.imaging.heatmap import colormap_lut
from . import theme

HEAT_THRESHOLD = 0.05  # heat below this stays transparent so anatomy is never hidden

_LUT_READY = threading.Event()  # set once matplotlib's colour map table is cached


def warm_colormap(name: str = "inferno") -> None:
    """Worker job: build the colour map table off the GUI thread (matplotlib import ~0.5 s)."""
    colormap_lut(name)
    _LUT_READY.set()


def heat_lut(name: str = "inferno") -> np.ndarray:
    """(256, 4) RGBA lookup table: the colour map, transparent below the threshold."""
    rgb = colormap_lut(name)
    lut = np.zeros((256, 4), dtype=np.uint8)
    lut[:, :3] = rgb
    lut[:, 3] = 255
    lut[: int(HEAT_THRESHOLD * 255) + 1, 3] = 0
    return lut


def short_name(name: str) -> str:
    """'right_gonial_angle' -> 'R gonial angle' (patient's side)."""
    side, _, rest = name.partition("_")
    return f"{'R' if side == 'right' else 'L' if side == 'left' else side} {rest.replace('_', ' ')}"


class LandmarkItem(pg.TargetItem):
    """A draggable landmark; shows its attention weight, and its name on hover."""

    def __init__(self, name: str, pos: tuple[float, float]) -> None:
        super().__init__(pos=pos, size=13, symbol="o", movable=True,
                         pen=pg.mkPen(theme.ACCENT, width=2), brush=pg.mkBrush(43, 179, 192, 70),
                         hoverPen=pg.mkPen("#ffffff", width=2), hoverBrush=pg.mkBrush(255, 255, 255, 90))
        self.name = name
        self.weight: float | None = None
        self.hovering = False
        self.setToolTip(name.replace("_", " ") + " (patient's " + name.split("_")[0] + ")")
        self._refresh_label()

    def set_weight(self, weight: float | None) -> None:
        self.weight = weight
        self._refresh_label()

    def label_text(self) -> str:
        w = "" if self.weight is None else f"{self.weight:.2f}"
        if self.hovering:
            return f"{short_name(self.name)}  {w}".strip()
        return w

    def _refresh_label(self) -> None:
        text = self.label_text()
        if not text:
            self.setLabel(None)
        elif self.label() is None:
            self.setLabel(text, {"color": theme.TEXT, "offset": (10, -12), "fill": pg.mkBrush(22, 25, 29, 210)})
        else:
            self.label().setFormat(text)

    def hoverEvent(self, ev: Any) -> None:  # noqa: N802
        super().hoverEvent(ev)
        hovering = not ev.isExit()
        if hovering != self.hovering:
            self.hovering = hovering
            self._refresh_label()


def attention_for(name: str, attention: dict[str, float] | None) -> float | None:
    """The attention weight of a landmark: its own key, or its group's (e.g. 'gonial_angle')."""
    if not attention:
        return None
    if name in attention:
        return float(attention[name])
    rest = name.split("_", 1)[1] if "_" in name else name
    for key, value in attention.items():
        if key == rest or key in name:
            return float(value)
    return None


class ColorBar(QtWidgets.QWidget):
    """A horizontal colour bar for the heat map (low left, high right) with end labels."""

    def __init__(self, cmap: str = "inferno", parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(30)
        self.setMaximumHeight(34)
        self.cmap = cmap
        self._stops: list[tuple[float, QtGui.QColor]] | None = None

    def stops(self) -> list[tuple[float, QtGui.QColor]] | None:
        """Gradient stops once the colour table is ready (never blocks the first paint)."""
        if self._stops is None and _LUT_READY.is_set():
            lut = colormap_lut(self.cmap)
            self._stops = [(i / 255.0, QtGui.QColor(int(r), int(g), int(b))) for i, (r, g, b) in
                           enumerate(lut) if i % 16 == 0 or i == 255]
        return self._stops

    def paintEvent(self, ev: QtGui.QPaintEvent) -> None:  # noqa: N802
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        r = self.rect().adjusted(1, 1, -1, -15)
        grad = QtGui.QLinearGradient(QtCore.QPointF(r.left(), 0), QtCore.QPointF(r.right(), 0))
        for pos, col in self.stops() or [(0.0, QtGui.QColor(theme.BG)), (1.0, QtGui.QColor(theme.PANEL_2))]:
            grad.setColorAt(pos, col)
        p.setPen(QtGui.QPen(QtGui.QColor(theme.BORDER)))
        p.setBrush(QtGui.QBrush(grad))
        p.drawRoundedRect(r, 3, 3)
        p.setPen(QtGui.QColor(theme.MUTED))
        f = p.font()
        f.setPointSizeF(max(6.0, f.pointSizeF() * 0.8))
        p.setFont(f)
        y = self.rect().bottom() - 2
        p.drawText(QtCore.QPointF(r.left(), y), "low attention")
        txt = "high"
        p.drawText(QtCore.QPointF(r.right() - p.fontMetrics().horizontalAdvance(txt), y), txt)
        p.end()


class SideMarks:
    """'R' and 'L' in the top corners of the view (patient's right = image left, as a
    panoramic is read facing the patient). Drawn by the app over the image, not part of its
    pixels: they keep their colours when the image is inverted and stay in the corners when
    the view pans or zooms."""

    MARGIN_PX = 8

    def __init__(self, view: pg.ViewBox) -> None:
        self.view = view
        self.items: dict[str, pg.TextItem] = {}
        font = QtGui.QFont()
        font.setPointSizeF(15)
        font.setBold(True)
        for side, anchor, tip in (("R", (0, 0), "patient's right"), ("L", (1, 0), "patient's left")):
            item = pg.TextItem(side, color=theme.TEXT, anchor=anchor, fill=pg.mkBrush(11, 13, 15, 170),
                               border=pg.mkPen(theme.BORDER))
            item.setFont(font)
            item.setToolTip(tip)
            item.setZValue(30)
            item.setVisible(False)
            view.addItem(item, ignoreBounds=True)
            self.items[side] = item
        view.sigRangeChanged.connect(self.place)

    def place(self, *_: Any) -> None:
        (x0, x1), (y0, _y1) = self.view.viewRange()
        px, py = self.view.viewPixelSize()
        m = self.MARGIN_PX
        self.items["R"].setPos(x0 + m * px, y0 + m * py)  # invertY: y0 is the top edge
        self.items["L"].setPos(x1 - m * px, y0 + m * py)

    def set_visible(self, visible: bool) -> None:
        for item in self.items.values():
            item.setVisible(visible)
        if visible:
            self.place()
