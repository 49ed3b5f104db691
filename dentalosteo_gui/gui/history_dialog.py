"""Past screenings of the open patient (core.history); double-click reopens a case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

COLUMNS = ["When (UTC)", "Risk", "Band", "Klemetti", "MCW R / L mm", "Mode", "Edits", "Exports", "File"]


class HistoryDialog(QtWidgets.QDialog):
    open_case = QtCore.Signal(str)

    def __init__(self, store: Any, patient_id: str | None, anonymized: bool,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Screening history" + (" of this patient" if patient_id else " (all patients)"))
        self.resize(900, 480)
        lay = QtWidgets.QVBoxLayout(self)
        note = QtWidgets.QLabel(
            "Screenings of this patient, newest first. Double-click a row to open its file again."
            if patient_id else "The open file has no patient ID: showing every screening, newest first.")
        note.setObjectName("Muted")
        lay.addWidget(note)
        self.rows = store.list(patient_id=patient_id or None, limit=500)
        self.table = QtWidgets.QTableWidget(len(self.rows), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        for r, row in enumerate(self.rows):
            def fmt(v: Any, nd: int = 2) -> str:
                return "" if v is None else f"{float(v):.{nd}f}"

            mcw = f"{fmt(row.get('mcw_right_mm'))} / {fmt(row.get('mcw_left_mm'))}"
            path = row.get("file_path") or ""
            vals = [row.get("created_utc", ""), fmt(row.get("risk"), 3), row.get("band") or "",
                    f"{row.get('klemetti_class') or '–'} / {row.get('klemetti_rule') or '–'}", mcw,
                    row.get("mode") or "", str(row.get("n_edits", "")), str(row.get("n_exports", "")),
                    "" if anonymized else Path(path).name]
            for c, v in enumerate(vals):
                it = QtWidgets.QTableWidgetItem(str(v))
                if c == 0:
                    it.setData(QtCore.Qt.ItemDataRole.UserRole, path)
                self.table.setItem(r, c, it)
        self.table.cellDoubleClicked.connect(self._reopen)
        lay.addWidget(self.table, 1)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def _reopen(self, row: int, _col: int) -> None:
        item = self.table.item(row, 0)
        path = item.data(QtCore.Qt.ItemDataRole.UserRole) if item else ""
        if path and Path(path).is_file():
            self.open_case.emit(path)
            self.accept()
        else:
            QtWidgets.QMessageBox.information(self, "Reopen", "The file of this screening is not available "
                                              "(moved, or the screening was anonymised).")
