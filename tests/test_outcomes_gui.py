"""Issue 19 GUI widgets (standalone): the priors plot and the outcomes tab; smoke tests with
a screenshot each (grab() to PNG in the test's folder)."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from dentalosteo_gui.core.records.history import History  # noqa: E402
from tests.test_outcomes import RAD_DAY, _clinic, record  # noqa: E402

pytestmark = pytest.mark.gui


def _shot(widget: Any, path: Path) -> Path:
    widget.grab().save(str(path))
    assert path.stat().st_size > 5000
    return path


def test_priors_view_plots_and_flags(qtbot: Any, tmp_path: Path) -> None:
    from dentalosteo_gui.gui.priors_view import PriorsView

    with History() as h:
        d0 = date(2021, 5, 3)
        for i, (r, left) in enumerate(((3.6, 3.4), (3.5, 3.5), (3.3, 3.2), (2.1, 3.0))):
            record(h, "R-1", 0.3, f"{i}" * 64, mcw=(r, left), study=d0 + timedelta(days=300 * i))
        view = PriorsView()
        qtbot.addWidget(view)
        view.resize(760, 420)
        view.load(h, "R-1")
    assert [p.mcw_right_mm for p in view.points] == [3.6, 3.5, 3.3, 2.1]
    assert [(c.side, c.to_id) for c in view.changes] == [("right", 4)]  # -1.2 mm > 1.0 mm
    assert "1 change(s) beyond 1 mm" in view.caption.text()
    clicked: list[int] = []
    view.screening_clicked.connect(clicked.append)
    view.show()
    qtbot.waitExposed(view)
    _shot(view, tmp_path / "priors_view.png")
    view.set_points([], [], 1.0)
    assert "No screenings" in view.caption.text()


def test_outcomes_tab_adds_and_shows_figures(qtbot: Any, tmp_path: Path) -> None:
    from PySide6 import QtCore

    from dentalosteo_gui.gui.outcomes_tab import OutcomesTab

    h = History()
    _clinic(h)
    tab = OutcomesTab(h)
    qtbot.addWidget(tab)
    tab.resize(980, 720)
    tab.set_patient("P12")
    assert tab.exams.rowCount() == 0
    tab.dxa_date.setDate(QtCore.QDate(RAD_DAY.year, RAD_DAY.month, RAD_DAY.day).addDays(20))
    tab.site.setCurrentText("lumbar_spine")
    tab.t_score.setValue(-2.9)
    added: list[list[int]] = []
    tab.outcome_added.connect(added.append)
    tab.add()
    assert added and tab.exams.rowCount() == 1
    assert tab.exams.item(0, 1).text() == "osteoporosis"
    assert tab.exams.item(0, 5).text() == "#13 (+20 d)"
    tab.add()  # the same again: refused, one line in red
    assert "already recorded" in tab.status.text() and len(added) == 1
    v1 = [r for r in range(tab.figures.rowCount()) if tab.figures.item(r, 0).text() == "m 1"
          and tab.figures.item(r, 2).text() == "all"][0]
    # P12 (risk 0.35, not referred) is a new false negative: PPV 4/6 as before, sensitivity 4/7
    assert tab.figures.item(v1, 6).text() == "n too small (4/6)"
    assert tab.figures.item(v1, 7).text() == "n too small (4/7)"
    tab.show()
    qtbot.waitExposed(tab)
    _shot(tab, tmp_path / "outcomes_tab.png")
    h.close()


def test_main_window_opens_the_outcomes_dock(qtbot) -> None:  # type: ignore[no-untyped-def]
    from dentalosteo_gui.core.system.settings import Settings
    from dentalosteo_gui.gui.mainwindow import MainWindow

    win = MainWindow(engine_factory=lambda: None, settings=Settings())
    qtbot.addWidget(win)
    win.acts.outcomes.trigger()
    assert not win.outcomes_dock.isHidden() and win.outcomes_dock.widget() is not None
    win.close()
