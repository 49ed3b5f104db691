"""Past screenings of the open patient (core.history), grouped by image.

One row per image (the newest screening's values, how many screenings), its screenings
beneath it (each box or landmark drag re-screens, so an image may have many), times in local
time. Double-click an image or a screening to open the file again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

COLUMNS = ["Image / screened at (local time)", "Screenings", "Risk", "Level / status", "Klemetti",
           "MCW R / L mm", "Mode", "Edits", "Exports"]
PATH_ROLE = QtCore.Qt.ItemDataRole.UserRole


def local_time(utc_iso: str) -> str:
    """'2026-12-01 14:03:22' in this computer's time zone, from the history's UTC ISO time."""
    try:
        t = datetime.fromisoformat(str(utc_iso).replace("Z", "+00:00"))
    except ValueError:
        return str(utc_iso)
    if t.tzinfo is None:  # stored times are UTC
        t = t.replace(tzinfo=UTC)
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def group_by_image(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Screenings grouped by image (file hash, else path), newest image first; each group
    newest screening first (the order ``History.list`` gives)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        key = row.get("file_sha256") or row.get("file_path") or f"#{row.get('id')}"
        groups.setdefault(str(key), []).append(row)
    return list(groups.values())


def _fmt(v: Any, nd: int = 2) -> str:
    return "" if v is None else f"{float(v):.{nd}f}"


def _level(row: dict[str, Any]) -> str:
    result = row.get("result") if isinstance(row.get("result"), dict) else {}
    status = result.get("status") if result else None
    if status == "not_panoramic":
        return "not a panoramic"
    if status == "not_assessable" or row.get("assessable") is False:
        return "not assessable"
    return row.get("band") or ""


def _values(row: dict[str, Any]) -> list[str]:
    """The columns after the first two for one screening."""
    mcw = f"{_fmt(row.get('mcw_right_mm'))} / {_fmt(row.get('mcw_left_mm'))}"
    return [_fmt(row.get("risk"), 2), _level(row),
            f"{row.get('klemetti_class') or '–'} / {row.get('klemetti_rule') or '–'}", mcw,
            row.get("mode") or "", str(row.get("n_edits", "")), str(row.get("n_exports", ""))]


class HistoryDialog(QtWidgets.QDialog):
    open_case = QtCore.Signal(str)

    def __init__(self, store: Any, patient_id: str | None, anonymized: bool,
                 parent: QtWidgets.QWidget | None = None, current_sha256: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Screening history" + (" of this patient" if patient_id else " (all patients)"))
        self.resize(960, 500)
        self.anonymized = anonymized
        lay = QtWidgets.QVBoxLayout(self)
        note = QtWidgets.QLabel(
            "Screenings of this patient by image, newest first; open an image's row to see each "
            "screening. Double-click to open the file again." if patient_id else
            "The open file has no patient ID: showing every screening by image, newest first.")
        note.setObjectName("Muted")
        note.setWordWrap(True)
        lay.addWidget(note)
        self.rows = store.list(patient_id=patient_id or None, limit=500)
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setColumnWidth(0, 290)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        for i, group in enumerate(group_by_image(self.rows)):
            item = self._add_group(group)
            item.setExpanded(i == 0 or bool(current_sha256 and group[0].get("file_sha256") == current_sha256))
        self.tree.itemDoubleClicked.connect(lambda item, _col: self._reopen(item))
        lay.addWidget(self.tree, 1)
        self.message = QtWidgets.QLabel("")
        self.message.setObjectName("Warning")
        lay.addWidget(self.message)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def _add_group(self, group: list[dict[str, Any]]) -> QtWidgets.QTreeWidgetItem:
        newest = group[0]
        path = newest.get("file_path") or ""
        name = "anonymised case" if self.anonymized or not path else Path(path).name
        top = QtWidgets.QTreeWidgetItem([f"{name} · {local_time(newest.get('created_utc', ''))}",
                                         str(len(group)), *_values(newest)])
        top.setData(0, PATH_ROLE, path)
        top.setToolTip(0, "" if self.anonymized else path)
        font = top.font(0)
        font.setBold(True)
        top.setFont(0, font)
        for row in group:
            child = QtWidgets.QTreeWidgetItem([local_time(row.get("created_utc", "")), "", *_values(row)])
            child.setData(0, PATH_ROLE, row.get("file_path") or "")
            top.addChild(child)
        self.tree.addTopLevelItem(top)
        return top

    def _reopen(self, item: QtWidgets.QTreeWidgetItem) -> None:
        path = item.data(0, PATH_ROLE) or ""
        if path and Path(path).is_file():
            self.open_case.emit(path)
            self.accept()
        else:  # in the dialog, not a second modal box
            self.message.setText("The file of this screening is not available (moved, or the screening "
                                 "was anonymised).")
