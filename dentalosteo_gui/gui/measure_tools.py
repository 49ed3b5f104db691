"""The Tools menu: the calibration ruler, the device pixel size, the dentist's own MCW, and the
banner above the canvas that says what the tool in use expects.

* **Ruler** (Ctrl+L): a line over something of known length (drag on the image, or drag its
  ends); Enter asks its length in mm (:class:`.calibration_dialog.RulerDialog`), saves a
  calibration profile for the image's source and screens again. Esc cancels.
* **Calibrate from device pixel size…**: :class:`.calibration_dialog.PixelSizeDialog`.
* **Measure MCW** (Ctrl+M): two lines across the cortex, one per patient side, starting at the
  automatic measurement site; Enter keeps them (sent to the engine as ``dentist_mcw``,
  undoable), Esc cancels. "Clear my MCW measurement" removes them.

The tool in use is the session's ``tool``; the items are :mod:`.canvas_tools`'; the work is
the controller's.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.types import segment_length
from . import theme
from .actions import make_action
from .calibration_dialog import PixelSizeDialog, RulerDialog
from .canvas_tools import SIDE_NAMES, length_text

MIN_RULER_PX = 10.0
BANNER_TEXT = {
    "ruler": "<b>Ruler</b> — drag along something of known length (a ruler, a calibration ball, an implant); "
             "drag the ends to adjust (pan: middle drag or Space + drag). <b>Enter</b>: type its length. "
             "<b>Esc</b>: cancel.",
    "measure": "<b>Measure MCW</b> — on each side put one end on the lower (outer) margin of the cortex and "
               "the other on its inner margin. <b>Enter</b>: keep them and screen again. <b>Esc</b>: cancel.",
}


def tool_icon(kind: str) -> QtGui.QIcon:
    """A drawn icon: a ruler with ticks, or a line with end bars (the measure tool)."""
    pm = QtGui.QPixmap(20, 20)
    pm.fill(QtGui.QColor(0, 0, 0, 0))
    p = QtGui.QPainter(pm)
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    p.setPen(QtGui.QPen(QtGui.QColor(theme.TEXT), 1.6))
    if kind == "ruler":
        p.drawRect(QtCore.QRectF(2, 7, 16, 6))
        for x in range(4, 18, 3):
            p.drawLine(QtCore.QPointF(x, 7), QtCore.QPointF(x, 9.5 if x % 2 else 10.5))
    else:
        p.drawLine(QtCore.QPointF(10, 3), QtCore.QPointF(10, 17))
        p.drawLine(QtCore.QPointF(5, 3), QtCore.QPointF(15, 3))
        p.drawLine(QtCore.QPointF(5, 17), QtCore.QPointF(15, 17))
    p.end()
    return QtGui.QIcon(pm)


class ToolBanner(QtWidgets.QFrame):
    """What the tool in use expects, its live length, and Done / Cancel buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("ToolBanner")
        self.setStyleSheet(f"QFrame#ToolBanner {{ background: #2a2f1c; border-bottom: 1px solid {theme.BORDER}; }}")
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(10, 5, 10, 5)
        self.text = QtWidgets.QLabel("")
        self.text.setWordWrap(True)
        self.text.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.length = QtWidgets.QLabel("")
        self.length.setStyleSheet("font-weight: bold; color: #ffd54a;")
        self.done = QtWidgets.QPushButton("")
        self.cancel = QtWidgets.QPushButton("Cancel (Esc)")
        lay.addWidget(self.text, 1)
        lay.addWidget(self.length)
        lay.addWidget(self.done)
        lay.addWidget(self.cancel)
        self.hide()

    def show_tool(self, tool: str) -> None:
        self.setVisible(bool(tool))
        self.text.setText(BANNER_TEXT.get(tool, ""))
        self.done.setText("Enter length… (Enter)" if tool == "ruler" else "Keep my lines (Enter)")
        self.length.setText("")


class ToolsUi(QtCore.QObject):
    """Builds the Tools actions, menu, toolbar buttons and banner; runs the tools' flows."""

    def __init__(self, host: Any) -> None:
        super().__init__(host)
        self.host = host
        self.session, self.controller, self.canvas = host.session, host.controller, host.canvas
        a = functools.partial(make_action, host)
        s = self.session
        self.ruler = a("&Ruler (calibrate)…", lambda on: self._toggle("ruler", on), "Ctrl+L", checkable=True,
                       tip="Calibrate: draw a line over something of known length (Ctrl+L)")
        self.pixel_size = a("Calibrate from device &pixel size…", self.pixel_size_dialog,
                            tip="Calibrate from the detector's pixel size and the magnification")
        self.measure = a("&Measure MCW yourself", lambda on: self._toggle("measure", on), "Ctrl+M",
                         checkable=True, tip="Measure the cortical width yourself, on each side (Ctrl+M)")
        self.clear = a("&Clear my MCW measurement", lambda: self.controller.edit_dentist_mcw(None))
        self.confirm = a("Finish the tool", self.finish, ("Return", "Enter"))
        self.cancel = a("Cancel the tool", lambda: s.set_tool(""), "Escape")
        self.ruler.setIcon(tool_icon("ruler"))
        self.ruler.setIconText("Ruler")
        self.measure.setIcon(tool_icon("measure"))
        self.measure.setIconText("Measure")
        self.banner = ToolBanner()
        self._banner_tool = ""
        self.banner.done.clicked.connect(self.finish)
        self.banner.cancel.clicked.connect(lambda: s.set_tool(""))
        self._add_to_menus()
        self.canvas.tools.ruler_changed.connect(lambda px: self.banner.length.setText(f"{px:.1f} px"))
        self.canvas.tools.measure_changed.connect(self._show_measure_lengths)
        self.canvas.tools.foramen_edit_finished.connect(self.controller.edit_foramen)
        for sig in (s.events.tool, s.events.image, s.events.dentist_mcw, s.events.result):
            sig.connect(self.refresh)
        self.refresh()

    def _add_to_menus(self) -> None:
        mb = self.host.menuBar()
        help_act = next((m for m in mb.actions() if m.text().replace("&", "") == "Help"), None)
        menu = QtWidgets.QMenu("&Tools", mb)
        for act in (self.ruler, self.pixel_size, None, self.measure, self.clear):
            if act is None:
                menu.addSeparator()
            else:
                menu.addAction(act)
        mb.insertMenu(help_act, menu) if help_act is not None else mb.addMenu(menu)
        self.menu = menu
        tb = self.host.findChild(QtWidgets.QToolBar, "MainToolbar")
        if tb is not None:
            before = self.host.acts.reset_roi
            tb.insertAction(before, self.ruler)
            tb.insertAction(before, self.measure)

    # ------------------------------------------------------------------ session -> actions
    def refresh(self) -> None:
        s = self.session
        tool, has = s.tool, s.radiograph is not None
        for act, name in ((self.ruler, "ruler"), (self.measure, "measure")):
            act.setEnabled(has)
            if act.isChecked() != (tool == name):
                act.blockSignals(True)
                act.setChecked(tool == name)
                act.blockSignals(False)
        self.pixel_size.setEnabled(has)
        self.clear.setEnabled(bool(s.dentist_mcw))
        self.confirm.setEnabled(bool(tool))
        self.cancel.setEnabled(bool(tool))
        if tool != self._banner_tool:
            self._banner_tool = tool
            self.banner.show_tool(tool)
        if tool == "ruler" and self.canvas.tools.ruler_segment() is not None:
            self.banner.length.setText(f"{segment_length(self.canvas.tools.ruler_segment()):.1f} px")
        elif tool == "measure":
            self._show_measure_lengths()

    def _show_measure_lengths(self) -> None:
        segs = self.canvas.tools.measure_segments()
        sp = self.session.spacing
        self.banner.length.setText("   ".join(length_text(seg, sp, SIDE_NAMES[side].replace("patient's ", ""))
                                            for side, seg in segs.items()))

    def _toggle(self, tool: str, on: bool) -> None:
        s = self.session
        if on:
            if tool == "measure":
                self.controller.request_normals()  # start at the automatic measurement site
            s.set_tool(tool)
        elif s.tool == tool:
            s.set_tool("")
        self.refresh()

    # ------------------------------------------------------------------ flows
    def finish(self) -> None:
        """Enter: the ruler asks for the known length; the measure tool keeps the lines."""
        tool = self.session.tool
        if tool == "ruler":
            self.ruler_dialog()
        elif tool == "measure":
            lines = self.canvas.tools.measure_segments()
            short = [SIDE_NAMES[k] for k, seg in lines.items() if segment_length(seg) < 2.0]
            if short:
                self._warn("Measure MCW", f"The line on the {' and '.join(short)} side has no length: put its two "
                                          "ends on the two margins of the cortex.")
                return
            self.session.set_tool("")
            self.controller.edit_dentist_mcw(lines)

    def ruler_dialog(self) -> bool:
        """Ask the known length of the ruler line; save the profile and re-screen on OK."""
        rad, seg = self.session.radiograph, self.canvas.tools.ruler_segment()
        if rad is None or seg is None:
            return False
        if segment_length(seg) < MIN_RULER_PX:
            self._warn("Ruler", f"The line is {segment_length(seg):.1f} px long: drag it along the whole object "
                                f"of known length (at least {MIN_RULER_PX:g} px).")
            return False
        dlg = RulerDialog(rad, seg, cast(QtWidgets.QWidget, self.host))
        if not dlg.exec() or dlg.profile is None:
            return False  # cancelled: nothing changes, the ruler stays for another try
        return bool(self.controller.save_profile(dlg.profile))

    def pixel_size_dialog(self) -> bool:
        rad = self.session.radiograph
        if rad is None:
            return False
        dlg = PixelSizeDialog(rad, cast(QtWidgets.QWidget, self.host))
        if not dlg.exec() or dlg.profile is None:
            return False
        return bool(self.controller.save_profile(dlg.profile))

    def _warn(self, title: str, text: str) -> None:
        """One dialog (the status bar only in screenshot mode), via the window."""
        self.host.show_error(title, text)
