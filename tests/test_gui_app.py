"""pytest-qt tests of the desktop app with a FAKE engine (no TensorFlow needed).

The fake has the real ``Engine.screen`` signature and returns a real ``ScreeningResult``
whose risk depends on the box, so re-screens are visible. Covers: open, ROI drag re-screens
exactly once, landmark mode, heatmap toggle, batch cancel, bad file dialog, worker error
dialog, settings persist, event loop responsive during screening, no dangling threads,
screenshot mode, TensorFlow kept off the start-up path.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6 import QtCore, QtWidgets  # noqa: E402

from dentalosteo_gui.core.system.settings import Settings, load_settings  # noqa: E402
from dentalosteo_gui.core.types import (  # noqa: E402
    LANDMARK_NAMES,
    PatientInfo,
    Radiograph,
    RoiBox,
)

from .test_gui_support import (  # noqa: E402
    FakeEngine,
    close_window,
    make_window,
    open_and_wait,
)

pytestmark = pytest.mark.gui


# ---------------------------------------------------------------------------------------


def test_open_sample_shows_image_roi_and_result(qtbot: Any, png: Path, errors: list) -> None:
    eng = FakeEngine()
    win = make_window(qtbot, eng)
    assert win.stack.currentIndex() == 0  # welcome panel first
    res = open_and_wait(qtbot, win, png)
    assert win.stack.currentIndex() == 1
    assert win.canvas.image_item.image.shape == (300, 800)
    assert win.canvas.roi is not None and win.canvas.roi_box() == res.roi
    assert win.panel.risk_value.text() == f"{res.risk:.2f}"
    assert "sensitivity 80%" in win.panel.op_label.text()
    assert win.panel.risk_level_chip.text() == {"low": "LOW", "intermediate": "INTERMEDIATE", "high": "HIGH"}[res.risk_level]
    assert "C2" in win.panel.klemetti_label.text() and "agree" in win.panel.klemetti_agree.text()
    assert "px" in win.panel.mcw_right.text()  # assumed spacing: MCW in pixels, never assumed mm
    assert "Assumed spacing" in win.panel.spacing_warning.text()
    assert "fake-net" in win.model_label.text() and "ms" in win.timing_label.text()
    assert eng.threads and "MainThread" not in eng.threads  # screened off the GUI thread
    assert not errors
    close_window(win)


def test_roi_drag_rescreens_exactly_once(qtbot: Any, png: Path) -> None:
    eng = FakeEngine()
    win = make_window(qtbot, eng)
    first = open_and_wait(qtbot, win, png)
    n = len(eng.calls)
    roi = win.canvas.roi
    changed: list[Any] = []
    roi.sigRegionChanged.connect(lambda *_: changed.append(1))
    for dx in (5, 10, 20, 40):  # several drag steps: must not screen
        roi.setPos((first.roi.x + dx, first.roi.y), update=True, finish=False)
    qtbot.wait(150)
    assert len(changed) >= 4 and len(eng.calls) == n
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        roi.sigRegionChangeFinished.emit(roi)  # the drag ends
    qtbot.wait(150)
    assert len(eng.calls) == n + 1
    assert eng.calls[-1]["roi"] == RoiBox(first.roi.x + 40, first.roi.y, first.roi.w, first.roi.h)
    assert win.session.result.risk > first.risk
    assert win.session.edits or win.session.roi_override is not None
    # the arriving result repositions the box without triggering another screening
    assert len(eng.calls) == n + 1
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        win.controller.reset_to_proposal()
    assert eng.calls[-1]["roi"] is None and win.session.roi_override is None
    assert win.canvas.roi_box() == first.roi
    close_window(win)


def test_landmark_mode_points_weights_patches(qtbot: Any, png: Path) -> None:
    eng = FakeEngine()
    win = make_window(qtbot, eng)
    open_and_wait(qtbot, win, png)
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        win.controller.set_mode("landmarks")
    assert eng.calls[-1]["mode"] == "landmarks"
    assert win.canvas.roi is None
    assert set(win.canvas.landmark_items) == set(LANDMARK_NAMES)
    item = win.canvas.landmark_items["right_gonial_angle"]
    assert item.label_text() == "0.12"  # attention weight next to the point
    item.hovering = True
    assert "R gonial angle" in item.label_text()  # name on hover
    assert win.panel.patch_card.isVisibleTo(win.panel)
    assert all(img.pixmap() is not None and not img.pixmap().isNull()
               for img, _ in win.panel.patch_labels.values())
    n = len(eng.calls)
    item.setPos((100.0, 150.0))
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        item.sigPositionChangeFinished.emit(item)
    assert len(eng.calls) == n + 1
    assert eng.calls[-1]["landmarks"]["right_gonial_angle"] == (100.0, 150.0)
    close_window(win)


def test_heatmap_toggle_and_opacity(qtbot: Any, png: Path) -> None:
    win = make_window(qtbot, FakeEngine())
    open_and_wait(qtbot, win, png)
    heat = win.canvas.heat_item
    assert heat.isVisible() and heat.image is not None and float(heat.image.max()) > 0.9
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Space)
    assert not win.session.display.heatmap_visible and not heat.isVisible()
    assert not win.panel.heat_check.isChecked()
    win.panel.heat_check.setChecked(True)
    assert heat.isVisible() and win.acts.heatmap.isChecked()
    win.panel.opacity_slider.setValue(20)
    assert heat.opacity() == pytest.approx(0.2)
    lo, hi = win.session.display.levels
    win.apply_level_preset("Bone / cortex")
    assert tuple(win.canvas.image_item.levels) == pytest.approx((0.35, 0.95))
    win.acts.invert.trigger()
    assert win.session.display.invert
    close_window(win)


def test_batch_progress_cancel_sort_export(qtbot: Any, tmp_path: Path) -> None:
    folder = tmp_path / "cases"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(8):
        Image.fromarray((rng.random((120, 300)) * 255).astype(np.uint8)).save(folder / f"c{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    eng = FakeEngine(delay=0.15)
    win = make_window(qtbot, eng)
    dlg = win.open_batch([str(folder)])
    qtbot.addWidget(dlg)
    assert dlg.start()
    qtbot.waitUntil(lambda: len(dlg.rows) >= 2, timeout=10000)
    dlg.cancel()
    qtbot.waitUntil(lambda: not dlg.running, timeout=10000)
    assert "Cancelled" in dlg.status.text()
    assert 2 <= len(dlg.rows) < 9
    assert dlg.count_label.text().startswith(f"{len(dlg.rows)} / 9")
    assert "ETA" in dlg.eta_label.text()
    assert win.pool.active == []
    # full run: the broken file is recorded, not fatal; the table sorts by risk
    eng.delay = 0.0
    assert dlg.start()
    qtbot.waitUntil(lambda: dlg.finished_run, timeout=10000)
    assert len(dlg.rows) == 9 and sum(1 for r in dlg.rows if r["error"]) == 1
    dlg.table.sortItems(1, QtCore.Qt.SortOrder.DescendingOrder)
    risks = [dlg.table.item(r, 1).value for r in range(dlg.table.rowCount())]
    numeric = [r for r in risks if r is not None]
    assert numeric == sorted(numeric, reverse=True) and risks[-1] is None
    out = dlg.export_csv(tmp_path / "batch.csv")
    lines = out.read_text(encoding="utf-8").strip().splitlines()
    assert len(lines) == 10 and lines[0].startswith("file,risk,band")
    opened: list[str] = []
    dlg.open_case.disconnect()
    dlg.open_case.connect(opened.append)
    dlg._double_clicked(0, 0)
    assert opened and Path(opened[0]).exists()
    dlg.close()
    close_window(win)


def test_bad_file_shows_one_dialog(qtbot: Any, tmp_path: Path, errors: list) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    win = make_window(qtbot, FakeEngine())
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        win.open_path(bad)
    assert len(errors) == 1
    title, text = errors[0]
    assert title == "Cannot open file" and "bad.png" in text
    assert win.session.radiograph is None and win.stack.currentIndex() == 0
    close_window(win)


def test_worker_error_goes_to_one_dialog_and_the_log(qtbot: Any, png: Path, errors: list,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    win = make_window(qtbot, FakeEngine(fail=RuntimeError("boom")))
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        win.open_path(png)
    assert len(errors) == 1 and errors[0][0] == "Screening failed" and "boom" in errors[0][1]
    assert any("boom" in r.getMessage() for r in caplog.records)
    assert not win.session.busy
    close_window(win)


def test_settings_dialog_persists(qtbot: Any, tmp_path: Path) -> None:
    from dentalosteo_gui.gui.settings_dialog import SettingsDialog

    path = tmp_path / "settings.json"
    dlg = SettingsDialog(Settings(), ["balanced", "high_sensitivity"], settings_path=path)
    qtbot.addWidget(dlg)
    dlg.device.setCurrentIndex(dlg.device.findData("cpu"))
    dlg.operating_point.setCurrentIndex(dlg.operating_point.findData("high_sensitivity"))
    dlg.spacing.setValue(0.13)
    dlg.clinic_name.setText("Smile Clinic")
    dlg.anonymize.setChecked(True)
    dlg.page_size.setCurrentText("Letter")
    dlg.accept()
    s = load_settings(path)
    assert (s.device, s.operating_point, s.clinic_name, s.anonymize_exports, s.page_size) == (
        "cpu", "high_sensitivity", "Smile Clinic", True, "Letter")
    assert s.default_pixel_spacing_mm == pytest.approx(0.13)


def test_recent_files_persist_and_spacing_edit(qtbot: Any, png: Path) -> None:
    eng = FakeEngine()
    win = make_window(qtbot, eng)
    open_and_wait(qtbot, win, png)
    assert load_settings().recent_files[0] == str(png.resolve())
    assert win.recent_menu.actions() and "pano.png" in win.recent_menu.actions()[0].text()
    win.panel.spacing_box.setValue(0.2)
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        win.panel.spacing_apply.click()
    assert eng.calls[-1]["spacing"] == pytest.approx(0.2)
    assert win.session.result.mcw_right_mm == pytest.approx(28 * 0.2)
    assert "Assumed" not in win.panel.spacing_warning.text()
    close_window(win)


def test_header_strip_hidden_when_anonymised(qtbot: Any) -> None:
    win = make_window(qtbot, FakeEngine())
    rad = Radiograph(pixels=np.zeros((50, 100), np.float32), path="/x/p.dcm", format="DICOM",
                     patient=PatientInfo(name="DOE^JANE", patient_id="P123", study_date="20240102"))
    win.session.set_radiograph(rad, rad.path)
    assert "DOE JANE" in win.header.patient.text() and "2024-01-02" in win.header.patient.text()
    win.session.set_settings(dataclasses.replace(win.session.settings, anonymize_exports=True))
    assert "DOE" not in win.header.patient.text() and "P123" not in win.header.patient.text()
    assert "p.dcm" not in win.header.image_info.text()
    close_window(win)


def test_event_loop_responsive_during_screening(qtbot: Any, png: Path) -> None:
    eng = FakeEngine(delay=1.0)
    win = make_window(qtbot, eng)
    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    t0 = time.perf_counter()
    with qtbot.waitSignal(win.screening_done, timeout=10000):
        win.open_path(png)
    elapsed = time.perf_counter() - t0
    timer.stop()
    assert elapsed >= 1.0
    # a 20 ms timer ticks ~50 times in 1 s when the GUI thread is free; the largest gap
    # between ticks shows any freeze
    gaps = np.diff(ticks)
    assert len(ticks) >= 0.5 * elapsed / 0.02, len(ticks)
    assert gaps.max() < 0.25, gaps.max()
    close_window(win)


def test_engine_loads_in_background_window_appears_at_once(qtbot: Any, png: Path) -> None:
    from dentalosteo_gui.gui.mainwindow import MainWindow

    eng = FakeEngine()

    def slow_factory(settings: Settings) -> FakeEngine:
        time.sleep(1.5)
        return eng

    t0 = time.perf_counter()
    win = MainWindow(engine_factory=slow_factory, settings=Settings(), record_history=False)
    qtbot.addWidget(win)
    win.show()
    # the constructor returned without waiting for the (slow) engine
    assert win.controller.engine is None and time.perf_counter() - t0 < 1.5
    qtbot.waitUntil(lambda: win.session.engine_state == "loading", timeout=2000)
    assert "Loading model" in win.panel.state_label.text()
    with qtbot.waitSignal(win.screening_done, timeout=10000):
        win.open_path(png)  # screened once the engine arrives
    assert win.session.engine_state == "ready" and win.session.result is not None
    close_window(win)


def test_no_thread_left_running_on_quit(qtbot: Any, png: Path) -> None:
    before = {t.ident for t in threading.enumerate()}
    eng = FakeEngine(delay=2.0)
    win = make_window(qtbot, eng)
    win.open_path(png)
    qtbot.waitUntil(lambda: len(eng.calls) == 1, timeout=5000)
    t0 = time.perf_counter()
    win.close()  # cancels the running screening and waits for it
    assert time.perf_counter() - t0 < 1.5
    assert win.pool.pool.activeThreadCount() == 0 and win.pool.active == []
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()
                and not isinstance(t, threading._DummyThread)]  # type: ignore[attr-defined]
    assert leftover == []


def test_screenshot_mode_writes_png_and_quits(qtbot: Any, png: Path, tmp_path: Path) -> None:
    from dentalosteo_gui.gui.mainwindow import run_gui

    out = tmp_path / "shot.png"
    t0 = time.perf_counter()
    rc = run_gui([str(png)], screenshot=str(out), timeout_s=20, engine=FakeEngine())
    assert rc == 0 and out.exists() and time.perf_counter() - t0 < 20
    im = Image.open(out)
    assert im.size[0] >= 800 and np.asarray(im.convert("L")).std() > 5


def test_startup_path_does_not_import_tensorflow() -> None:
    code = ("import sys; import dentalosteo_gui.app, dentalosteo_gui.gui.mainwindow; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False False"


def test_export_pdf_and_history_recorded(qtbot: Any, png: Path, tmp_path: Path, errors: list) -> None:
    pytest.importorskip("reportlab")
    from dentalosteo_gui.core.records.history import History

    win = make_window(qtbot, FakeEngine(), record_history=True)
    open_and_wait(qtbot, win, png)
    assert win.session.history_id is not None
    out = tmp_path / "report.pdf"
    w = win.controller.export_pdf(out)
    assert w is not None
    qtbot.waitUntil(lambda: w.done.is_set(), timeout=20000)
    qtbot.waitUntil(lambda: "Report written" in win.statusBar().currentMessage() or bool(errors), timeout=5000)
    assert not errors
    assert out.read_bytes()[:4] == b"%PDF"
    close_window(win)
    with History() as h:
        rows = h.list()
        assert len(rows) == 1 and rows[0]["n_exports"] == 1
        assert rows[0]["risk"] == pytest.approx(win.session.result.risk, abs=1e-6)


def test_drop_file_on_window_opens_it(qtbot: Any, png: Path) -> None:
    from PySide6 import QtGui

    win = make_window(qtbot, FakeEngine())
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(png))])
    ev = QtGui.QDropEvent(QtCore.QPointF(50, 50), QtCore.Qt.DropAction.CopyAction, mime,
                          QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        win.dropEvent(ev)
    assert win.session.path == str(png)
    close_window(win)


def test_right_drag_sets_window_level_and_double_click_fits(qtbot: Any, png: Path) -> None:
    win = make_window(qtbot, FakeEngine())
    open_and_wait(qtbot, win, png)
    vb = win.canvas.view

    class Drag:
        def __init__(self, dx: float, dy: float, start: bool, finish: bool) -> None:
            self.d, self.start, self.finish = QtCore.QPointF(dx, dy), start, finish

        def button(self) -> Any:
            return QtCore.Qt.MouseButton.RightButton

        def isStart(self) -> bool:  # noqa: N802
            return self.start

        def isFinish(self) -> bool:  # noqa: N802
            return self.finish

        def buttonDownScreenPos(self, _b: Any = None) -> QtCore.QPointF:  # noqa: N802
            return QtCore.QPointF(100, 100)

        def screenPos(self) -> QtCore.QPointF:  # noqa: N802
            return QtCore.QPointF(100, 100) + self.d

        def accept(self) -> None:
            pass

    before = win.session.display.levels
    vb.mouseDragEvent(Drag(0, 0, True, False))
    vb.mouseDragEvent(Drag(-150, -60, False, True))  # narrower window, brighter level
    lo, hi = win.session.display.levels
    assert hi - lo < before[1] - before[0]
    assert tuple(win.canvas.image_item.levels) == pytest.approx((lo, hi))
    assert len(win.controller.engine.calls) == 1  # display changes never re-screen
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_R)
    assert win.session.display.levels == (0.0, 1.0)
    vb.scaleBy((0.2, 0.2))
    win.canvas.fit()
    (x0, x1), _ = vb.viewRange()
    assert x0 <= 0 and x1 >= 800
    close_window(win)


def test_single_key_shortcuts_do_not_steal_typing(qtbot: Any, png: Path) -> None:
    eng = FakeEngine()
    win = make_window(qtbot, eng)
    open_and_wait(qtbot, win, png)
    box = win.panel.spacing_box
    box.setFocus()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), "0.12")
    assert win.session.mode == "roi" and box.lineEdit().text().startswith("0.12")
    zoom = win.canvas.zoom_factor()
    assert zoom is not None and abs(zoom - 1.0) > 0.05  # "0" and "1" typed into the box: no fit, no 1:1
    win.canvas.setFocus()
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_2, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert win.session.mode == "landmarks" and win.acts.lm_mode.isChecked()
    close_window(win)


def test_model_load_failure_falls_back_to_rule_based(qtbot: Any, errors: list) -> None:
    from dentalosteo_gui.core.errors import ModelError
    from dentalosteo_gui.core.system.paths import sample_image
    from dentalosteo_gui.gui.mainwindow import MainWindow

    if not sample_image().is_file():
        pytest.skip("bundled sample not installed")

    def broken(settings: Settings) -> Any:
        raise ModelError("models/default: sha256 does not match the card; reinstall the model")

    win = MainWindow(engine_factory=broken, settings=Settings(), record_history=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.session.engine_state == "error", timeout=5000)
    assert len(errors) == 1 and "sha256" in errors[0][1]
    with qtbot.waitSignal(win.screening_done, timeout=30000):
        win.open_path(sample_image())
    res = win.session.result
    assert res is not None and res.risk is None and res.mcw_right_mm is not None
    assert "failed to load" in win.model_label.text() and len(errors) == 1
    close_window(win)


def test_history_dialog_groups_by_image_in_local_time_and_reopens(qtbot: Any, png: Path) -> None:
    from datetime import datetime

    from dentalosteo_gui.gui.history_dialog import HistoryDialog

    eng = FakeEngine()
    win = make_window(qtbot, eng, record_history=True)
    open_and_wait(qtbot, win, png)
    box = win.session.result.roi
    roi = win.canvas.roi
    for dx in (10, 20):  # two box drags: three screenings of ONE image
        roi.setPos((box.x + dx, box.y), update=True, finish=False)
        with qtbot.waitSignal(win.screening_done, timeout=5000):
            roi.sigRegionChangeFinished.emit(roi)
    store = win.controller.history_store()
    dlg = HistoryDialog(store, None, False, win)
    qtbot.addWidget(dlg)
    assert dlg.tree.topLevelItemCount() == 1  # one row per image, not per box drag
    top = dlg.tree.topLevelItem(0)
    assert top.childCount() == 3 and top.text(1) == "3" and "pano.png" in top.text(0)
    newest = store.list()[0]
    local = datetime.fromisoformat(newest["created_utc"]).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert top.child(0).text(0) == local and "+00:00" not in top.text(0)  # local time, with seconds
    assert top.child(0).text(7) == "1"  # the newest screening carries the ROI edit
    reopened: list[str] = []
    dlg.open_case.connect(reopened.append)
    dlg._reopen(top.child(2))
    assert reopened == [str(png)]
    close_window(win)


def test_space_tap_toggles_heatmap_space_drag_pans(qtbot: Any, png: Path) -> None:
    from PySide6 import QtTest

    eng = FakeEngine()
    win = make_window(qtbot, eng)
    open_and_wait(qtbot, win, png)
    vp = win.canvas.viewport()
    win.canvas.setFocus()
    # hold Space and drag starting ON the ROI box: the view pans, the box does not move
    roi_before = win.canvas.roi_box()
    centre = win.canvas.mapFromScene(win.canvas.view.mapViewToScene(QtCore.QPointF(
        roi_before.x + roi_before.w / 2, roi_before.y + roi_before.h / 2)))
    (x0, _), _ = win.canvas.view.viewRange()
    QtTest.QTest.keyPress(win.canvas, QtCore.Qt.Key.Key_Space)
    QtTest.QTest.mousePress(vp, QtCore.Qt.MouseButton.LeftButton, pos=centre)
    for dx in (20, 40, 80):
        QtTest.QTest.mouseMove(vp, centre + QtCore.QPoint(dx, 0))
    QtTest.QTest.mouseRelease(vp, QtCore.Qt.MouseButton.LeftButton, pos=centre + QtCore.QPoint(80, 0))
    QtTest.QTest.keyRelease(win.canvas, QtCore.Qt.Key.Key_Space)
    (x1, _), _ = win.canvas.view.viewRange()
    assert x1 < x0  # content moved right = view origin moved left
    assert win.canvas.roi_box() == roi_before and len(eng.calls) == 1
    assert win.session.display.heatmap_visible  # a drag is not a tap
    qtbot.keyClick(win.canvas, QtCore.Qt.Key.Key_Space)
    assert not win.session.display.heatmap_visible
    close_window(win)


def test_wheel_over_unfocused_spin_box_or_slider_changes_nothing(qtbot: Any, png: Path) -> None:
    from PySide6 import QtGui

    win = make_window(qtbot, FakeEngine())
    open_and_wait(qtbot, win, png)
    box, slider = win.panel.spacing_box, win.panel.opacity_slider
    win.canvas.setFocus()

    def wheel(widget: QtWidgets.QWidget) -> None:
        centre = QtCore.QPointF(widget.width() / 2, widget.height() / 2)
        ev = QtGui.QWheelEvent(centre, widget.mapToGlobal(centre), QtCore.QPoint(0, 0), QtCore.QPoint(0, 120),
                               QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier,
                               QtCore.Qt.ScrollPhase.NoScrollPhase, False)
        QtWidgets.QApplication.sendEvent(widget, ev)

    for widget, value in ((box, box.value), (slider, slider.value)):
        assert widget.focusPolicy() == QtCore.Qt.FocusPolicy.StrongFocus and not widget.hasFocus()
        before = value()
        wheel(widget)
        assert value() == before
    assert win.session.display.heatmap_opacity == pytest.approx(0.55)
    assert len(win.controller.engine.calls) == 1
    close_window(win)
