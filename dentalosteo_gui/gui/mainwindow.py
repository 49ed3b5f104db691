"""The main window: composes the canvas, results panel, actions and dialogs.

State lives in the evented :class:`~.session.Session`; the work (engine, opening,
screening, history, export) is the :class:`~.controller.ScreeningController`'s, always in
workers. This module builds the widgets, wires them to the two, and shows what they announce
(status bar, dialogs). The engine loads in a worker at start-up: the window appears at once
with a "Loading model…" state. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from .. import __version__
from ..core.errors import DentalOsteoError
from ..core.system import paths
from ..core.system.logsetup import configure_logging
from ..core.system.settings import Settings, load_settings
from ..core.types import RoiBox
from . import theme
from .actions import SHORTCUTS, build_actions, build_menus, build_toolbar
from .canvas import LEVEL_PRESETS, Canvas, warm_colormap
from .controller import MAX_RECENT, ScreeningController
from .jobs import EngineFactory
from .measure_tools import ToolsUi
from .outcomes_dock import add_outcomes_dock
from .results_panel import ResultsPanel
from .session import Session
from .statusbar import StatusWidgets
from .widgets import HeaderStrip, NoticeBanner, WelcomePanel
from .wording import model_name
from .workers import WorkerPool

log = logging.getLogger(__name__)

FILE_FILTER = "Radiographs (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.dcm *.dicom);;All files (*)"
# widgets where Space types or presses rather than toggling the heatmap
_SPACE_TAKERS = (QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox, QtWidgets.QTextEdit,
                 QtWidgets.QPlainTextEdit, QtWidgets.QAbstractButton, QtWidgets.QComboBox,
                 QtWidgets.QAbstractItemView)


class MainWindow(QtWidgets.QMainWindow):
    """The DentalOsteo main window."""

    screening_done = QtCore.Signal()  # a result (or a screening error) arrived

    def __init__(self, engine: Any | None = None, engine_factory: EngineFactory | None = None,
                 settings: Settings | None = None, settings_path: Path | None = None,
                 quiet: bool = False, record_history: bool = True) -> None:
        super().__init__()
        self.setWindowTitle(f"DentalOsteo {__version__}")
        self.setWindowIcon(theme.icon("dentalosteo"))
        self.resize(1500, 900)
        self.setAcceptDrops(True)
        self.settings_path = settings_path
        self.quiet = quiet  # no modal dialogs (screenshot mode): errors go to the log and status bar
        self._error_open = False
        self.batch_dialog: Any | None = None
        self.dialogs: dict[str, QtWidgets.QWidget] = {}  # the non-modal dialogs shown, by kind
        self.session = Session(settings=settings or load_settings(settings_path))
        self.pool = WorkerPool(self)
        self.controller = ScreeningController(self.session, self.pool, engine, engine_factory,
                                              settings_path, record_history, parent=self)
        self._build_ui()
        self.acts = build_actions(self)
        self.recent_menu = build_menus(self, self.acts)
        self.preset_combo = build_toolbar(self, self.acts)
        self.tools = ToolsUi(self)  # Tools menu: ruler, device pixel size, measure MCW
        self.viewer_layout.insertWidget(1, self.tools.banner)
        self._connect()
        self._refresh_recent_menu()
        self._refresh_actions()
        self._show_settings_warnings(self.session.settings)
        app = QtWidgets.QApplication.instance()
        if isinstance(app, QtWidgets.QApplication):
            app.installEventFilter(self)
            theme.apply_theme(app, self.session.settings.dark_theme)
        self.pool.run(warm_colormap, name="colormap", on_result=lambda _: self.panel.colorbar.update())
        self.controller.start()

    # ================================================================== UI
    def _build_ui(self) -> None:
        s = self.session
        self.canvas = Canvas(s)
        self.canvas.setAcceptDrops(True)
        self.header = HeaderStrip(s)
        viewer = QtWidgets.QWidget()
        vl = QtWidgets.QVBoxLayout(viewer)
        vl.setContentsMargins(0, 0, 0, 0)
        vl.setSpacing(0)
        vl.addWidget(self.header)
        vl.addWidget(self.canvas, 1)
        self.viewer_layout = vl
        self.welcome = WelcomePanel(s, paths.sample_image())
        self.stack = QtWidgets.QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(viewer)
        self.panel = ResultsPanel(s)
        splitter = QtWidgets.QSplitter()
        splitter.addWidget(self.stack)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setHandleWidth(1)
        self.banner = NoticeBanner()
        central = QtWidgets.QWidget()
        cl = QtWidgets.QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.banner)
        cl.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self.status = StatusWidgets(self.statusBar(), s, self.canvas)
        st = self.status  # its parts, by the names tests use
        self.busy_bar, self.device_label, self.model_label = st.busy_bar, st.device_label, st.model_label
        self.timing_label, self.cursor_label, self.zoom_label = st.timing_label, st.cursor_label, st.zoom_label
        self.spacing_label = st.spacing_label
        self.statusBar().showMessage("Open a panoramic radiograph (Ctrl+O) or drop one on the window")
        self.outcomes_dock = add_outcomes_dock(self, s)

    def _connect(self) -> None:
        ctl = self.controller
        self.welcome.open_requested.connect(self.open_dialog)
        self.welcome.sample_requested.connect(lambda: self.open_path(paths.sample_image()))
        self.welcome.recent_requested.connect(self.open_path)
        self.canvas.roi_edit_finished.connect(ctl.edit_roi)
        self.canvas.landmarks_edit_finished.connect(ctl.edit_landmarks)
        self.canvas.files_dropped.connect(self.open_paths)
        self.panel.spacing_changed.connect(ctl.edit_spacing)
        self.panel.model_card_requested.connect(self.show_model_card)
        self.panel.reset_roi_requested.connect(ctl.reset_to_proposal)
        ctl.screening_done.connect(self.screening_done)
        ctl.message.connect(self.statusBar().showMessage)
        ctl.failed.connect(self.show_error)
        ev = self.session.events
        ev.image.connect(self._on_image)
        ev.result.connect(self._refresh_actions)
        ev.engine_status.connect(self._refresh_actions)
        ev.mode.connect(self._on_mode)
        ev.settings.connect(self._on_settings)
        self.session.display.events.connect(self._on_display)

    # ================================================================== session -> window
    def _on_image(self) -> None:
        has = self.session.radiograph is not None
        self.stack.setCurrentIndex(1 if has else 0)
        self._update_title()
        self.preset_combo.setCurrentIndex(0)
        self._refresh_actions()

    def _update_title(self) -> None:
        rad = self.session.radiograph
        if rad is None:
            self.setWindowTitle(f"DentalOsteo {__version__}")
            return
        name = "anonymised case" if self.session.anonymized else Path(rad.path).name
        self.setWindowTitle(f"{name} — DentalOsteo {__version__}")

    def _on_mode(self) -> None:
        mode = self.session.mode
        self.acts.roi_mode.setChecked(mode == "roi")
        self.acts.lm_mode.setChecked(mode == "landmarks")
        self._refresh_actions()

    def _on_display(self) -> None:
        d = self.session.display
        for act, v in ((self.acts.heatmap, d.heatmap_visible), (self.acts.invert, d.invert),
                       (self.acts.borders, d.show_borders), (self.acts.normals, d.show_normals)):
            if act.isChecked() != v:
                act.blockSignals(True)
                act.setChecked(v)
                act.blockSignals(False)

    def _on_settings(self, new: Settings, old: Settings) -> None:
        app = QtWidgets.QApplication.instance()
        if isinstance(app, QtWidgets.QApplication) and old.dark_theme != new.dark_theme:
            theme.apply_theme(app, new.dark_theme)
        self._update_title()
        self._refresh_recent_menu()
        self._show_settings_warnings(new)

    def _show_settings_warnings(self, settings: Settings) -> None:
        """Problems reading settings.json: a banner and a status message, never a dialog."""
        lines = list(getattr(settings, "load_warnings", None) or [])
        if not lines:
            return
        self.banner.show_lines("Some settings could not be read; defaults are used for them "
                               "(anonymisation stays on when in doubt):", lines)
        self.statusBar().showMessage(f"Settings: {len(lines)} problem(s) reading settings.json; see the banner",
                                     15000)

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.session.settings.recent_files
        for i, f in enumerate(files[:MAX_RECENT], 1):
            text = f"&{i} " + (f"recent case {i}" if self.session.anonymized else Path(f).name)
            self.recent_menu.addAction(text, functools.partial(self.open_path, f))
        self.recent_menu.setEnabled(bool(files))

    def _refresh_actions(self) -> None:
        s = self.session
        for act in self.acts.image_actions():
            act.setEnabled(s.radiograph is not None)
        can_export = s.result is not None
        self.acts.export.setEnabled(can_export)
        self.acts.export.setToolTip("Export the PDF screening report (Ctrl+E)" if can_export else
                                    "Nothing to export yet: open a radiograph and wait for its screening")
        card = s.active_card
        self.acts.card.setEnabled(card is not None)
        self.acts.card.setText(f"&Model card: {model_name(card=card)}…" if card else "&Model card…")

    def toggle_full_screen(self, on: bool) -> None:
        """F11: full screen and back."""
        if on:
            self.showFullScreen()
        else:
            self.showNormal()

    def apply_level_preset(self, name: str) -> None:
        rad = self.session.radiograph
        if rad is None or name not in LEVEL_PRESETS:
            return
        lv = LEVEL_PRESETS[name]
        if lv is None:
            sub = rad.pixels[:: max(1, rad.height // 512), :: max(1, rad.width // 512)]
            lo, hi = (float(v) for v in np.percentile(sub, [1.0, 99.0]))
            lv = (lo, max(hi, lo + 0.01))
        self.session.set_levels(*lv)
        idx = self.preset_combo.findText(name)
        if idx >= 0:
            self.preset_combo.setCurrentIndex(idx)

    # ================================================================== opening
    def open_dialog(self) -> None:
        recent = self.session.settings.recent_files
        start = str(Path(recent[0]).parent) if recent else ""
        fn, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open radiograph", start, FILE_FILTER)
        if fn:
            self.open_path(fn)

    def open_paths(self, items: list[str]) -> None:
        """Dropped or command-line items: one file opens; folders or several files go to batch."""
        items = [i for i in items if i]
        if not items:
            return
        if len(items) == 1 and not Path(items[0]).is_dir():
            self.open_path(items[0])
        else:
            self.open_batch(items)

    def open_path(self, path: str | Path) -> bool:
        """Open ``path`` (a folder goes to the batch dialog); screened when it has loaded."""
        p = Path(path)
        if p.is_dir():
            self.open_batch([str(p)])
        else:
            self.controller.open_file(p)
        return True

    # ================================================================== dialogs
    def open_batch(self, items: list[str] | None = None) -> Any:
        from .batch_dialog import BatchDialog

        dlg = BatchDialog(self.pool, self.controller.batch_screen, anonymize=self.session.anonymized,
                          get_history=self.controller.batch_history, parent=self)
        dlg.open_case.connect(self.open_path)
        self.batch_dialog = dlg
        if items:
            dlg.set_inputs(items)
        dlg.setModal(False)
        dlg.show()
        return dlg

    def open_settings(self) -> None:
        from .settings_dialog import SettingsDialog

        card = self.session.model_card or {}
        ops = [k for k in (card.get("operating_points") or {}) if k != "bands"] or None
        dlg = SettingsDialog(self.session.settings, ops, self, settings_path=self.settings_path)
        if dlg.exec() and dlg.saved is not None:
            self.controller.apply_settings(dlg.saved)

    def show_history(self) -> None:
        store = self.controller.history_store()
        if store is None:
            self.show_error("History", "The screening history is not available in this build.")
            return
        from .history_dialog import HistoryDialog

        rad = self.session.radiograph
        pid = None
        if rad is not None:
            pid, _ = store.patient_key(rad, self.session.anonymized)
        dlg = HistoryDialog(store, pid or None, self.session.anonymized, self,
                            current_sha256=self.session.file_sha256)
        dlg.open_case.connect(self.open_path)
        self._show_dialog("history", dlg)

    def export_pdf_dialog(self) -> None:
        s = self.session
        if s.result is None or s.radiograph is None:
            return
        stem = "report" if s.anonymized else Path(s.path).stem
        start = str(Path(s.path).with_name(f"{stem}-dentalosteo.pdf")) if s.path else f"{stem}.pdf"
        fn, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export PDF report", start, "PDF (*.pdf)")
        if fn:
            self.controller.export_pdf(Path(fn if fn.lower().endswith(".pdf") else fn + ".pdf"))

    def show_model_card(self) -> None:
        """The card of the model actually used (the landmark model's in landmark mode)."""
        card = self.session.active_card
        if not card:
            self.statusBar().showMessage("No model card: no model produced this result.", 8000)
            return
        from .model_card_dialog import ModelCardDialog

        self._show_dialog("model_card", ModelCardDialog(card, self))

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td style='padding-right:16px'><b>{k}</b></td><td>{v}</td></tr>" for k, v in SHORTCUTS)
        box = QtWidgets.QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setTextFormat(QtCore.Qt.TextFormat.RichText)
        box.setText(f"<table>{rows}</table>")
        self._show_dialog("shortcuts", box)

    def _show_dialog(self, kind: str, dlg: QtWidgets.QWidget) -> None:
        """Show a dialog without blocking (one of each kind: a new one replaces the old)."""
        old = self.dialogs.pop(kind, None)
        if old is not None:
            old.close()
        self.dialogs[kind] = dlg
        if isinstance(dlg, QtWidgets.QDialog):
            dlg.setModal(False)
        dlg.show()

    def show_about(self) -> None:
        QtWidgets.QMessageBox.about(
            self, "About DentalOsteo",
            f"<b>DentalOsteo {__version__}</b><br>Osteoporosis screening aid from dental panoramic "
            "radiographs. A referral aid, never a diagnosis: DXA is the reference standard.")

    def show_log_folder(self) -> None:
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(paths.log_dir())))

    # ================================================================== errors
    def show_outcomes(self) -> None:
        store = self.controller.history_store()
        if store is None:
            self.show_error("Outcomes", "The screening history is not available in this build.")
            return
        self.outcomes_dock.open(store)

    def show_error(self, title: str, error: BaseException | str) -> None:
        """One clear dialog (never a stack of them) and the log; quiet mode: status bar only."""
        text = str(error) if str(error) else type(error).__name__
        if isinstance(error, BaseException) and not isinstance(error, DentalOsteoError):
            log.error("%s: %s", title, getattr(error, "traceback_text", text))
            text = f"Unexpected error: {type(error).__name__}: {text}\n\nDetails are in the log folder (Help menu)."
        else:
            log.warning("%s: %s", title, text)
        self.session.set_error(text)
        self.statusBar().showMessage(f"{title}: {text.splitlines()[0]}", 15000)
        if self.quiet or self._error_open:
            return
        self._error_open = True
        try:
            QtWidgets.QMessageBox.warning(self, title, text)
        finally:
            self._error_open = False

    # ================================================================== drag and drop
    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dragMoveEvent(self, ev: QtGui.QDragMoveEvent) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:  # noqa: N802
        files = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if files:
            ev.acceptProposedAction()
            self.open_paths(files)

    # ================================================================== Space key
    def eventFilter(self, obj: QtCore.QObject, ev: QtCore.QEvent) -> bool:  # noqa: N802
        """Space in this window (not in a text field or on a button): tap = heatmap, hold = pan."""
        et = ev.type()
        if et not in (QtCore.QEvent.Type.KeyPress, QtCore.QEvent.Type.KeyRelease):
            return False
        if not isinstance(ev, QtGui.QKeyEvent) or ev.key() != QtCore.Qt.Key.Key_Space:
            return False
        if not isinstance(obj, QtWidgets.QWidget) or not (obj is self or self.isAncestorOf(obj)):
            return False
        if isinstance(obj, _SPACE_TAKERS):
            return False
        if ev.isAutoRepeat():
            return True
        if et == QtCore.QEvent.Type.KeyPress:
            self.canvas.set_space_held(True)
        else:
            dragged = self.canvas.space_dragged
            self.canvas.set_space_held(False)
            if not dragged:
                self.acts.heatmap.toggle()
        return True

    # ================================================================== quit
    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Cancel and wait for every worker so no thread outlives the window."""
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        if self.batch_dialog is not None:
            self.batch_dialog.close()
        for dlg in self.dialogs.values():
            dlg.close()
        self.controller.shutdown()
        super().closeEvent(ev)


def run_gui(files: list[str], screenshot: str = "", timeout_s: float = 180.0,
            engine: Any | None = None, size: tuple[int, int] | None = None, mode: str = "roi",
            roi: str = "") -> int:
    """Start the app; ``screenshot``: open ``files[0]``, wait for the result (and, with
    ``roi`` "x,y,w,h", for the re-screen after moving the box there), save, quit."""
    configure_logging()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    assert isinstance(app, QtWidgets.QApplication)
    app.setApplicationName("DentalOsteo")
    app.setOrganizationName("DentalOsteo")
    win = MainWindow(engine=engine, quiet=bool(screenshot))
    if size:
        win.resize(*size)
    win.show()
    win.controller.set_mode(mode)
    if files:
        win.open_paths(files)
    if screenshot:
        box = RoiBox.parse(roi) if roi else None
        return _run_screenshot(app, win, screenshot, bool(files), timeout_s, box)
    rc = int(app.exec())
    win.pool.shutdown()
    return rc


def _run_screenshot(app: QtWidgets.QApplication, win: MainWindow, out: str, has_files: bool,
                    timeout_s: float, roi: RoiBox | None = None) -> int:
    """Wait for the first result (or error, or the timeout), save the window, close it.

    Runs a local event loop (not ``app.exec``/``app.quit``) so it also works inside a host
    that owns the application, such as a test session.
    """
    loop = QtCore.QEventLoop()
    saved = {"ok": False, "done": False}

    def grab() -> None:
        if saved["done"]:
            return
        saved["done"] = True
        QtWidgets.QApplication.processEvents()
        saved["ok"] = bool(win.grab().save(out))
        log.info("screenshot %s: %s", "saved" if saved["ok"] else "FAILED", out)
        print(f"screenshot {'saved' if saved['ok'] else 'FAILED'}: {out}", file=sys.stderr)
        if win.session.last_error:
            print(f"last error: {win.session.last_error}", file=sys.stderr)
        win.close()
        loop.quit()

    def on_done() -> None:
        nonlocal roi
        if roi is not None and win.session.result is not None:  # move the box, as a drag would
            box, roi = roi, None
            win.controller.edit_roi(box)
            return
        QtCore.QTimer.singleShot(400, grab)  # let the panel and canvas repaint

    # after a result, or after a timeout in any case
    win.screening_done.connect(on_done)
    if not has_files:
        win.session.events.engine_status.connect(
            lambda: QtCore.QTimer.singleShot(400, grab) if win.session.engine_state != "loading" else None)
    QtCore.QTimer.singleShot(int(timeout_s * 1000), grab)
    loop.exec()
    win.pool.shutdown()
    return 0 if saved["ok"] else 1
