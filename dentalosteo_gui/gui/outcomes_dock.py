"""The "Outcomes and priors" dock: DXA outcomes with the clinic's figures, and the patient's
MCW over time. Built on first use (it reads the history)."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets

from .session import Session


class OutcomesDock(QtWidgets.QDockWidget):
    def __init__(self, session: Session, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Outcomes and priors", parent)
        self.setObjectName("OutcomesDock")
        self.session = session
        self.store: Any | None = None
        self.outcomes_tab: Any = None
        self.priors_view: Any = None

    def open(self, store: Any) -> None:
        """Show the dock for ``store`` (the history), building its tabs the first time."""
        self.store = store
        if self.widget() is None:
            from .outcomes_tab import OutcomesTab
            from .priors_view import PriorsView

            self.outcomes_tab, self.priors_view = OutcomesTab(store), PriorsView()
            tabs = QtWidgets.QTabWidget()
            tabs.addTab(self.outcomes_tab, "DXA outcomes")
            tabs.addTab(self.priors_view, "MCW over time")
            self.setWidget(tabs)
            self.outcomes_tab.outcome_added.connect(lambda _ids: self.refresh())
        self.refresh()
        self.show()
        self.raise_()

    def refresh(self) -> None:
        """Follow the image on screen (its patient's outcomes and priors)."""
        if self.widget() is None or self.store is None:
            return
        rad = self.session.radiograph
        pid = self.store.patient_key(rad, self.session.anonymized)[0] if rad is not None else ""
        self.outcomes_tab.set_patient(pid)
        self.outcomes_tab.refresh_figures()
        self.priors_view.load(self.store, pid)


def add_outcomes_dock(window: QtWidgets.QMainWindow, session: Session) -> OutcomesDock:
    dock = OutcomesDock(session, window)
    window.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    dock.hide()
    session.events.result.connect(dock.refresh)
    session.events.image.connect(dock.refresh)
    return dock
