"""The radiograph canvas (pyqtgraph, row-major): image, heatmap, ROI box, borders, landmarks.

The canvas mirrors the evented :class:`~.session.Session` and holds no state of its own. The
dentist's edits come out as Qt signals (``roi_edit_finished``, ``landmarks_edit_finished``),
emitted when a drag ENDS (``sigRegionChangeFinished``), never per mouse-move step.

Mouse: wheel zooms, left/middle drag on the background pans, right drag sets window/level
(horizontal = width, vertical = level), double-click fits. Keys are window shortcuts.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.types import LANDMARK_NAMES, Landmarks, RoiBox, ScreeningResult
from . import theme
from .canvas_items import (
    HEAT_THRESHOLD,
    ColorBar,
    LandmarkItem,
    SideMarks,
    attention_for,
    heat_lut,
    short_name,
    warm_colormap,
)
from .canvas_tools import CanvasTools
from .session import Session

__all__ = ["Canvas", "ColorBar", "HEAT_THRESHOLD", "LEVEL_PRESETS", "LandmarkItem", "RadiographViewBox",
           "attention_for", "heat_lut", "short_name", "warm_colormap"]

log = logging.getLogger(__name__)

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

# Window/level presets: name -> (black, white) in [0, 1] pixel units (None: percentiles).
LEVEL_PRESETS: dict[str, tuple[float, float] | None] = {
    "Full range": (0.0, 1.0),
    "Auto (1-99 %)": None,
    "Bone / cortex": (0.35, 0.95),
    "Dense (high contrast)": (0.5, 0.9),
    "Soft (low contrast)": (0.0, 0.75),
}

class RadiographViewBox(pg.ViewBox):
    """ViewBox with right-drag window/level, middle/left-drag pan and double-click fit."""

    def __init__(self, canvas: Canvas) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._canvas = canvas
        self._wl_start: tuple[float, float] | None = None

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802 - Qt naming
        if ev.button() == QtCore.Qt.MouseButton.LeftButton and self._canvas.tools.drag(ev):
            return  # the ruler is drawn by dragging on the image
        if ev.button() == QtCore.Qt.MouseButton.RightButton:
            ev.accept()
            session = self._canvas.session
            if ev.isStart() or self._wl_start is None:
                self._wl_start = session.display.levels
            lo0, hi0 = self._wl_start
            delta = ev.screenPos() - ev.buttonDownScreenPos(QtCore.Qt.MouseButton.RightButton)
            width = max(0.02, (hi0 - lo0) * float(np.exp(delta.x() / 300.0)))
            centre = (lo0 + hi0) / 2.0 - delta.y() / 600.0
            session.set_levels(centre - width / 2.0, centre + width / 2.0)
            if ev.isFinish():
                self._wl_start = None
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.double() and ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            self._canvas.fit()
            return
        super().mouseClickEvent(ev)


class Canvas(pg.GraphicsLayoutWidget):
    """Shows the session's radiograph and overlays; emits the dentist's edits."""

    roi_edit_finished = QtCore.Signal(object)  # RoiBox
    landmarks_edit_finished = QtCore.Signal(object)  # Landmarks
    files_dropped = QtCore.Signal(list)
    cursor_moved = QtCore.Signal(object)  # (x, y) in image pixels, or None off the image
    zoom_changed = QtCore.Signal(object)  # screen pixels per image pixel (1.0 = 1:1), or None

    def __init__(self, session: Session, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setBackground(theme.BG)
        self.ci.setContentsMargins(0, 0, 0, 0)
        self.view = RadiographViewBox(self)
        self.addItem(self.view)
        # autoDownsample: a 3000 x 1300 panoramic is drawn at screen resolution, not full size
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image_item)
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item.setZValue(5)
        self._heat_lut_set = False  # the colour table is built lazily (see warm_colormap)
        self.view.addItem(self.heat_item)
        self.border_right = pg.PlotDataItem(pen=pg.mkPen("#4fd1c5", width=2))
        self.border_left = pg.PlotDataItem(pen=pg.mkPen("#63b3ed", width=2))
        self.normals_item = pg.PlotDataItem(pen=pg.mkPen("#f6e05e", width=1), connect="pairs")
        for it in (self.border_right, self.border_left, self.normals_item):
            it.setZValue(8)
            self.view.addItem(it)
        self.side_labels = [pg.TextItem("", color=theme.MUTED, anchor=(0.5, 0.0)) for _ in range(2)]
        for t in self.side_labels:
            t.setZValue(9)
            self.view.addItem(t)
        self.roi: pg.RectROI | None = None
        self.landmark_items: dict[str, LandmarkItem] = {}
        self._syncing = False
        self.space_held = False
        self.space_dragged = False
        self._pan_last: QtCore.QPointF | None = None
        self._gray_lut = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
        self.side_marks = SideMarks(self.view)
        self.tools = CanvasTools(self.view, session)  # ruler, the dentist's MCW lines, mental foramen
        self.view.sigRangeChanged.connect(lambda *_: self.zoom_changed.emit(self.zoom_factor()))
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)

        session.events.image.connect(self._on_image)
        session.events.result.connect(self._on_result)
        session.events.mode.connect(self._on_result)
        session.events.normals.connect(self._draw_normals)
        session.display.events.connect(self._on_display)
        session.events.tool.connect(self._on_tool)

    def _on_tool(self) -> None:
        """While a tool is in use the box and the landmarks step aside (a drag is the tool's)."""
        editing = not self.session.tool
        if self.roi is not None:
            self.roi.setVisible(editing)
        for item in self.landmark_items.values():
            item.setVisible(editing)

    # ------------------------------------------------------------------ space-drag pan
    def set_space_held(self, held: bool) -> None:
        """While Space is held, a left drag anywhere (even on the box) pans the view."""
        self.space_held = held
        if held:
            self.space_dragged = False
            self.viewport().setCursor(QtCore.Qt.CursorShape.OpenHandCursor)
        else:
            self._pan_last = None
            self.viewport().unsetCursor()

    def mousePressEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802
        if getattr(self, "space_held", False) and ev.button() == QtCore.Qt.MouseButton.LeftButton:
            self._pan_last = ev.position()
            self.viewport().setCursor(QtCore.Qt.CursorShape.ClosedHandCursor)
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802
        last = getattr(self, "_pan_last", None)
        if getattr(self, "space_held", False) and last is not None:
            pos = ev.position()
            a = self.view.mapSceneToView(self.mapToScene(last.toPoint()))
            b = self.view.mapSceneToView(self.mapToScene(pos.toPoint()))
            self.view.translateBy(x=a.x() - b.x(), y=a.y() - b.y())
            self._pan_last = pos
            self.space_dragged = True
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802
        if getattr(self, "_pan_last", None) is not None:
            self._pan_last = None
            if getattr(self, "space_held", False):
                self.viewport().setCursor(QtCore.Qt.CursorShape.OpenHandCursor)
            ev.accept()
            return
        super().mouseReleaseEvent(ev)

    # ------------------------------------------------------------------ view
    def fit(self) -> None:
        """Fit the whole radiograph in the view."""
        if self.session.radiograph is not None:
            self.view.autoRange(padding=0.02, items=[self.image_item])

    def zoom(self, factor: float) -> None:
        self.view.scaleBy((1.0 / factor, 1.0 / factor))

    def zoom_factor(self) -> float | None:
        """Screen pixels per image pixel (1.0 = 1:1); None without an image."""
        if self.session.radiograph is None:
            return None
        px = float(self.view.viewPixelSize()[0])
        return 1.0 / px if px > 0 else None

    def actual_size(self) -> None:
        """1:1: one image pixel per screen pixel, around the centre of the view."""
        z = self.zoom_factor()
        if z:
            self.view.scaleBy((z, z))

    def _on_mouse_moved(self, pos: QtCore.QPointF) -> None:
        rad = self.session.radiograph
        if rad is None or not self.view.sceneBoundingRect().contains(pos):
            self.cursor_moved.emit(None)
            return
        p = self.view.mapSceneToView(pos)
        inside = 0 <= p.x() < rad.width and 0 <= p.y() < rad.height
        self.cursor_moved.emit((float(p.x()), float(p.y())) if inside else None)

    def leaveEvent(self, ev: QtCore.QEvent) -> None:  # noqa: N802
        self.cursor_moved.emit(None)
        super().leaveEvent(ev)

    # ------------------------------------------------------------------ session -> items
    def _on_image(self) -> None:
        rad = self.session.radiograph
        self._clear_overlays()
        self.side_marks.set_visible(rad is not None)
        if rad is None:
            self.image_item.clear()
            return
        self.image_item.setImage(rad.pixels, autoLevels=False, levels=self.session.display.levels)
        self.fit()

    def _clear_overlays(self) -> None:
        self.heat_item.clear()
        self.heat_item.setVisible(False)
        for it in (self.border_right, self.border_left, self.normals_item):
            it.setData([], [])
        for t in self.side_labels:
            t.setText("")
        self._remove_roi()
        self._remove_landmarks()

    def _on_display(self) -> None:
        d = self.session.display
        if self.session.radiograph is not None:
            self.image_item.setLevels(d.levels)
            self.image_item.setLookupTable(self._gray_lut[::-1] if d.invert else self._gray_lut)
        has_heat = self.session.result is not None and self.session.result.heatmap is not None
        self.heat_item.setVisible(bool(d.heatmap_visible and has_heat))
        self.heat_item.setOpacity(d.heatmap_opacity)
        for it in (self.border_right, self.border_left):
            it.setVisible(d.show_borders)
        for t in self.side_labels:
            t.setVisible(d.show_borders)
        self._draw_normals()
        self.normals_item.setVisible(d.show_normals)

    def _on_result(self) -> None:
        res = self.session.result
        rad = self.session.radiograph
        if rad is None:
            return
        if res is None:
            self.heat_item.clear()
            self.heat_item.setVisible(False)
            return
        if res.heatmap is not None and res.heatmap.shape == rad.pixels.shape:
            if not self._heat_lut_set:
                self.heat_item.setLookupTable(heat_lut())
                self._heat_lut_set = True
            self.heat_item.setImage(res.heatmap, autoLevels=False, levels=(0.0, 1.0))
        else:
            self.heat_item.clear()
        self._draw_borders(res)
        if self.session.mode == "landmarks":
            self._remove_roi()
            self._show_landmarks(res.landmarks or self.session.landmarks_override or {}, res.attention)
        else:
            self._remove_landmarks()
            box = self.session.roi_override or res.roi
            if box is not None:
                self._show_roi(box)
        self._on_display()

    def _draw_borders(self, res: ScreeningResult) -> None:
        """The traced inferior borders per patient side (none on an image that is not a
        panoramic: what was traced there is not a mandible)."""
        traced = res.status != "not_panoramic"
        for item, line, lab, text in ((self.border_right, res.border_right if traced else [], self.side_labels[0], "R"),
                                      (self.border_left, res.border_left if traced else [], self.side_labels[1], "L")):
            if line:
                a = np.asarray(line, dtype=float)
                item.setData(a[:, 0], a[:, 1])
                mid = a[len(a) // 2]
                lab.setText(f"patient's {'right' if text == 'R' else 'left'}")
                lab.setPos(float(mid[0]), float(mid[1]) + 6)
            else:
                item.setData([], [])
                lab.setText("")
        self._draw_normals()

    def _draw_normals(self) -> None:
        xs: list[float] = []
        ys: list[float] = []
        for seg in self.session.normals or []:
            try:
                (x0, y0), (x1, y1) = seg
            except (TypeError, ValueError):
                continue
            xs += [float(x0), float(x1)]
            ys += [float(y0), float(y1)]
        self.normals_item.setData(xs, ys)

    # ------------------------------------------------------------------ ROI
    def _show_roi(self, box: RoiBox) -> None:
        self._syncing = True
        try:
            if self.roi is None:
                self.roi = pg.RectROI((box.x, box.y), (box.w, box.h), pen=pg.mkPen(theme.ACCENT, width=2),
                                      hoverPen=pg.mkPen("#ffffff", width=2), handlePen=pg.mkPen(theme.ACCENT),
                                      rotatable=False, removable=False, sideScalers=True)
                self.roi.addScaleHandle((0, 0), (1, 1))
                self.roi.addScaleHandle((1, 0), (0, 1))
                self.roi.addScaleHandle((0, 1), (1, 0))
                self.roi.setZValue(10)
                self.roi.sigRegionChangeFinished.connect(self._roi_finished)
                self.roi.setVisible(not self.session.tool)
                self.view.addItem(self.roi)
            else:
                self.roi.setPos((box.x, box.y), update=False, finish=False)
                self.roi.setSize((box.w, box.h), update=True, finish=False)
        finally:
            self._syncing = False

    def _remove_roi(self) -> None:
        if self.roi is not None:
            self.view.removeItem(self.roi)
            self.roi.sigRegionChangeFinished.disconnect(self._roi_finished)
            self.roi = None

    def roi_box(self) -> RoiBox | None:
        """The box currently drawn (image pixels), or None."""
        if self.roi is None:
            return None
        pos, size = self.roi.pos(), self.roi.size()
        return RoiBox(int(round(pos.x())), int(round(pos.y())), max(1, int(round(size.x()))),
                      max(1, int(round(size.y()))))

    def _roi_finished(self, *_: Any) -> None:
        if self._syncing or self.roi is None or self.session.radiograph is None:
            return
        rad = self.session.radiograph
        box = self.roi_box()
        if box is None:
            return
        self.roi_edit_finished.emit(box.clipped(rad.width, rad.height))

    # ------------------------------------------------------------------ landmarks
    def _show_landmarks(self, landmarks: Landmarks, attention: dict[str, float] | None) -> None:
        self._syncing = True
        try:
            for name in LANDMARK_NAMES:
                if name not in landmarks:
                    continue
                x, y = landmarks[name]
                item = self.landmark_items.get(name)
                if item is None:
                    item = LandmarkItem(name, (float(x), float(y)))
                    item.setZValue(12)
                    item.sigPositionChangeFinished.connect(self._landmark_finished)
                    self.view.addItem(item)
                    self.landmark_items[name] = item
                else:
                    item.setPos((float(x), float(y)))
                item.set_weight(attention_for(name, attention))
                item.setVisible(not self.session.tool)
        finally:
            self._syncing = False

    def _remove_landmarks(self) -> None:
        for item in self.landmark_items.values():
            item.sigPositionChangeFinished.disconnect(self._landmark_finished)
            self.view.removeItem(item)
        self.landmark_items = {}

    def landmark_positions(self) -> Landmarks:
        return {n: (float(it.pos().x()), float(it.pos().y())) for n, it in self.landmark_items.items()}

    def _landmark_finished(self, *_: Any) -> None:
        if not self._syncing:
            self.landmarks_edit_finished.emit(self.landmark_positions())

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()
        else:
            super().dragEnterEvent(ev)

    def dragMoveEvent(self, ev: QtGui.QDragMoveEvent) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()
        else:
            super().dragMoveEvent(ev)

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            files = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
            ev.acceptProposedAction()
            self.files_dropped.emit(files)
        else:
            super().dropEvent(ev)


