"""Issue 21 (GUI): viewer conventions of dental imaging software (Romexis, Sidexis, Weasis,
RadiAnt): R/L marks, F11, zoom keys and percentage, cursor readout in px and mm, undo/redo
of edits, MCW normals with every result, toolbar overflow at 1024 px, Export only with a
result, the settings-file banner, and the batch dialog (natural order, error reasons,
history)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6 import QtCore, QtWidgets  # noqa: E402

from dentalosteo_gui.core.system.settings import Settings  # noqa: E402
from dentalosteo_gui.core.types import RoiBox  # noqa: E402

from .test_gui_support import (  # noqa: E402
    FakeEngine,
    capture_warnings,
    close_window,
    make_window,
    open_and_wait,
)

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("no_error_dialogs")]
Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier


def _drag_box_to(qtbot: Any, win: Any, x: int) -> None:
    roi = win.canvas.roi
    roi.setPos((x, roi.pos().y()), update=True, finish=False)
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        roi.sigRegionChangeFinished.emit(roi)


def test_r_l_marks_are_overlay_items_in_the_corners_that_do_not_invert(qtbot: Any, png: Path) -> None:
    win = make_window(qtbot, FakeEngine())
    marks = win.canvas.side_marks.items
    assert not marks["R"].isVisible()  # no image, no marks
    open_and_wait(qtbot, win, png)
    r, lm = marks["R"], marks["L"]
    assert r.isVisible() and lm.isVisible() and r.textItem.toPlainText() == "R"
    (x0, x1), (y0, y1) = win.canvas.view.viewRange()
    assert x0 <= r.pos().x() < (x0 + x1) / 2 < lm.pos().x() <= x1  # patient's right = image left
    colour = r.textItem.defaultTextColor().name()
    win.acts.invert.trigger()
    assert win.session.display.invert and r.textItem.defaultTextColor().name() == colour and r.isVisible()
    win.canvas.zoom(2.0)
    (x0, _), _ = win.canvas.view.viewRange()
    assert r.pos().x() == pytest.approx(x0 + 8 * win.canvas.view.viewPixelSize()[0])  # still in the corner
    close_window(win)


def test_f11_full_screen_zoom_keys_and_percentage(qtbot: Any, png: Path) -> None:
    win = make_window(qtbot, FakeEngine())
    open_and_wait(qtbot, win, png)
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Key.Key_F11)
    assert win.windowState() & QtCore.Qt.WindowState.WindowFullScreen
    qtbot.keyClick(win.canvas, Key.Key_F11)
    assert not win.windowState() & QtCore.Qt.WindowState.WindowFullScreen
    qtbot.keyClick(win.canvas, Key.Key_1)  # 1:1
    assert win.canvas.zoom_factor() == pytest.approx(1.0, rel=1e-3) and win.zoom_label.text() == "zoom 100 %"
    qtbot.keyClick(win.canvas, Key.Key_Plus)
    assert win.zoom_label.text() == "zoom 125 %"
    qtbot.keyClick(win.canvas, Key.Key_Minus)
    assert win.zoom_label.text() == "zoom 100 %"
    qtbot.keyClick(win.canvas, Key.Key_0)  # fit
    (x0, x1), _ = win.canvas.view.viewRange()
    assert x0 <= 0 and x1 >= 800 and win.zoom_label.text() != "zoom 100 %"
    close_window(win)


def test_cursor_readout_in_px_and_mm_with_the_spacing_source(qtbot: Any, png: Path) -> None:
    win = make_window(qtbot, FakeEngine())
    open_and_wait(qtbot, win, png)
    scene_pos = win.canvas.view.mapViewToScene(QtCore.QPointF(100.4, 50.2))
    win.canvas.scene().sigMouseMoved.emit(scene_pos)
    assert win.cursor_label.text() == "x 100  y 50 px · 10.0, 5.0 mm (assumed)"
    win.canvas.scene().sigMouseMoved.emit(win.canvas.view.mapViewToScene(QtCore.QPointF(-50, 50)))
    assert win.cursor_label.text() == ""  # off the image
    close_window(win)


def test_undo_redo_of_box_and_landmark_edits(qtbot: Any, png: Path) -> None:
    eng = FakeEngine()
    win = make_window(qtbot, eng)
    first = open_and_wait(qtbot, win, png)
    assert not win.acts.undo.isEnabled()
    _drag_box_to(qtbot, win, first.roi.x + 30)
    moved = RoiBox(first.roi.x + 30, first.roi.y, first.roi.w, first.roi.h)
    assert win.session.roi_override == moved and win.acts.undo.isEnabled()
    win.canvas.setFocus()
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        qtbot.keyClick(win.canvas, Key.Key_Z, Mod.ControlModifier)
    assert win.session.roi_override is None and eng.calls[-1]["roi"] is None
    assert win.canvas.roi_box() == first.roi
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        qtbot.keyClick(win.canvas, Key.Key_Z, Mod.ControlModifier | Mod.ShiftModifier)
    assert win.session.roi_override == moved and eng.calls[-1]["roi"] == moved
    # landmarks
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        win.controller.set_mode("landmarks")
    item = win.canvas.landmark_items["right_condyle"]
    item.setPos((60.0, 70.0))
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        item.sigPositionChangeFinished.emit(item)
    assert win.session.landmarks_override["right_condyle"] == (60.0, 70.0)
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        win.acts.undo.trigger()
    assert win.session.landmarks_override is None and eng.calls[-1]["landmarks"] is None
    close_window(win)


def test_mcw_normals_drawn_with_every_result(qtbot: Any, png: Path) -> None:
    win = make_window(qtbot, FakeEngine())
    first = open_and_wait(qtbot, win, png)
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Key.Key_N)

    def drawn() -> int:
        xs, _ = win.canvas.normals_item.getData()
        return 0 if xs is None else len(xs)

    qtbot.waitUntil(lambda: drawn() > 0, timeout=10000)
    assert win.canvas.normals_item.isVisible()
    for dx in (25, 50):  # each re-screen draws its own normals, with no display change
        _drag_box_to(qtbot, win, first.roi.x + dx)
        qtbot.waitUntil(lambda: drawn() > 0 and bool(win.session.normals), timeout=10000)
        xs, _ = win.canvas.normals_item.getData()
        assert min(xs) >= first.roi.x + dx - 1  # the new box's normals, not the old ones
    close_window(win)


def test_toolbar_overflows_into_a_menu_at_1024_px(qtbot: Any, png: Path) -> None:
    win = make_window(qtbot, FakeEngine())
    open_and_wait(qtbot, win, png)
    win.resize(1024, 700)
    qtbot.waitUntil(lambda: win.width() == 1024, timeout=3000)
    tb = win.findChild(QtWidgets.QToolBar, "MainToolbar")
    hidden = [a for a in tb.actions() if not a.isSeparator() and not tb.widgetForAction(a).isVisible()]
    ext = tb.findChild(QtWidgets.QToolButton, "qt_toolbar_ext_button")
    assert hidden and ext is not None and ext.isVisible()  # the rest is one click away
    assert win.acts.export in hidden or win.acts.settings in hidden
    assert ext.width() >= 20 and ext.geometry().right() < tb.width()  # wide enough to see, not clipped
    ext.click()
    qtbot.waitUntil(lambda: all(tb.widgetForAction(a).isVisible() for a in hidden), timeout=3000)
    close_window(win)


def test_export_disabled_with_a_reason_until_there_is_a_result(qtbot: Any, png: Path) -> None:
    win = make_window(qtbot, FakeEngine())
    assert not win.acts.export.isEnabled() and "Nothing to export" in win.acts.export.toolTip()
    open_and_wait(qtbot, win, png)
    assert win.acts.export.isEnabled() and "Ctrl+E" in win.acts.export.toolTip()
    close_window(win)


def test_settings_load_warnings_in_a_banner_not_a_dialog(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture_warnings(monkeypatch)
    s = Settings()
    s.load_warnings.append("settings.json: unknown setting 'colour' ignored")
    from dentalosteo_gui.gui.mainwindow import MainWindow

    win = MainWindow(engine=FakeEngine(), settings=s, record_history=False)
    qtbot.addWidget(win)
    win.show()
    assert win.banner.isVisible() and "unknown setting 'colour'" in win.banner.label.text()
    assert "settings.json" in win.statusBar().currentMessage() and seen == []
    win.banner.dismiss.click()
    assert not win.banner.isVisible()
    close_window(win)


def test_batch_natural_order_error_reasons_and_history(qtbot: Any, tmp_path: Path) -> None:
    from dentalosteo_gui.core.records.history import History

    folder = tmp_path / "cases"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for name in ("10", "2", "1"):
        Image.fromarray((rng.random((120, 300)) * 255).astype(np.uint8)).save(folder / f"{name}.png")
    (folder / "3.png").write_bytes(b"not an image")
    win = make_window(qtbot, FakeEngine(), record_history=True)
    dlg = win.open_batch([str(folder)])
    qtbot.addWidget(dlg)
    assert dlg.start()
    qtbot.waitUntil(lambda: dlg.finished_run, timeout=10000)
    names = [dlg.table.item(r, 0).text() for r in range(dlg.table.rowCount())]
    assert names == ["1.png", "2.png", "3.png", "10.png"]  # 2 before 10
    err = dlg.table.item(2, dlg.table.columnCount() - 1).text()
    assert err and str(folder) not in err and dlg.table.item(0, 7).text() == ""  # a column, not a tooltip
    assert dlg.table.horizontalHeaderItem(7).text() == "Error" and dlg.table.item(0, 6).text() == "assessed"
    assert "3 recorded in the history" in dlg.status.text()
    dlg.close()
    close_window(win)
    with History() as h:
        assert len(h.list()) == 3
