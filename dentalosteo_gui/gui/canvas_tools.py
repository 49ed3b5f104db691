"""Canvas tools: the calibration ruler, the dentist's own MCW lines and the mental foramen points.

Pyqtgraph items over the radiograph (image pixels, row-major) and :class:`CanvasTools`, which
keeps them in step with the evented session: the ``tool`` field says which tool is in use
(``ruler``: one line to calibrate from; ``measure``: two lines across the cortex, one per
patient side), ``dentist_mcw`` the lines the dentist kept, the result's ``mental_foramen`` the
points shown (movable; dropping one emits ``foramen_edit_finished`` once, like the box and
the landmarks). Holds no state of its own beyond the items; the geometry it proposes (where
the measure lines start) is :func:`measure_start`, Qt-free.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from pyqtgraph.graphicsItems.ROI import Handle
from PySide6 import QtCore, QtGui

from ..core.types import ScreeningResult, Spacing
from .session import SIDES, Segment, Session

RULER_COLOUR = "#ffd54a"
SIDE_COLOURS = {"right": "#ff7ab6", "left": "#c3a6ff"}  # the dentist's MCW lines per patient side
FORAMEN_COLOUR = "#ff9f43"
LINE_WIDTH = 3
LABEL_FILL = (11, 13, 15, 215)
SIDE_NAMES = {"right": "patient's right", "left": "patient's left"}
SHORT_SIDES = {"right": "R", "left": "L"}
OUTWARD = {"right": -1, "left": 1}  # patient's right = image left: its label grows to the left


def seg_length(seg: Segment) -> float:
    (x0, y0), (x1, y1) = seg
    return math.hypot(x1 - x0, y1 - y0)


def foramen_points(res: ScreeningResult | None) -> dict[str, tuple[float, float, float | None, str]]:
    """The result's mental foramen per side as (x, y, confidence, source); {} when the result
    has none (or the engine does not propose it yet)."""
    out: dict[str, tuple[float, float, float | None, str]] = {}
    for side, p in (getattr(res, "mental_foramen", None) or {}).items() if res is not None else ():
        if p is None:
            continue
        x, y = getattr(p, "x", None), getattr(p, "y", None)
        if x is None or y is None:
            try:
                x, y = p[0], p[1]
            except (TypeError, IndexError, KeyError):
                continue
        conf = getattr(p, "confidence", None)
        out[str(side)] = (float(x), float(y), None if conf is None else float(conf), str(getattr(p, "source", "")))
    return out


def _side_normals(normals: tuple[Segment, ...] | list[Segment], split_x: float) -> dict[str, list[Segment]]:
    """The MCW normals per patient side (patient's right = image left of ``split_x``)."""
    out: dict[str, list[Segment]] = {"right": [], "left": []}
    for seg in normals or ():
        try:
            (x0, y0), (x1, y1) = seg
        except (TypeError, ValueError):
            continue
        out["right" if (x0 + x1) / 2 < split_x else "left"].append(((float(x0), float(y0)), (float(x1), float(y1))))
    return out


def _typical(segs: list[Segment], width_px: float | None) -> Segment:
    """The normal whose length is nearest the side's automatic MCW (the middle one when that
    is not known, or on a tie the most central)."""
    mid = len(segs) // 2
    if width_px is None:
        return segs[mid]
    return min(enumerate(segs), key=lambda t: (round(abs(seg_length(t[1]) - width_px), 1), abs(t[0] - mid)))[1]


def measure_start(res: ScreeningResult | None, normals: tuple[Segment, ...] | None, spacing: Spacing | None,
                  width: int, height: int, dentist: dict[str, Segment] | None = None) -> dict[str, Segment]:
    """Where the measure tool's two lines start, per patient side: the dentist's own lines
    when kept; else the automatic measurement site (the middle MCW normal of that side, from
    the periosteal to the endosteal margin, the one nearest the automatic width) when the
    result has normals there; else the
    centre of that side's half of the ROI (on the traced border when there is one), a line
    about 3 mm long pointing up into the mandible."""
    roi = res.roi if res is not None else None
    split = (roi.x + roi.w / 2) if roi is not None else width / 2
    by_side = _side_normals(normals or (), split)
    mm = spacing.mm_per_px if spacing is not None else 0.1
    up_px = float(np.clip(3.0 / mm, 10.0, 80.0))
    out: dict[str, Segment] = {}
    for side in SIDES:
        if dentist and side in dentist:
            out[side] = dentist[side]
            continue
        segs = sorted(by_side[side], key=lambda s: (s[0][0] + s[1][0]) / 2)
        if segs:
            out[side] = _typical(segs, getattr(res, f"mcw_{side}_px", None))
            continue
        border = (res.border_right if side == "right" else res.border_left) if res is not None else []
        if border:
            bx, by = border[len(border) // 2]
        elif roi is not None:
            bx = roi.x + roi.w * (0.25 if side == "right" else 0.75)
            by = roi.y + roi.h * 0.75
        else:
            bx, by = width * (0.3 if side == "right" else 0.7), height * 0.8
        out[side] = ((float(bx), float(by)), (float(bx), float(by) - up_px))
    return out


class LengthLine(pg.LineSegmentROI):
    """A line with two draggable ends (big handles) and a label that follows it."""

    def __init__(self, seg: Segment, colour: str, name: str = "", outward: int = 0) -> None:
        handles = tuple(Handle(7, typ="f", pen=pg.mkPen(colour, width=2), hoverPen=pg.mkPen("#ffffff", width=2))
                        for _ in range(2))
        super().__init__(list(seg), pen=pg.mkPen(colour, width=LINE_WIDTH), handles=handles,
                         hoverPen=pg.mkPen("#ffffff", width=LINE_WIDTH), movable=True, removable=False)
        for h in handles:
            h.setParentItem(self)  # pyqtgraph parents only the handles it makes itself
        self.name = name
        self.colour = colour
        if name:
            self.setToolTip(f"MCW, {name}: drag the ends onto the outer and inner margins of the cortex")
        self.outward = outward  # where the label grows: -1 to the left, +1 to the right, 0 centred
        self.setZValue(20)
        self.label = pg.TextItem("", color=colour, anchor=((1 - outward) / 2, 1.0), fill=pg.mkBrush(*LABEL_FILL),
                                 border=pg.mkPen(colour))
        font = QtGui.QFont()
        font.setPointSizeF(10.5)
        font.setBold(True)
        self.label.setFont(font)
        self.label.setZValue(21)

    def segment(self) -> Segment:
        """The two ends in image pixels."""
        a, b = (self.mapToParent(h.pos()) for h in self.endpoints)
        return (float(a.x()), float(a.y())), (float(b.x()), float(b.y()))

    def set_segment(self, seg: Segment) -> None:
        h = self.getHandles()
        self.movePoint(h[0], QtCore.QPointF(*seg[0]), finish=False)
        self.movePoint(h[1], QtCore.QPointF(*seg[1]), finish=False)

    def set_text(self, text: str) -> None:
        self.label.setText(text)
        self.place_label()

    def place_label(self) -> None:
        """The label a little above the line's upper end (the centre for a flat line), growing
        away from the middle of the image (``outward``), so it covers neither the cortex,
        the handles nor the other side's label."""
        (x0, y0), (x1, y1) = self.segment()
        if abs(y1 - y0) < 0.25 * abs(x1 - x0):
            x, y = (x0 + x1) / 2, min(y0, y1)
        else:
            x, y = (x0, y0) if y0 < y1 else (x1, y1)
        vb = self.getViewBox()
        px, py = vb.viewPixelSize() if vb is not None else (1.0, 1.0)
        self.label.setPos(x + 10 * px * self.outward, y - 12 * py)


class ForamenItem(pg.TargetItem):
    """A movable mental foramen point: an orange diamond labelled "MF"; its side, confidence
    and source in the tooltip."""

    def __init__(self, side: str, pos: tuple[float, float]) -> None:
        super().__init__(pos=pos, size=17, symbol="d", movable=True,
                         pen=pg.mkPen(FORAMEN_COLOUR, width=2.5), brush=pg.mkBrush(255, 159, 67, 60),
                         hoverPen=pg.mkPen("#ffffff", width=2.5), hoverBrush=pg.mkBrush(255, 255, 255, 90))
        self.side = side
        self.setZValue(14)
        self.setLabel("MF " + ("R" if side == "right" else "L"),
                      {"color": FORAMEN_COLOUR, "offset": (12, 10), "fill": pg.mkBrush(*LABEL_FILL)})

    def describe(self, confidence: float | None, source: str) -> None:
        where = SIDE_NAMES.get(self.side, self.side)
        if source == "user":
            what = "placed by you"
        else:
            what = "proposed automatically, confidence " + ("–" if confidence is None else f"{confidence:.2f}")
        self.setToolTip(f"Mental foramen, {where}: {what}. Drag it onto the centre of the foramen; it is "
                        "screened again when you let go (the PMI is measured from it).")


def length_text(seg: Segment, spacing: Spacing | None, name: str = "") -> str:
    """'right: 28.4 px · 2.84 mm' (mm only with a stated or calibrated spacing)."""
    px = seg_length(seg)
    text = f"{name}: {px:.1f} px" if name else f"{px:.1f} px"
    if spacing is not None and not spacing.assumed:
        text += f" · {px * spacing.mm_per_px:.2f} mm"
    return text


def short_length(seg: Segment, spacing: Spacing | None, name: str) -> str:
    """The canvas label: 'R 2.84 mm' with a stated or calibrated spacing, 'R 28.4 px' when it
    is assumed (never assumed millimetres)."""
    px = seg_length(seg)
    if spacing is None or spacing.assumed:
        return f"{name} {px:.1f} px"
    return f"{name} {px * spacing.mm_per_px:.2f} mm"


class CanvasTools(QtCore.QObject):
    """Binds the tool items to the canvas's view and the session."""

    foramen_edit_finished = QtCore.Signal(object)  # {side: (x, y)} for every shown point
    ruler_changed = QtCore.Signal(float)  # the ruler's length in px, live
    measure_changed = QtCore.Signal()  # a measure line moved

    def __init__(self, view: pg.ViewBox, session: Session) -> None:
        super().__init__()
        self.view = view
        self.session = session
        self.ruler: LengthLine | None = None
        self.measure: dict[str, LengthLine] = {}
        self.kept: dict[str, LengthLine] = {}  # the dentist's kept lines (not editable)
        self.foramen: dict[str, ForamenItem] = {}
        self._syncing = False
        self._touched = False  # the dentist moved a measure line (it no longer follows the normals)
        ev = session.events
        ev.tool.connect(self._on_tool)
        ev.image.connect(self._on_image)
        ev.result.connect(self._on_result)
        ev.normals.connect(self._on_normals)
        ev.dentist_mcw.connect(self._show_kept)
        ev.foramen_override.connect(self._on_result)
        ev.spacing.connect(self._relabel)
        view.sigRangeChanged.connect(self._place_labels)

    # ------------------------------------------------------------------ items
    def _add_line(self, seg: Segment, colour: str, name: str, outward: int = 0) -> LengthLine:
        line = LengthLine(seg, colour, name, outward)
        self.view.addItem(line)
        self.view.addItem(line.label, ignoreBounds=True)
        return line

    def _drop_line(self, line: LengthLine | None) -> None:
        if line is not None:
            self.view.removeItem(line.label)
            self.view.removeItem(line)

    def _on_image(self) -> None:
        for line in (self.ruler, *self.measure.values(), *self.kept.values()):
            self._drop_line(line)
        self.ruler, self.measure, self.kept = None, {}, {}
        self._drop_foramen()

    def _on_tool(self) -> None:
        tool = self.session.tool
        if tool != "ruler" and self.ruler is not None:
            self._drop_line(self.ruler)
            self.ruler = None
        if tool != "measure":
            for line in self.measure.values():
                self._drop_line(line)
            self.measure = {}
        if tool == "ruler" and self.ruler is None:
            self._start_ruler()
        elif tool == "measure" and not self.measure:
            self._start_measure()
        self._show_kept()
        for item in self.foramen.values():
            item.movable = not tool  # the tools' drags must not move the foramen

    # ------------------------------------------------------------------ ruler
    def _start_ruler(self) -> None:
        """A horizontal line across the middle third of what is in view."""
        (x0, x1), (y0, y1) = self.view.viewRange()
        cy = (y0 + y1) / 2
        self.ruler = self._add_line(((x0 + (x1 - x0) / 3, cy), (x0 + 2 * (x1 - x0) / 3, cy)), RULER_COLOUR, "")
        self.ruler.sigRegionChanged.connect(self._ruler_moved)
        self._ruler_moved()

    def _ruler_moved(self, *_: Any) -> None:
        if self.ruler is None:
            return
        seg = self.ruler.segment()
        self.ruler.set_text(f"{seg_length(seg):.1f} px")
        self.ruler_changed.emit(seg_length(seg))

    def ruler_segment(self) -> Segment | None:
        return self.ruler.segment() if self.ruler is not None else None

    def set_ruler(self, seg: Segment) -> None:
        """Put the ruler's ends at ``seg`` (image pixels): what a drag on the image does."""
        if self.ruler is not None:
            self.ruler.set_segment(seg)
            self._ruler_moved()

    def drag(self, ev: Any) -> bool:
        """A left drag on the image while the ruler is in use draws the ruler (True: taken)."""
        if self.session.tool != "ruler" or self.ruler is None:
            return False
        ev.accept()
        a = self.view.mapSceneToView(ev.buttonDownScenePos())
        b = self.view.mapSceneToView(ev.scenePos())
        self.set_ruler(((float(a.x()), float(a.y())), (float(b.x()), float(b.y()))))
        return True

    # ------------------------------------------------------------------ measure
    def _start_measure(self) -> None:
        s = self.session
        rad = s.radiograph
        if rad is None:
            return
        start = measure_start(s.result, s.normals, s.spacing, rad.width, rad.height, s.dentist_mcw)
        for side in SIDES:
            line = self._add_line(start[side], SIDE_COLOURS[side], SIDE_NAMES[side], OUTWARD[side])
            line.sigRegionChanged.connect(self._measure_moved)
            self.measure[side] = line
        self._touched = bool(s.dentist_mcw)
        self._relabel()

    def _measure_moved(self, *_: Any) -> None:
        if not self._syncing:
            self._touched = True
        self._relabel()
        self.measure_changed.emit()

    def _on_normals(self) -> None:
        """The automatic site arrived after the tool started: move the untouched lines there."""
        s = self.session
        rad = s.radiograph
        if s.tool != "measure" or not self.measure or getattr(self, "_touched", True) or rad is None:
            return
        start = measure_start(s.result, s.normals, s.spacing, rad.width, rad.height)
        self._syncing = True
        try:
            for side, line in self.measure.items():
                line.set_segment(start[side])
        finally:
            self._syncing = False
        self._relabel()

    def measure_segments(self) -> dict[str, Segment]:
        """The measure lines' ends per side, in image pixels (kept inside the image)."""
        return {side: (self._clip(*line.segment()[0]), self._clip(*line.segment()[1]))
                for side, line in self.measure.items()}

    def set_measure(self, side: str, seg: Segment) -> None:
        if side in self.measure:
            self.measure[side].set_segment(seg)
            self._measure_moved()

    def _show_kept(self) -> None:
        """The dentist's kept lines, dashed, while the measure tool is not in use."""
        for line in self.kept.values():
            self._drop_line(line)
        self.kept = {}
        lines = self.session.dentist_mcw
        if not lines or self.session.tool == "measure":
            return
        for side, seg in lines.items():
            line = self._add_line(seg, SIDE_COLOURS.get(side, RULER_COLOUR), SIDE_NAMES.get(side, side),
                                  OUTWARD.get(side, 0))
            line.translatable = False
            for h in line.getHandles():
                h.hide()
            line.setPen(pg.mkPen(line.colour, width=LINE_WIDTH, style=QtCore.Qt.PenStyle.DashLine))
            line.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
            self.kept[side] = line
        self._relabel()

    def _relabel(self) -> None:
        sp = self.session.spacing
        for side, line in self.measure.items():
            line.set_text(short_length(line.segment(), sp, SHORT_SIDES[side]))
        for side, line in self.kept.items():
            line.set_text(short_length(line.segment(), sp, SHORT_SIDES.get(side, side) + " yours"))

    def _place_labels(self) -> None:
        """Keep the labels at their distance on screen when the view zooms."""
        for line in (self.ruler, *self.measure.values(), *self.kept.values()):
            if line is not None:
                line.place_label()

    # ------------------------------------------------------------------ mental foramen
    def _drop_foramen(self) -> None:
        for item in self.foramen.values():
            item.sigPositionChangeFinished.disconnect(self._foramen_finished)
            self.view.removeItem(item)
        self.foramen = {}

    def _on_result(self) -> None:
        """The result's foramen per side (the dentist's where moved), or none."""
        s = self.session
        res = s.result
        pts = foramen_points(res) if res is not None and res.status != "not_panoramic" else {}
        for side, (x, y) in (s.foramen_override or {}).items():
            pts[side] = (x, y, None, "user")
        if set(pts) != set(self.foramen):
            self._drop_foramen()
        self._syncing = True
        try:
            for side, (x, y, conf, src) in pts.items():
                item = self.foramen.get(side)
                if item is None:
                    item = ForamenItem(side, (x, y))
                    item.sigPositionChangeFinished.connect(self._foramen_finished)
                    self.view.addItem(item)
                    self.foramen[side] = item
                else:
                    item.setPos((x, y))
                item.describe(conf, src)
                item.movable = not s.tool
        finally:
            self._syncing = False

    def _clip(self, x: float, y: float) -> tuple[float, float]:
        """A point kept inside the image (the engine refuses points outside it)."""
        rad = self.session.radiograph
        if rad is None:
            return x, y
        return float(min(max(x, 0.0), rad.width - 1.0)), float(min(max(y, 0.0), rad.height - 1.0))

    def foramen_positions(self) -> dict[str, tuple[float, float]]:
        return {side: self._clip(float(it.pos().x()), float(it.pos().y())) for side, it in self.foramen.items()}

    def _foramen_finished(self, *_: Any) -> None:
        """Emit the dentist's points: those moved now or before (an untouched proposal stays
        the engine's, with its confidence)."""
        if self._syncing:
            return
        auto = foramen_points(self.session.result)
        keep = dict(self.session.foramen_override or {})
        for side, (x, y) in self.foramen_positions().items():
            ax, ay = auto.get(side, (None, None, None, ""))[:2]
            if side in keep or ax is None or ay is None or math.hypot(x - ax, y - ay) > 0.5:
                keep[side] = (x, y)
        self.foramen_edit_finished.emit(keep)
