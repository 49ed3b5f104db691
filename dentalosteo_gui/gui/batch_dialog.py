"""Batch screening dialog: progress (count, ETA), cancel, sortable results, CSV export.

The run is core ``iter_batch`` (a cancellable generator, ``jobs.batch_job``) started with
``WorkerPool.run``; each finished file arrives as a progress value on the GUI thread, already
recorded in the screening history. Files are screened in natural order (``2.png`` before
``10.png``); a file that fails shows its reason in the Error column.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.screening.batch import (
    CSV_FIELDS,
    BatchItem,
    case_label,
    collect_files,
    dataset_spacing,
    flatten,
    format_eta,
)
from ..core.types import ScreeningResult
from . import theme
from .jobs import BatchRow, ScreenFn, batch_job, natural_key
from .workers import Worker, WorkerPool

log = logging.getLogger(__name__)

COLUMNS = ["File", "Risk", "Band", "Klemetti (model / rule)", "MCW R mm", "MCW L mm", "Status", "Error"]
ERROR_COLUMN = COLUMNS.index("Error")
STATUS_TEXT = {"assessed": "assessed", "not_assessable": "not assessable", "not_panoramic": "not a panoramic"}


class _NumItem(QtWidgets.QTableWidgetItem):
    """Sorts by number; empty cells (errors) count as lowest, so they end up last when
    sorting high risk first."""

    def __init__(self, value: float | None, text: str) -> None:
        super().__init__(text)
        self.value = value
        self.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        a = self.value
        b = getattr(other, "value", None)
        if b is None:
            return False
        if a is None:
            return True
        return a < b


class _NameItem(QtWidgets.QTableWidgetItem):
    """Sorts file names as people count (``2.png`` before ``10.png``)."""

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        return natural_key(self.text()) < natural_key(other.text())


class BatchDialog(QtWidgets.QDialog):
    """Screen a folder; double-click a row to open that case in the main window."""

    open_case = QtCore.Signal(str)

    def __init__(self, pool: WorkerPool, get_screen: Callable[[], ScreenFn | None],
                 anonymize: bool = False, get_history: Callable[[], Any] | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch screening")
        self.resize(1100, 620)
        self.pool = pool
        self.get_screen = get_screen
        self.get_history = get_history or (lambda: None)
        self.anonymize = anonymize
        self.n_recorded = 0
        self.inputs: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.worker: Worker | None = None
        self.finished_run = False

        lay = QtWidgets.QVBoxLayout(self)
        top = QtWidgets.QHBoxLayout()
        self.inputs_label = QtWidgets.QLabel("Choose a folder of radiographs (sub-folders included).")
        self.inputs_label.setObjectName("Muted")
        top.addWidget(self.inputs_label, 1)
        self.folder_button = QtWidgets.QPushButton(theme.icon("folder"), "Folder…")
        self.folder_button.clicked.connect(self._choose_folder)
        top.addWidget(self.folder_button)
        self.start_button = QtWidgets.QPushButton("Start")
        self.start_button.setObjectName("Primary")
        self.start_button.clicked.connect(self.start)
        self.start_button.setEnabled(False)
        top.addWidget(self.start_button)
        lay.addLayout(top)

        prog = QtWidgets.QHBoxLayout()
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        prog.addWidget(self.progress, 1)
        self.count_label = QtWidgets.QLabel("0 / 0")
        self.eta_label = QtWidgets.QLabel("ETA --:--")
        self.eta_label.setObjectName("Muted")
        prog.addWidget(self.count_label)
        prog.addWidget(self.eta_label)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        prog.addWidget(self.cancel_button)
        lay.addLayout(prog)

        self.table = self._build_table()
        lay.addWidget(self.table, 1)

        bottom = QtWidgets.QHBoxLayout()
        self.status = QtWidgets.QLabel("")
        self.status.setObjectName("Muted")
        bottom.addWidget(self.status, 1)
        self.export_button = QtWidgets.QPushButton(theme.icon("export"), "Export CSV…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._export_dialog)
        bottom.addWidget(self.export_button)
        close = QtWidgets.QPushButton("Close")
        close.clicked.connect(self.close)
        bottom.addWidget(close)
        lay.addLayout(bottom)

    def _build_table(self) -> QtWidgets.QTableWidget:
        """The results table: sortable (risk numerically, names naturally), the Error column last."""
        table = QtWidgets.QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        table.setAlternatingRowColors(True)
        table.verticalHeader().setVisible(False)
        table.setWordWrap(True)
        table.horizontalHeader().setStretchLastSection(True)  # the Error column takes the rest
        table.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Interactive)
        table.setColumnWidth(0, 200)
        for col, width in ((1, 60), (2, 100), (3, 140), (4, 75), (5, 75), (6, 110)):
            table.setColumnWidth(col, width)
        table.cellDoubleClicked.connect(self._double_clicked)
        table.setToolTip("Click a header to sort (Risk numerically, File as people count); double-click a row "
                        "to open it.")
        return table

    # ------------------------------------------------------------------ inputs
    def _choose_folder(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder of radiographs")
        if d:
            self.set_inputs([d])

    def set_inputs(self, items: list[str]) -> None:
        self.inputs = [str(i) for i in items]
        files = collect_files(self.inputs)
        self.inputs_label.setText(f"{len(files)} radiograph(s) in " + ", ".join(Path(i).name for i in self.inputs))
        self.start_button.setEnabled(bool(files) and self.worker is None)

    # ------------------------------------------------------------------ run
    def start(self) -> bool:
        """Start screening the inputs; False when there is nothing to do or no engine."""
        screen = self.get_screen()
        if screen is None:
            self.status.setText("The model is still loading; try again in a moment.")
            return False
        files = sorted(collect_files(self.inputs), key=natural_key)
        if not files:
            self.status.setText("No radiographs found.")
            return False
        self.rows = []
        self.n_recorded = 0
        self.finished_run = False
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        self.progress.setRange(0, len(files))
        self.progress.setValue(0)
        self.count_label.setText(f"0 / {len(files)}")
        self.eta_label.setText("ETA --:--")
        self.status.setText("Screening…")
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.export_button.setEnabled(False)
        self.worker = self.pool.run(
            batch_job, screen, files, dataset_spacing(self.inputs), self.get_history(), self.anonymize, name="batch",
            on_progress=self._on_item, on_result=lambda _: self._done("Done"),
            on_cancelled=lambda: self._done("Cancelled"), on_error=lambda exc: self._done(f"Failed: {exc}"))
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.status.setText("Cancelling after the current file…")
            self.cancel_button.setEnabled(False)

    def _on_item(self, out: BatchRow) -> None:
        if self.worker is not None and self.worker.is_cancelled:
            return
        item = out.item
        label = case_label(item.path, self.anonymize)
        row = flatten(item.result, label, item.error)
        row["_path"] = str(item.path)
        row["_error"] = _error_reason(item)
        row["_history_id"] = out.history_id
        self.n_recorded += out.history_id is not None
        if out.history_error:
            row["_error"] = (row["_error"] + "; " if row["_error"] else "") + f"not in the history: {out.history_error}"
        self.rows.append(row)
        self._add_row(row, item.result)
        done = item.index + 1
        self.progress.setValue(done)
        self.count_label.setText(f"{done} / {item.total}")
        self.eta_label.setText(f"ETA {format_eta(item.eta_s)}")

    def _add_row(self, row: dict[str, Any], res: ScreeningResult | None) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        name = _NameItem(Path(row["file"]).name if not self.anonymize else row["file"])
        name.setData(QtCore.Qt.ItemDataRole.UserRole, row["_path"])
        name.setToolTip(row["file"])
        self.table.setItem(r, 0, name)
        risk = res.risk if res else None
        self.table.setItem(r, 1, _NumItem(risk, "" if risk is None else f"{risk:.3f}"))
        band = QtWidgets.QTableWidgetItem(row.get("band") or "")
        if row.get("band"):
            band.setForeground(QtGui.QColor("#0b0d0f" if row["band"] == "intermediate" else "#ffffff"))
            band.setBackground(QtGui.QColor(theme.risk_level_colour(row["band"])))
        self.table.setItem(r, 2, band)
        kl = f"{row.get('klemetti_class') or '–'} / {row.get('klemetti_rule') or '–'}"
        self.table.setItem(r, 3, QtWidgets.QTableWidgetItem(kl))
        for col, key in ((4, "mcw_right_mm"), (5, "mcw_left_mm")):
            v = row.get(key)
            self.table.setItem(r, col, _NumItem(None if v in ("", None) else float(v),
                                                "" if v in ("", None) else f"{float(v):.2f}"))
        self.table.setItem(r, 6, QtWidgets.QTableWidgetItem("failed" if res is None else STATUS_TEXT[res.status]))
        err = QtWidgets.QTableWidgetItem(row["_error"])
        if row["_error"]:
            err.setForeground(QtGui.QColor(theme.WARN))
        self.table.setItem(r, ERROR_COLUMN, err)
        self.table.resizeRowToContents(r)

    def _done(self, text: str) -> None:
        n_err = sum(1 for r in self.rows if r.get("error"))
        recorded = f" {self.n_recorded} recorded in the history." if self.n_recorded else ""
        self.status.setText(f"{text}: {len(self.rows)} file(s), {n_err} error(s).{recorded}")
        self.worker = None
        self.finished_run = True
        self.cancel_button.setEnabled(False)
        self.start_button.setEnabled(bool(self.inputs))
        self.export_button.setEnabled(bool(self.rows))
        self.table.horizontalHeader().setSortIndicator(-1, QtCore.Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)  # (no sort indicator: the rows stay in screening order)

    @property
    def running(self) -> bool:
        return self.worker is not None

    # ------------------------------------------------------------------ outputs
    def _double_clicked(self, row: int, _col: int) -> None:
        item = self.table.item(row, 0)
        if item is not None:
            path = item.data(QtCore.Qt.ItemDataRole.UserRole)
            if path:
                self.open_case.emit(str(path))

    def _export_dialog(self) -> None:
        fn, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export CSV", "dentalosteo-batch.csv", "CSV (*.csv)")
        if fn:
            self.export_csv(Path(fn))

    def export_csv(self, path: Path) -> Path:
        """Write one row per file (the batch CSV format of ``dentalosteo batch``)."""
        path = Path(path)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
            w.writeheader()
            for row in self.rows:
                w.writerow(row)
        self.status.setText(f"Exported {len(self.rows)} row(s) to {path.name}")
        log.info("batch CSV exported: %d rows", len(self.rows))
        return path

    def closeEvent(self, ev: Any) -> None:  # noqa: N802
        if self.worker is not None:
            self.worker.cancel()
        super().closeEvent(ev)


def _error_reason(item: BatchItem) -> str:
    """Why a file failed, in words (without the path the File column already shows)."""
    err = item.error or ""
    for prefix in (f"{item.path}: ", f"{item.path.name}: "):
        if err.startswith(prefix):
            err = err[len(prefix):]
    return err[:1].upper() + err[1:]
