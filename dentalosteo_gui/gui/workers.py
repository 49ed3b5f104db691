"""ONE QRunnable adapter for all long work (superqt's WorkerBase pattern).

A job is a function; when it is a generator function it yields progress values and checks
the cancel flag between steps. The function receives the worker's cancel event as the
keyword ``cancel`` when its signature accepts one. Results, progress and errors come back
to the GUI thread through Qt signals (queued connections); an exception is never
swallowed: it goes to ``errored`` (the window shows one dialog and logs it).

:class:`WorkerPool` owns the thread pool, keeps workers alive while they run, and on quit
cancels them and waits for them (``shutdown``), so no thread is left running.

The threads are Python threads (:class:`ThreadPool`), not ``QThreadPool``'s: a
``QThreadPool`` thread gets a fresh Python thread state for every job, and TensorFlow's
pybind11 layer keeps the first one it saw per OS thread; a later job on the same thread
that raised through it (Keras' TimeDistributed does, routinely) crashed the process
(segfault in ``take_gil``). A Python thread keeps one thread state for its whole life.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import threading
import time
import traceback
from collections import deque
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
        """Run the job, then mark it done and emit its outcome (``done`` is set before the
        outcome signal, so a slot that reacts to it never sees the job still active)."""
        self.started.set()
        signal: QtCore.SignalInstance | None = None
        payload: tuple[Any, ...] = ()
        try:
            out = self._call()
            signal, payload = ((self.signals.cancelled, ()) if self.cancel_event.is_set()
                               else (self.signals.returned, (out,)))
        except Exception as exc:  # noqa: BLE001 - every error goes to the one error signal
            if self.cancel_event.is_set() and type(exc).__name__ == "Cancelled":
                signal = self.signals.cancelled
            else:
                exc.traceback_text = traceback.format_exc()  # type: ignore[attr-defined]
                log.error("worker %s failed: %s: %s", self.name, type(exc).__name__, exc)
                signal, payload = self.signals.errored, (exc,)
        finally:
            self.done.set()
            if signal is not None:
                signal.emit(*payload)
            self.signals.finished.emit()

    def _call(self) -> Any:
        """The job's return value; a generator's values go out as ``progress``."""
        kwargs = dict(self.kwargs)
        if self._wants_cancel:
            kwargs["cancel"] = self.cancel_event
        out = self.fn(*self.args, **kwargs)
        if not inspect.isgenerator(out):
            return out
        gen = out
        try:
            while True:
                if self.cancel_event.is_set():
                    gen.close()
                    return None
                self.signals.progress.emit(next(gen))
        except StopIteration as stop:
            return stop.value


class ThreadPool:
    """A small pool of Python threads with the part of ``QThreadPool``'s interface the app
    uses (``start``, ``clear``, ``waitForDone``, ``activeThreadCount``). Threads start on
    demand (at most ``max_threads``), end after ``idle_s`` without work, and are joined by
    ``waitForDone``."""

    _ids = itertools.count(1)

    def __init__(self, max_threads: int = 3, idle_s: float = 30.0) -> None:
        self._max = max(1, int(max_threads))
        self._idle_s = idle_s
        self._queue: deque[QtCore.QRunnable] = deque()
        self._cv = threading.Condition()
        self._threads: set[threading.Thread] = set()
        self._idle = 0
        self._busy = 0
        self._stop = False

    def setMaxThreadCount(self, n: int) -> None:  # noqa: N802 - QThreadPool's name
        self._max = max(1, int(n))

    def start(self, job: QtCore.QRunnable) -> None:
        with self._cv:
            self._queue.append(job)
            if len(self._queue) > self._idle and len(self._threads) < self._max:
                # daemon: an idle thread never delays leaving Python (the window joins them on quit)
                t = threading.Thread(target=self._loop, name=f"dentalosteo-worker-{next(self._ids)}", daemon=True)
                self._threads.add(t)
                t.start()
            self._cv.notify()

    def _next_job(self) -> QtCore.QRunnable | None:
        """The next job, or None when this thread should end (stopping, or idle too long)."""
        with self._cv:
            self._idle += 1
            try:
                deadline = time.monotonic() + self._idle_s
                while not self._queue and not self._stop:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._cv.wait(left):
                        if not self._queue:
                            break
                if self._queue and not self._stop:
                    self._busy += 1
                    return self._queue.popleft()
                self._threads.discard(threading.current_thread())
                self._cv.notify_all()
                return None
            finally:
                self._idle -= 1

    def _loop(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                job.run()
            finally:
                with self._cv:
                    self._busy -= 1
                    self._cv.notify_all()

    def activeThreadCount(self) -> int:  # noqa: N802
        """Threads running a job now."""
        with self._cv:
            return self._busy

    def clear(self) -> None:
        """Drop the jobs that have not started."""
        with self._cv:
            self._queue.clear()

    def waitForDone(self, msecs: int = -1) -> bool:  # noqa: N802
        """Wait for the running and queued jobs, then end and join the threads."""
        end = None if msecs < 0 else time.monotonic() + msecs / 1000.0
        with self._cv:
            while self._busy or self._queue:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cv.wait(left)
            self._stop = True
            self._cv.notify_all()
            threads = list(self._threads)
        for t in threads:
            t.join(None if end is None else max(0.0, end - time.monotonic()))
        with self._cv:
            self._stop = False
            return not any(t.is_alive() for t in threads)


class WorkerPool(QtCore.QObject):
    """The app's thread pool: starts workers, tracks them, cancels and joins them on quit."""

    def __init__(self, parent: QtCore.QObject | None = None, max_threads: int = 3) -> None:
        super().__init__(parent)
        self.pool = ThreadPool(max_threads)
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
