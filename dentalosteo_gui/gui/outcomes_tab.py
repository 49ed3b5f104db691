"""Closing the loop (issue 19): record a screened patient's DXA result, see the patient's DXA
results with the screenings they link to, and the clinic's referral figures. Standalone
widget over the history store (``core.records.history.History``); the main window adds it
as a tab and calls :meth:`OutcomesTab.set_patient` when a radiograph is open."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets

from ..core.errors import DentalOsteoError
from ..core.records.outcomes import (
    CATEGORIES,
    FRACTURES,
    SITES,
    DxaReading,
    add_outcome,
    patient_outcomes,
)
from ..core.records.outcomes_figures import compute_figures, load_cases
from ..core.records.outcomes_report import FIGURE_TABLE_HEADER, figure_table_rows
from . import theme

EXAM_COLUMNS = ["DXA date", "Category", "Lowest T", "Sites", "Fractures", "Screenings (days to DXA)"]


def _table(columns: list[str]) -> QtWidgets.QTableWidget:
    t = QtWidgets.QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(columns)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
    t.horizontalHeader().setStretchLastSection(True)
    return t


def _fill(table: QtWidgets.QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, cells in enumerate(rows):
        for c, text in enumerate(cells):
            table.setItem(r, c, QtWidgets.QTableWidgetItem(text))
    table.resizeColumnsToContents()


class OutcomesTab(QtWidgets.QWidget):
    """DXA entry + the patient's results + the clinic's figures; ``outcome_added(list)``."""

    outcome_added = QtCore.Signal(list)

    def __init__(self, store: Any | None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self._build_form())
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        lay.addWidget(QtWidgets.QLabel("DXA results of this patient"))
        self.exams = _table(EXAM_COLUMNS)
        lay.addWidget(self.exams, 1)
        head = QtWidgets.QHBoxLayout()
        head.addWidget(QtWidgets.QLabel("This clinic's referrals against DXA (osteoporosis confirmed)"))
        head.addStretch(1)
        self.refresh_button = QtWidgets.QPushButton("Refresh figures")
        self.refresh_button.clicked.connect(self.refresh_figures)
        head.addWidget(self.refresh_button)
        lay.addLayout(head)
        self.figures = _table(FIGURE_TABLE_HEADER)
        lay.addWidget(self.figures, 1)
        note = QtWidgets.QLabel("Fewer than 10 in a denominator reads \"n too small\". Only patients "
                                "sent to DXA have an outcome: sensitivity is biased upwards. "
                                "Full report: dentalosteo outcomes report --csv OUT --pdf OUT.")
        note.setObjectName("Muted")
        note.setWordWrap(True)
        lay.addWidget(note)
        if store is None:
            self.setEnabled(False)
            self._say("The screening history is not available.", error=True)

    def _build_form(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Record a DXA result")
        form = QtWidgets.QFormLayout(box)
        self.patient = QtWidgets.QLineEdit()
        self.patient.setPlaceholderText("Patient ID, or the CASE-... key of an anonymised screening")
        self.patient.editingFinished.connect(self.refresh_patient)
        self.dxa_date = QtWidgets.QDateEdit(QtCore.QDate.currentDate())
        self.dxa_date.setCalendarPopup(True)
        self.dxa_date.setDisplayFormat("yyyy-MM-dd")
        self.dxa_date.setDateRange(QtCore.QDate(1900, 1, 1), QtCore.QDate.currentDate())
        self.site = QtWidgets.QComboBox()
        self.site.addItems(list(SITES))
        self.t_score = QtWidgets.QDoubleSpinBox()
        self.t_score.setRange(-6.0, 4.0)
        self.t_score.setDecimals(1)
        self.t_score.setSingleStep(0.1)
        self.t_score.setValue(-1.0)
        self.category = QtWidgets.QComboBox()
        self.category.addItems(["from the T-score", *CATEGORIES])
        self.fracture = QtWidgets.QComboBox()
        self.fracture.addItems(["none", *FRACTURES])
        self.add_button = QtWidgets.QPushButton("Add DXA result")
        self.add_button.clicked.connect(self.add)
        for label, w in (("Patient", self.patient), ("DXA date", self.dxa_date), ("Site", self.site),
                         ("T-score", self.t_score), ("WHO category", self.category),
                         ("Fracture", self.fracture), ("", self.add_button)):
            form.addRow(label, w)
        return box

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet(f"color: {theme.RISK_LEVEL_COLOURS['high'] if error else theme.MUTED};")
        self.status.setText(text)

    def set_patient(self, patient_id: str) -> None:
        """Show ``patient_id``'s results (the key the history stores for the open radiograph)."""
        self.patient.setText(patient_id or "")
        self.refresh_patient()

    def add(self) -> None:
        if self.store is None:
            return
        cat = self.category.currentText()
        frac = self.fracture.currentText()
        try:
            ids = add_outcome(self.store, self.patient.text(), self.dxa_date.date().toString("yyyy-MM-dd"),
                              [DxaReading(self.site.currentText(), self.t_score.value())],
                              category=None if cat not in CATEGORIES else cat,
                              fractures=[] if frac == "none" else [frac])
        except DentalOsteoError as exc:
            self._say(str(exc), error=True)
            return
        self._say(f"Recorded DXA result #{', #'.join(map(str, ids))}.")
        self.refresh_patient()
        self.refresh_figures()
        self.outcome_added.emit(ids)

    def refresh_patient(self) -> None:
        pid = self.patient.text().strip()
        if self.store is None or not pid:
            _fill(self.exams, [])
            return
        try:
            exams = patient_outcomes(self.store, pid)
        except DentalOsteoError as exc:
            _fill(self.exams, [])
            self._say(str(exc), error=True)
            return
        _fill(self.exams, [[
            e["dxa_date"], e["category"], f"{e['lowest_t']:+.1f}",
            ", ".join(f"{s} {t:+.1f}" for s, t in e["sites"].items()), ", ".join(e["fractures"]) or "-",
            ", ".join(f"#{lk['screening_id']} ({lk['days']:+d} d)" for lk in e["screenings"]) or "none in 365 days",
        ] for e in exams])

    def refresh_figures(self) -> None:
        if self.store is None:
            return
        try:
            rows = compute_figures(load_cases(self.store))
        except DentalOsteoError as exc:
            self._say(str(exc), error=True)
            return
        _fill(self.figures, figure_table_rows(rows))
