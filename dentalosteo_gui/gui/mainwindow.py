"""The main window: composes the canvas, results panel, dialogs; runs all work in workers.

State lives in :class:`~.session.Session`; this module is the controller that turns user
actions into session changes and background jobs (load, screen, export, batch). The
engine (TensorFlow + model pack) loads in a worker at start-up: the window appears at once
with a "Loading model…" state. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from .. import __version__
from ..core.errors import DentalOsteoError
from ..core.imaging.imageio import load_radiograph
from ..core.system import paths
from ..core.system.logsetup import configure_logging
from ..core.system.settings import Settings, load_settings, save_settings
from ..core.types import Landmarks, Radiograph, RoiBox, ScreeningResult
from . import theme
from .canvas import LEVEL_PRESETS, Canvas, warm_colormap
from .results_panel import ResultsPanel
from .session import Session
from .widgets import HeaderStrip, WelcomePanel
from .workers import Worker, WorkerPool

log = logging.getLogger(__name__)

FILE_FILTER = "Radiographs (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.dcm *.dicom);;All files (*)"
MAX_RECENT = 10

SHORTCUTS: list[tuple[str, str]] = [
    ("Ctrl+O", "Open a radiograph"),
    ("Ctrl+Shift+O", "Screen a folder (batch)"),
    ("Ctrl+E", "Export the PDF report"),
    ("Ctrl+,", "Settings"),
    ("Ctrl+H", "Screening history of this patient"),
    ("Ctrl+R", "Screen again"),
    ("1 / 2", "ROI mode / landmark mode"),
    ("P", "Reset the box (or landmarks) to the proposal"),
    ("Space (tap)", "Heatmap on/off"),
    ("Space + drag", "Pan (also over the box or the points)"),
    ("B / N", "Traced borders / MCW normals on/off"),
    ("F, double-click", "Fit the image"),
    ("+ / - , wheel", "Zoom"),
    ("Left or middle drag", "Pan"),
    ("Right drag", "Window/level (horizontal: contrast, vertical: brightness)"),
    ("I", "Invert grey levels"),
    ("R", "Reset window/level"),
    ("F1", "This list"),
    ("Ctrl+Q", "Quit"),
]

EngineFactory = Callable[[Settings], Any]


def default_engine_factory(settings: Settings) -> Any:
    """Build (and warm) the real engine. Runs on a worker thread: imports TensorFlow lazily."""
    import dentalosteo_gui.core.anatomy  # noqa: F401 - pay its import (scipy, OpenCV) here, not on the first drop

    from ..services import make_engine

    engine = make_engine(settings=settings)
    t0 = time.perf_counter()
    engine.warm()
    log.info("engine warmed in %.0f ms on %s", (time.perf_counter() - t0) * 1000, engine.device)
    return engine


def load_job(path: str) -> tuple[Radiograph, str]:
    """Worker job: decode the file and hash it (for the history)."""
    rad = load_radiograph(path)
    sha = ""
    try:
        from ..core.records.history import file_sha256

        sha = file_sha256(Path(path))
    except ImportError:
        pass
    except OSError as exc:
        log.warning("cannot hash %s: %s", Path(path).name, exc)
    return rad, sha


def screen_job(engine: Any, rad: Radiograph, generation: int, roi: RoiBox | None,
               landmarks: Landmarks | None, mode: str, pixel_spacing_mm: float | None,
               cancel: threading.Event) -> tuple[int, ScreeningResult]:
    """Worker job: one screening; returns (generation, result) so stale results are dropped."""
    try:
        res = engine.screen(rad, roi=roi, landmarks=landmarks, mode=mode,
                            pixel_spacing_mm=pixel_spacing_mm, cancel=cancel)
    except Exception as exc:
        exc.generation = generation  # type: ignore[attr-defined]
        raise
    return generation, res


def normals_job(rad: Radiograph, res: ScreeningResult) -> tuple[ScreeningResult, list]:
    """Worker job: the MCW measurement normals of ``res`` (re-measured from its own border)."""
    from ..core.anatomy import measure_cortex
    from ..core.types import RoiProposal

    if res.roi is None or not (res.border_right or res.border_left):
        return res, []
    proposal = RoiProposal(res.roi, list(res.border_right), list(res.border_left), float(res.roi_confidence or 0.0))
    cm = measure_cortex(rad, proposal, res.spacing)
    return res, list(cm.right.normals) + list(cm.left.normals)


def export_job(result: ScreeningResult, rad: Radiograph, out: Path, settings: Settings,
               anonymize: bool, card: dict | None) -> Path:
    """Worker job: write the PDF report (core.report)."""
    from ..core.records.report import write_report

    return write_report(result, rad, out, settings=settings, anonymize=anonymize, model_card=card)


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
        self.record_history = record_history
        self.session = Session(settings=settings or load_settings(settings_path))
        self.pool = WorkerPool(self)
        self.engine: Any | None = engine
        self.engine_factory: EngineFactory = engine_factory or default_engine_factory
        self._screen_worker: Worker | None = None
        self._generation = 0
        self._screen_pending = False
        self._error_open = False
        self._history: Any | None = None
        self._closing = False
        self.screen_count = 0

        self._build_ui()
        self._build_actions()
        self._connect_session()
        qapp = QtWidgets.QApplication.instance()
        if qapp is not None:
            qapp.installEventFilter(self)
        app = QtWidgets.QApplication.instance()
        if isinstance(app, QtWidgets.QApplication):
            theme.apply_theme(app, self.session.settings.dark_theme)

        self.pool.run(warm_colormap, name="colormap", on_result=lambda _: self.panel.colorbar.update())
        if engine is not None:
            self._engine_ready(engine)
        else:
            QtCore.QTimer.singleShot(0, self.load_engine)

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
        self.setCentralWidget(splitter)

        self.welcome.open_requested.connect(self.open_dialog)
        self.welcome.sample_requested.connect(lambda: self.open_path(paths.sample_image()))
        self.welcome.recent_requested.connect(self.open_path)
        self.canvas.roi_edit_finished.connect(self.on_roi_edited)
        self.canvas.landmarks_edit_finished.connect(self.on_landmarks_edited)
        self.canvas.files_dropped.connect(self.open_paths)
        self.panel.spacing_changed.connect(self.on_spacing_changed)
        self.panel.model_card_requested.connect(self.show_model_card)
        self.panel.reset_roi_requested.connect(self.reset_to_proposal)

        sb = self.statusBar()
        self.busy_bar = QtWidgets.QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setMaximumHeight(12)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.hide()
        self.device_label = QtWidgets.QLabel("device: –")
        self.model_label = QtWidgets.QLabel("model: loading…")
        self.timing_label = QtWidgets.QLabel("")
        for w in (self.busy_bar, self.device_label, self.model_label, self.timing_label):
            sb.addPermanentWidget(w)
        sb.showMessage("Open a panoramic radiograph (Ctrl+O) or drop one on the window")

    def _action(self, text: str, slot: Callable[..., Any],
                shortcut: str | QtGui.QKeySequence | QtGui.QKeySequence.StandardKey | None = None,
                icon: str = "", checkable: bool = False, tip: str = "") -> QtGui.QAction:
        act = QtGui.QAction(text, self)
        if icon:
            act.setIcon(theme.icon(icon))
        if shortcut:
            act.setShortcut(QtGui.QKeySequence(shortcut))
            act.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        act.setCheckable(checkable)
        if tip:
            act.setToolTip(tip)
            act.setStatusTip(tip)
        if checkable:
            act.toggled.connect(slot)
        else:
            act.triggered.connect(lambda _=False: slot())
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        a = self._action
        self.act_open = a("&Open…", self.open_dialog, QtGui.QKeySequence.StandardKey.Open, "open",
                          tip="Open a radiograph (Ctrl+O)")
        self.act_batch = a("Screen a &folder…", self.open_batch, "Ctrl+Shift+O", "batch",
                           tip="Screen every radiograph in a folder")
        self.act_export = a("&Export PDF report…", self.export_pdf_dialog, "Ctrl+E", "pdf",
                            tip="Export the PDF screening report (Ctrl+E)")
        self.act_settings = a("&Settings…", self.open_settings, "Ctrl+,", "settings")
        self.act_history = a("Screening &history…", self.show_history, "Ctrl+H", "history")
        self.act_quit = a("&Quit", self.close, QtGui.QKeySequence.StandardKey.Quit)
        self.act_rescreen = a("Screen &again", self.request_screen, "Ctrl+R", "reset")
        self.act_roi_mode = a("&ROI mode", lambda: self.set_mode("roi"), "1", "roi", checkable=False,
                              tip="Screen the box on the inferior mandibular cortex")
        self.act_lm_mode = a("&Landmark mode", lambda: self.set_mode("landmarks"), "2", "landmarks",
                             tip="Screen eight trabecular landmark patches")
        self.act_roi_mode.setCheckable(True)
        self.act_lm_mode.setCheckable(True)
        group = QtGui.QActionGroup(self)
        group.addAction(self.act_roi_mode)
        group.addAction(self.act_lm_mode)
        self.act_roi_mode.setChecked(True)
        self.act_reset_roi = a("Reset to &proposal", self.reset_to_proposal, "P", "reset",
                               tip="Put the box (or landmarks) back where the app proposed it")
        self.act_fit = a("&Fit image", self.canvas.fit, "F", "fit", tip="Fit (F or double-click)")
        self.act_zoom_in = a("Zoom &in", lambda: self.canvas.zoom(1.25), QtGui.QKeySequence.StandardKey.ZoomIn)
        self.act_zoom_out = a("Zoom &out", lambda: self.canvas.zoom(0.8), QtGui.QKeySequence.StandardKey.ZoomOut)
        self.act_invert = a("&Invert", self.session.set_invert, "I", "invert", checkable=True)
        self.act_reset_wl = a("&Reset window/level", lambda: self.apply_level_preset("Full range"), "R")
        # Space: a tap toggles the heatmap, holding it while dragging pans (see eventFilter),
        # so it is not a QAction shortcut (that would fire on the key press).
        self.act_heatmap = a("&Heatmap\tSpace", self.session.set_heatmap_visible, None, "heatmap",
                             checkable=True, tip="Show where the model looked (tap Space)")
        self.act_heatmap.setIconText("Heatmap")
        self.act_heatmap.setChecked(self.session.display.heatmap_visible)
        self.act_borders = a("Traced &borders", lambda on: self.session.set_overlays(borders=on), "B",
                             checkable=True)
        self.act_borders.setChecked(True)
        self.act_normals = a("MCW &normals", lambda on: self.session.set_overlays(normals=on), "N",
                             checkable=True)
        self.act_shortcuts = a("&Keyboard shortcuts", self.show_shortcuts, "F1", "help")
        self.act_card = a("&Model card…", self.show_model_card, None, "info")
        self.act_about = a("&About DentalOsteo", self.show_about)
        self.act_logs = a("Show &log folder", self.show_log_folder)

        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.act_open)
        self.recent_menu = m.addMenu("Open &recent")
        m.addAction(self.act_batch)
        m.addSeparator()
        m.addAction(self.act_export)
        m.addAction(self.act_history)
        m.addSeparator()
        m.addAction(self.act_settings)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&View")
        for act in (self.act_fit, self.act_zoom_in, self.act_zoom_out, None, self.act_invert, self.act_reset_wl):
            m.addAction(act) if act else m.addSeparator()
        self.preset_menu = m.addMenu("Window/level &presets")
        for name in LEVEL_PRESETS:
            self.preset_menu.addAction(name, functools.partial(self.apply_level_preset, name))
        m.addSeparator()
        for act in (self.act_heatmap, self.act_borders, self.act_normals):
            m.addAction(act)
        m = mb.addMenu("&Screening")
        for act in (self.act_roi_mode, self.act_lm_mode, None, self.act_reset_roi, self.act_rescreen, None,
                    self.act_batch):
            m.addAction(act) if act else m.addSeparator()
        m = mb.addMenu("&Help")
        for act in (self.act_shortcuts, self.act_card, self.act_logs, None, self.act_about):
            m.addAction(act) if act else m.addSeparator()

        tb = self.addToolBar("Main")
        tb.setObjectName("MainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QtCore.QSize(20, 20))
        tb.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for act in (self.act_open, self.act_batch, None, self.act_roi_mode, self.act_lm_mode, self.act_reset_roi,
                    None, self.act_fit, self.act_invert):
            tb.addAction(act) if act else tb.addSeparator()
        self.preset_combo = QtWidgets.QComboBox()
        self.preset_combo.addItems(list(LEVEL_PRESETS))
        self.preset_combo.setToolTip("Window/level preset (right-drag on the image for fine control; R resets)")
        self.preset_combo.activated.connect(lambda i: self.apply_level_preset(self.preset_combo.itemText(i)))
        self.preset_combo.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        tb.addWidget(self.preset_combo)
        tb.addSeparator()
        tb.addAction(self.act_heatmap)
        spacer = QtWidgets.QWidget()
        spacer.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        tb.addAction(self.act_export)
        tb.addAction(self.act_settings)
        self._refresh_recent_menu()
        self._refresh_actions()

    def _connect_session(self) -> None:
        ev = self.session.events
        ev.image.connect(self._on_image)
        ev.result.connect(self._on_result)
        ev.busy.connect(self._on_busy)
        ev.engine.connect(self._on_engine)
        ev.mode.connect(self._on_mode)
        ev.display.connect(self._on_display)
        ev.settings.connect(self._refresh_recent_menu)

    # ================================================================== engine
    def load_engine(self) -> None:
        """Load (or reload) the engine in the background; the window stays usable."""
        self.session.set_engine_state("loading", "Loading model…")
        self.pool.run(self.engine_factory, self.session.settings, name="load-engine",
                      on_result=self._engine_ready, on_error=self._engine_failed)

    def _engine_ready(self, engine: Any) -> None:
        if self._closing:
            return
        self.engine = engine
        backend = getattr(engine, "roi_backend", None)
        card = getattr(backend, "card", None) if backend is not None else None
        state = "ready" if backend is not None else "no_model"
        device = str(getattr(engine, "device", "") or "")
        self.session.set_engine_state(state, "" if backend else "no model installed", card, device)
        if self._screen_pending or (self.session.radiograph is not None and self.session.result is None):
            self._screen_pending = False
            self.request_screen()

    def _engine_failed(self, exc: BaseException) -> None:
        """Say so once, then carry on rule-based (MCW, Klemetti rule) without a risk score."""
        if self._closing:
            return
        from ..core.screening.engine import Engine, EngineOptions

        s = self.session.settings
        self.engine = Engine(None, None, EngineOptions(
            operating_point=s.operating_point, gradcam_method=s.gradcam_method,
            default_pixel_spacing_mm=float(s.default_pixel_spacing_mm)))
        self.session.set_engine_state("error", str(exc))
        self.show_error("The model could not be loaded", f"{exc}\n\nShowing rule-based measurements only.")
        if self.session.radiograph is not None and not self._closing:
            self._screen_pending = False
            self.request_screen()

    def _on_engine(self) -> None:
        s = self.session
        if s.engine_state == "loading":
            self.model_label.setText("model: loading…")
            self.device_label.setText("device: –")
        elif s.engine_state == "no_model":
            self.model_label.setText("model: none installed")
            self.device_label.setText("device: –")
        elif s.engine_state == "error":
            self.model_label.setText("model: failed to load")
        else:
            card = s.model_card or {}
            self.model_label.setText(f"model: {card.get('name', '?')} {card.get('version', '')}".strip())
            self.device_label.setText(f"device: {s.device or '?'}")
        self._on_busy()
        self._refresh_actions()

    # ================================================================== opening
    def open_dialog(self) -> None:
        start = str(Path(self.session.settings.recent_files[0]).parent) if self.session.settings.recent_files else ""
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
        """Load ``path`` in the background; the result is screened when it arrives."""
        p = Path(path)
        if p.is_dir():
            self.open_batch([str(p)])
            return True
        self.statusBar().showMessage(f"Opening {p.name}…")
        self.session.set_busy(True)
        self.pool.run(load_job, str(p), name="load-image",
                      on_result=functools.partial(self._on_loaded, p),
                      on_error=self._on_load_failed)
        return True

    def _on_loaded(self, path: Path, out: tuple[Radiograph, str]) -> None:
        if self._closing:
            return
        rad, sha = out
        self.session.set_busy(False)
        self._cancel_screen()
        self.session.set_radiograph(rad, str(path), sha)
        self._add_recent(str(path))
        self.request_screen()

    def _on_load_failed(self, exc: BaseException) -> None:
        self.session.set_busy(False)
        self.show_error("Cannot open file", exc)
        self.screening_done.emit()

    def _add_recent(self, path: str) -> None:
        s = self.session.settings
        path = str(Path(path).resolve())
        recent = [path] + [f for f in s.recent_files if f != path]
        s.recent_files = recent[:MAX_RECENT]
        s.first_run = False
        try:
            save_settings(s, self.settings_path)
        except (DentalOsteoError, OSError) as exc:
            log.warning("could not save recent files: %s", exc)
        self.session.set_settings(s)

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.session.settings.recent_files
        for i, f in enumerate(files[:MAX_RECENT], 1):
            text = f"&{i} " + (f"recent case {i}" if self.session.anonymized else Path(f).name)
            self.recent_menu.addAction(text, functools.partial(self.open_path, f))
        self.recent_menu.setEnabled(bool(files))

    # ================================================================== screening
    def request_screen(self) -> None:
        """(Re-)screen the open image with the current box/landmarks/spacing (in a worker)."""
        s = self.session
        if s.radiograph is None or self._closing:
            return
        if self.engine is None:
            self._screen_pending = True
            return
        self._cancel_screen()
        self._generation += 1
        self.screen_count += 1
        roi = s.roi_override if s.mode == "roi" else None
        landmarks = s.landmarks_override if s.mode == "landmarks" else None
        w = Worker(screen_job, self.engine, s.radiograph, self._generation, roi, landmarks, s.mode,
                   s.spacing_override_mm, name="screen")
        w.signals.returned.connect(self._on_screened)
        w.signals.errored.connect(self._on_screen_failed)
        w.signals.finished.connect(self._on_screen_finished)
        self._screen_worker = w
        s.set_busy(True)
        self.statusBar().showMessage("Screening…")
        self.pool.start(w)

    def _cancel_screen(self) -> None:
        if self._screen_worker is not None:
            self._screen_worker.cancel()

    def _on_screen_finished(self) -> None:
        w = self._screen_worker
        if w is not None and w.done.is_set():
            self._screen_worker = None
            self.session.set_busy(False)

    def _on_screened(self, out: tuple[int, ScreeningResult]) -> None:
        gen, res = out
        if gen != self._generation or self._closing:
            return  # a newer screening is on its way
        self.session.set_result(res)
        self._record_history(res)
        t = res.timings_ms.get("total")
        self.timing_label.setText(f"last: {t:.0f} ms" if t is not None else "")
        if res.device and res.device != "none":
            self.device_label.setText(f"device: {res.device}")
        self.statusBar().showMessage(
            "Screened" + ("" if res.assessable else " (not assessable: see the checks in the panel)"), 5000)
        self.screening_done.emit()

    def _on_screen_failed(self, exc: BaseException) -> None:
        if getattr(exc, "generation", self._generation) != self._generation:
            return
        self.show_error("Screening failed", exc)
        self.screening_done.emit()

    def on_roi_edited(self, box: RoiBox) -> None:
        """The dentist finished moving/resizing the box: record it and screen once."""
        if self.session.mode != "roi":
            return
        self.session.set_roi_override(box)
        log.info("ROI moved to %s", box.as_dict())
        self.request_screen()

    def on_landmarks_edited(self, landmarks: Landmarks) -> None:
        if self.session.mode != "landmarks":
            return
        self.session.set_landmarks_override(landmarks)
        self.request_screen()

    def on_spacing_changed(self, mm: float | None) -> None:
        self.session.set_spacing_override(mm)
        self.request_screen()

    def reset_to_proposal(self) -> None:
        s = self.session
        if s.mode == "roi":
            if s.roi_override is None:
                return
            s.set_roi_override(None)
        else:
            if s.landmarks_override is None:
                return
            s.set_landmarks_override(None)
        self.request_screen()

    def set_mode(self, mode: str) -> None:
        if mode == self.session.mode:
            return
        self.session.set_mode(mode)
        self.request_screen()

    def _on_mode(self) -> None:
        mode = self.session.mode
        self.act_roi_mode.setChecked(mode == "roi")
        self.act_lm_mode.setChecked(mode == "landmarks")

    # ================================================================== session listeners
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

    def _on_result(self) -> None:
        self._refresh_actions()
        self._ensure_normals()

    def _on_busy(self) -> None:
        self.busy_bar.setVisible(self.session.busy or self.session.engine_state == "loading")

    def _ensure_normals(self) -> None:
        s = self.session
        if not s.display.show_normals or s.result is None or s.radiograph is None or s.normals is not None:
            return
        ev = s.result.klemetti_evidence or {}
        if ev.get("normals"):
            s.normals = list(ev["normals"])
            return
        s.normals = []  # computing; avoids starting it twice
        self.pool.run(normals_job, s.radiograph, s.result, name="normals",
                      on_result=self._on_normals, on_error=lambda e: log.warning("normals: %s", e))

    def _on_normals(self, out: tuple[ScreeningResult, list]) -> None:
        res, normals = out
        if res is self.session.result:
            self.session.set_normals(normals)

    def _on_display(self) -> None:
        self._ensure_normals()
        d = self.session.display
        for act, v in ((self.act_heatmap, d.heatmap_visible), (self.act_invert, d.invert),
                       (self.act_borders, d.show_borders), (self.act_normals, d.show_normals)):
            if act.isChecked() != v:
                act.blockSignals(True)
                act.setChecked(v)
                act.blockSignals(False)

    def _refresh_actions(self) -> None:
        s = self.session
        has_img = s.radiograph is not None
        for act in (self.act_rescreen, self.act_roi_mode, self.act_lm_mode, self.act_reset_roi, self.act_fit,
                    self.act_invert, self.act_reset_wl, self.act_zoom_in, self.act_zoom_out):
            act.setEnabled(has_img)
        self.act_export.setEnabled(s.result is not None)
        self.act_card.setEnabled(s.model_card is not None)

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

    # ================================================================== history
    def _history_store(self) -> Any | None:
        if self._history is None:
            try:
                from ..core.records.history import History

                self._history = History()
            except ImportError:
                return None
            except DentalOsteoError as exc:
                log.warning("history unavailable: %s", exc)
                self.statusBar().showMessage(f"History unavailable: {exc}", 8000)
                return None
        return self._history

    def _record_history(self, res: ScreeningResult) -> None:
        s = self.session
        if not self.record_history or s.radiograph is None:
            return
        store = self._history_store()
        if store is None:
            return
        try:
            s.history_id = store.record_screening(res, s.radiograph, file_sha256=s.file_sha256 or "",
                                                  anonymize=s.anonymized, edits=list(s.edits))
            s.edits = []
        except DentalOsteoError as exc:
            log.warning("history not recorded: %s", exc)
            self.statusBar().showMessage(f"History not recorded: {exc}", 8000)

    def show_history(self) -> None:
        store = self._history_store()
        if store is None:
            self.show_error("History", "The screening history is not available in this build.")
            return
        from .history_dialog import HistoryDialog

        rad = self.session.radiograph
        pid = None
        if rad is not None:
            pid, _ = store.patient_key(rad, self.session.anonymized)
        dlg = HistoryDialog(store, pid or None, self.session.anonymized, self)
        dlg.open_case.connect(self.open_path)
        dlg.exec()

    # ================================================================== export
    def export_pdf_dialog(self) -> None:
        s = self.session
        if s.result is None or s.radiograph is None:
            return
        stem = "report" if s.anonymized else Path(s.path).stem
        start = str(Path(s.path).with_name(f"{stem}-dentalosteo.pdf")) if s.path else f"{stem}.pdf"
        fn, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export PDF report", start, "PDF (*.pdf)")
        if fn:
            if not fn.lower().endswith(".pdf"):
                fn += ".pdf"
            self.export_pdf(Path(fn))

    def export_pdf(self, out: Path) -> Worker | None:
        """Write the PDF report in the background; returns the worker."""
        s = self.session
        if s.result is None or s.radiograph is None:
            return None
        try:
            import importlib

            importlib.import_module("dentalosteo_gui.core.records.report")
        except ImportError:
            self.show_error("Export PDF", "The PDF report module is not installed in this build.")
            return None
        self.statusBar().showMessage("Writing the PDF report…")
        return self.pool.run(export_job, s.result, s.radiograph, Path(out), s.settings, s.anonymized,
                             s.model_card, name="export-pdf",
                             on_result=self._on_exported, on_error=lambda e: self.show_error("Export failed", e))

    def _on_exported(self, path: Path) -> None:
        self.statusBar().showMessage(f"Report written: {Path(path).name}", 8000)
        store = self._history_store() if self.record_history else None
        if store is not None:
            try:
                store.record_export(self.session.history_id, "pdf", "" if self.session.anonymized else str(path))
            except DentalOsteoError as exc:
                log.warning("export not recorded: %s", exc)

    # ================================================================== dialogs
    def open_batch(self, items: list[str] | None = None) -> Any:
        from .batch_dialog import BatchDialog

        def get_screen() -> Callable[[Radiograph, float | None], ScreeningResult] | None:
            eng = self.engine
            if eng is None:
                return None
            mode = self.session.mode
            return lambda rad, spacing: eng.screen(rad, mode=mode, pixel_spacing_mm=spacing)

        dlg = BatchDialog(self.pool, get_screen, anonymize=self.session.anonymized, parent=self)
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
            self.apply_settings(dlg.saved)

    def apply_settings(self, new: Settings) -> None:
        """Adopt saved settings: theme, engine (reload on device/model change), re-screen."""
        old = self.session.settings
        self.session.set_settings(new)
        app = QtWidgets.QApplication.instance()
        if isinstance(app, QtWidgets.QApplication) and old.dark_theme != new.dark_theme:
            theme.apply_theme(app, new.dark_theme)
        self.header.refresh()
        self._update_title()
        engine_keys = ("device", "model_dir", "operating_point", "gradcam_method", "default_pixel_spacing_mm")
        if any(getattr(old, k) != getattr(new, k) for k in engine_keys):
            if self.engine_factory is default_engine_factory:
                self.engine = None
                self._screen_pending = self.session.radiograph is not None
                self.load_engine()
            else:
                self.request_screen()

    def show_model_card(self) -> None:
        card = self.session.model_card
        if not card:
            self.show_error("Model card", "No model is installed, so there is no model card.")
            return
        from .model_card_dialog import ModelCardDialog

        ModelCardDialog(card, self).exec()

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td style='padding-right:16px'><b>{k}</b></td><td>{v}</td></tr>" for k, v in SHORTCUTS)
        box = QtWidgets.QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setTextFormat(QtCore.Qt.TextFormat.RichText)
        box.setText(f"<table>{rows}</table>")
        box.exec()

    def show_about(self) -> None:
        QtWidgets.QMessageBox.about(
            self, "About DentalOsteo",
            f"<b>DentalOsteo {__version__}</b><br>Osteoporosis screening aid from dental panoramic "
            "radiographs. A referral aid, never a diagnosis: DXA is the reference standard.")

    def show_log_folder(self) -> None:
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(paths.log_dir())))

    # ================================================================== errors
    def show_error(self, title: str, error: BaseException | str) -> None:
        """One clear dialog (never a stack of them) and the log; quiet mode: status bar only."""
        text = str(error) if str(error) else type(error).__name__
        if isinstance(error, BaseException) and not isinstance(error, DentalOsteoError):
            log.error("%s: %s", title, getattr(error, "traceback_text", text))
            text = f"Unexpected error: {type(error).__name__}: {text}\n\nDetails are in the log folder (Help menu)."
        else:
            log.warning("%s: %s", title, text)
        self.session.last_error = text
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
        if isinstance(obj, (QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox, QtWidgets.QTextEdit,
                            QtWidgets.QPlainTextEdit, QtWidgets.QAbstractButton, QtWidgets.QComboBox,
                            QtWidgets.QAbstractItemView)):
            return False
        if ev.isAutoRepeat():
            return True
        if et == QtCore.QEvent.Type.KeyPress:
            self.canvas.set_space_held(True)
        else:
            dragged = self.canvas.space_dragged
            self.canvas.set_space_held(False)
            if not dragged:
                self.act_heatmap.toggle()
        return True

    # ================================================================== quit
    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Cancel and wait for every worker so no thread outlives the window."""
        self._closing = True
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        dlg = getattr(self, "batch_dialog", None)
        if dlg is not None:
            dlg.close()
        ok = self.pool.shutdown(timeout_ms=60000)
        if not ok:
            log.warning("some workers did not stop in time")
        if self._history is not None:
            try:
                self._history.close()
            except Exception:  # noqa: BLE001 - closing must not block quitting
                log.exception("closing the history failed")
            self._history = None
        super().closeEvent(ev)


def run_gui(files: list[str], screenshot: str = "", timeout_s: float = 180.0,
            engine: Any | None = None) -> int:
    """Start the app; ``screenshot``: open ``files[0]``, wait for the result, save, quit."""
    configure_logging()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    assert isinstance(app, QtWidgets.QApplication)
    app.setApplicationName("DentalOsteo")
    app.setOrganizationName("DentalOsteo")
    win = MainWindow(engine=engine, quiet=bool(screenshot))
    win.show()
    if files:
        win.open_paths(files)
    if screenshot:
        return _run_screenshot(app, win, screenshot, bool(files), timeout_s)
    rc = int(app.exec())
    win.pool.shutdown()
    return rc


def _run_screenshot(app: QtWidgets.QApplication, win: MainWindow, out: str, has_files: bool,
                    timeout_s: float) -> int:
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

    # after a result (let the panel and canvas repaint), or after a timeout in any case
    win.screening_done.connect(lambda: QtCore.QTimer.singleShot(400, grab))
    if not has_files:
        win.session.events.engine.connect(
            lambda: QtCore.QTimer.singleShot(400, grab) if win.session.engine_state != "loading" else None)
    QtCore.QTimer.singleShot(int(timeout_s * 1000), grab)
    loop.exec()
    win.pool.shutdown()
    return 0 if saved["ok"] else 1
