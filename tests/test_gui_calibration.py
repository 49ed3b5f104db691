"""The GUI half of issue 17: the calibration ruler and the device pixel size (profiles saved,
spacing "calibrated", re-screened), the status bar's spacing provenance, the dentist's own MCW
lines and the mental foramen points sent to the engine, PMI and px/mm in the panel, and
clear messages (never a traceback) for bad input.

The settings folder (where the calibration profiles live) is a temporary one for every test
(``tests/conftest.py``: DENTALOSTEO_CONFIG_DIR).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from pathlib import Path
from typing import Any

import pytest

from dentalosteo_gui.core.screening.spacing import resolve_spacing  # noqa: E402
from dentalosteo_gui.core.system import paths  # noqa: E402
from dentalosteo_gui.core.system.profiles import ProfileStore  # noqa: E402
from dentalosteo_gui.core.types import ForamenPoint, Radiograph, RoiBox, ScreeningResult, Spacing  # noqa: E402
from dentalosteo_gui.gui import calibration_dialog  # noqa: E402
from dentalosteo_gui.gui.calibration_dialog import PixelSizeDialog, RulerDialog, parse_number  # noqa: E402
from dentalosteo_gui.gui.canvas_tools import measure_start  # noqa: E402
from dentalosteo_gui.gui.wording import mcw_reading, spacing_status  # noqa: E402

from .test_gui_support import (  # noqa: I001 - first: it sets up Qt offscreen
    FakeEngine,
    close_window,
    make_window,
    open_and_wait,
)

pytestmark = pytest.mark.gui

TODAY = datetime.date.today().isoformat()


class CalibEngine(FakeEngine):
    """The fake engine with the calibration profiles (like the real ``Engine.spacing_for``),
    the dentist's keywords, and the issue-17 result fields (mental foramen, PMI, MCW in px,
    the dentist's MCW in mm)."""

    def spacing_for(self, rad: Radiograph, override: float | Spacing | None = None) -> Spacing:
        prof = ProfileStore().match(rad)
        return resolve_spacing(rad, override, 0.1, calibrated=prof.spacing() if prof else None)

    def screen(self, rad: Radiograph, roi: RoiBox | None = None, landmarks: dict | None = None,  # type: ignore[override]
               mode: str = "roi", pixel_spacing_mm: float | None = None, cancel: Any = None,
               cross_check: bool = False, mental_foramen: dict | None = None,
               dentist_mcw: dict | None = None) -> ScreeningResult:
        res = super().screen(rad, roi, landmarks, mode, pixel_spacing_mm, cancel, cross_check)
        self.calls[-1].update(mental_foramen=mental_foramen, dentist_mcw=dentist_mcw)
        sp = self.spacing_for(rad, pixel_spacing_mm)
        res = dataclasses.replace(res, spacing=sp, mcw_right_mm=28 * sp.mm_per_px, mcw_left_mm=30 * sp.mm_per_px)
        box = res.roi
        auto = {"right": (box.x + box.w * 0.3, box.y + box.h * 0.4), "left": (box.x + box.w * 0.7, box.y + box.h * 0.4)}
        auto.update(mental_foramen or {})
        user = mental_foramen or {}
        res.mental_foramen = {k: ForamenPoint(x, y, None if k in user else 0.8, "user" if k in user else "auto")
                              for k, (x, y) in auto.items()}
        res.dentist_mcw = dentist_mcw
        res.mcw_right_px, res.mcw_left_px = 28.0, 30.0
        res.pmi_right, res.pmi_left = 0.31, 0.29
        res.mcw_dentist_right_mm = res.mcw_dentist_left_mm = None
        for side, seg in (dentist_mcw or {}).items():
            setattr(res, f"mcw_dentist_{side}_mm", math.dist(*seg) * sp.mm_per_px)
        return res



def _fake_exec(monkeypatch: pytest.MonkeyPatch, cls: type, **fields: str) -> list[Any]:
    """Replace ``cls.exec``: fill the named line edits, press OK; returns the dialogs shown."""
    shown: list[Any] = []

    def exec_(self: Any) -> int:
        shown.append(self)
        for name, text in fields.items():
            getattr(self, name).setText(text)
        self.accept()
        return int(self.result())

    monkeypatch.setattr(cls, "exec", exec_)
    return shown


# ---------------------------------------------------------------------------------------- ruler


def test_ruler_round_trip_saves_profile_and_rescreens(qtbot: Any, png: Path, errors: list,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    eng = CalibEngine()
    win = make_window(qtbot, eng)
    res0 = open_and_wait(qtbot, win, png)
    assert res0.spacing.source == "assumed"
    assert win.spacing_label.text() == "assumed 0.1 mm/px — calibrate (Tools ▸ Ruler)"
    win.tools.ruler.trigger()  # Tools > Ruler (Ctrl+L)
    assert win.session.tool == "ruler" and win.tools.banner.isVisible()
    assert win.canvas.tools.ruler is not None and not win.canvas.roi.isVisible()  # the box steps aside
    win.canvas.tools.set_ruler(((100.0, 120.0), (300.0, 120.0)))
    assert win.tools.banner.length.text() == "200.0 px"
    assert win.canvas.tools.ruler.label.toPlainText() == "200.0 px"
    shown = _fake_exec(monkeypatch, RulerDialog, known_edit="25")
    with qtbot.waitSignal(win.screening_done, timeout=10000):
        win.tools.confirm.trigger()  # Enter
    assert len(shown) == 1 and shown[0].name_edit.text() == f"{png.parent.name} 800x300"
    (prof,) = ProfileStore().load()
    assert prof.mm_per_px == pytest.approx(0.125) and prof.name == f"{png.parent.name} 800x300"
    assert (paths.config_dir() / "calibration_profiles.json").is_file()
    res = win.session.result
    assert win.session.spacing.source == "calibrated" and res.spacing.profile == prof.name
    assert res.mcw_right_mm / res0.mcw_right_mm == pytest.approx(0.125 / 0.1)
    assert win.session.tool == "" and win.canvas.tools.ruler is None and win.canvas.roi.isVisible()
    assert win.spacing_label.text() == f"calibrated: profile {prof.name}, 0.125 mm/px, set {TODAY}"
    assert win.panel.mcw_right.text() == f"{28 * 0.125:.2f} mm"  # calibrated: millimetres
    assert any(e["kind"] == "calibrated" for e in win.session.edits) or win.session.history_id is None
    assert not errors
    close_window(win)


def test_ruler_cancel_and_escape_change_nothing(qtbot: Any, png: Path, errors: list,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    eng = CalibEngine()
    win = make_window(qtbot, eng)
    open_and_wait(qtbot, win, png)
    n, spacing = len(eng.calls), win.session.spacing
    win.tools.ruler.trigger()
    win.canvas.tools.set_ruler(((10.0, 10.0), (210.0, 10.0)))
    monkeypatch.setattr(RulerDialog, "exec", lambda self: 0)  # the dialog's Cancel
    win.tools.confirm.trigger()
    assert win.session.tool == "ruler" and ProfileStore().load() == []  # the ruler stays for another try
    win.tools.cancel.trigger()  # Esc
    assert win.session.tool == "" and win.canvas.tools.ruler is None and not win.tools.banner.isVisible()
    assert not win.tools.ruler.isChecked() and not win.tools.confirm.isEnabled()
    qtbot.wait(50)
    assert len(eng.calls) == n and win.session.spacing is spacing and ProfileStore().load() == []
    assert not errors
    close_window(win)


def test_ruler_is_drawn_by_a_left_drag_on_the_image(qtbot: Any, png: Path) -> None:
    from PySide6 import QtCore

    eng = CalibEngine()
    win = make_window(qtbot, eng)
    open_and_wait(qtbot, win, png)
    vb = win.canvas.view

    class Drag:  # what pyqtgraph hands the view box (scene coordinates)
        def __init__(self, end: tuple[float, float]) -> None:
            self.end = end

        def button(self) -> Any:
            return QtCore.Qt.MouseButton.LeftButton

        def buttonDownScenePos(self, _b: Any = None) -> QtCore.QPointF:  # noqa: N802
            return vb.mapViewToScene(QtCore.QPointF(100.0, 50.0))

        def scenePos(self) -> QtCore.QPointF:  # noqa: N802
            return vb.mapViewToScene(QtCore.QPointF(*self.end))

        def accept(self) -> None:
            pass

    win.tools.ruler.trigger()
    qtbot.wait(50)  # the banner takes its room above the canvas
    range_before = vb.viewRange()
    for end in ((200.0, 50.0), (400.0, 90.0)):
        vb.mouseDragEvent(Drag(end))
    (x0, y0), (x1, y1) = win.canvas.tools.ruler_segment()
    assert (x0, y0, x1, y1) == pytest.approx((100.0, 50.0, 400.0, 90.0), abs=0.01)
    assert vb.viewRange() == range_before  # drew, did not pan
    assert win.tools.banner.length.text() == f"{math.hypot(300, 40):.1f} px"
    close_window(win)


def test_ruler_bad_input_gets_a_clear_message(qtbot: Any, png: Path, errors: list,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    win = make_window(qtbot, CalibEngine())
    open_and_wait(qtbot, win, png)
    win.tools.ruler.trigger()
    win.canvas.tools.set_ruler(((50.0, 50.0), (50.0, 50.0)))  # zero length
    opened = _fake_exec(monkeypatch, RulerDialog, known_edit="25")
    win.tools.confirm.trigger()
    assert not opened and errors and "0.0 px long" in errors[-1][1]
    rad = win.session.radiograph
    for text, words in (("abc", "not a number"), ("", "type a number"), ("0", "between 0.5 and 500"),
                        ("9999", "between 0.5 and 500"), ("0.6", "pixel spacing must be")):
        dlg = RulerDialog(rad, ((0.0, 0.0), (200.0, 0.0)), win)
        dlg.known_edit.setText(text)
        dlg.accept()
        assert dlg.result() == 0 and dlg.profile is None, text
        assert words in errors[-1][1], (text, errors[-1])
    dlg = RulerDialog(rad, ((0.0, 0.0), (200.0, 0.0)), win)
    dlg.known_edit.setText("25")
    dlg.mag_edit.setText("x1.2")
    dlg.accept()
    assert dlg.profile is None and "Magnification" in errors[-1][1]
    dlg.name_edit.setText("  ")
    dlg.mag_edit.setText("")
    dlg.accept()
    assert dlg.profile is None and "Profile name" in errors[-1][1]
    assert ProfileStore().load() == [] and all("Traceback" not in e[1] for e in errors)
    close_window(win)


def test_ruler_magnification_is_for_an_object_at_the_detector(qtbot: Any, png: Path) -> None:
    win = make_window(qtbot, CalibEngine())
    open_and_wait(qtbot, win, png)
    dlg = RulerDialog(win.session.radiograph, ((0.0, 0.0), (250.0, 0.0)), win)
    dlg.known_edit.setText("25,0")  # a decimal comma is fine
    dlg.accept()
    assert dlg.profile.mm_per_px == pytest.approx(0.1) and dlg.profile.magnification is None
    dlg.mag_edit.setText("1.25")
    dlg.accept()
    assert dlg.profile.mm_per_px == pytest.approx(0.08) and dlg.profile.magnification == 1.25
    assert "ruler 25 mm over 250.0 px" in dlg.profile.method
    close_window(win)


# ---------------------------------------------------------------------------------------- pixel size


def test_pixel_size_dialog_saves_a_profile_with_magnification(qtbot: Any, png: Path, errors: list,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    eng = CalibEngine()
    win = make_window(qtbot, eng)
    res0 = open_and_wait(qtbot, win, png)
    win.session.set_spacing_override(0.2)  # a typed spacing gives way to the calibration
    _fake_exec(monkeypatch, PixelSizeDialog, size_edit="0.13", mag_edit="1.3", name_edit="Clinic pano")
    with qtbot.waitSignal(win.screening_done, timeout=10000):
        win.tools.pixel_size.trigger()
    (prof,) = ProfileStore().load()
    assert prof.name == "Clinic pano" and prof.mm_per_px == pytest.approx(0.1) and prof.magnification == 1.3
    sp = win.session.result.spacing
    assert sp.source == "calibrated" and sp.magnification == 1.3 and win.session.spacing_override_mm is None
    assert eng.calls[-1]["spacing"] is None
    assert win.spacing_label.text() == f"calibrated: profile Clinic pano, 0.100 mm/px, set {TODAY}, magnification 1.3"
    assert win.session.result.mcw_right_mm == pytest.approx(res0.mcw_right_mm)
    assert not errors
    # bad input: a clear message, nothing saved
    dlg = PixelSizeDialog(win.session.radiograph, win)
    for size, mag, words in (("0.1", "3", "between 1 and 2"), ("big", "", "not a number"),
                             ("5", "", "between 0.005 and 1 mm")):
        dlg.size_edit.setText(size)
        dlg.mag_edit.setText(mag)
        dlg.accept()
        assert dlg.profile is None and words in errors[-1][1], (size, mag, errors[-1])
    assert len(ProfileStore().load()) == 1
    assert "1.2–1.3" in calibration_dialog.MAGNIFICATION_NOTE
    close_window(win)


def test_parse_number() -> None:
    assert parse_number(" 2,5 ", "x", 0, 10) == 2.5
    assert parse_number("", "x", 0, 10, optional=True) is None
    for bad in ("nan", "inf", "-1", "1e9", "two"):
        with pytest.raises(ValueError):
            parse_number(bad, "x", 0, 10)


# ---------------------------------------------------------------------------------------- status bar


def test_spacing_status_texts() -> None:
    cal = Spacing(0.104, "calibrated", "profile Planmeca, set 2026-12-01", profile="Planmeca")
    assert spacing_status(cal) == "calibrated: profile Planmeca, 0.104 mm/px, set 2026-12-01"
    assert spacing_status(Spacing(0.21, "file", "PixelSpacing")) == "0.210 mm/px from file (PixelSpacing)"
    assert spacing_status(Spacing(0.1, "assumed", "configured default")) == \
        "assumed 0.1 mm/px — calibrate (Tools ▸ Ruler)"
    assert spacing_status(Spacing(0.2, "user")) == "0.200 mm/px entered by you"
    assert spacing_status(Spacing(0.21077, "dataset", "labels.csv")) == "0.211 mm/px from labels.csv"
    assert spacing_status(None) == ""


# ---------------------------------------------------------------------------------------- measure


def test_measure_tool_sends_dentist_mcw_and_is_undoable(qtbot: Any, png: Path, errors: list) -> None:
    eng = CalibEngine()
    win = make_window(qtbot, eng, record_history=True)
    open_and_wait(qtbot, win, png)
    win.tools.measure.trigger()  # Ctrl+M
    tools = win.canvas.tools
    assert win.session.tool == "measure" and set(tools.measure) == {"right", "left"}
    assert tools.measure["right"].label.toPlainText().startswith("R ") and "patient's right" in tools.measure["right"].toolTip()
    right, left = ((250.0, 240.0), (250.0, 212.0)), ((550.0, 240.0), (550.0, 210.0))
    tools.set_measure("right", right)
    tools.set_measure("left", left)
    assert "28.0 px" in win.tools.banner.length.text() and "30.0 px" in win.tools.banner.length.text()
    with qtbot.waitSignal(win.screening_done, timeout=10000):
        win.tools.confirm.trigger()  # Enter: keep my lines
    sent = eng.calls[-1]["dentist_mcw"]
    assert sent == {"right": right, "left": left}
    assert win.session.dentist_mcw == {"right": right, "left": left} and win.session.tool == ""
    assert set(tools.kept) == {"right", "left"} and tools.kept["left"].label.toPlainText() == "L yours 30.0 px"
    recorded = win.controller.history_store().get(win.session.history_id)["edits"]
    assert [e["kind"] for e in recorded] == ["dentist_mcw"]  # the dentist's measurement is on record
    # assumed spacing: in px, the dentist's first, the automatic one beside it
    assert win.panel.mcw_right.text() == "28.0 px"
    assert win.panel.mcw_detail_left.text() == "dentist-measured 30.0 px; automatic 30.0 px"
    assert "Uncalibrated" in win.panel.mcw_note.text()
    assert win.tools.clear.isEnabled()
    with qtbot.waitSignal(win.screening_done, timeout=10000):
        win.acts.undo.trigger()
    assert win.session.dentist_mcw is None and eng.calls[-1]["dentist_mcw"] is None and not tools.kept
    assert win.panel.mcw_detail_left.text() == "" and not win.tools.clear.isEnabled()
    assert not errors
    close_window(win)


def test_measure_lines_start_at_the_automatic_site(qtbot: Any, png: Path) -> None:
    # per side, the normal nearest the automatic width (the fake's 28 px right, 30 px left)
    normals = [((100.0, 250.0), (100.0, 224.0)), ((120.0, 250.0), (120.0, 222.0)), ((140.0, 250.0), (140.0, 219.0)),
               ((600.0, 250.0), (600.0, 224.0)), ((620.0, 250.0), (620.0, 220.0))]
    eng = CalibEngine(klemetti_evidence={"normals": normals})
    win = make_window(qtbot, eng)
    res = open_and_wait(qtbot, win, png)
    win.tools.measure.trigger()
    segs = win.canvas.tools.measure_segments()
    flat = lambda seg: [*seg[0], *seg[1]]  # noqa: E731
    assert flat(segs["right"]) == pytest.approx(flat(normals[1])) and flat(segs["left"]) == pytest.approx(flat(normals[4]))
    win.tools.cancel.trigger()
    assert win.session.dentist_mcw is None and not win.canvas.tools.measure
    no_px = dataclasses.replace(res)  # without the automatic width in px: the middle normal
    no_px.mcw_right_px = None
    assert measure_start(no_px, tuple(normals), res.spacing, 800, 300)["right"] == normals[1]
    assert measure_start(no_px, tuple(normals[:2]), res.spacing, 800, 300)["right"] == normals[1]
    # without normals: the middle of each side's traced border, about 3 mm up into the bone
    start = measure_start(dataclasses.replace(res, klemetti_evidence={}), None, Spacing(0.1, "assumed"), 800, 300)
    (x0, y0), (x1, y1) = start["right"]
    assert (x0, y0) == res.border_right[len(res.border_right) // 2] and x1 == x0 and y0 - y1 == pytest.approx(30.0)
    assert start["left"][0][0] > start["right"][0][0]
    close_window(win)


def test_engine_without_the_new_keywords_still_screens(qtbot: Any, png: Path, errors: list) -> None:
    """Until the engine takes ``dentist_mcw`` / ``mental_foramen``: screened without them, said."""
    eng = FakeEngine()
    win = make_window(qtbot, eng)
    open_and_wait(qtbot, win, png)
    said: list[str] = []
    win.controller.message.connect(lambda text, _ms: said.append(text))
    with qtbot.waitSignal(win.screening_done, timeout=10000):
        win.controller.edit_dentist_mcw({"right": ((1.0, 2.0), (1.0, 30.0))})
    assert win.session.result is not None and "dentist_mcw" not in eng.calls[-1]
    assert any("does not take your MCW measurement yet" in t for t in said), said
    assert not errors
    close_window(win)


# ---------------------------------------------------------------------------------------- foramen


def test_foramen_points_shown_and_drag_sends_override(qtbot: Any, png: Path, errors: list) -> None:
    eng = CalibEngine()
    win = make_window(qtbot, eng)
    open_and_wait(qtbot, win, png)
    items = win.canvas.tools.foramen
    assert set(items) == {"right", "left"}
    assert items["right"].label().toPlainText() == "MF R" and "confidence 0.80" in items["right"].toolTip()
    assert win.panel.pmi_right.text() == "PMI 0.31" and win.panel.pmi_left.text() == "PMI 0.29"
    n = len(eng.calls)
    items["right"].setPos((210.0, 230.0))
    with qtbot.waitSignal(win.screening_done, timeout=10000):
        items["right"].sigPositionChangeFinished.emit(items["right"])
    assert len(eng.calls) == n + 1
    sent = eng.calls[-1]["mental_foramen"]
    assert sent == {"right": (210.0, 230.0)}  # the untouched left one stays the engine's
    assert win.session.foramen_override["right"] == (210.0, 230.0)
    assert tuple(items["right"].pos()) == (210.0, 230.0) and "placed by you" in items["right"].toolTip()
    with qtbot.waitSignal(win.screening_done, timeout=10000):
        win.acts.undo.trigger()
    assert win.session.foramen_override is None and eng.calls[-1]["mental_foramen"] is None
    assert not errors
    close_window(win)


def test_mcw_reading_words() -> None:
    base = CalibEngine().screen(Radiograph(pixels=__import__("numpy").zeros((300, 800), "float32"), path="<x>"))
    r = mcw_reading(base, "right")
    assert (r.value, r.pmi, r.low) == ("28.0 px", "PMI 0.31", False)  # assumed: px, never assumed mm
    cal = dataclasses.replace(base, spacing=Spacing(0.1, "calibrated", profile="p"), mcw_right_mm=2.6)
    cal.mcw_dentist_right_mm, cal.pmi_right = 2.8, None
    r = mcw_reading(cal, "right")
    assert (r.value, r.detail, r.pmi, r.low) == ("2.80 mm", "dentist-measured 2.8 mm; automatic 2.6 mm", "PMI –", True)
    assert mcw_reading(None, "left").value == "–"
    cal.pmi_detail = {"right": {"reason": "no foramen found"}, "left": {"pmi_dentist": 0.27}}
    assert mcw_reading(cal, "right").pmi_why == "no foramen found"
    assert mcw_reading(cal, "left").pmi == "PMI 0.29 · yours 0.27"


# ---------------------------------------------------------------------------------------- real engine


def test_ruler_with_the_real_engine_on_the_sample(qtbot: Any, errors: list, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real (rule-based) engine picks the saved profile up: spacing "calibrated", MCW scaled."""
    sample = paths.sample_image()
    if not sample.is_file():
        pytest.skip("bundled sample not installed")
    from dentalosteo_gui.core.screening.engine import Engine

    win = make_window(qtbot, Engine(None, None))
    res0 = open_and_wait(qtbot, win, sample)
    assert res0.spacing.source == "dataset" and res0.mcw_right_mm is not None
    win.tools.ruler.trigger()
    win.canvas.tools.set_ruler(((300.0, 100.0), (700.0, 100.0)))
    _fake_exec(monkeypatch, RulerDialog, known_edit="50")  # 0.125 mm/px
    with qtbot.waitSignal(win.screening_done, timeout=60000):
        win.tools.confirm.trigger()
    res = win.session.result
    assert res.spacing.source == "calibrated" and res.spacing.mm_per_px == pytest.approx(0.125)
    assert res.mcw_right_mm / res0.mcw_right_mm == pytest.approx(0.125 / res0.spacing.mm_per_px, rel=0.15)
    assert win.spacing_label.text().startswith("calibrated: profile samples ")
    # the engine's own foramen, moved by the dentist, comes back as theirs
    items = win.canvas.tools.foramen
    assert items, "the engine proposes a mental foramen on the sample"
    side, item = next(iter(items.items()))
    x, y = item.pos().x() + 6.0, item.pos().y()
    item.setPos((x, y))
    with qtbot.waitSignal(win.screening_done, timeout=60000):
        item.sigPositionChangeFinished.emit(item)
    fp = win.session.result.mental_foramen[side]
    assert fp.source == "user" and (fp.x, fp.y) == pytest.approx((x, y)) and "placed by you" in items[side].toolTip()
    assert not errors
    close_window(win)
