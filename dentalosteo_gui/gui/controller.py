"""The screening controller: engine lifecycle, opening, screening, history, export.

Turns the dentist's requests into session changes and background jobs (:mod:`.jobs`, all
started through ``WorkerPool.run``). Screenings carry a generation number: a result that
arrives after a newer screening was requested is dropped. The engine (TensorFlow + model
pack) loads in a worker; until it arrives a screening request is kept pending.

The window reaches the dentist through three signals: ``screening_done`` (a result or a
screening error arrived), ``message`` (status bar text) and ``failed`` (one error dialog).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui

from ..core.errors import DentalOsteoError
from ..core.system.settings import Settings, save_settings
from ..core.types import Landmarks, Radiograph, RoiBox, ScreeningResult, Spacing
from .jobs import (
    EngineFactory,
    Loaded,
    Screened,
    ScreenFn,
    default_engine_factory,
    engine_accepts,
    export_job,
    load_job,
    normals_job,
    rule_based_engine,
    screen_job,
)
from .session import Session
from .workers import Worker, WorkerPool

log = logging.getLogger(__name__)

MAX_RECENT = 10
# settings the engine is built with: changing one reloads it (or re-screens)
ENGINE_KEYS = ("device", "model_dir", "operating_point", "gradcam_method", "default_pixel_spacing_mm")
SCREENED_MESSAGES = {
    "assessed": "Screened",
    "not_assessable": "Screened: not assessable, no score (see the checks in the panel)",
    "not_panoramic": "Not a dental panoramic: no osteoporosis reading",
}


class EditCommand(QtGui.QUndoCommand):
    """One undoable edit of the box (``kind`` "roi"), the landmarks ("landmarks"), the mental
    foramen ("foramen") or the dentist's MCW lines ("dentist_mcw"): the
    override before and after; doing or undoing it sets the override and re-screens."""

    def __init__(self, controller: ScreeningController, kind: str, before: Any, after: Any, text: str) -> None:
        super().__init__(text)
        self.controller, self.kind, self.before, self.after = controller, kind, before, after

    def redo(self) -> None:
        self.controller.apply_override(self.kind, self.after)

    def undo(self) -> None:
        self.controller.apply_override(self.kind, self.before)


class ScreeningController(QtCore.QObject):
    """Owns the engine, the screening worker and the history store; drives the session."""

    screening_done = QtCore.Signal()  # a result (or a screening error) arrived
    message = QtCore.Signal(str, int)  # status bar text, milliseconds (0: until replaced)
    failed = QtCore.Signal(str, object)  # title, exception or text

    def __init__(self, session: Session, pool: WorkerPool, engine: Any | None = None,
                 engine_factory: EngineFactory | None = None, settings_path: Path | None = None,
                 record_history: bool = True, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.pool = pool
        self.engine: Any | None = engine
        self.engine_factory: EngineFactory = engine_factory or default_engine_factory
        self.settings_path = settings_path
        self.record_history = record_history
        self.screen_count = 0
        self._generation = 0
        self._screen_worker: Worker | None = None
        self._screen_pending = False
        self._history: Any | None = None
        self._closing = False
        self.undo_stack = QtGui.QUndoStack(self)  # the dentist's box and landmark edits
        session.events.result.connect(self.ensure_normals)
        session.display.events.show_normals.connect(self.ensure_normals)

    # ================================================================== engine
    def start(self) -> None:
        """Adopt the engine given at construction, or load one in the background (once the
        event loop runs, so the window shows first)."""
        if self.engine is not None:
            self._engine_ready(self.engine)
        else:
            QtCore.QTimer.singleShot(0, self.load_engine)

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
        self.engine = rule_based_engine(self.session.settings)
        self.session.set_engine_state("error", str(exc))
        self.failed.emit("The model could not be loaded", f"{exc}\n\nShowing rule-based measurements only.")
        if self.session.radiograph is not None and not self._closing:
            self._screen_pending = False
            self.request_screen()

    def _spacing_for(self, rad: Radiograph, override: float | None) -> Spacing | None:
        """The spacing the engine will use (``Engine.spacing_for``); None without an engine."""
        fn = getattr(self.engine, "spacing_for", None)
        return fn(rad, override) if callable(fn) else None

    def apply_settings(self, new: Settings) -> None:
        """Adopt saved settings; reload the engine (or re-screen) when it depends on them."""
        old = self.session.settings
        self.session.set_settings(new)
        if any(getattr(old, k) != getattr(new, k) for k in ENGINE_KEYS):
            if self.engine_factory is default_engine_factory:
                self.engine = None
                self._screen_pending = self.session.radiograph is not None
                self.load_engine()
            else:
                self.request_screen()

    # ================================================================== opening
    def open_file(self, path: Path) -> None:
        """Load ``path`` in the background; the result is screened when it arrives."""
        self.message.emit(f"Opening {path.name}…", 0)
        self.session.set_busy(True)
        spacing_for = getattr(self.engine, "spacing_for", None)
        self.pool.run(load_job, str(path), spacing_for if callable(spacing_for) else None,
                      name="load-image", on_result=functools.partial(self._on_loaded, path),
                      on_error=self._on_load_failed)

    def _on_loaded(self, path: Path, out: Loaded) -> None:
        if self._closing:
            return
        self.session.set_busy(False)
        self.cancel_screen()
        self.undo_stack.clear()
        self.session.set_radiograph(out.radiograph, str(path), out.file_sha256, out.spacing)
        self._add_recent(str(path))
        self.request_screen()

    def _on_load_failed(self, exc: BaseException) -> None:
        self.session.set_busy(False)
        self.failed.emit("Cannot open file", exc)
        self.screening_done.emit()

    def _add_recent(self, path: str) -> None:
        s = self.session.settings
        path = str(Path(path).resolve())
        recent = [path] + [f for f in s.recent_files if f != path]
        new = dataclasses.replace(s, recent_files=recent[:MAX_RECENT], first_run=False)
        try:
            save_settings(new, self.settings_path)
        except (DentalOsteoError, OSError) as exc:
            log.warning("could not save recent files: %s", exc)
        self.session.set_settings(new)

    # ================================================================== screening
    def request_screen(self) -> None:
        """(Re-)screen the open image with the current box/landmarks/spacing (in a worker)."""
        s = self.session
        if s.radiograph is None or self._closing:
            return
        if self.engine is None:
            self._screen_pending = True
            return
        self.cancel_screen()
        self._generation += 1
        self.screen_count += 1
        roi = s.roi_override if s.mode == "roi" else None
        landmarks = s.landmarks_override if s.mode == "landmarks" else None
        s.set_busy(True)
        self.message.emit("Screening…", 0)
        extras = {"mental_foramen": s.foramen_override, "dentist_mcw": s.dentist_mcw}
        self._screen_worker = self.pool.run(
            screen_job, self.engine, s.radiograph, self._generation, roi, landmarks, s.mode,
            s.spacing_override_mm, extras=extras, name="screen", on_result=self._on_screened,
            on_error=self._on_screen_failed, on_finished=self._on_screen_finished)
        self._say_unsupported(extras)

    def _say_unsupported(self, extras: dict[str, Any]) -> None:
        """The dentist's foramen or MCW that this engine cannot take yet: say so, never crash."""
        names = {"mental_foramen": "the moved mental foramen", "dentist_mcw": "your MCW measurement"}
        left_out = [names[k] for k, v in extras.items() if v is not None and not engine_accepts(self.engine, k)]
        if left_out:
            self.message.emit(f"This engine does not take {' or '.join(left_out)} yet: screened without it", 10000)

    def cancel_screen(self) -> None:
        if self._screen_worker is not None:
            self._screen_worker.cancel()

    def _on_screen_finished(self) -> None:
        w = self._screen_worker
        if w is not None and w.done.is_set():
            self._screen_worker = None
            self.session.set_busy(False)

    def _on_screened(self, out: Screened) -> None:
        if out.generation != self._generation or self._closing:
            return  # a newer screening is on its way
        res = out.result
        self.session.set_result(res, out.card)
        self._record_history(res)
        self.message.emit(SCREENED_MESSAGES.get(res.status, "Screened"), 5000)
        self.screening_done.emit()

    def _on_screen_failed(self, exc: BaseException) -> None:
        if getattr(exc, "generation", self._generation) != self._generation:
            return
        self.failed.emit("Screening failed", exc)
        self.screening_done.emit()

    # ================================================================== the dentist's edits
    def edit_roi(self, box: RoiBox) -> None:
        """The dentist finished moving/resizing the box: record it and screen once (undoable)."""
        if self.session.mode != "roi":
            return
        log.info("ROI moved to %s", box.as_dict())
        self.undo_stack.push(EditCommand(self, "roi", self.session.roi_override, box, "Move the box"))

    def edit_landmarks(self, landmarks: Landmarks) -> None:
        """The dentist dropped a landmark: record the points and screen once (undoable)."""
        if self.session.mode != "landmarks":
            return
        self.undo_stack.push(EditCommand(self, "landmarks", self.session.landmarks_override,
                                         dict(landmarks), "Move a landmark"))

    def edit_foramen(self, points: dict[str, tuple[float, float]]) -> None:
        """The dentist dropped a mental foramen point: screen once with it (undoable)."""
        self.undo_stack.push(EditCommand(self, "foramen", self.session.foramen_override, dict(points),
                                         "Move the mental foramen"))

    def edit_dentist_mcw(self, lines: dict[str, Any] | None) -> None:
        """The dentist's own MCW lines (None: clear them): screen once with them (undoable)."""
        before = self.session.dentist_mcw
        if lines == before:
            return
        self.undo_stack.push(EditCommand(self, "dentist_mcw", before, dict(lines) if lines else None,
                                         "Measure the cortex" if lines else "Clear my MCW measurement"))

    def apply_override(self, kind: str, value: Any) -> None:
        """Set the box (``kind`` "roi"), landmark ("landmarks"), mental foramen ("foramen") or
        dentist's MCW ("dentist_mcw") override (None: the engine's own); re-screen when it
        matters now (what an edit, undo and redo do)."""
        setter = {"roi": self.session.set_roi_override, "landmarks": self.session.set_landmarks_override,
                  "foramen": self.session.set_foramen_override, "dentist_mcw": self.session.set_dentist_mcw}[kind]
        setter(value)
        if self.session.mode == kind or kind in ("foramen", "dentist_mcw"):
            self.request_screen()

    def save_profile(self, profile: Any) -> bool:
        """Save a calibration profile (``core.system.profiles``) for this image's source, adopt
        it (a typed spacing gives way) and screen again. False (and one dialog) on failure."""
        from ..core.system.profiles import ProfileStore

        rad = self.session.radiograph
        if rad is None:
            return False
        try:
            ProfileStore().add(profile)
        except (DentalOsteoError, OSError) as exc:
            self.failed.emit("Calibration not saved", exc if isinstance(exc, DentalOsteoError) else str(exc))
            return False
        log.info("calibration profile %s saved: %.5f mm/px", profile.name, profile.mm_per_px)
        spacing = self._spacing_for(rad, None) or profile.spacing()
        self.session.set_calibration(spacing, profile.name)
        self.message.emit(f"Calibrated: profile {profile.name}, {profile.mm_per_px:.4g} mm/px; screening again", 8000)
        self.request_screen()
        return True

    def edit_spacing(self, mm: float | None) -> None:
        rad = self.session.radiograph
        self.session.set_spacing_override(mm, self._spacing_for(rad, mm) if rad is not None else None)
        self.request_screen()

    def reset_to_proposal(self) -> None:
        """Back to the engine's own box (or landmarks); undoable."""
        s = self.session
        before = s.roi_override if s.mode == "roi" else s.landmarks_override
        if before is not None:
            self.undo_stack.push(EditCommand(self, s.mode, before, None, "Reset to proposal"))

    def set_mode(self, mode: str) -> None:
        if mode == self.session.mode:
            return
        self.session.set_mode(mode)
        self.request_screen()

    # ================================================================== MCW normals
    def ensure_normals(self) -> None:
        """Compute the MCW normals of the result (in a worker) when they are to be shown."""
        if self.session.display.show_normals:
            self.request_normals()

    def request_normals(self) -> None:
        """Compute the MCW normals of the result (in a worker) even when hidden (the measure
        tool starts at the automatic measurement site)."""
        s = self.session
        if s.result is None or s.radiograph is None or s.normals is not None:
            return
        ev = s.result.klemetti_evidence or {}
        if ev.get("normals"):
            s.set_normals(list(ev["normals"]))
            return
        s.set_normals(())  # computing; avoids starting it twice
        self.pool.run(normals_job, s.radiograph, s.result, name="normals",
                      on_result=self._on_normals, on_error=lambda e: log.warning("normals: %s", e))

    def _on_normals(self, out: tuple[ScreeningResult, list]) -> None:
        res, normals = out
        if res is self.session.result:
            self.session.set_normals(normals)

    # ================================================================== history
    def history_store(self) -> Any | None:
        """The history database (opened on first use); None when unavailable."""
        if self._history is None:
            try:
                from ..core.records.history import History

                self._history = History()
            except ImportError:
                return None
            except DentalOsteoError as exc:
                log.warning("history unavailable: %s", exc)
                self.message.emit(f"History unavailable: {exc}", 8000)
                return None
        return self._history

    def _record_history(self, res: ScreeningResult) -> None:
        s = self.session
        if not self.record_history or s.radiograph is None:
            return
        store = self.history_store()
        if store is None:
            return
        try:
            s.set_history_id(store.record_screening(res, s.radiograph, file_sha256=s.file_sha256 or "",
                                                    anonymize=s.anonymized, edits=list(s.edits)))
        except DentalOsteoError as exc:
            log.warning("history not recorded: %s", exc)
            self.message.emit(f"History not recorded: {exc}", 8000)

    # ================================================================== export
    def export_pdf(self, out: Path) -> Worker | None:
        """Write the PDF report in the background; returns the worker."""
        s = self.session
        if s.result is None or s.radiograph is None:
            return None
        try:
            import importlib

            importlib.import_module("dentalosteo_gui.core.records.report")
        except ImportError:
            self.failed.emit("Export PDF", "The PDF report module is not installed in this build.")
            return None
        self.message.emit("Writing the PDF report…", 0)
        return self.pool.run(export_job, s.result, s.radiograph, Path(out), s.settings, s.anonymized,
                             s.model_card, name="export-pdf", on_result=self._on_exported,
                             on_error=lambda e: self.failed.emit("Export failed", e))

    def _on_exported(self, path: Path) -> None:
        self.message.emit(f"Report written: {Path(path).name}", 8000)
        store = self.history_store() if self.record_history else None
        if store is not None:
            try:
                store.record_export(self.session.history_id, "pdf", "" if self.session.anonymized else str(path))
            except DentalOsteoError as exc:
                log.warning("export not recorded: %s", exc)

    # ================================================================== batch
    def batch_screen(self) -> ScreenFn | None:
        """The screening function for the batch dialog (None while the engine loads)."""
        eng = self.engine
        if eng is None:
            return None
        mode = self.session.mode
        return lambda rad, spacing: eng.screen(rad, mode=mode, pixel_spacing_mm=spacing)

    def batch_history(self) -> Any | None:
        """Where batch screenings are recorded (None: not recorded)."""
        return self.history_store() if self.record_history else None

    # ================================================================== quit
    def shutdown(self, timeout_ms: int = 60000) -> None:
        """Cancel and wait for every worker, close the history; nothing runs afterwards."""
        self._closing = True
        if not self.pool.shutdown(timeout_ms=timeout_ms):
            log.warning("some workers did not stop in time")
        if self._history is not None:
            try:
                self._history.close()
            except Exception:  # noqa: BLE001 - closing must not block quitting
                log.exception("closing the history failed")
            self._history = None
