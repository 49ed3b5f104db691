"""ONE QRunnable adapter for all long work (superqt's WorkerBase pattern).

A job is a function; when it is a generator function it yields progress values and checks
the cancel flag between steps. The function receives the worker's cancel event as the
keyword ``cancel`` when its signature accepts one. Results, progress and errors come back
to the GUI thread through Qt signals (queued connections); an exception is never
swallowed: it goes to ``errored`` (the window shows one dialog and logs it).

:class:`WorkerPool` owns the thread pool, keeps workers alive while they run, and on quit
cancels them and waits for them (``shutdown``), so no thread is left running.
"""

from __future__ import annotations

import inspect
import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore

log = logging.getLogger(__name__)


class WorkerSignals(QtCore.QObject):
    progress = QtCore.Signal(object)
    returned = QtCore.Signal(object)
    errored = QtCore.Signal(object)  # the exception (with .traceback_text attribute)
    cancelled = QtCore.Signal()
    finished = QtCore.Signal()


class Worker(QtCore.QRunnable):
    """Runs ``fn(*args, **kwargs)`` on a pool thread; see the module docstring."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.name = name or getattr(fn, "__name__", "job")
        self.cancel_event = threading.Event()
        self.signals = WorkerSignals()
        self.done = threading.Event()
        self.started = threading.Event()
        try:
            params = inspect.signature(fn).parameters
            self._wants_cancel = "cancel" in params and "cancel" not in kwargs
        except (TypeError, ValueError):
            self._wants_cancel = False

    # convenience pass-throughs
    @property
    def progress(self) -> QtCore.SignalInstance:
        return self.signals.progress

    @property
    def returned(self) -> QtCore.SignalInstance:
        return self.signals.returned

    @property
    def errored(self) -> QtCore.SignalInstance:
        return self.signals.errored

    @property
    def finished(self) -> QtCore.SignalInstance:
        return self.signals.finished

    def cancel(self) -> None:
        """Ask the job to stop at its next check; it then emits ``cancelled``."""
        self.cancel_event.set()

    @property
    def is_cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def run(self) -> None:  # noqa: D401 - Qt entry point, runs on the pool thread
        self.started.set()
        kwargs = dict(self.kwargs)
        if self._wants_cancel:
            kwargs["cancel"] = self.cancel_event
        try:
            out = self.fn(*self.args, **kwargs)
            if inspect.isgenerator(out):
                gen = out
                try:
                    while True:
                        if self.cancel_event.is_set():
                            gen.close()
                            break
                        value = next(gen)
                        self.signals.progress.emit(value)
                except StopIteration as stop:
                    out = stop.value
                else:
                    out = None
            if self.cancel_event.is_set():
                self.signals.cancelled.emit()
            else:
                self.signals.returned.emit(out)
        except Exception as exc:  # noqa: BLE001 - every error goes to the one error signal
            if self.cancel_event.is_set() and type(exc).__name__ == "Cancelled":
                self.signals.cancelled.emit()
            else:
                exc.traceback_text = traceback.format_exc()  # type: ignore[attr-defined]
                log.error("worker %s failed: %s: %s", self.name, type(exc).__name__, exc)
                self.signals.errored.emit(exc)
        finally:
            self.done.set()
            self.signals.finished.emit()


class WorkerPool(QtCore.QObject):
    """The app's thread pool: starts workers, tracks them, cancels and joins them on quit."""

    def __init__(self, parent: QtCore.QObject | None = None, max_threads: int = 3) -> None:
        super().__init__(parent)
        self.pool = QtCore.QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self.pool.setStackSize(int(__import__("os").environ.get("X_SS", "0")))
        self._active: set[Worker] = set()
        self._lock = threading.Lock()

    def start(self, worker: Worker) -> Worker:
        with self._lock:
            self._active.add(worker)
        worker.signals.finished.connect(lambda w=worker: self._forget(w))
        self.pool.start(worker)
        return worker

    def run(self, fn: Callable[..., Any], *args: Any, name: str = "",
            on_result: Callable[[Any], None] | None = None,
            on_error: Callable[[BaseException], None] | None = None,
            on_progress: Callable[[Any], None] | None = None,
            on_cancelled: Callable[[], None] | None = None,
            on_finished: Callable[[], None] | None = None, **kwargs: Any) -> Worker:
        """THE way the app starts background work: build a :class:`Worker`, connect the
        callbacks (called on the GUI thread) and start it."""
        w = Worker(fn, *args, name=name, **kwargs)
        for signal, slot in ((w.signals.returned, on_result), (w.signals.errored, on_error),
                             (w.signals.progress, on_progress), (w.signals.cancelled, on_cancelled),
                             (w.signals.finished, on_finished)):
            if slot is not None:
                signal.connect(slot)
        return self.start(w)

    def _forget(self, worker: Worker) -> None:
        with self._lock:
            self._active.discard(worker)

    @property
    def active(self) -> list[Worker]:
        with self._lock:
            return [w for w in self._active if not w.done.is_set()]

    def cancel_all(self) -> None:
        for w in self.active:
            w.cancel()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel every worker and wait for the pool to drain; True when all stopped."""
        self.cancel_all()
        self.pool.clear()  # drop queued jobs that never started
        ok = bool(self.pool.waitForDone(timeout_ms))
        with self._lock:
            self._active = {w for w in self._active if w.started.is_set() and not w.done.is_set()}
        if not ok:
            log.warning("workers still running after %d ms: %s", timeout_ms,
                        ", ".join(w.name for w in self.active))
        # deliver the queued finished signals so nothing refers to dead workers
        QtCore.QCoreApplication.sendPostedEvents()
        return ok
